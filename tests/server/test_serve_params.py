"""The range and the other parameters: the design's defaults and precedence, and a 422
naming the parameter for every bad value, never a traceback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.server.conftest import api_client

API = "/api/analytics"


def _range(body: dict) -> tuple[datetime, datetime, str]:
    r = body["range"]
    return datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"]), r["label"]


def test_days_default_and_precedence(empty_db: str) -> None:
    with api_client(empty_db) as client:
        before = datetime.now(UTC)
        start, end, label = _range(client.get(API + "/agents/usage").json())
        after = datetime.now(UTC)
        assert before <= end <= after and end - start == timedelta(days=7) and label == "7d"

        start, end, label = _range(client.get(API + "/agents/usage", params={"days": "30"}).json())
        assert end - start == timedelta(days=30) and label == "30d"

        # end_date with days: the days count back from the end
        start, end, _ = _range(client.get(API + "/agents/usage", params={"end_date": "2026-03-10", "days": "2"}).json())
        assert (start, end) == (datetime(2026, 3, 8, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC))

        # start_date and end_date win over days
        start, end, label = _range(client.get(API + "/agents/usage", params={
            "start_date": "2026-01-01T06:00:00", "end_date": "2026-01-02T00:00:00+02:00", "days": "30"}).json())
        assert (start, end, label) == (datetime(2026, 1, 1, 6, tzinfo=UTC), datetime(2026, 1, 1, 22, tzinfo=UTC),
                                       "custom")

        # start_date alone: up to now
        start, end, _ = _range(client.get(API + "/agents/usage", params={"start_date": "2026-01-01", "days": "1"}
                                          ).json())
        assert start == datetime(2026, 1, 1, tzinfo=UTC) and end >= after

        # end_date alone: the default 7 days before it
        start, end, _ = _range(client.get(API + "/agents/usage", params={"end_date": "2026-02-01Z"}).json())
        assert (start, end) == (datetime(2026, 1, 25, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))


@pytest.mark.parametrize(("params", "parameter", "words"), [
    ({"days": "0"}, "days", "from 1 to 3,650"),
    ({"days": "-3"}, "days", "whole number"),
    ({"days": "2.5"}, "days", "whole number"),
    ({"days": "3651"}, "days", "3,650"),
    ({"days": "9" * 5000}, "days", "whole number"),
    ({"days": "nan"}, "days", "whole number"),
    ({"start_date": "yesterday"}, "start_date", "not an ISO 8601"),
    ({"end_date": "2026-13-01"}, "end_date", "not an ISO 8601"),
    ({"end_date": "1969-12-31"}, "end_date", "1970-01-01"),
    ({"start_date": "2026-02-01", "end_date": "2026-01-01"}, "start_date", "is not before end_date"),
    ({"start_date": "2026-02-01", "end_date": "2026-02-01"}, "start_date", "is not before end_date"),
    ({"start_date": "2999-01-01"}, "start_date", "start must be before"),
    ({"start_date": "1990-01-01", "end_date": "2026-01-01"}, "start_date", "longer than 3,650 days"),
    ({"limit": "0"}, "limit", "from 1 to 10,000"),
    ({"limit": "ten"}, "limit", "whole number"),
])
def test_bad_parameters_are_422_naming_them(params: dict[str, str], parameter: str, words: str,
                                            empty_db: str) -> None:
    with api_client(empty_db) as client:
        reply = client.get(API + "/agents/usage", params=params)
    assert reply.status_code == 422
    body = reply.json()
    assert body["parameter"] == parameter and words in body["error"] and body["error"].startswith(parameter + ":")
    assert "Traceback" not in reply.text and reply.headers["cache-control"] == "no-store"


def test_other_bad_values(empty_db: str) -> None:
    with api_client(empty_db) as client:
        by = client.get(API + "/cost", params={"by": "planet"})
        preset = client.get(API + "/dashboard", params={"range": "1y"})
        at = client.get(API + "/alerts", params={"at": "soon"})
        long_session = client.get(API + "/sessions/" + "s" * 600)
    assert by.status_code == 422 and by.json()["parameter"] == "by" and "model, agent, user" in by.json()["error"]
    assert preset.status_code == 422 and preset.json()["parameter"] == "range" and "24h, 7d, 30d" in preset.json()["error"]
    assert at.status_code == 422 and at.json()["parameter"] == "at"
    assert long_session.status_code == 422 and long_session.json()["parameter"] == "session_id"


def test_unknown_paths_and_methods_are_json(empty_db: str) -> None:
    with api_client(empty_db) as client:
        missing = client.get(API + "/agents/nothing")
        post = client.post(API + "/summary")
    assert missing.status_code == 404 and missing.json() == {"error": "no such endpoint: /api/analytics/agents/nothing "
                                                                      "(see /docs)"}
    assert post.status_code == 405 and "POST is not allowed" in post.json()["error"]


def test_a_database_without_our_tables_is_503_json(tmp_path) -> None:
    import sqlite3

    path = tmp_path / "other.sqlite3"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    with api_client(f"sqlite:///{path}") as client:
        reply = client.get(API + "/summary")
        health = client.get(API + "/health")
    assert reply.status_code == 503 and "no studio-analytics metrics tables" in reply.json()["error"]
    assert "db upgrade" in reply.json()["hint"] and reply.headers["retry-after"]
    assert health.status_code == 503 and health.json()["data"]["ok"] is False


def test_an_unexpected_error_is_a_generic_500(empty_db: str, monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    import studio_analytics.server.state as state_module

    def broken(*_args: object, **_kwargs: object) -> None:
        raise KeyError("a bug with a secret detail")

    monkeypatch.setattr(state_module, "report_payload", broken)  # a bug in our code, not a database double
    with api_client(empty_db) as client:
        reply = client.get(API + "/summary")
    assert reply.status_code == 500
    assert reply.json() == {"error": "internal error: the server log has the details"}
    assert "secret detail" not in reply.text
    assert any("unexpected KeyError" in r.getMessage() for r in caplog.records)


def test_openapi_and_offline_docs(empty_db: str) -> None:
    import re
    from html.parser import HTMLParser

    with api_client(empty_db) as client:
        spec = client.get("/openapi.json").json()
        docs = client.get("/docs")
    paths = set(spec["paths"])
    for path in ("/agents/usage", "/tools/usage", "/workflows/performance", "/errors/summary", "/sessions/activity",
                 "/summary", "/executions/{execution_id}", "/sessions/{session_id}", "/health", "/models/usage",
                 "/cost", "/users/activity", "/alerts", "/dashboard"):
        assert API + path in paths, path
    names = {p["name"] for p in spec["paths"][API + "/agents/usage"]["get"]["parameters"]}
    assert names == {"start_date", "end_date", "days", "limit"}
    assert docs.status_code == 200 and "/api/analytics/agents/usage" in docs.text

    class Links(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.urls: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.urls += [v for k, v in attrs if k in ("src", "href", "action") and v]

    parser = Links()
    parser.feed(docs.text)
    assert parser.urls and all(u.startswith(("/", "#")) and not u.startswith("//") for u in parser.urls)
    assert not re.search(r"https?://|url\(|@import|<script", docs.text)
