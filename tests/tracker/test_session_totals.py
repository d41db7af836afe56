"""Sessions' aggregates from running totals (migration 0005): equal to the figures over
their executions, whatever the batches, replays, bulk loads and prunes; and a batch's
cost does not grow with the size of its session."""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.migrate import upgrade_database
from studio_analytics.db.models import (
    FAILURE_VALUES,
    SUCCESS_VALUES,
    TIMEOUT_VALUES,
    AgentExecutionMetrics,
    SessionAgent,
    SessionMetrics,
    SessionTotals,
)
from studio_analytics.db.retention import prune
from studio_analytics.db.session_totals import AGENTS_LISTED, rebuild_unpruned_totals, totals_drift
from studio_analytics.tracker.sink import DatabaseSink

START = datetime(2026, 11, 20, 10, 15, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_file_url" if request.param == "sqlite" else "pg_empty_url")


def _execution(rng: random.Random, session: str | None, at: datetime, *, agents: int = 4) -> dict[str, Any]:
    d = None if rng.random() < 0.1 else round(rng.uniform(1, 5000), 3)
    return dict(
        execution_id=uuid.uuid4(), agent_id=None, agent_name=f"agent-{rng.randrange(agents)}",
        start_time=at, end_time=None if d is None else at + timedelta(milliseconds=d), duration_ms=d,
        status=rng.choice(["success", "success", "failure", "timeout", "error", "completed", "running"]),
        query=None, response=None, error_message=None, tools_called=[], tool_count=0, retry_count=0,
        session_id=session, user_id=None, correlation_id=None,
        tokens_used=None if rng.random() < 0.2 else rng.randrange(5000), api_calls_count=0,
    )


def _expected(conn: Any) -> dict[str, tuple[Any, ...]]:
    """Each session's figures over its executions, counted here in Python."""
    a = AgentExecutionMetrics
    by: dict[str, list[Any]] = {}
    for sid, agent, status, d, tokens, start, end in conn.execute(
            select(a.session_id, a.agent_name, a.status, a.duration_ms, a.tokens_used, a.start_time, a.end_time)):
        if sid:
            by.setdefault(sid, []).append((agent, status, d, tokens, start, end))
    out = {}
    for sid, rows in by.items():
        names = sorted({r[0] for r in rows if r[0] is not None})
        durations = [r[2] for r in rows if r[2] is not None]
        tokens = [r[3] for r in rows if r[3] is not None]
        ends = [r[5] for r in rows if r[5] is not None]
        out[sid] = (len(rows), sum(r[1] in SUCCESS_VALUES for r in rows),
                    sum(r[1] in FAILURE_VALUES + TIMEOUT_VALUES for r in rows), len(names), names[:AGENTS_LISTED],
                    round(sum(durations) / len(durations), 6) if durations else None,
                    min(sum(tokens), 2**31 - 1) if tokens else None, min(r[4] for r in rows),
                    max(ends) if ends else None)
    return out


def _stored(conn: Any) -> dict[str, tuple[Any, ...]]:
    s = SessionMetrics
    out = {}
    for r in conn.execute(select(s.session_id, s.total_queries, s.successful_queries, s.failed_queries,
                                 s.unique_agents_count, s.agents_used, s.average_response_time_ms,
                                 s.total_tokens_used, s.start_time, s.end_time)):
        names = json.loads(r[5]) if isinstance(r[5], str) else r[5]
        out[r[0]] = (*r[1:5], sorted(names), None if r[6] is None else round(r[6], 6), *r[7:])
    return out


def _check(url: str) -> dict[str, tuple[Any, ...]]:
    engine = create_db_engine(url)
    with engine.connect() as conn:
        expected, stored = _expected(conn), _stored(conn)
        assert totals_drift(conn) == 0
    engine.dispose()
    assert {k: stored[k] for k in expected} == expected
    return stored


def test_sessions_equal_their_executions_across_batches_and_replays(empty_url: str) -> None:
    rng = random.Random(5)
    sink = DatabaseSink(empty_url)
    sessions = [f"s-{k}" for k in range(6)] + [None]
    batches = []
    for b in range(25):
        batch = [_execution(rng, rng.choice(sessions), START + timedelta(minutes=rng.randrange(600)))
                 for _ in range(rng.randrange(1, 40))]
        batches.append(batch)
        sink.write({"execution": batch})
        if b % 7 == 3:  # a spooled copy of a batch that had in fact committed
            sink.write({"execution": batches[rng.randrange(len(batches))]}, replay=True)
    sink.close()
    stored = _check(empty_url)
    assert len(stored) == 6 and sum(v[0] for v in stored.values()) > 300


def test_a_session_with_more_agents_than_listed(empty_url: str) -> None:
    rng = random.Random(6)
    sink = DatabaseSink(empty_url)
    for b in range(3):
        sink.write({"execution": [_execution(rng, "big", START + timedelta(seconds=i), agents=10_000)
                                  for i in range(150 * b, 150 * (b + 1))]})
    sink.close()
    stored = _check(empty_url)
    assert stored["big"][3] > AGENTS_LISTED and len(stored["big"][4]) == AGENTS_LISTED


def test_sessions_loaded_without_the_writer_get_their_totals_from_their_rows(empty_url: str) -> None:
    """Rows inserted by another program (a bulk load, a restore, a database from before
    0005): the writer's next batch for the session counts them too."""
    rng = random.Random(7)
    sink = DatabaseSink(empty_url)
    sink.write({"execution": [_execution(rng, "old", START)]})
    engine = create_db_engine(empty_url)
    with engine.begin() as conn:
        rows = [_execution(rng, "old", START + timedelta(seconds=i)) for i in range(1, 50)]
        conn.execute(AgentExecutionMetrics.__table__.insert(), rows)
        conn.execute(SessionTotals.__table__.delete())
        conn.execute(SessionAgent.__table__.delete())
    engine.dispose()
    sink.write({"execution": [_execution(rng, "old", START + timedelta(hours=1))]})
    sink.close()
    assert _check(empty_url)["old"][0] == 51


def test_a_prune_keeps_a_sessions_figures_and_drops_the_totals_of_sessions_it_deletes(empty_url: str) -> None:
    rng = random.Random(8)
    sink = DatabaseSink(empty_url)
    old = START - timedelta(days=10)
    sink.write({"execution": [_execution(rng, "gone", old + timedelta(minutes=i)) for i in range(20)]
                + [_execution(rng, "going-on", old + timedelta(minutes=i)) for i in range(20)]
                + [_execution(rng, "going-on", START + timedelta(minutes=i)) for i in range(5)]})
    engine = create_db_engine(empty_url)
    with engine.connect() as conn:
        before = _stored(conn)
    prune(engine, cutoff=datetime(2026, 11, 19, tzinfo=UTC))
    with engine.connect() as conn:
        assert set(conn.execute(select(SessionTotals.session_id)).scalars()) == {"going-on"}
        assert set(conn.execute(select(SessionAgent.session_id)).scalars()) == {"going-on"}
        assert _stored(conn) == {"going-on": before["going-on"]}
    sink.write({"execution": [_execution(rng, "going-on", START + timedelta(hours=1))]})
    sink.write({"execution": [_execution(rng, "gone", START + timedelta(hours=2))]})  # the same id, later
    sink.close()
    with engine.connect() as conn:
        after = _stored(conn)
    engine.dispose()
    assert after["going-on"][0] == 26  # the pruned executions still counted
    assert after["gone"][0] == 1  # a new session under an old id starts afresh


def test_drift_is_found_and_rebuilt_except_in_sessions_a_prune_cut(empty_url: str) -> None:
    """Rows written past the writer (another program's insert, a hand edit) leave sums
    behind; ``totals_drift`` counts those sessions and ``rebuild_unpruned_totals`` sets
    them right. A session that ran across a prune's cutoff is neither: its sums count the
    pruned executions, which its raw rows no longer hold."""
    rng = random.Random(9)
    sink = DatabaseSink(empty_url)
    old = START - timedelta(days=10)
    sink.write({"execution": [_execution(rng, "across", old + timedelta(minutes=i)) for i in range(10)]
                + [_execution(rng, "across", START + timedelta(minutes=i)) for i in range(4)]
                + [_execution(rng, f"s-{k}", START + timedelta(minutes=k)) for k in range(5) for _ in range(3)]})
    sink.close()
    engine = create_db_engine(empty_url)
    prune(engine, cutoff=datetime(2026, 11, 19, tzinfo=UTC))
    with engine.connect() as conn:
        across = _stored(conn)["across"]
        assert totals_drift(conn) == 0 and across[0] == 14  # its sums still count the 10 pruned runs
    with engine.begin() as conn:
        conn.execute(AgentExecutionMetrics.__table__.insert(),  # past the writer: no sums, no aggregates
                     [_execution(rng, "s-1", START + timedelta(hours=1)), _execution(rng, "s-2", START)])
        conn.execute(SessionTotals.__table__.update().where(SessionTotals.session_id == "s-3")
                     .values(tokens_sum=SessionTotals.tokens_sum + 7))
    with engine.connect() as conn:
        assert totals_drift(conn) == 3
    with engine.begin() as conn:
        assert rebuild_unpruned_totals(conn) == 5  # s-0..s-4; not "across"
    with engine.connect() as conn:
        assert totals_drift(conn) == 0
        expected, stored = _expected(conn), _stored(conn)
    engine.dispose()
    assert {k: stored[k] for k in expected if k != "across"} == {k: v for k, v in expected.items() if k != "across"}
    assert stored["s-1"][0] == stored["s-2"][0] == 4 and stored["across"] == across


def _statements_run(sink: DatabaseSink) -> list[int]:
    """SQLite virtual-machine steps of each transaction of the sink (a count, not a time:
    the same for the same work, however busy the machine)."""
    steps = [0]

    def count() -> int:
        steps[-1] += 1
        return 0

    @event.listens_for(sink.engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.set_progress_handler(count, 100)

    return steps


def test_a_batch_costs_the_same_in_a_session_of_any_size(sqlite_file_url: str, tmp_path: Path) -> None:
    """The same batch into a session of 200 and of 20,000 executions: the writer's work
    (SQLite VM steps) is within 25 % (39 and 39 steps of 100), where recomputing from the rows took 63 times as
    many at 20,000."""
    rng = random.Random(9)
    costs = []
    for n, name in ((200, "small"), (20_000, "large")):
        url = sqlite_file_url.replace("metrics.sqlite3", f"{name}.sqlite3")
        upgrade_database(create_db_engine(url))
        sink = DatabaseSink(url)
        for i in range(0, n, 2_000):
            sink.write({"execution": [_execution(rng, "long", START + timedelta(seconds=j))
                                      for j in range(i, min(n, i + 2_000))]})
        sink.engine.dispose()
        steps = _statements_run(sink)
        batch = [_execution(rng, "long", START + timedelta(hours=10, seconds=j)) for j in range(20)]
        sink.write({"execution": batch})
        costs.append(steps[0])
        sink.close()
        engine = create_db_engine(url)
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(AgentExecutionMetrics)).scalar() == n + 20
            assert conn.execute(text("SELECT total_queries FROM session_metrics")).scalar() == n + 20
        engine.dispose()
    small, large = costs
    assert small > 0 and large < 1.25 * small, costs
