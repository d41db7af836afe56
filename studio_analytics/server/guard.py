"""What every request passes before its route: the per-client rate limit, then the token.

A pure ASGI middleware (no per-request task or body buffering). Without a token (the
server then listens on the loopback only) a request must name a loopback host in
``Host``, so a web page cannot read the API through DNS rebinding. With a token, every path
needs it (``Authorization: Bearer`` or the session cookie of the login page) except the
login page itself; the dashboard without it answers 401 with the login page, so a
browser can sign in. ``POST /v1/traces`` (``--ingest``) is left to the OTLP receiver,
which checks the same token and answers in OTLP's format, and is not rate limited (it has
its own backpressure: 503 when the writer is full).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from studio_analytics.ingest.collector import is_loopback
from studio_analytics.ingest.receiver_settings import TRACES_PATH
from studio_analytics.server.auth import PAGE_POLICY, TokenCheck, cookie_from_header, login_page
from studio_analytics.server.ratelimit import RateLimiter


def error_response(status: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    """``{"error": message, ...}``, never cached."""
    body = json.dumps({"error": message, **extra}, ensure_ascii=False).encode()
    return Response(body, status, headers={"Cache-Control": "no-store", **(headers or {})},
                    media_type="application/json")


def _local_host(host: str | None) -> bool:
    if not host:
        return True  # HTTP/1.0 without Host: no name to have been rebound
    if host.startswith("["):  # [::1]:8000
        return is_loopback(host[1:host.find("]")] if "]" in host else host)
    return is_loopback(host.rsplit(":", 1)[0])


class Guard:
    def __init__(self, app: ASGIApp, *, limiter: RateLimiter | None, check: TokenCheck, prefix: str) -> None:
        self.app = app
        self.limiter = limiter
        self.check = check
        self.login_path = prefix + "/login"
        self.dashboard_path = prefix + "/dashboard"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == TRACES_PATH:
            await self.app(scope, receive, send)
            return
        if self.limiter is not None:
            client = scope.get("client")
            wait = self.limiter.take(client[0] if client else "unknown")
            if wait:
                response = error_response(429, f"too many requests from this address: retry in {wait} s",
                                          headers={"Retry-After": str(wait)})
                await response(scope, receive, send)
                return
        headers = Headers(scope=scope)
        if not self.check.enabled and not _local_host(headers.get("host")):
            # Without a token the server listens on the loopback only; a page elsewhere
            # could still reach it through a name that resolves to 127.0.0.1 (DNS
            # rebinding). Such a request names another host: refused.
            response = error_response(403, "without a token this server answers requests for localhost only "
                                           "(Host: 127.0.0.1, localhost or [::1])")
            await response(scope, receive, send)
            return
        if (self.check.enabled and scope["path"] != self.login_path
                and not self.check.allows(headers.get("authorization"), cookie_from_header(headers.get("cookie")))):
            await self._refuse(scope)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refuse(self, scope: Scope) -> Response:
        challenge = {"WWW-Authenticate": 'Bearer realm="studio-analytics"'}
        if scope["path"] == self.dashboard_path and scope["method"] == "GET":
            query = scope.get("query_string", b"").decode("latin-1")
            here = self.dashboard_path + (f"?{query}" if query else "")
            return HTMLResponse(login_page(self.login_path, here), 401,
                                headers={"Cache-Control": "no-store", **challenge,
                                         "Content-Security-Policy": PAGE_POLICY})
        return error_response(401, "a valid bearer token is required (Authorization: Bearer ...), "
                                   "or sign in at " + self.login_path, headers=challenge)
