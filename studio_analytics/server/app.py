"""The FastAPI application of ``studio-analytics serve``.

Every figure is a GET under ``/api/analytics`` whose body is the ``studio-analytics
report NAME --format json`` document for the same range (built by
:mod:`studio_analytics.analytics.report_payload`). Around the routes, outermost first:
the 500 handler (a generic JSON message; the traceback goes to the server log only),
CORS (only with ``cors_origin``), then :class:`~studio_analytics.server.guard.Guard`
(rate limit, bearer token or session cookie). Bodies carry an ``ETag`` and
``Cache-Control: private, max-age=N`` and are kept in a
:class:`~studio_analytics.server.cache.ResponseCache` keyed by the data version.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.routing import Route

from studio_analytics import __version__
from studio_analytics.server.errors import add_error_handlers
from studio_analytics.server.guard import Guard
from studio_analytics.server.pages import add_page_routes
from studio_analytics.server.ratelimit import RateLimiter
from studio_analytics.server.routes import REPORT_ROUTES, add_other_routes, add_report_routes
from studio_analytics.server.settings import API_PREFIX, ServeSettings
from studio_analytics.server.state import Api

__all__ = ["REPORT_ROUTES", "create_app"]


def create_app(settings: ServeSettings, *, ingestor: Any = None) -> FastAPI:
    """The application; ``ingestor`` (a :class:`~studio_analytics.ingest.pipeline.SpanIngestor`)
    mounts ``POST /v1/traces`` when ``settings.ingest`` is set."""
    api = Api(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        api.runner.close()

    app = FastAPI(
        title="studio-analytics", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
        description="Agent Studio's analytics endpoints, read-only. Each figure is the JSON of "
                    "`studio-analytics report NAME --format json` for the same range.",
    )
    app.state.api = api
    add_report_routes(app, api)
    add_other_routes(app, api)
    add_page_routes(app, api)
    if settings.ingest and ingestor is not None:
        from studio_analytics.ingest.receiver import create_app as receiver_app
        from studio_analytics.ingest.receiver_settings import TRACES_PATH, ReceiverSettings

        # The receiver checks the same token itself and answers in OTLP's own format.
        app.router.routes.append(Route(TRACES_PATH, receiver_app(ingestor, ReceiverSettings(token=settings.token))))
    add_error_handlers(app)
    limiter = RateLimiter(settings.rate_per_min) if settings.rate_per_min > 0 else None
    app.state.limiter = limiter
    app.add_middleware(Guard, limiter=limiter, check=api.check, prefix=API_PREFIX)
    if settings.cors_origin:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=[settings.cors_origin], allow_methods=["GET"],
                           allow_headers=["Authorization", "If-None-Match"], expose_headers=["ETag", "Retry-After"],
                           allow_credentials=False, max_age=600)
    return app
