"""The Executions list's filters in SQL, on SQLite and PostgreSQL: names match
case-insensitive substrings, each new filter (duration, tokens, cost, model, workflow,
has-error, response text, a brushed span) selects exactly the rows it says, keyset
pages stay complete under them, completion names are bounded, and an export keeps the
list's order."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from studio_analytics.analytics import list_executions, time_range
from studio_analytics.analytics.executions import count_executions
from studio_analytics.analytics.names import list_names
from studio_analytics.analytics.results import ExecutionFilter, TimeRange
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.migrate import upgrade_database
from studio_analytics.db.models import (
    AgentExecutionMetrics,
    ModelCallMetrics,
    ToolUsageMetrics,
    WorkflowMetrics,
)
from studio_analytics.db.rollups import USE_ROLLUPS_OPTION
from studio_analytics.export.csv_export import stream_table_csv
from tests.pg_databases import pg_database

NOW = datetime.now(UTC).replace(microsecond=0)
WF_TRIP, WF_DATA = uuid.uuid4(), uuid.uuid4()


@dataclass(frozen=True)
class Run:
    agent: str
    user: str | None
    duration: float | None
    tokens: int | None
    response: str | None = None
    error: str | None = None
    workflow: uuid.UUID | None = None
    tools: tuple[str, ...] = ()
    calls: tuple[tuple[str, float | None], ...] = ()  # (model, cost)
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def cost(self) -> float | None:
        priced = [c for _, c in self.calls if c is not None]
        return sum(priced) if priced else None


SPECIAL = [
    Run("WebSearchAgent", "Alice", 100.0, 50, "sunny all week", None, WF_TRIP, ("WebSearch",),
        (("gpt-4o", 0.01), ("gpt-4o", 0.02))),
    Run("web_crawler", "bob", 5_000.0, 2_000, "done: 100% crawled", "Timeout after 30 s", None, ("web_search",),
        (("claude-sonnet-4-5", 0.5),)),
    Run("Planner", "ALICE_2", 20_000.0, None, None, "", WF_DATA, ("calendar",), (("gpt-4o-mini", None),)),
    Run("Planner", None, None, 10, "a plan", "Planner crashed", None),
]
#: rows to page through: durations repeat, so ties are broken by id
PADDING = [Run(f"PadAgent{i % 3}", f"user{i % 4}", float(i % 5) * 100.0, i * 10, f"pad {i}", None, None,
               ("pad_tool",) if i % 2 else (), (("pad-model", 0.001 * i),) if i % 3 else ())
           for i in range(40)]
RUNS = SPECIAL + PADDING
#: the rows' start times: one a second back from NOW, in RUNS order
START = {r.id: NOW - timedelta(seconds=10 + i) for i, r in enumerate(RUNS)}


def _insert(url: str) -> None:
    engine = create_db_engine(url)
    upgrade_database(engine)
    with engine.begin() as conn:
        conn.execute(insert(WorkflowMetrics), [
            dict(workflow_id=WF_TRIP, workflow_type="trip_planning", start_time=NOW - timedelta(minutes=5),
                 status="success"),
            dict(workflow_id=WF_DATA, workflow_type="data_analysis", start_time=NOW - timedelta(minutes=5),
                 status="failure")])
        conn.execute(insert(AgentExecutionMetrics), [
            dict(execution_id=r.id, agent_name=r.agent, start_time=START[r.id], duration_ms=r.duration,
                 status="failure" if r.error else "success", query=f"query of {r.agent}", response=r.response,
                 error_message=r.error, tool_count=len(r.tools), retry_count=0, api_calls_count=0, user_id=r.user,
                 tokens_used=r.tokens, correlation_id=None if r.workflow is None else str(r.workflow))
            for r in RUNS])
        conn.execute(insert(ToolUsageMetrics), [
            dict(usage_id=uuid.uuid4(), tool_name=t, execution_id=r.id, start_time=START[r.id], status="success")
            for r in RUNS for t in r.tools])
        conn.execute(insert(ModelCallMetrics), [
            dict(call_id=uuid.uuid4(), execution_id=r.id, agent_name=r.agent, model=m, operation="chat",
                 start_time=START[r.id], status="success", cost_usd=c)
            for r in RUNS for m, c in r.calls])
    engine.dispose()


@pytest.fixture(scope="module")
def runs_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('runs') / 'runs.sqlite3'}"
    _insert(url)
    return url


@pytest.fixture(scope="module")
def runs_postgres(pg_server_url: str) -> Iterator[str]:
    """One database for the module: the tests only read it (a fresh one per test cost
    more than the tests themselves)."""
    with pg_database(pg_server_url) as url:
        _insert(url)
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def runs_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"runs_{request.param}")


def _range() -> TimeRange:
    # Under an hour: every row is read raw (the inserted rows are not in the rollups).
    return time_range(start_date=NOW - timedelta(minutes=30), end_date=NOW + timedelta(seconds=1))


CASES: list[tuple[ExecutionFilter, object]] = [
    (ExecutionFilter(agent_name="web"), lambda r: "web" in r.agent.lower()),
    (ExecutionFilter(agent_name="WEBSEARCH"), lambda r: r.agent == "WebSearchAgent"),
    (ExecutionFilter(tool_name="web"), lambda r: any("web" in t.lower() for t in r.tools)),
    (ExecutionFilter(tool_name="b_s"), lambda r: "web_search" in r.tools),  # "_" is literal
    (ExecutionFilter(user_id="alice"), lambda r: r.user is not None and "alice" in r.user.lower()),
    (ExecutionFilter(min_duration_ms=5_000), lambda r: r.duration is not None and r.duration >= 5_000),
    (ExecutionFilter(max_duration_ms=200), lambda r: r.duration is not None and r.duration <= 200),
    (ExecutionFilter(min_tokens=300), lambda r: r.tokens is not None and r.tokens >= 300),
    (ExecutionFilter(min_cost_usd=0.03), lambda r: r.cost is not None and r.cost >= 0.03 - 1e-12),
    (ExecutionFilter(model="GPT-4O"), lambda r: any("gpt-4o" in m for m, _ in r.calls)),
    (ExecutionFilter(model="mini"), lambda r: any("mini" in m for m, _ in r.calls)),
    (ExecutionFilter(workflow="TRIP"), lambda r: r.workflow == WF_TRIP),
    (ExecutionFilter(workflow=str(WF_DATA)), lambda r: r.workflow == WF_DATA),
    (ExecutionFilter(workflow=WF_DATA.hex.upper()), lambda r: r.workflow == WF_DATA),
    (ExecutionFilter(has_error=True), lambda r: bool(r.error)),
    (ExecutionFilter(has_error=False), lambda r: not r.error),
    (ExecutionFilter(text="100%"), lambda r: r.response is not None and "100%" in r.response),
    (ExecutionFilter(text="crashed"), lambda r: r.error is not None and "crashed" in r.error),
    (ExecutionFilter(agent_name="pad", min_duration_ms=200, has_error=False, model="pad"),
     lambda r: r.agent.startswith("PadAgent") and (r.duration or 0) >= 200 and bool(r.calls)),
    # A drill-down's whole names: "gpt-4o" is not gpt-4o-mini, "alice" is not ALICE_2.
    (ExecutionFilter(agent_name="websearchagent", exact=True), lambda r: r.agent == "WebSearchAgent"),
    (ExecutionFilter(model="gpt-4o", exact=True), lambda r: any(m == "gpt-4o" for m, _ in r.calls)),
    (ExecutionFilter(user_id="alice", exact=True), lambda r: r.user == "Alice"),
    (ExecutionFilter(tool_name="web_search", exact=True), lambda r: "web_search" in r.tools),
    (ExecutionFilter(workflow="trip_planning", exact=True), lambda r: r.workflow == WF_TRIP),
]
#: whole names that are only parts of the names stored: nothing matches
NO_WHOLE_NAME = [ExecutionFilter(agent_name="web", exact=True), ExecutionFilter(model="gpt", exact=True),
                 ExecutionFilter(user_id="ALICE_", exact=True), ExecutionFilter(workflow="trip", exact=True),
                 ExecutionFilter(tool_name="%", exact=True)]


def _expected(pred: object, tr: TimeRange | None = None) -> set[uuid.UUID]:
    tr = tr or _range()
    return {r.id for r in RUNS if pred(r) and tr.start <= START[r.id] < tr.end}  # type: ignore[operator]


def test_each_filter_selects_exactly_its_rows(runs_url: str) -> None:
    engine = create_db_engine(runs_url, read_only=True)
    tr = _range()
    with engine.connect() as conn:
        for f, pred in CASES:
            expected = _expected(pred)
            assert expected, f"{f} selects nothing: the case proves nothing"
            page = list_executions(conn, tr, filters=f, limit=500)
            assert {r.execution_id for r in page.rows} == expected, f
            assert count_executions(conn, tr, filters=f).matching == len(expected), f
        for f in NO_WHOLE_NAME:
            assert list_executions(conn, tr, filters=f, limit=500).rows == (), f
            assert count_executions(conn, tr, filters=f).matching == 0, f
    engine.dispose()


def test_listed_rows_carry_the_optional_columns(runs_url: str) -> None:
    engine = create_db_engine(runs_url, read_only=True)
    with engine.connect() as conn:
        rows = {r.execution_id: r for r in list_executions(conn, _range(), limit=500).rows}
    engine.dispose()
    for run in SPECIAL:
        row = rows[run.id]
        assert row.query_preview == f"query of {run.agent}"
        assert row.workflow_type == {WF_TRIP: "trip_planning", WF_DATA: "data_analysis", None: None}[run.workflow]
        assert (row.model, row.model_count) == ((min(m for m, _ in run.calls), len({m for m, _ in run.calls}))
                                                if run.calls else (None, 0))


def test_a_brushed_span_narrows_the_range(runs_url: str) -> None:
    tr = _range()
    after, before = NOW - timedelta(seconds=30), NOW - timedelta(seconds=15)
    span = time_range(start_date=after, end_date=before)
    engine = create_db_engine(runs_url, read_only=True)
    with engine.connect() as conn:
        for f in (ExecutionFilter(started_after=after, started_before=before),
                  ExecutionFilter(agent_name="pad", started_after=after, started_before=before)):
            pred = (lambda r: True) if f.agent_name is None else (lambda r: r.agent.startswith("PadAgent"))
            expected = _expected(pred, span)
            assert 0 < len(expected) < len(RUNS)
            assert {r.execution_id for r in list_executions(conn, tr, filters=f).rows} == expected
            assert count_executions(conn, tr, filters=f).matching == len(expected)
    engine.dispose()


def test_keyset_pages_are_complete_under_filters(runs_url: str) -> None:
    f = ExecutionFilter(agent_name="PAD", max_duration_ms=300, model="pad")
    expected = _expected(lambda r: r.agent.startswith("PadAgent") and (r.duration or 0) <= 300 and bool(r.calls))
    assert len(expected) > 8  # several pages of 4
    engine = create_db_engine(runs_url, read_only=True)
    with engine.connect() as conn:
        for sort, descending in (("start_time", True), ("start_time", False), ("duration_ms", True),
                                 ("duration_ms", False)):
            seen: list[uuid.UUID] = []
            keys: list[tuple[float, int]] = []
            cursor = None
            while True:
                page = list_executions(conn, _range(), filters=f, sort=sort, descending=descending, after=cursor,
                                       limit=4)
                seen += [r.execution_id for r in page.rows]
                keys += [((r.start_time.timestamp() if sort == "start_time" else r.duration_ms), r.row_id)
                         for r in page.rows]
                cursor = page.next_cursor
                if cursor is None:
                    break
            assert len(seen) == len(set(seen)) and set(seen) == expected, sort
            assert keys == sorted(keys, reverse=descending), sort
    engine.dispose()


def test_completion_names_are_distinct_bounded_and_case_insensitive(runs_url: str) -> None:
    engine = create_db_engine(runs_url, read_only=True)
    with engine.connect() as conn:
        # Hand-inserted rows are not in the rollups: read the raw tables, as a database without them.
        raw = conn.execution_options(**{USE_ROLLUPS_OPTION: False})
        # Sets: the order of names differing in case or punctuation is the collation's.
        assert set(list_names(raw, "agent", "web")) == {"WebSearchAgent", "web_crawler"}
        assert list_names(raw, "agent", "pad", limit=2) == ("PadAgent0", "PadAgent1")
        assert set(list_names(raw, "tool", "WEB")) == {"WebSearch", "web_search"}
        assert set(list_names(raw, "user", "alice")) == {"Alice", "ALICE_2"}
        assert list_names(raw, "model", "4o") == ("gpt-4o", "gpt-4o-mini")
        assert list_names(raw, "workflow", "") == ("data_analysis", "trip_planning")
        assert len(list_names(raw, "user", "", limit=3)) == 3
        assert list_names(raw, "tool", "%") == ()  # literal, not a wildcard
    engine.dispose()


def test_export_keeps_the_list_order_and_filters(runs_url: str, tmp_path: Path) -> None:
    f = ExecutionFilter(agent_name="pad")
    engine = create_db_engine(runs_url, read_only=True)
    with engine.connect() as conn:
        for sort in (("start_time", True), ("duration_ms", False)):
            listed = [str(r.execution_id) for r in
                      list_executions(conn, _range(), filters=f, sort=sort[0], descending=sort[1], limit=500).rows]
            out = tmp_path / f"{sort[0]}.csv"
            stream_table_csv(conn, "executions", _range(), out, filters=f, sort=sort)
            with out.open(newline="", encoding="utf-8") as fh:
                assert [row["execution_id"] for row in csv.DictReader(fh)] == listed
    engine.dispose()
