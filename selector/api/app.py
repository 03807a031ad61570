"""Build the FastAPI application."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from selector.api.errors import install_error_handlers
from selector.api.hot import HOT_ROUTES, HotRoutes, document, mount
from selector.api.middleware import EdgeMiddleware
from selector.api.routes import admin, docs, status
from selector.config import Settings, get_settings
from selector.service import SelectorService
from selector.watch import follows, watch_champion
from selector.wiring import build_service

__all__ = ["create_app"]


def _watch(svc: SelectorService) -> asyncio.Task[None] | None:
    """The task following the registry's alias (:mod:`selector.watch`), if the settings ask
    for one."""
    s = svc.settings
    if s.models.model_poll_s <= 0 or not follows(s.models.quality_model):
        return None
    from models.registry import alias_version

    def version_now() -> str | None:
        return alias_version(s.models.quality_model, s.models.mlflow_tracking_uri)

    return asyncio.create_task(watch_champion(svc, version_now, s.models.model_poll_s))


class SelectorApp(FastAPI):
    """The FastAPI app behind one edge (:class:`EdgeMiddleware`: request ids, hosts and
    origins, tokens, content type, body limit, access log) that every HTTP request
    passes first; the hot routes then go straight to their endpoints
    (:class:`~selector.api.hot.HotRoutes`), every other request through FastAPI."""

    edge: ASGIApp | None = None
    hot: HotRoutes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.edge is None:
            await super().__call__(scope, receive, send)  # lifespan
            return
        scope["app"] = self
        await self.edge(scope, receive, send)

    async def _inside(self, scope: Scope, receive: Receive, send: Send) -> None:
        """What the edge lets through: a hot route, or FastAPI's own stack."""
        if self.hot is not None and self.hot.serves(scope):
            await self.hot(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, service: SelectorService | None = None) -> FastAPI:
    """The app; the service is built at start-up from ``settings`` unless one is given."""
    settings = settings or (service.settings if service else get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = service or build_service(settings)
        svc.start()
        app.state.service = svc
        # Objects built at start-up (catalog, classifier vocabulary, app) live as long as
        # the process: keep the cyclic GC from rescanning them (a full pass took ~40 ms).
        gc.collect()
        gc.freeze()
        watching = _watch(svc)
        try:
            yield
        finally:
            if watching is not None:
                watching.cancel()
            svc.stop()

    app = SelectorApp(
        title="model-selector",
        version="0.1.0",
        summary="Which LLM should answer this conversation turn?",
        lifespan=lifespan,
        docs_url=None,  # served offline by routes.docs
        redoc_url=None,
    )
    install_error_handlers(app)
    mount(app, HOT_ROUTES)
    app.hot = HotRoutes(HOT_ROUTES, app.exception_handlers)  # type: ignore[arg-type]
    app.include_router(status.router)
    app.include_router(admin.router)
    app.include_router(docs.router)
    app.edge = EdgeMiddleware(
        app._inside,
        max_body_bytes=settings.server.max_body_bytes,
        api_token=settings.auth.api_token.get_secret_value() if settings.auth.api_token else None,
        admin_token=settings.auth.admin_token.get_secret_value()
        if settings.auth.admin_token
        else None,
        auth_exempt=settings.auth.auth_exempt,
        access_log=settings.logs.access_log,
        allowed_hosts=settings.server.host_names(),
    )
    _complete_openapi(app)
    return app


def _complete_openapi(app: FastAPI) -> None:
    """Add to the OpenAPI spec what FastAPI cannot see: the hot routes (served by
    Starlette directly) and the bearer token that the guard middleware enforces."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = build()
            components = spec.setdefault("components", {})
            document(spec, HOT_ROUTES)
            service: SelectorService | None = getattr(app.state, "service", None)
            if service is not None:
                _list_model_names(components["schemas"], list(service.catalog.names))
            components["securitySchemes"] = {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Needed on every endpoint but /healthz and /readyz when "
                    "SELECTOR_API_TOKEN is set (SELECTOR_AUTH_EXEMPT may open /metrics and "
                    "the docs).",
                }
            }
            components["securitySchemes"]["admin"] = {
                "type": "http",
                "scheme": "bearer",
                "description": "SELECTOR_ADMIN_TOKEN; /v1/admin/* only.",
            }
            for path, ops in spec["paths"].items():
                if path.startswith("/v1/admin/"):
                    for op in ops.values():
                        op["security"] = [{"admin": []}]
                elif path not in ("/healthz", "/readyz"):
                    for op in ops.values():
                        op["security"] = [{"bearer": []}, {}]
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _list_model_names(schemas: dict[str, Any], names: list[str]) -> None:
    """Publish the catalog's model names as the allowed values of the fields that name
    a model, so the spec tells gateways (and API fuzzers) which names are valid."""
    targets = (("RouteRequest", "candidates"), ("FeedbackRequest", "model"))
    for model, prop in targets:
        for branch in schemas[model]["properties"][prop].get("anyOf", []):
            if branch.get("type") == "array":
                branch["items"]["enum"] = names
            elif branch.get("type") == "string":
                branch["enum"] = names
