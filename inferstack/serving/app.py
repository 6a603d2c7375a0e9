"""FastAPI app factory. Everything the app uses is built in the lifespan from `settings`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from inferstack import __version__
from inferstack.config import Settings
from inferstack.pipeline.build import check_names
from inferstack.serving.error_handlers import install_error_handlers
from inferstack.serving.metrics import GatewayMetrics
from inferstack.serving.middleware import (
    ApiKeyAuthMiddleware,
    BodyLimitMiddleware,
    KeyGate,
    RequestContextMiddleware,
    configured_keys,
)
from inferstack.serving.openapi import openapi_document
from inferstack.serving.pages import page_routes
from inferstack.serving.routes import HOT_ROUTES, router
from inferstack.serving.runtime import build_runtime


def create_app(settings: Settings) -> FastAPI:
    settings.check_bind()
    check_names(settings)  # an unknown stage, policy or scorer fails here, before anything loads
    gate = KeyGate(configured_keys(settings.auth.api_keys))
    metrics = GatewayMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await build_runtime(settings, metrics)
        app.state.runtime = runtime
        gate.stored = runtime.keys
        try:
            yield
        finally:
            await runtime.aclose()

    if settings.api_docs:
        # Swagger UI and ReDoc from assets inside the fastapi-offline package: no CDN.
        app = FastAPIOffline(
            title="inferstack", version=__version__, lifespan=lifespan, docs_url="/docs", redoc_url="/redoc"
        )
        document = openapi_document("inferstack", __version__)
        app.openapi = lambda: document  # type: ignore[method-assign]
    else:
        app = FastAPI(title="inferstack", version=__version__, lifespan=lifespan, docs_url=None,
                      redoc_url=None, openapi_url=None)  # fmt: skip
    install_error_handlers(app)
    app.router.routes.extend(HOT_ROUTES)
    app.include_router(router)
    if settings.web_pages:
        app.router.routes.extend(page_routes())
    # Added last = outermost: request context wraps limits, which wrap auth.
    app.add_middleware(ApiKeyAuthMiddleware, gate=gate, enabled=settings.auth_enabled)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.limits.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app
