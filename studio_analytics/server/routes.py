"""The figures' routes: the original Agent Studio paths under ``/api/analytics``, each
body the ``studio-analytics report NAME --format json`` document for the same range."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

from studio_analytics.analytics.report_payload import detail_payload, health_data, wrap_payload
from studio_analytics.db.errors import DatabaseError
from studio_analytics.db.schema_state import require_metrics_tables
from studio_analytics.server import params as P
from studio_analytics.server.alerts_payload import alerts_payload, read_rules
from studio_analytics.server.cache import Body, make_body
from studio_analytics.server.settings import API_PREFIX
from studio_analytics.server.state import Api, to_json

#: The range parameters as the OpenAPI document describes them (checked in params).
START_DATE = Query(None, description="ISO 8601 date or date-time (naive = UTC); wins over days")
END_DATE = Query(None, description="ISO 8601 date or date-time (naive = UTC); default now")
DAYS = Query(None, description=f"days back from end_date (default {P.DEFAULT_DAYS}, 1 to {P.MAX_DAYS:,})")
LIMIT = Query(None, description=f"rows per table (default {P.DEFAULT_LIMIT}, 1 to {P.MAX_LIMIT:,})")

#: path under the prefix -> (report name, summary), in the order of the OpenAPI document
REPORT_ROUTES: tuple[tuple[str, str, str], ...] = (
    ("/summary", "summary", "KPIs (with the previous period) and the executions series"),
    ("/agents/usage", "agents", "executions, success rate and durations per agent"),
    ("/tools/usage", "tools", "calls, errors and durations per tool"),
    ("/workflows/performance", "workflows", "runs, completion and durations per workflow type"),
    ("/errors/summary", "errors", "error groups with counts, agents, tools, first and last seen"),
    ("/sessions/activity", "sessions", "sessions open in the range"),
    ("/models/usage", "models", "model calls, tokens, latency and cost per model (data null without model calls)"),
    ("/users/activity", "users", "executions, failures and cost per user"),
)


def add_report_routes(app: FastAPI, api: Api) -> None:
    for path, name, summary in REPORT_ROUTES:
        app.add_api_route(API_PREFIX + path, _report_endpoint(api, name), methods=["GET"], summary=summary,
                          response_class=JSONResponse, tags=["figures"], name=name,
                          responses={304: {"description": "not modified (If-None-Match)"},
                                     422: {"description": "a bad parameter"},
                                     503: {"description": "busy, too slow, or the database cannot be read"}})


def _report_endpoint(api: Api, name: str) -> Callable[..., Awaitable[Response]]:
    async def endpoint(request: Request, start_date: str | None = START_DATE, end_date: str | None = END_DATE,
                       days: str | None = DAYS, limit: str | None = LIMIT) -> Response:
        rq = P.parse_range(start_date, end_date, days)
        n = P.parse_limit(limit)
        return api.respond(request, await api.report_body(name, rq, limit=n))

    endpoint.__name__ = f"{name}_report"
    return endpoint


def add_other_routes(app: FastAPI, api: Api) -> None:
    prefix = API_PREFIX

    @app.get(prefix + "/cost", tags=["figures"], summary="model cost per model, agent, user, session or UTC day")
    async def cost(request: Request, start_date: str | None = START_DATE, end_date: str | None = END_DATE,
                   days: str | None = DAYS, limit: str | None = LIMIT,
                   by: str | None = Query(None, description="model (default), agent, user, session or day")
                   ) -> Response:
        rq = P.parse_range(start_date, end_date, days)
        return api.respond(request, await api.report_body("cost", rq, limit=P.parse_limit(limit), by=P.parse_by(by)))

    @app.get(prefix + "/heatmap", tags=["figures"], summary="executions and failures per UTC weekday and hour")
    async def heatmap(request: Request, start_date: str | None = START_DATE, end_date: str | None = END_DATE,
                      days: str | None = DAYS, user: str | None = Query(None, description="one user's only")
                      ) -> Response:
        rq = P.parse_range(start_date, end_date, days)
        return api.respond(request, await api.report_body("heatmap", rq, user=user or None))

    @app.get(prefix + "/health", tags=["service"],
             summary="the database: dialect, schema, row counts, size, newest row (503 when it cannot be read)")
    async def health(request: Request, start_date: str | None = START_DATE, end_date: str | None = END_DATE,
                     days: str | None = DAYS) -> Response:
        rq = P.parse_range(start_date, end_date, days)

        async def compute() -> Body:
            data = await api.runner.run_plain(lambda: health_data(api.runner.engine, api.settings.db_url))
            return make_body(to_json(wrap_payload("health", rq.resolve(), data)), 200 if data.ok else 503)

        try:
            body = await api.cached(("health", rq.key()), True, compute)
        except DatabaseError:  # the version query failed: say what health says
            body = await compute()
        return api.respond(request, body)

    @app.get(prefix + "/alerts", tags=["figures"],
             summary="the alert rules evaluated now: the JSON of `studio-analytics alerts check --format json`")
    async def alerts(request: Request, at: str | None = Query(None, description="evaluate as of this ISO time "
                                                                               "(naive = UTC; default now)")
                     ) -> Response:
        when = P.parse_at(at)
        ruleset = read_rules(api.settings.rules_path)

        async def compute() -> Body:
            return make_body(to_json(await api.runner.run(lambda conn: alerts_payload(conn, ruleset, when))))

        key = ("alerts", when.isoformat() if when else "", ruleset.source, repr(ruleset.rules))
        return api.respond(request, await api.cached(key, when is None, compute))

    @app.get(prefix + "/executions/{execution_id}", tags=["items"],
             summary="one execution with its tool calls and trace tree (as `studio-analytics show execution`)",
             responses={404: {"description": "no such execution"}, 422: {"description": "not a UUID"}})
    async def execution(request: Request, execution_id: str) -> Response:
        key = P.parse_execution_id(execution_id)
        return api.respond(request, await _detail(api, "execution", key))

    @app.get(prefix + "/sessions/{session_id}", tags=["items"],
             summary="one session with its executions (as `studio-analytics show session`)",
             responses={404: {"description": "no such session"}})
    async def session(request: Request, session_id: str) -> Response:
        return api.respond(request, await _detail(api, "session", P.parse_session_id(session_id)))


async def _detail(api: Api, kind: str, key: Any) -> Body:
    async def compute() -> Body:
        def query(conn: Any) -> dict[str, Any] | None:
            require_metrics_tables(conn)
            return detail_payload(conn, kind, key)

        payload = await api.runner.run(query)
        if payload is None:
            return make_body(to_json({"error": f"no {kind} {key} in this database"}), 404)
        return make_body(to_json(payload))

    return await api.cached((kind, str(key)), False, compute)
