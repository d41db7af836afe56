"""`db prune` at scale while trackers write, against a naive DELETE measured in the same run.

    python -m benchmarks.bench_prune [--executions 1000000] [--days-pruned 10] [--quick]

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

from benchmarks.bench_analytics import build
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.retention import RAW_TABLES, day_cutoff, prune, vacuum

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


def _lock_waiter(path: str, stop: Any, ready: Any, out: Any) -> None:
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    waits, whole = [], []
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
    out.put(("waiter", waits, whole))


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))] if s else float("nan")


def under_load(path: Path, action: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """Run ``action`` while 4 tracker processes and the lock waiter write ``path``."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE IF NOT EXISTS bench_scratch (at REAL)")
    con.commit()
    con.close()
    url = f"sqlite:///{path}"
    ctx = mp.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    readies = [ctx.Event() for _ in range(TRACKERS + 1)]
    spools = Path(tempfile.mkdtemp(prefix="bench-prune-spool-"))
    procs = [ctx.Process(target=_tracker, args=(url, str(spools / f"spool{k}.sqlite3"), k, stop, readies[k], out))
             for k in range(TRACKERS)]
    procs.append(ctx.Process(target=_lock_waiter, args=(str(path), stop, readies[-1], out)))
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
    load["lost"] = _lost(path, load["trackers"])
    return result, load


def _lost(path: Path, trackers: list[tuple]) -> dict[str, int]:
    """Rows each tracker process reported that are not in the database."""
    con = sqlite3.connect(path)
    lost = {"executions": 0, "tool usages": 0, "model calls": 0}
    for k, ids, *_ in trackers:
        stored = {row[0].replace("-", "").lower() for row in con.execute(
            "SELECT execution_id FROM agent_execution_metrics WHERE agent_name = ?", (f"PruneBench{k}",))}
        lost["executions"] += len(set(ids) - stored)
        tools = con.execute("SELECT count(*) FROM tool_usage_metrics WHERE tool_name = ?",
                            (f"bench_tool_{k}",)).fetchone()[0]
        calls = con.execute("SELECT count(*) FROM model_call_metrics WHERE model = ?",
                            (f"bench-model-{k}",)).fetchone()[0]
        lost["tool usages"] += max(0, len(ids) - tools)
        lost["model calls"] += max(0, len(ids) - calls)
    con.close()
    return lost


def naive_delete(path: Path, cutoff: datetime) -> dict[str, Any]:
    """One DELETE per table in one transaction each: the baseline."""
    con = sqlite3.connect(path, timeout=60, isolation_level=None)
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


def _size(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _copy(source: Path, folder: Path, name: str) -> Path:
    target = folder / name
    started = time.perf_counter()
    shutil.copyfile(source, target)
    print(f"copied {source} to {target} in {time.perf_counter() - started:.0f} s")
    return target


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
    args = parser.parse_args(argv)
    n = 100_000 if args.quick else args.executions
    source = Path(".bench") / f"analytics-models-{n}.sqlite3"
    source.parent.mkdir(exist_ok=True)
    started = time.perf_counter()
    build(source, n, model_calls=True)
    print(f"database: {source} ({source.stat().st_size / 1e6:,.0f} MB, {n:,} executions; "
          f"ready in {time.perf_counter() - started:.0f} s)")
    folder = Path(tempfile.mkdtemp(prefix="bench-prune-", dir=source.parent))
    try:
        path = _copy(source, folder, "prune.sqlite3")
        con = sqlite3.connect(path)
        oldest = datetime.fromisoformat(con.execute("SELECT min(start_time) FROM agent_execution_metrics").fetchone()[0])
        con.close()
        # SQLite holds naive UTC text
        cutoff = day_cutoff(oldest.replace(tzinfo=UTC)) + timedelta(days=args.days_pruned)
        print(f"pruning before {cutoff:%Y-%m-%d %H:%M} UTC (oldest row {oldest:%Y-%m-%d %H:%M})")
        _, idle = under_load(path, lambda: time.sleep(5))
        _print_load("no prune, 5 s", idle)
        engine = create_db_engine(f"sqlite:///{path}")
        before = _size(path)
        report, load = under_load(path, lambda: prune(engine, cutoff=cutoff))
        engine.dispose()
        print("[prune] rows pruned: " + ", ".join(f"{t} {p.rows:,} ({p.batches:,} batches)"
                                                    for t, p in report.tables.items()))
        print(f"[prune] {report.rows:,} rows in {report.seconds:.1f} s = {report.rows / report.seconds:,.0f} rows/s; "
              f"longest batch transaction {report.longest_batch_ms:.1f} ms")
        _print_load("prune", load)
        after = _size(path)
        engine = create_db_engine(f"sqlite:///{path}")
        vac = vacuum(engine)
        engine.dispose()
        print(f"[prune] file: {before / 1e6:,.0f} MB before, {after / 1e6:,.0f} MB after the prune, "
              f"{_size(path) / 1e6:,.0f} MB after vacuum ({vac.seconds:.1f} s)")
        path.unlink()
        if not args.no_baseline:
            naive_path = _copy(source, folder, "naive.sqlite3")
            naive, nload = under_load(naive_path, lambda: naive_delete(naive_path, cutoff))
            print("[naive] rows deleted: " + ", ".join(f"{t} {r:,}" for t, r in naive["rows"].items()))
            total = sum(naive["rows"].values())
            print(f"[naive] {total:,} rows in {naive['seconds']:.1f} s = {total / naive['seconds']:,.0f} rows/s; "
                  f"longest transaction {naive['longest_ms']:.0f} ms")
            _print_load("naive", nload)
            print(f"prune vs naive: {report.seconds / naive['seconds']:.1f}x the time; the other writer's longest "
                  f"wait {max(load['waits']):.0f} ms vs {max(nload['waits']):.0f} ms "
                  f"({max(nload['waits']) / max(load['waits']):.0f}x shorter)")
        print(f"the other writer's longest wait: {max(idle['waits']):.0f} ms without a prune, "
              f"{max(load['waits']):.0f} ms during the prune")
        bound = max(load["waits"]) < 100
        print(f"target: the other writer waits < 100 ms ({'met' if bound else 'NOT met'}), no tracker row lost "
              f"({'met' if not any(load['lost'].values()) else 'NOT met'})")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
