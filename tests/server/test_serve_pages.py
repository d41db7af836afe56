"""The dashboard route (the page itself is tested in test_dashboard_*.py): its range
parameter, its headers, and that it is built from the same bodies as the endpoints."""

from __future__ import annotations

import re

from tests.server.conftest import END, api_client

API = "/api/analytics"


def test_dashboard_route(demo_sqlite: str) -> None:
    with api_client(demo_sqlite) as client:
        week = client.get(API + "/dashboard")
        day = client.get(API + "/dashboard", params={"range": "24h"})
        custom = client.get(API + "/dashboard", params={"end_date": END, "days": "3"})
        again = client.get(API + "/dashboard", params={"range": "24h"}, headers={"If-None-Match": day.headers["etag"]})
        agents = client.get(API + "/agents/usage", params={"end_date": END, "days": "3"}).json()
    for page in (week, day, custom):
        assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"].startswith("private, max-age=")
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)
    assert again.status_code == 304
    assert "<title>Studio analytics — 7d</title>" in week.text and "<title>Studio analytics — 24h</title>" in day.text
    assert "<title>Studio analytics — custom</title>" in custom.text
    # The page's agent table is the endpoint's rows.
    for row in agents["data"]["rows"]:
        assert row["agent_name"] in custom.text


def test_login_and_docs_pages_forbid_scripts(empty_db: str) -> None:
    with api_client(empty_db, token="tok-abc") as client:
        login = client.get(API + "/login")
        docs = client.get("/docs", headers={"Authorization": "Bearer tok-abc"})
    for page in (login, docs):
        assert page.status_code == 200 and "script-src" not in page.headers["content-security-policy"]
        assert "default-src 'none'" in page.headers["content-security-policy"]
    assert 'name="token"' in login.text
