"""`studio-analytics serve` under a bounded local load: `/api/analytics/summary`.

    python -m benchmarks.bench_serve [--db PATH] [--clients 8] [--seconds 10] [--quick]

Starts the real `studio-analytics serve` as a subprocess on 127.0.0.1 (rate limit off,
the database read-only), then N keep-alive clients (httpx, one asyncio task each, in this
process) ask for the 7-day summary for T seconds per phase, and it prints requests/s and
p50/p99 latency of:
  - hits: the same parameters every time (the body comes from the server's cache after
    one data-version query);
  - 304: the same, with If-None-Match (what a poller that keeps the ETag sends);
  - misses: a second server with --no-cache (every request runs the summary queries);
  - poll: the open range "last 7 days" with the cache (recomputed every max-age, 5 s).
It also prints what a cached answer costs the server alone (the application called as
ASGI in this process). Baselines measured in the same run: the analytics call itself in this process
(`report_payload(conn, "summary", ...)`, median of 5 after a warm-up) and the CLI
(`studio-analytics report summary --format json`, median of 3 processes), the way a
script would get the same JSON without the server.

--db defaults to the 1M-execution file of benchmarks/bench_analytics.py
(.bench/analytics-models-1000000.sqlite3, built there); it is only read. --quick: 3 s
phases, 4 clients, against a 20,000-execution demo database made in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parents[1] / ".bench"
DEFAULT_DB = BENCH / "analytics-models-1000000.sqlite3"
PATH = "/api/analytics/summary"
LISTENING = re.compile(r"studio-analytics serve: (http://127\.0\.0\.1:\d+)/")
#: No phase sends more than this many requests, whatever its length.
MAX_REQUESTS = 200_000


@contextmanager
def server(db: str, home: str, *extra: str) -> Iterator[str]:
    """A `serve` process on an ephemeral port; its base URL. Stopped with SIGTERM."""
    env = {**os.environ, "STUDIO_ANALYTICS_HOME": home, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "studio_analytics", "serve", "--db", db, "--port", "0",
                             "--rate-limit", "off", *extra], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True, env=env)
    drain: subprocess.Popen[bytes] | None = None
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = LISTENING.search(line)
        if not match:
            raise RuntimeError(f"serve did not start: {line}{proc.stderr.read()}")
        # Uvicorn's access log would cost the server a write per request: read and drop it.
        drain = subprocess.Popen(["cat"], stdin=proc.stderr, stdout=subprocess.DEVNULL)
        yield match.group(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if drain is not None:
            drain.wait(10)


async def load(base: str, params: dict[str, str], clients: int, seconds: float,
               etag: bool = False) -> dict[str, float]:
    """N clients, each one request after another on its own keep-alive connection."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        first = await client.get(PATH, params=params)  # warm-up; the ETag to send
        first.raise_for_status()
        headers = {"If-None-Match": first.headers["etag"]} if etag else {}
        stop = time.perf_counter() + seconds

        async def one_client() -> None:
            while time.perf_counter() < stop and len(latencies) < MAX_REQUESTS:
                started = time.perf_counter()
                reply = await client.get(PATH, params=params, headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[reply.status_code] = statuses.get(reply.status_code, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50": _pct(latencies, 0.50),
            "p99": _pct(latencies, 0.99), "statuses": statuses}  # type: ignore[dict-item]


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def direct_ms(db: str, end: str) -> float:
    """The analytics call the server makes, in this process (median of 5, one warm-up)."""
    from studio_analytics.analytics import time_range
    from studio_analytics.analytics.report_payload import report_payload
    from studio_analytics.db.engine import create_db_engine, read_transaction

    engine = create_db_engine(db, read_only=True)
    tr = time_range(end_date=end, days=7)
    samples = []
    with engine.connect() as conn:
        for i in range(6):
            started = time.perf_counter()
            with read_transaction(conn):
                report_payload(conn, "summary", tr)
            if i:
                samples.append((time.perf_counter() - started) * 1000)
    engine.dispose()
    return statistics.median(samples)


def server_side_hit_us(db: str, end: str, n: int = 2000) -> float:
    """What one cached answer costs the server itself: the application called as ASGI in
    this process (no sockets, no client), mean over ``n`` after a warm-up."""
    from studio_analytics.server.app import create_app
    from studio_analytics.server.settings import ServeSettings

    app = create_app(ServeSettings(db_url=db, rate_per_min=0))
    query = f"end_date={end.replace('+', '%2B')}&days=7".encode()

    async def call() -> int:
        status = 0

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": PATH, "raw_path": PATH.encode(), "query_string": query, "root_path": "",
                 "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
        await app(scope, receive, send)
        return status

    async def run() -> float:
        assert await call() == 200
        started = time.perf_counter()
        for _ in range(n):
            await call()
        return (time.perf_counter() - started) / n * 1e6

    try:
        return asyncio.run(run())
    finally:
        app.state.api.runner.close()


def cli_ms(db: str, end: str, home: str) -> float:
    """`studio-analytics report summary --format json` as a script runs it (median of 3)."""
    env = {**os.environ, "STUDIO_ANALYTICS_HOME": home}
    samples = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "studio_analytics", "report", "summary", "--db", db, "--format", "json",
                        "--end", end, "--days", "7"], check=True, env=env, stdout=subprocess.DEVNULL)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def quick_db(folder: Path) -> str:
    from studio_analytics.demo.generator import backfill

    url = f"sqlite:///{folder / 'quick.sqlite3'}"
    backfill(url, executions=20_000, days=14, seed=1)
    return url


def _line(label: str, m: dict[str, Any]) -> str:
    codes = ", ".join(f"{k}: {v:,}" for k, v in sorted(m["statuses"].items()))
    return (f"  {label:34} {m['rps']:9,.1f} req/s   p50 {m['p50']:8.2f} ms   p99 {m['p99']:8.2f} ms   "
            f"({m['requests']:,} requests; {codes})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help=f"SQLite file or database URL (default {DEFAULT_DB.relative_to(BENCH.parent)})")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        home = str(Path(tmp) / "home")
        if args.quick:
            args.seconds, args.clients = min(args.seconds, 3.0), min(args.clients, 4)
            db = args.db or quick_db(Path(tmp))
        else:
            db = args.db or str(DEFAULT_DB)
            if not args.db and not DEFAULT_DB.exists():
                print(f"{DEFAULT_DB} does not exist: build it with python -m benchmarks.bench_analytics "
                      "(or pass --db)", file=sys.stderr)
                return 2
        if "://" not in db:
            db = f"sqlite:///{Path(db).resolve()}"
        # A fixed end a little in the past: every request asks for the same 7 days.
        end = time.strftime("%Y-%m-%dT%H:00:00+00:00", time.gmtime(time.time() - 3600))
        closed = {"end_date": end, "days": "7"}
        print(f"serve benchmark: {db}, {args.clients} clients, {args.seconds:g} s per phase, "
              f"GET {PATH}?end_date={end}&days=7")
        direct = direct_ms(db, end)
        cli = cli_ms(db, end, home)
        print(f"  baseline: report_payload in process {direct:,.1f} ms; `studio-analytics report summary` "
              f"{cli:,.0f} ms a process")
        print(f"  a cached answer costs the server {server_side_hit_us(db, end):,.0f} µs "
              "(the application called in process, no socket)")
        with server(db, home) as base:
            hits = asyncio.run(load(base, closed, args.clients, args.seconds))
            not_modified = asyncio.run(load(base, closed, args.clients, args.seconds, etag=True))
            poll = asyncio.run(load(base, {"days": "7"}, args.clients, args.seconds))
        with server(db, home, "--no-cache") as base:
            misses = asyncio.run(load(base, closed, args.clients, args.seconds))
        print(_line("hits (cached body)", hits))
        print(_line("304 (If-None-Match)", not_modified))
        print(_line("poll, open range (max-age 5 s)", poll))
        print(_line("misses (--no-cache)", misses))
        print(f"  hits: {hits['rps'] * direct / 1000:,.1f}x the requests/s of calling report_payload in a loop, "
              f"{hits['rps'] * cli / 1000:,.0f}x of running the CLI; a miss's p50 is "
              f"{misses['p50'] / direct:,.2f}x the in-process call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
