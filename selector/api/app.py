"""Build the FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from selector.api.deps import require_token
from selector.api.errors import install_error_handlers
from selector.api.middleware import BodyLimitMiddleware
from selector.api.routes import feedback, route, status
from selector.config import Settings, get_settings
from selector.service import SelectorService

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, service: SelectorService | None = None) -> FastAPI:
    """The app; the service is built at start-up from ``settings`` unless one is given."""
    settings = settings or (service.settings if service else get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = service or SelectorService.from_settings(settings)
        svc.start()
        app.state.service = svc
        try:
            yield
        finally:
            svc.stop()

    app = FastAPI(
        title="model-selector",
        version="0.1.0",
        summary="Which LLM should answer this conversation turn?",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    v1 = [Depends(require_token)]
    app.include_router(route.router, dependencies=v1)
    app.include_router(feedback.router, dependencies=v1)
    app.include_router(status.router)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    return app
