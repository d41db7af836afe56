"""Pollers are cheap: ETag and Cache-Control, 304 for If-None-Match, and a server-side
cache that answers a repeated request without querying, yet never serves data older
than the last commit, nor a range ending "now" older than max-age."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import AgentExecutionMetrics
from tests.server.conftest import END, api_client

API = "/api/analytics"


def _add_execution(url: str, at: datetime, agent: str = "CacheProbe") -> None:
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(AgentExecutionMetrics), [{
            "execution_id": uuid.uuid4(), "agent_id": "probe", "agent_name": agent, "start_time": at,
            "end_time": at + timedelta(seconds=1), "duration_ms": 1000.0, "status": "success",
        }])
    engine.dispose()


def _queries(client) -> int:  # noqa: ANN001 - a TestClient
    return client.app.state.api.cache.misses


def test_etag_cache_control_and_304(demo_sqlite: str) -> None:
    with api_client(demo_sqlite, max_age_s=7) as client:
        first = client.get(API + "/agents/usage", params={"end_date": END})
        etag = first.headers["etag"]
        assert first.status_code == 200 and first.headers["cache-control"] == "private, max-age=7"
        assert etag.startswith('"') and len(etag) == 34
        again = client.get(API + "/agents/usage", params={"end_date": END}, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        listed = client.get(API + "/agents/usage", params={"end_date": END},
                            headers={"If-None-Match": f'"other", W/{etag}'})
        assert listed.status_code == 304
        other = client.get(API + "/agents/usage", params={"end_date": END}, headers={"If-None-Match": '"stale"'})
        assert other.status_code == 200 and other.content == first.content
        # Another range is another body.
        assert client.get(API + "/agents/usage", params={"end_date": END, "days": "2"}).headers["etag"] != etag


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_repeat_is_served_from_the_cache_until_data_changes(dialect: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("sqlite_db_url" if dialect == "sqlite" else "pg_db_url")
    when = datetime(2026, 5, 1, 10, tzinfo=UTC)
    _add_execution(url, when)
    # Inside one hour: read from raw rows (whole hours come from the writer's rollups).
    params = {"start_date": "2026-05-01T10:00:00", "end_date": "2026-05-01T10:59:00"}
    with api_client(url, rate_per_min=0) as client:  # its loop may ask more than 600 a minute
        first = client.get(API + "/agents/usage", params=params)
        assert [r["executions"] for r in first.json()["data"]["rows"]] == [1]
        # PostgreSQL's data version is the server's snapshot, which any transaction on any
        # database of the server moves (other tests' too): wait for a quiet moment.
        deadline = time.monotonic() + 30
        while True:
            misses = _queries(client)
            for _ in range(5):
                assert client.get(API + "/agents/usage", params=params).content == first.content
            if _queries(client) == misses:  # answered from the cache
                break
            assert dialect == "postgres" and time.monotonic() < deadline, "repeats were not served from the cache"
        _add_execution(url, when + timedelta(minutes=30))  # another connection commits
        misses = _queries(client)
        after = client.get(API + "/agents/usage", params=params)
        assert [r["executions"] for r in after.json()["data"]["rows"]] == [2]
        assert after.headers["etag"] != first.headers["etag"] and _queries(client) == misses + 1
        # A client holding the old ETag gets the new body, not a 304.
        changed = client.get(API + "/agents/usage", params=params, headers={"If-None-Match": first.headers["etag"]})
        assert changed.status_code == 200 and changed.content == after.content


def test_a_range_ending_now_is_reused_for_max_age_only(empty_db: str) -> None:
    # No rate limit: the loop below asks as fast as it can (on a quiet machine, more than
    # the default 600 a minute before max-age is over, and the limit's 429 has no range).
    with api_client(empty_db, max_age_s=1, rate_per_min=0) as client:
        first = client.get(API + "/summary", params={"days": "1"})
        assert client.get(API + "/summary", params={"days": "1"}).content == first.content  # within max-age
        deadline = time.monotonic() + 10
        while True:  # past max-age the range has moved on: a new end, a new body
            later = client.get(API + "/summary", params={"days": "1"})
            assert later.status_code == 200, later.text
            if later.json()["range"]["end"] != first.json()["range"]["end"]:
                break
            assert time.monotonic() < deadline, "the open range was served stale beyond max-age"
        served = datetime.fromisoformat(later.json()["range"]["end"])
        assert datetime.now(UTC) - served < timedelta(seconds=1.5)


def test_a_range_ending_now_is_refreshed_ahead(empty_db: str) -> None:
    """Past 60 % of max-age a request still gets the body it had, and the next one is
    computed in the background: the poller that comes after gets it without a miss."""
    with api_client(empty_db, max_age_s=4, rate_per_min=0) as client:  # polls every 20 ms
        cache = client.app.state.api.cache
        born = time.monotonic()
        first = client.get(API + "/agents/usage", params={"days": "1"}).json()
        misses = cache.misses
        while time.monotonic() - born < 2.5:
            time.sleep(0.05)
        assert client.get(API + "/agents/usage", params={"days": "1"}).json() == first  # served, refresh started
        deadline = time.monotonic() + 10
        while (body := client.get(API + "/agents/usage", params={"days": "1"}).json()) == first:
            assert time.monotonic() < deadline, "no refresh ahead"
            time.sleep(0.02)
        assert body["range"]["end"] > first["range"]["end"]
        assert cache.misses == misses  # nobody waited for a computation


def test_no_cache_setting_queries_every_time(demo_sqlite: str) -> None:
    with api_client(demo_sqlite, cache_entries=0) as client:
        a = client.get(API + "/tools/usage", params={"end_date": END})
        b = client.get(API + "/tools/usage", params={"end_date": END}, headers={"If-None-Match": a.headers["etag"]})
        assert b.status_code == 304  # the same data: the same ETag, computed again
        assert client.app.state.api.cache.hits == 0
