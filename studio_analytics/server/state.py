"""What the routes of ``studio-analytics serve`` share: the query runner, the response
cache, the token check, and the answer built from a cached body (``ETag``,
``Cache-Control``, 304 for a matching ``If-None-Match``)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from studio_analytics.analytics.report_payload import report_payload
from studio_analytics.db.schema_state import require_metrics_tables
from studio_analytics.server import params as P
from studio_analytics.server.auth import TokenCheck
from studio_analytics.server.cache import Body, ResponseCache, make_body
from studio_analytics.server.queries import QueryRunner
from studio_analytics.server.settings import CACHE_BYTES, ServeSettings


def to_json(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


class Api:
    """The state the routes share: the query runner, the cache, the token check."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.runner = QueryRunner(settings.db_url, workers=settings.query_workers, queue=settings.query_queue,
                                  timeout_s=settings.query_timeout_s)
        self.cache = ResponseCache(max_entries=settings.cache_entries, max_bytes=CACHE_BYTES,
                                   max_age_s=settings.max_age_s)
        self.check = TokenCheck(settings.token)
        self.cache_control = f"private, max-age={settings.max_age_s}"

    async def cached(self, key: Hashable, moving: bool, compute: Callable[[], Awaitable[Body]]) -> Body:
        if not self.cache.enabled:
            return await compute()
        version = await self.runner.data_version()
        return await self.cache.fetch(key, version, moving, compute)

    async def report_body(self, name: str, rq: P.RangeQuery, *, limit: int = P.DEFAULT_LIMIT, by: str | None = None,
                          user: str | None = None) -> Body:
        async def compute() -> Body:
            tr = rq.resolve()

            def query(conn: Any) -> dict[str, Any]:
                require_metrics_tables(conn)
                return report_payload(conn, name, tr, limit=limit, by=by, user=user)

            return make_body(to_json(await self.runner.run(query)))

        return await self.cached((name, rq.key(), limit, by, user), rq.open, compute)

    def respond(self, request: Request, body: Body, extra: dict[str, str] | None = None) -> Response:
        headers = {"ETag": body.etag, "Cache-Control": self.cache_control if body.status == 200 else "no-store",
                   "X-Content-Type-Options": "nosniff", **(extra or {})}
        if body.status == 200 and _matches(request.headers.get("if-none-match"), body.etag):
            return Response(status_code=304, headers=headers)
        return Response(body.content, body.status, headers=headers, media_type=body.media_type)


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags
