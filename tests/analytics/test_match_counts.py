"""The executions list's count: exact from rollups (plus the raw rows of the partial edge
hours) when unfiltered, a bounded exact count when filtered; and the keyset positions
that navigation uses (go to a time, the oldest page), on both dialects."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from studio_analytics.analytics import list_executions, time_range
from studio_analytics.analytics.executions import (
    count_executions,
    cursor_at,
    execution_params,
    execution_where,
    list_newer_executions,
    list_oldest_executions,
)
from studio_analytics.analytics.results import ExecutionFilter, PageCursor, TimeRange
from studio_analytics.analytics.rollup_sources import split_range
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import AgentExecutionMetrics as AEM
from tests.demo_data import demo_fixtures

demo_sqlite, demo_url = demo_fixtures(executions=1_200, days=4, seed=8, pg_executions=600)


def _raw_count(conn, tr: TimeRange, f: ExecutionFilter = ExecutionFilter()) -> int:  # noqa: B008
    return int(conn.execute(select(func.count()).select_from(AEM).where(*execution_where(f)),
                            execution_params(tr, f)).scalar())


def _ranges() -> list[TimeRange]:
    tr = time_range(days=3.3)
    # Odd minutes at both ends: partial hours read from raw rows, whole ones from rollups.
    odd = time_range(start_date=tr.start + timedelta(minutes=17, seconds=3), end_date=tr.end - timedelta(minutes=41))
    return [time_range(preset="24h"), tr, odd, time_range(days=0.2)]


def test_unfiltered_count_is_exact_from_rollups(demo_url: str) -> None:
    engine = create_db_engine(demo_url, read_only=True)
    with engine.connect() as conn:
        assert split_range(conn, time_range(days=3.3)).uses_rollups  # the rollup path is the one tested
        for tr in _ranges():
            c = count_executions(conn, tr)
            assert c.range_total == c.matching == _raw_count(conn, tr) and not c.capped
        assert count_executions(conn, time_range(days=3.3)).range_total > 0
    engine.dispose()


@pytest.mark.parametrize("f", [ExecutionFilter(status="failure"), ExecutionFilter(agent_name="SQLAgent"),
                               ExecutionFilter(agent_name="WebAgent", status="success"),
                               ExecutionFilter(text="a")])
def test_filtered_count_is_exact_below_the_cap(demo_url: str, f: ExecutionFilter) -> None:
    engine = create_db_engine(demo_url, read_only=True)
    with engine.connect() as conn:
        for tr in _ranges():
            c = count_executions(conn, tr, filters=f)
            assert (c.matching, c.capped) == (_raw_count(conn, tr, f), False)
            assert c.range_total == _raw_count(conn, tr)
    engine.dispose()


def test_filtered_count_stops_at_the_cap(demo_url: str) -> None:
    engine = create_db_engine(demo_url, read_only=True)
    with engine.connect() as conn:
        tr = time_range(days=4)
        f = ExecutionFilter(status="success")
        assert _raw_count(conn, tr, f) > 50
        c = count_executions(conn, tr, filters=f, cap=50)
        assert (c.matching, c.capped) == (50, True)
    engine.dispose()


def _walk(conn, tr: TimeRange) -> list:
    rows, cursor = [], None
    while True:
        page = list_executions(conn, tr, after=cursor, limit=300)
        rows += page.rows
        cursor = page.next_cursor
        if cursor is None:
            return rows


def test_go_to_time_oldest_page_and_newer_rows(demo_url: str) -> None:
    engine = create_db_engine(demo_url, read_only=True)
    with engine.connect() as conn:
        tr = time_range(days=4)
        everything = _walk(conn, tr)
        middle = everything[len(everything) // 2].start_time
        page = list_executions(conn, tr, after=cursor_at(middle), limit=50)
        expected = [r for r in everything if r.start_time <= middle][:50]
        assert [r.execution_id for r in page.rows] == [r.execution_id for r in expected]
        oldest = list_oldest_executions(conn, tr, limit=40)
        assert [r.execution_id for r in oldest.rows] == [r.execution_id for r in everything[-40:]]
        assert oldest.next_cursor is None
        # Rows after the 10th newest: the 9 newer ones, newest first; too many: None (reload).
        tenth = everything[9]
        at_tenth = PageCursor(sort_value=tenth.start_time, row_id=tenth.row_id)
        newer = list_newer_executions(conn, tr, at_tenth)
        assert newer is not None and [r.execution_id for r in newer.rows] == [r.execution_id for r in everything[:9]]
        assert list_newer_executions(conn, tr, at_tenth, limit=5) is None
    engine.dispose()
