"""A prune while 4 tracker processes write the same database: none of their rows is lost,
and the rollups of the unpruned period equal a rebuild from the raw rows left."""

from __future__ import annotations

import math
import multiprocessing as mp
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from studio_analytics import tracker
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import AgentExecutionMetrics, ModelCallMetrics, ToolUsageMetrics
from studio_analytics.db.retention import prune
from studio_analytics.db.rollup_models import MODEL_ROLLUP_MODELS, ROLLUP_MODELS
from studio_analytics.db.rollups import rebuild_rollups
from studio_analytics.demo.generator import backfill
from tests.tracker.conftest import configure_fast

PROCESSES = 4
#: the demo's history: 2026-11-14 06:00 .. 2026-11-20 06:00 UTC; the trackers write rows of now
END = datetime(2026, 11, 20, 6, tzinfo=UTC)
CUTOFF = datetime(2026, 11, 17, tzinfo=UTC)


def _agent(url: str, spool: str, k: int, stop: Any, ready: Any, out: Any) -> None:
    configure_fast(url, Path(spool))
    ids: list[str] = []
    while not stop.is_set() or len(ids) < 30:
        with tracker.track_agent_execution(agent_name=f"Live{k}", query="q", session_id=f"live-{k}") as run:
            with tracker.track_tool_usage(tool_name="live_tool"):
                pass
            with tracker.track_model_call(model="gpt-4o-mini", provider="openai") as call:
                call.record_usage(input_tokens=120, output_tokens=30)
        ids.append(run.hex)
        if len(ids) == 10:
            ready.set()
        stop.wait(0.005)
    flushed = tracker.flush(30)
    s = tracker.stats()
    tracker.shutdown(5)
    out.put((k, ids, flushed, s.dropped, s.enqueued))


def _rollups_from(conn: Any, cutoff: datetime) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for model in ROLLUP_MODELS + MODEL_ROLLUP_MODELS:
        table = model.__table__
        period = table.c.day if "day" in table.c else table.c.hour
        out[table.name] = [tuple(r) for r in conn.execute(
            select(table).where(period >= int(cutoff.timestamp())).order_by(*table.primary_key.columns))]
    return out


def _same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    """Equal rows, float sums to 1e-9 relative (the writer adds batch by batch, a rebuild at once)."""
    return len(a) == len(b) and all(
        len(x) == len(y) and all(math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-12)
                                 if isinstance(u, float) and isinstance(v, float) else u == v
                                 for u, v in zip(x, y, strict=True))
        for x, y in zip(a, b, strict=True))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_empty_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_file_url" if request.param == "sqlite" else "pg_empty_url")


def test_prune_while_four_processes_write(any_empty_url: str, tmp_path: Path) -> None:
    url = any_empty_url
    backfill(url, executions=2000, days=6, seed=3, end_ns=int(END.timestamp() * 1e9))
    tracker.shutdown(5)
    engine = create_db_engine(url)
    with engine.connect() as conn:
        old = conn.execute(select(func.count()).select_from(AgentExecutionMetrics)
                           .where(AgentExecutionMetrics.start_time < CUTOFF)).scalar()
    assert old and old > 500

    ctx = mp.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    readies = [ctx.Event() for _ in range(PROCESSES)]
    procs = [ctx.Process(target=_agent, args=(url, str(tmp_path / f"spool{k}.sqlite3"), k, stop, readies[k], out))
             for k in range(PROCESSES)]
    for p in procs:
        p.start()
    try:
        assert all(r.wait(30) for r in readies)  # every process writes, and goes on during the prune
        report = prune(engine, cutoff=CUTOFF, batch_rows=50)
    finally:
        stop.set()
        results = sorted(out.get(timeout=60) for _ in procs)
        for p in procs:
            p.join(30)
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    assert report.tables["agent_execution_metrics"].rows == old
    assert sum(t.batches for t in report.tables.values()) > 10

    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AgentExecutionMetrics)
                            .where(AgentExecutionMetrics.start_time < CUTOFF)).scalar() == 0
        for k, ids, flushed, dropped, enqueued in results:
            assert flushed and dropped == 0 and enqueued == 3 * len(ids), (k, flushed, dropped, enqueued)
            wanted = {uuid.UUID(h) for h in ids}
            for model in (AgentExecutionMetrics, ToolUsageMetrics, ModelCallMetrics):
                stored = {uuid.UUID(str(v)) for v in conn.execute(
                    select(model.execution_id).where(model.execution_id.in_([uuid.UUID(h) for h in ids])))
                    .scalars()}
                assert stored == wanted, (k, model.__tablename__, len(wanted - stored))

    # The rollups of the unpruned period equal a rebuild from what is left (rolled back:
    # the database keeps the rollup rows of the pruned days either way).
    with engine.connect() as conn:
        trans = conn.begin()
        kept = _rollups_from(conn, CUTOFF)
        oldest = conn.execute(select(func.min(AgentExecutionMetrics.start_time))).scalar()
        rebuild_rollups(conn)
        rebuilt = _rollups_from(conn, CUTOFF)
        before_cutoff = conn.execute(text("SELECT count(*) FROM rollup_agent_hourly WHERE hour < :c"),
                                     {"c": int(CUTOFF.timestamp())}).scalar()
        trans.rollback()
    engine.dispose()
    assert oldest is not None and oldest.replace(tzinfo=UTC) >= CUTOFF
    assert before_cutoff, "the rebuild kept the pruned days' rollups"
    assert all(kept[t] for t in ("rollup_agent_hourly", "rollup_model_hourly")), kept.keys()
    for table, rows in kept.items():
        assert _same(rows, rebuilt[table]), (table, [(x, y) for x, y in zip(rows, rebuilt[table], strict=False)
                                                     if x != y][:3])
