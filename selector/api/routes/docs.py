"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served without a network: their scripts
and styles are files of the installed ``fastapi-offline`` distribution (its static files
only; FastAPI's own pages load them from a CDN, and are blank on a machine that cannot
reach it). The pages read the spec at ``/openapi.json``."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.responses import FileResponse, HTMLResponse

__all__ = ["ASSETS", "PATHS", "router"]

_STATIC = Path(str(files("fastapi_offline") / "static"))
#: the pages' files: the path each is served at, and the file
ASSETS = {
    "/docs/swagger-ui-bundle.js": "swagger-ui-bundle.js",
    "/docs/swagger-ui.css": "swagger-ui.css",
    "/docs/favicon.png": "favicon.png",
    "/redoc/redoc.standalone.js": "redoc.standalone.js",
}
#: every path of the documentation (the API token guards them unless exempted)
PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", *ASSETS})
_TITLE = "model-selector"

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=f"{_TITLE} — API",
        swagger_js_url="/docs/swagger-ui-bundle.js",
        swagger_css_url="/docs/swagger-ui.css",
        swagger_favicon_url="/docs/favicon.png",
        oauth2_redirect_url="/docs/oauth2-redirect",
    )


@router.get("/docs/oauth2-redirect")
async def oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url="/openapi.json",
        title=f"{_TITLE} — API",
        redoc_js_url="/redoc/redoc.standalone.js",
        redoc_favicon_url="/docs/favicon.png",
        with_google_fonts=False,
    )


def _serve(name: str) -> object:
    path = _STATIC / name

    async def asset() -> FileResponse:
        return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})

    return asset


for _path, _name in ASSETS.items():
    router.add_api_route(_path, _serve(_name), methods=["GET"])  # type: ignore[arg-type]
