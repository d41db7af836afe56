"""Every failure answered as JSON ``{"error": ...}``: 422 naming the parameter, 503 with
``Retry-After`` for a busy pool, a slow query or a database that cannot be read, JSON
404/405, and a generic 500 whose details stay in the server log."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from studio_analytics.db.errors import DatabaseError
from studio_analytics.server import params as P
from studio_analytics.server.guard import error_response
from studio_analytics.server.queries import Busy, QueryTimeout

log = logging.getLogger("studio_analytics.server")
#: Seconds a client is told to wait after a 503.
RETRY_BUSY_S = 1
RETRY_DATABASE_S = 5


def add_error_handlers(app: FastAPI) -> None:
    async def bad_param(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, P.ParamError)
        return error_response(422, str(exc), parameter=exc.parameter)

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = (exc.errors() or [{}])[0]
        name = str((first.get("loc") or ("", "request"))[-1])
        return error_response(422, f"{name}: {first.get('msg', 'invalid')}", parameter=name)

    async def busy(request: Request, exc: Exception) -> Response:
        return error_response(503, "the server is busy: every query thread is taken; retry shortly",
                              headers={"Retry-After": str(RETRY_BUSY_S)})

    async def too_slow(request: Request, exc: Exception) -> Response:
        seconds = app.state.api.settings.query_timeout_s
        return error_response(503, f"the query took longer than {seconds:g} s and was cancelled; retry later "
                                   "or ask for a shorter range", headers={"Retry-After": str(RETRY_DATABASE_S)})

    async def database(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DatabaseError)
        log.warning("answered 503 to %s: %s", request.url.path, exc.message)
        return error_response(503, exc.message, headers={"Retry-After": str(RETRY_DATABASE_S)},
                              **({"hint": exc.hint} if exc.hint else {}))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return error_response(404, f"no such endpoint: {request.url.path} (see /docs)")
        if exc.status_code == 405:
            return error_response(405, f"{request.method} is not allowed on {request.url.path}",
                                  headers={"Allow": (exc.headers or {}).get("Allow", "GET")})
        return error_response(exc.status_code, str(exc.detail))

    async def unexpected(request: Request, exc: Exception) -> Response:
        # The details (and the traceback, which Uvicorn logs) stay in the server log.
        log.error("unexpected %s answering %s", type(exc).__name__, request.url.path)
        return error_response(500, "internal error: the server log has the details")

    app.add_exception_handler(P.ParamError, bad_param)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Busy, busy)
    app.add_exception_handler(QueryTimeout, too_slow)
    app.add_exception_handler(DatabaseError, database)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
