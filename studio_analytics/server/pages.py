"""The pages: the dashboard (rendered by :mod:`studio_analytics.server.dashboard_page`
from the same bodies as the endpoints), the sign-in page and form, and ``/docs``."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studio_analytics.server import params as P
from studio_analytics.server.auth import (
    COOKIE,
    LOGIN_BODY_LIMIT,
    PAGE_POLICY,
    login_form,
    login_page,
    safe_next,
)
from studio_analytics.server.cache import Body, make_body
from studio_analytics.server.docs_page import render_docs
from studio_analytics.server.guard import error_response
from studio_analytics.server.routes import DAYS, END_DATE, START_DATE
from studio_analytics.server.settings import API_PREFIX
from studio_analytics.server.state import Api

DASHBOARD_REPORTS = ("summary", "agents", "tools", "workflows", "errors", "models")
COOKIE_MAX_AGE_S = 12 * 3600


def add_page_routes(app: FastAPI, api: Api) -> None:
    prefix = API_PREFIX
    dashboard_path = prefix + "/dashboard"
    login_path = prefix + "/login"

    @app.get(dashboard_path, tags=["pages"], response_class=HTMLResponse,
             summary="the web dashboard: KPIs, agents, tools, workflows, errors, models (24h, 7d or 30d)")
    async def dashboard(request: Request, range: str | None = Query(None, description="24h, 7d (default) or 30d"),
                        start_date: str | None = START_DATE, end_date: str | None = END_DATE,
                        days: str | None = DAYS) -> Response:
        preset = P.parse_preset(range)
        if preset is None and (start_date or end_date or days):
            rq = P.parse_range(start_date, end_date, days)
            range_key = "custom"
        else:
            rq = P.RangeQuery(None, None, P.DEFAULT_DAYS, preset or "7d")
            range_key = rq.preset or "7d"
        try:
            from studio_analytics.server import dashboard_page
        except ImportError:
            return error_response(503, "the dashboard page is not part of this installation")
        render_dashboard = dashboard_page.render_dashboard
        policy = getattr(dashboard_page, "content_security_policy", None)

        async def compute() -> Body:
            payloads = {}
            for name in DASHBOARD_REPORTS:
                body = await api.report_body(name, rq)
                payloads[name] = json.loads(body.content)
            page = render_dashboard(payloads, range_key=range_key, generated_at=datetime.now(UTC), base_path=prefix)
            return make_body(page.encode(), media_type="text/html; charset=utf-8")

        body = await api.cached(("dashboard", rq.key(), range_key), rq.open, compute)
        return api.respond(request, body, {"Content-Security-Policy": policy()} if policy else None)

    @app.get(login_path, tags=["pages"], response_class=HTMLResponse, summary="the sign-in page (with a token)")
    async def login_get(request: Request) -> Response:
        if not api.check.enabled:
            return RedirectResponse(dashboard_path, 303)
        nxt = safe_next(request.query_params.get("next", ""), dashboard_path, prefix)
        return HTMLResponse(login_page(login_path, nxt), headers={"Cache-Control": "no-store",
                                                                  "Content-Security-Policy": PAGE_POLICY})

    @app.post(login_path, tags=["pages"], response_class=HTMLResponse,
              summary="sign in: form field token; sets an HttpOnly, SameSite=Strict session cookie")
    async def login_post(request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > LOGIN_BODY_LIMIT:
            return error_response(413, f"the sign-in form is larger than {LOGIN_BODY_LIMIT} bytes")
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > LOGIN_BODY_LIMIT:
                return error_response(413, f"the sign-in form is larger than {LOGIN_BODY_LIMIT} bytes")
        token, nxt = login_form(raw)
        target = safe_next(nxt, dashboard_path, prefix)
        if not api.check.enabled:
            return RedirectResponse(target, 303)
        if not api.check.token_matches(token):
            return HTMLResponse(login_page(login_path, target, "That token is not the right one."), 401,
                                headers={"Cache-Control": "no-store", "WWW-Authenticate": "Bearer"})
        response = RedirectResponse(target, 303, headers={"Cache-Control": "no-store"})
        response.set_cookie(COOKIE, api.check.cookie_value, max_age=COOKIE_MAX_AGE_S, path="/",
                            httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return response

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return HTMLResponse(render_docs(app.openapi()), headers={"Content-Security-Policy": PAGE_POLICY})
