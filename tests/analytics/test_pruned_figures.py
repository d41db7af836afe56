"""Every figure of a pruned period stays what it was (issue #18): the sessions KPI, the
Errors, Sessions and Users tabs included, on SQLite and PostgreSQL — whole hours read from
the revision-0004 rollups, which the writer keeps like the others, a rebuild recomputes
identically (after a prune too), and migration 0004 fills from the rows already there."""

from __future__ import annotations

import dataclasses
import math
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select, text

from studio_analytics import analytics, tracker
from studio_analytics.analytics.errors import error_analysis
from studio_analytics.analytics.kpis import summary_kpis
from studio_analytics.analytics.sessions import count_sessions, list_sessions, session_activity
from studio_analytics.analytics.snapshot import dashboard_snapshot
from studio_analytics.analytics.users import USER_SORTS, user_activity
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.migrate import alembic_config
from studio_analytics.db.retention import prune
from studio_analytics.db.rollup_models import (
    FIGURE_ROLLUP_MODELS,
    MODEL_ROLLUP_MODELS,
    ROLLUP_MODELS,
)
from studio_analytics.db.rollups import USE_ROLLUPS_OPTION, rebuild_rollups, rollup_drift
from studio_analytics.demo.generator import backfill
from studio_analytics.tracker.sink import DatabaseSink
from tests.tracker.conftest import configure_fast

END = datetime(2026, 11, 20, 6, tzinfo=UTC)
CUTOFF = datetime(2026, 11, 18, tzinfo=UTC)
#: whole hours inside the pruned period (and its previous period, for the KPIs' change)
PRUNED = (datetime(2026, 11, 16, 8, tzinfo=UTC), CUTOFF)
TABS = frozenset({"overview", "agents", "tools", "workflows", "models", "errors", "sessions", "users"})
ERROR_SORTS = ("count", "first_seen", "last_seen", "signature", "share")
ALL_MODELS = ROLLUP_MODELS + MODEL_ROLLUP_MODELS + FIGURE_ROLLUP_MODELS


def _demo(url: str, executions: int = 1200) -> None:
    backfill(url, executions=executions, days=4, seed=11, end_ns=int(END.timestamp() * 1e9))
    tracker.shutdown(5)


def _read(url: str, fn: Any, *, raw: bool = False) -> Any:
    engine = create_db_engine(url, read_only=True)
    if raw:
        engine = engine.execution_options(**{USE_ROLLUPS_OPTION: False})
    try:
        with engine.connect() as conn:
            return fn(conn)
    finally:
        engine.dispose()


def _rollups(url: str) -> dict[str, list[tuple[Any, ...]]]:
    def read(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
        return {m.__tablename__: [tuple(r) for r in conn.execute(
            select(m.__table__).order_by(*m.__table__.primary_key.columns))] for m in ALL_MODELS}
    return _read(url, read)


def _close(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    """Equal rows; float sums to 1e-9 relative (added batch by batch vs all at once)."""
    return len(a) == len(b) and all(
        len(x) == len(y) and all(math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-12)
                                 if isinstance(u, float) and isinstance(v, float) else u == v
                                 for u, v in zip(x, y, strict=True)) for x, y in zip(a, b, strict=True))


def _tables_differ(a: dict[str, list[tuple[Any, ...]]], b: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    return [t for t in a if not _close(a[t], b[t])]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(_same(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _differences(a: Any, b: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(a) if not _same(getattr(a, f.name), getattr(b, f.name))]


def _figures(url: str, start: datetime, end: datetime) -> dict[str, Any]:
    """Every figure of the dashboard for [start, end), the four of this issue under every
    sort. The Sessions tab's list (``recent``) holds raw session rows and is left out."""
    tr = analytics.time_range(start_date=start, end_date=end)

    def read(conn: Any) -> dict[str, Any]:
        snap = dashboard_snapshot(conn, tr, generation=1, tabs=TABS)
        assert snap.sessions is not None
        out: dict[str, Any] = {
            "snapshot": dataclasses.replace(snap, taken_at=None, query_ms=0.0,
                                            sessions=dataclasses.replace(snap.sessions, recent=())),
            "count_sessions": count_sessions(conn, tr),
        }
        for sort in USER_SORTS:
            for descending in (True, False):
                out[f"users/{sort}/{descending}"] = user_activity(conn, tr, sort=sort, descending=descending, limit=3)
        for sort in ERROR_SORTS:
            for descending in (True, False):
                out[f"errors/{sort}/{descending}"] = error_analysis(conn, tr, sort=sort, descending=descending,
                                                                    limit=4)
        return out
    return _read(url, read)


def _mismatch(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list[str]]:
    return {k: _differences(a[k], b[k]) if dataclasses.is_dataclass(a[k]) else ["value"]
            for k in a if not _same(a[k], b[k])}


def test_every_figure_of_a_pruned_period_stays_and_a_rebuild_changes_nothing(db_url: str) -> None:
    _demo(db_url)
    figures = _figures(db_url, *PRUNED)
    snap = figures["snapshot"]
    # the four figures of the issue are there to compare, not zeros compared with zeros
    assert snap.kpis.active_sessions.value > 10 and snap.kpis.active_sessions.previous is not None
    assert snap.errors.groups and any(g.top_tool for g in snap.errors.groups)
    assert snap.sessions.total_sessions > 10 and snap.sessions.sessions_started.sum() == snap.sessions.total_sessions
    assert snap.users.rows and snap.users.rows[0].p95_duration_ms and snap.users.rows[0].cost_usd
    rollups = _rollups(db_url)

    engine = create_db_engine(db_url)
    report = prune(engine, cutoff=CUTOFF, batch_rows=200)
    engine.dispose()
    assert report.problems == [] and report.tables["agent_execution_metrics"].rows > 400
    assert _tables_differ(rollups, _rollups(db_url)) == []
    after = _figures(db_url, *PRUNED)
    assert _mismatch(figures, after) == {}

    # a rebuild after the prune gives the same rollups (tool calls past the cutoff inside
    # executions before it keep their agent) and so the same figures
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        rebuild_rollups(conn)
        drift = rollup_drift(conn)
    engine.dispose()
    assert set(drift.values()) == {0}, drift
    assert _tables_differ(rollups, _rollups(db_url)) == []
    assert _mismatch(figures, _figures(db_url, *PRUNED)) == {}


def test_partial_edge_hours_of_a_pruned_range_lose_only_their_raw_rows(db_url: str) -> None:
    _demo(db_url, executions=800)
    # 22:30 .. 02:30 across the cutoff: raw rows of 22:30-23:00 go, whole hours stay
    start, end = CUTOFF - timedelta(minutes=90), CUTOFF + timedelta(minutes=150)
    whole_start = CUTOFF - timedelta(hours=1)
    before = _figures(db_url, start, end)
    trimmed = _figures(db_url, whole_start, end)
    engine = create_db_engine(db_url)
    prune(engine, cutoff=CUTOFF)
    engine.dispose()
    after = _figures(db_url, start, end)
    tr_count = "count_sessions"
    # the pruned edge's rows are gone from the range, nothing else changed: the range
    # now reads like the one that starts at the first whole hour
    assert after[tr_count] == trimmed[tr_count] <= before[tr_count]
    a, t = after["snapshot"], trimmed["snapshot"]
    assert a.kpis.total_executions == t.kpis.total_executions < before["snapshot"].kpis.total_executions
    assert a.kpis.active_sessions.value == t.kpis.active_sessions.value
    assert _same(a.users, t.users) and _same(a.errors.groups, t.errors.groups)
    assert a.sessions.total_sessions == t.sessions.total_sessions


def _straddling_batch(day: datetime) -> dict[str, list[dict[str, Any]]]:
    """One failed execution that starts 30 s before ``day`` and calls tools after it,
    with a session, a user and a model call."""
    e = uuid.uuid4()
    start = day - timedelta(seconds=30)
    tools = [dict(usage_id=uuid.uuid4(), tool_name="late_tool", execution_id=e, start_time=day + timedelta(seconds=i),
                  end_time=day + timedelta(seconds=i + 1), duration_ms=1000.0, status="failure",
                  agent_name="Straddler") for i in range(3)]
    execution = dict(execution_id=e, agent_name="Straddler", start_time=start, end_time=day + timedelta(seconds=5),
                     duration_ms=35_000.0, status="failure", error_message="Timeout talking to 10.0.0.7",
                     tool_count=3, retry_count=0, api_calls_count=0, session_id="straddle", user_id="night-owl",
                     tokens_used=7, tools_called=["late_tool"])
    return {"tool": tools, "execution": [execution]}


def test_a_rebuild_after_a_prune_keeps_the_agent_of_tools_past_the_cutoff(db_url: str) -> None:
    sink = DatabaseSink(db_url)
    sink.write(_straddling_batch(CUTOFF))
    # a later execution keeps a raw row after the cutoff, so the rebuild starts at CUTOFF
    sink.write({"execution": [dict(execution_id=uuid.uuid4(), agent_name="Other", start_time=CUTOFF + timedelta(hours=2),
                                   end_time=CUTOFF + timedelta(hours=2, seconds=1), duration_ms=1000.0,
                                   status="success", tool_count=0, retry_count=0, api_calls_count=0)]})
    sink.close()
    rollups = _rollups(db_url)
    assert [r[2] for r in rollups["rollup_tool_agent_hourly"]] == ["Straddler"]
    engine = create_db_engine(db_url)
    prune(engine, cutoff=CUTOFF)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM agent_execution_metrics WHERE agent_name = 'Straddler'")
                            ).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM tool_usage_metrics")).scalar() == 3
        rebuild_rollups(conn)
    engine.dispose()
    assert _tables_differ(rollups, _rollups(db_url)) == []


def test_a_failed_tool_written_after_its_failed_execution_is_counted_once(db_url: str) -> None:
    batch = _straddling_batch(datetime(2026, 11, 20, 10, tzinfo=UTC))
    sink = DatabaseSink(db_url)
    sink.write({"execution": batch["execution"]})  # the execution first (tools attached by id later)
    sink.write({"tool": batch["tool"][:2]})
    sink.write({"tool": batch["tool"][2:], "execution": []})
    sink.write({"tool": batch["tool"]}, replay=True)  # a replay adds nothing
    sink.close()
    rollups = _rollups(db_url)
    assert [r[-1] for r in rollups["rollup_error_tool_hourly"]] == [3]
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        rebuild_rollups(conn)
    engine.dispose()
    assert _tables_differ(rollups, _rollups(db_url)) == []


def _random_agents(seed: int) -> None:
    rng = random.Random(seed)
    messages = ["KeyError: 'account_{n}'", "HTTP 503 from https://api.example.com/v{n}", "timed out after {n} s",
                "", "Quota exceeded for user \"u{n}\""]
    for i in range(160):
        user = rng.choice(["ann", "ben", "cy", None, ""])
        session = rng.choice([f"s{rng.randint(0, 12)}", None])
        try:
            with tracker.track_agent_execution(agent_name=rng.choice("ABC"), session_id=session, user_id=user) as run:
                for _ in range(rng.randint(0, 3)):
                    try:
                        with tracker.track_tool_usage(tool_name=rng.choice(["search", "calc", "db"])):
                            if rng.random() < 0.3:
                                raise RuntimeError("tool broke")
                    except RuntimeError:
                        pass
                if rng.random() < 0.5:
                    with tracker.track_model_call(model=rng.choice(["gpt-4o", "no-price-model"]),
                                                  provider="openai") as call:
                        call.record_usage(input_tokens=rng.randint(1, 500), output_tokens=rng.randint(1, 200))
                run.record_tokens(rng.randint(0, 50))
                if rng.random() < 0.35:
                    raise ValueError(rng.choice(messages).format(n=rng.randint(0, 99999)) + f" #{i}")
        except ValueError:
            pass


def test_the_writer_keeps_the_new_rollups_equal_to_a_rebuild(db_url: str, tmp_path: Any) -> None:
    configure_fast(db_url, tmp_path / "spool.sqlite3")
    _random_agents(3)
    assert tracker.flush(30)
    tracker.shutdown(5)
    kept = _rollups(db_url)
    assert all(kept[m.__tablename__] for m in FIGURE_ROLLUP_MODELS), {t: len(r) for t, r in kept.items()}
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        assert set(rollup_drift(conn).values()) == {0}
        rebuild_rollups(conn)
    engine.dispose()
    assert _tables_differ(kept, _rollups(db_url)) == []
    # and the rollup reads agree with raw-row reads (percentiles: the same histogram bucket)
    tr = analytics.time_range(days=1)

    def four(conn: Any) -> tuple[Any, ...]:
        return (summary_kpis(conn, tr).active_sessions.value, session_activity(conn, tr).total_sessions,
                [(g.signature, g.count, g.top_agent, g.top_tool, g.example) for g in error_analysis(conn, tr).groups],
                [(r.user_id, r.sessions, r.executions, r.failures, r.tokens, r.unpriced_calls)
                 for r in user_activity(conn, tr).rows])
    assert _read(db_url, four) == _read(db_url, four, raw=True)


def test_migration_0004_fills_the_new_rollups_from_the_rows_there(db_url: str) -> None:
    from alembic import command

    _demo(db_url, executions=300)
    written = _rollups(db_url)
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0003")
    with engine.begin() as conn:
        assert conn.execute(text("SELECT version_num FROM studio_analytics_alembic_version")).scalar() == "0003"
        command.upgrade(alembic_config(conn), "head")
    engine.dispose()
    assert _tables_differ(written, _rollups(db_url)) == []


def test_sessions_list_and_count_agree(db_url: str) -> None:
    _demo(db_url, executions=300)
    tr = analytics.time_range(start_date=datetime(2026, 11, 18, 3, 20, tzinfo=UTC),
                              end_date=datetime(2026, 11, 19, 7, 40, tzinfo=UTC))

    def read(conn: Any) -> tuple[int, int, int]:
        page = list_sessions(conn, tr, limit=10_000)
        return count_sessions(conn, tr), session_activity(conn, tr).total_sessions, len(page.rows)
    counted, total, listed = _read(db_url, read)
    assert counted == total == listed > 5
