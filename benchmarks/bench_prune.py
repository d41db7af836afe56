"""`db prune` at scale while trackers write, against a naive DELETE measured in the same run.

    python -m benchmarks.bench_prune [--executions 1000000] [--days-pruned 10] [--quick] [--pg SERVER_URL]

Takes the cached database of :mod:`benchmarks.bench_analytics` (``.bench/analytics-models-N.sqlite3``:
N executions, 3N tool usages, 3N model calls over 30 days; built if missing), copies it to a
temporary file, and while 4 tracker processes write new rows (an execution with a tool usage
and a model call each, about 50 runs a second per process) and one more process takes the write lock
every 10 ms (``BEGIN IMMEDIATE``, an insert into a scratch table, ``COMMIT``; each wait for
the lock recorded), runs ``retention.prune`` for the oldest ``--days-pruned`` days. Then
``vacuum``. The same load for 5 s without a prune first gives the writer's usual wait.
The baseline, on a second copy under the same load: one ``DELETE ... WHERE start_time <
cutoff`` per table (what a prune without batches does). ``--quick``: 100,000
executions. The copies are deleted at the end.

``--pg``: the same on copies (``CREATE DATABASE … TEMPLATE``) of the cached PostgreSQL
database of :mod:`benchmarks.bench_analytics`; the other writer there times an INSERT and its
COMMIT (PostgreSQL locks rows, not the file: a prune's DELETE never makes an INSERT wait).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text

from benchmarks.bench_analytics import build, build_postgres, copy_postgres
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import AgentExecutionMetrics
from studio_analytics.db.retention import (
    PAUSE_MS,
    RAW_TABLES,
    TARGET_BATCH_MS,
    day_cutoff,
    prune,
    vacuum,
)

TRACKERS = 4
#: each tracker process: one run (3 rows) per PACE_S, i.e. about 50 runs a second
PACE_S = 0.02
FMT = "%Y-%m-%d %H:%M:%S.%f"


def _tracker(url: str, spool: str, k: int, stop: Any, ready: Any, out: Any) -> None:
    from studio_analytics import tracker

    tracker.configure(db_url=url, spool_path=spool, flush_interval_s=0.05)
    ids: list[str] = []
    while not stop.is_set():
        with tracker.track_agent_execution(agent_name=f"PruneBench{k}", query="q", session_id=f"bench-{k}") as run:
            with tracker.track_tool_usage(tool_name=f"bench_tool_{k}"):
                pass
            with tracker.track_model_call(model=f"bench-model-{k}", provider="openai"):
                pass
        ids.append(run.hex)
        if len(ids) == 20:
            ready.set()
        time.sleep(PACE_S)
    flushed = tracker.flush(120)
    s = tracker.stats()
    tracker.shutdown(10)
    out.put((k, ids, flushed, s.enqueued, s.written, s.dropped, s.spooled, s.replayed))


def _lock_waiter(url: str, stop: Any, ready: Any, out: Any) -> None:
    waits, whole = [], []
    if url.startswith("sqlite"):
        con = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30, isolation_level=None)
        while not stop.is_set():
            began = time.perf_counter()
            con.execute("BEGIN IMMEDIATE")
            locked = time.perf_counter()
            con.execute("INSERT INTO bench_scratch (at) VALUES (?)", (locked,))
            con.execute("COMMIT")
            waits.append((locked - began) * 1000)
            whole.append((time.perf_counter() - began) * 1000)
            ready.set()
            time.sleep(0.010)
        con.close()
    else:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as pg:
            while not stop.is_set():
                began = time.perf_counter()
                pg.execute("INSERT INTO bench_scratch (at) VALUES (%s)", (began,))
                pg.commit()
                waits.append((time.perf_counter() - began) * 1000)
                whole.append(waits[-1])
                ready.set()
                time.sleep(0.010)
    out.put(("waiter", waits, whole))


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))] if s else float("nan")


def under_load(url: str, action: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """Run ``action`` while 4 tracker processes and the lock waiter write the database."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_scratch (at DOUBLE PRECISION)"))
    engine.dispose()
    ctx = mp.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    readies = [ctx.Event() for _ in range(TRACKERS + 1)]
    spools = Path(tempfile.mkdtemp(prefix="bench-prune-spool-"))
    procs = [ctx.Process(target=_tracker, args=(url, str(spools / f"spool{k}.sqlite3"), k, stop, readies[k], out))
             for k in range(TRACKERS)]
    procs.append(ctx.Process(target=_lock_waiter, args=(url, stop, readies[-1], out)))
    for p in procs:
        p.start()
    try:
        for r in readies:
            if not r.wait(120):
                raise RuntimeError("a writer process did not start")
        time.sleep(0.5)
        result = action()
        time.sleep(0.5)
    finally:
        stop.set()
        got = [out.get(timeout=300) for _ in procs]
        for p in procs:
            p.join(60)
        shutil.rmtree(spools, ignore_errors=True)
    load: dict[str, Any] = {"trackers": []}
    for item in got:
        if item[0] == "waiter":
            load["waits"], load["whole"] = item[1], item[2]
        else:
            load["trackers"].append(item)
    load["trackers"].sort()
    load["lost"] = _lost(url, load["trackers"])
    return result, load


def _lost(url: str, trackers: list[tuple]) -> dict[str, int]:
    """Rows each tracker process reported that are not in the database."""
    engine = create_engine(url)
    lost = {"executions": 0, "tool usages": 0, "model calls": 0}
    with engine.connect() as con:
        for k, ids, *_ in trackers:
            stored = {str(row[0]).replace("-", "").lower() for row in con.execute(text(
                "SELECT execution_id FROM agent_execution_metrics WHERE agent_name = :a"), {"a": f"PruneBench{k}"})}
            lost["executions"] += len(set(ids) - stored)
            tools = con.execute(text("SELECT count(*) FROM tool_usage_metrics WHERE tool_name = :t"),
                                {"t": f"bench_tool_{k}"}).scalar()
            calls = con.execute(text("SELECT count(*) FROM model_call_metrics WHERE model = :m"),
                                {"m": f"bench-model-{k}"}).scalar()
            lost["tool usages"] += max(0, len(ids) - int(tools or 0))
            lost["model calls"] += max(0, len(ids) - int(calls or 0))
    engine.dispose()
    return lost


def naive_delete(url: str, cutoff: datetime) -> dict[str, Any]:
    """One DELETE per table in one transaction each: the baseline."""
    if not url.startswith("sqlite"):
        return _naive_delete_postgres(url, cutoff)
    con = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=60, isolation_level=None)
    at = cutoff.replace(tzinfo=None).strftime(FMT)
    rows, longest, began = {}, 0.0, time.perf_counter()
    statements = {t: f"DELETE FROM {t} WHERE start_time < ?" for t in RAW_TABLES if t != "session_metrics"}
    statements["session_metrics"] = (
        "DELETE FROM session_metrics WHERE start_time < ? AND NOT EXISTS (SELECT 1 FROM agent_execution_metrics e "
        "WHERE e.session_id = session_metrics.session_id) AND NOT EXISTS (SELECT 1 FROM model_call_metrics m "
        "WHERE m.session_id = session_metrics.session_id)")
    for table, sql in statements.items():
        t0 = time.perf_counter()
        con.execute("BEGIN IMMEDIATE")
        rows[table] = con.execute(sql, (at,)).rowcount
        con.execute("COMMIT")
        longest = max(longest, (time.perf_counter() - t0) * 1000)
    con.execute("PRAGMA wal_checkpoint(PASSIVE)")
    con.close()
    return {"rows": rows, "seconds": time.perf_counter() - began, "longest_ms": longest}


def _naive_delete_postgres(url: str, cutoff: datetime) -> dict[str, Any]:
    engine = create_engine(url)
    rows, longest, began = {}, 0.0, time.perf_counter()
    for table in RAW_TABLES:
        where = "start_time < :c"
        if table == "session_metrics":
            where += (" AND NOT EXISTS (SELECT 1 FROM agent_execution_metrics e WHERE e.session_id = "
                      "session_metrics.session_id) AND NOT EXISTS (SELECT 1 FROM model_call_metrics m WHERE "
                      "m.session_id = session_metrics.session_id)")
        t0 = time.perf_counter()
        with engine.begin() as conn:
            rows[table] = conn.execute(text(f"DELETE FROM {table} WHERE {where}"), {"c": cutoff}).rowcount
        longest = max(longest, (time.perf_counter() - t0) * 1000)
    engine.dispose()
    return {"rows": rows, "seconds": time.perf_counter() - began, "longest_ms": longest}


def _size(url: str) -> int:
    if not url.startswith("sqlite"):
        engine = create_engine(url)
        with engine.connect() as conn:
            size = int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar() or 0)
        engine.dispose()
        return size
    path = Path(url.removeprefix("sqlite:///"))
    wal = Path(f"{path}-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _copy(source: Path, folder: Path, name: str) -> str:
    target = folder / name
    started = time.perf_counter()
    con = sqlite3.connect(source)  # the file alone must hold every committed page
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    shutil.copyfile(source, target)
    print(f"copied {source} to {target} in {time.perf_counter() - started:.0f} s")
    return f"sqlite:///{target}"


def _print_load(label: str, load: dict[str, Any]) -> None:
    w = load["waits"]
    print(f"[{label}] other writer's wait for the lock (BEGIN IMMEDIATE, {len(w):,} waits): "
          f"median {statistics.median(w):.1f} ms, p99 {_pct(w, 0.99):.1f} ms, max {max(w):.1f} ms; "
          f"whole transaction max {max(load['whole']):.1f} ms")
    for k, ids, flushed, enq, written, dropped, spooled, replayed in load["trackers"]:
        print(f"[{label}] tracker {k}: {len(ids):,} runs ({3 * len(ids):,} rows), enqueued {enq:,}, written "
              f"{written:,}, dropped {dropped}, spooled {spooled}, replayed {replayed}, flushed {flushed}")
    lost = load["lost"]
    print(f"[{label}] trackers' rows missing from the database: "
          + ", ".join(f"{n} {what}" for what, n in lost.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--days-pruned", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="100,000 executions")
    parser.add_argument("--no-baseline", action="store_true", help="skip the naive DELETE on a second copy")
    parser.add_argument("--target-ms", type=float, default=TARGET_BATCH_MS, help="a batch's aim for its lock hold")
    parser.add_argument("--pause-ms", type=float, default=PAUSE_MS, help="the pause after each batch")
    parser.add_argument("--pg", metavar="SERVER_URL", help="on copies of the cached PostgreSQL database instead")
    args = parser.parse_args(argv)
    n = 100_000 if args.quick else args.executions
    folder = None
    if args.pg:
        started = time.perf_counter()
        build_postgres(args.pg, n, model_calls=True)
        print(f"database: PostgreSQL studio_analytics_bench_models_{n} ({n:,} executions; ready in "
              f"{time.perf_counter() - started:.0f} s)")

        def copy(name: str) -> tuple[str, Callable[[], None]]:
            return copy_postgres(args.pg, n, name)
    else:
        source = Path(".bench") / f"analytics-models-{n}.sqlite3"
        source.parent.mkdir(exist_ok=True)
        started = time.perf_counter()
        build(source, n, model_calls=True)
        print(f"database: {source} ({source.stat().st_size / 1e6:,.0f} MB, {n:,} executions; "
              f"ready in {time.perf_counter() - started:.0f} s)")
        folder = Path(tempfile.mkdtemp(prefix="bench-prune-", dir=source.parent))

        def copy(name: str) -> tuple[str, Callable[[], None]]:
            url = _copy(source, folder, f"{name}.sqlite3")
            return url, lambda: Path(url.removeprefix("sqlite:///")).unlink()
    try:
        url, drop = copy("prune")
        engine = create_db_engine(url)
        with engine.connect() as conn:
            oldest = conn.execute(select(func.min(AgentExecutionMetrics.start_time))).scalar()
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
        cutoff = day_cutoff(oldest) + timedelta(days=args.days_pruned)
        print(f"pruning before {cutoff:%Y-%m-%d %H:%M} UTC (oldest row {oldest:%Y-%m-%d %H:%M}); batches aim "
              f"to hold the lock {args.target_ms:g} ms, pause {args.pause_ms:g} ms")
        _, idle = under_load(url, lambda: time.sleep(5))
        _print_load("no prune, 5 s", idle)
        before = _size(url)
        report, load = under_load(url, lambda: prune(engine, cutoff=cutoff, target_ms=args.target_ms,
                                                     pause_ms=args.pause_ms))
        engine.dispose()
        print("[prune] rows pruned: " + ", ".join(f"{t} {p.rows:,} ({p.batches:,} batches, "
                                                    f"{p.seconds:.1f} s holding the lock, {p.lock_retries} retries)"
                                                    for t, p in report.tables.items()))
        print(f"[prune] {report.rows:,} rows in {report.seconds:.1f} s = {report.rows / report.seconds:,.0f} rows/s; "
              f"longest batch transaction {report.longest_batch_ms:.1f} ms")
        _print_load("prune", load)
        after = _size(url)
        engine = create_db_engine(url)
        vac = vacuum(engine)
        engine.dispose()
        print(f"[prune] {'file' if folder else 'database'}: {before / 1e6:,.0f} MB before, {after / 1e6:,.0f} MB "
              f"after the prune, {_size(url) / 1e6:,.0f} MB after vacuum ({vac.seconds:.1f} s)")
        drop()
        if not args.no_baseline:
            naive_url, drop = copy("naive")
            naive, nload = under_load(naive_url, lambda: naive_delete(naive_url, cutoff))
            drop()
            print("[naive] rows deleted: " + ", ".join(f"{t} {r:,}" for t, r in naive["rows"].items()))
            total = sum(naive["rows"].values())
            print(f"[naive] {total:,} rows in {naive['seconds']:.1f} s = {total / naive['seconds']:,.0f} rows/s; "
                  f"longest transaction {naive['longest_ms']:.0f} ms")
            _print_load("naive", nload)
            print(f"prune vs naive: {report.seconds / naive['seconds']:.1f}x the time; the other writer's longest "
                  f"wait {max(load['waits']):.0f} ms vs {max(nload['waits']):.0f} ms "
                  f"({max(nload['waits']) / max(load['waits']):.1f}x shorter)")
        print(f"the other writer's longest wait: {max(idle['waits']):.0f} ms without a prune, "
              f"{max(load['waits']):.0f} ms during the prune")
        bound = max(load["waits"]) < 100
        print(f"target: the other writer waits < 100 ms ({'met' if bound else 'NOT met'}), no tracker row lost "
              f"({'met' if not any(load['lost'].values()) else 'NOT met'})")
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
