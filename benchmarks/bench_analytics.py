"""Dashboard queries at scale, against a naive baseline measured in the same run.

    python -m benchmarks.bench_analytics [--executions 1000000] [--pg SERVER_URL]

Builds (once, cached under .bench/analytics-models-N.sqlite3) a SQLite database of N
executions over 30 days with 3 tool usages and 3 model calls each (nine models, two of
them without a price, and 3% of calls without token counts: unpriced, NULL cost), by
bulk insert, fills the rollups with `rebuild_rollups`, then times:
  - one overview refresh (`dashboard_snapshot` for the 7-day range: KPIs for two
    periods, the hourly series with p95, agent and tool usage with percentiles), read
    from the hourly rollups plus raw rows for the partial hours at the range's ends;
  - the same refresh from raw rows only (what a database without rollups costs), one
    refresh with every tab's queries, and each view's queries alone, both ways;
  - the page of 200 newest executions, and a page 90% deep via its keyset cursor;
  - the naive way the original dashboards worked: fetch the range's rows into Python
    and aggregate there;
  - the Models tab (per-model rows with p50/p95 and time to first token, totals, cost and
    tokens over time by model and by agent) and the overview with its cost KPI, from
    rollups and from raw rows in the same run, and one execution's trace tree.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from studio_analytics.analytics import (
    agent_usage,
    dashboard_snapshot,
    error_analysis,
    list_executions,
    session_activity,
    summary_kpis,
    time_range,
    time_series,
    tool_usage,
    workflow_performance,
)
from studio_analytics.analytics.models import cost_breakdown, model_usage
from studio_analytics.analytics.results import PageCursor
from studio_analytics.analytics.trace import execution_spans
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.migrate import upgrade_database
from studio_analytics.db.models import AgentExecutionMetrics
from studio_analytics.db.rollups import USE_ROLLUPS_OPTION, rebuild_rollups
from studio_analytics.pricing import current_prices

AGENTS = [f"Agent{i:02d}" for i in range(12)]
TOOLS = [f"tool_{i:02d}" for i in range(12)]
STATUSES = ["success"] * 18 + ["failure", "timeout"]


EXEC_COLUMNS = ("execution_id, agent_name, start_time, end_time, duration_ms, status, query, error_message, "
                "tool_count, retry_count, session_id, user_id, tokens_used, api_calls_count")
TOOL_COLUMNS = "usage_id, tool_name, execution_id, start_time, duration_ms, status, external_api_called, api_status_code"
MODEL_COLUMNS = ("call_id, execution_id, parent_id, trace_id, agent_name, model, provider, operation, start_time, "
                 "end_time, duration_ms, time_to_first_token_ms, status, input_tokens, output_tokens, "
                 "cached_input_tokens, cost_usd, cost_source, session_id, user_id")
#: (model, provider, weight, median ms): what agents call; the last two have no price
MODELS = [("gpt-4o-mini", "openai", 30, 900), ("gpt-4o", "openai", 12, 1800), ("gpt-4.1", "openai", 8, 2200),
          ("claude-sonnet-4-5", "anthropic", 10, 2600), ("claude-3-5-haiku", "anthropic", 10, 1100),
          ("gemini-2.5-flash", "google", 14, 1000), ("deepseek-chat", "deepseek", 8, 3000),
          ("llama3.1:8b", "ollama", 5, 700), ("acme-support-ft-v3", None, 3, 1500)]
# One session row per session, as the tracker's writer keeps them.
SESSIONS_SQL = ("INSERT INTO session_metrics (session_id, start_time, end_time, user_id, total_queries, "
                "successful_queries, failed_queries, unique_agents_count, is_active) "
                "SELECT session_id, min(start_time), max(end_time), min(user_id), count(*), "
                "sum(CASE WHEN status = 'success' THEN 1 ELSE 0 END), "
                "sum(CASE WHEN status = 'success' THEN 0 ELSE 1 END), count(DISTINCT agent_name), false "
                "FROM agent_execution_metrics GROUP BY session_id")


def generate(n: int, seed: int = 1, chunk: int = 50_000,
             model_calls: bool = False) -> Iterator[tuple[list[tuple], list[tuple], list[tuple]]]:
    """N executions over the last 30 days (times as naive-UTC text), 3 tool usages each,
    and with ``model_calls`` 3 model calls each (costs from the current price table, as
    the tracker's writer computes them; NULL when unpriced)."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(tzinfo=None)
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    prices = current_prices()
    weights = [m[2] for m in MODELS]
    for start in range(0, n, chunk):
        execs, tools, calls = [], [], []
        for i in range(start, min(n, start + chunk)):
            t = now - timedelta(seconds=30 * 86_400 * (n - i) / n)
            ex = uuid.UUID(int=rng.getrandbits(128)).hex
            dur = rng.lognormvariate(6.5, 0.9)
            status = rng.choice(STATUSES)
            execs.append((ex, AGENTS[i % 12], t.strftime(fmt), (t + timedelta(milliseconds=dur)).strftime(fmt), dur,
                          status, "q", "boom 42" if status != "success" else None, 3, 0, f"s{i // 8}",
                          f"u{i % 500}", rng.randint(100, 4000), 2))
            for k in range(3):
                tools.append((uuid.UUID(int=rng.getrandbits(128)).hex, TOOLS[(i + k) % 12], ex, t.strftime(fmt),
                              rng.lognormvariate(5, 1), "success" if rng.random() > 0.03 else "failure",
                              "api" if k == 0 else None, 200))
            if model_calls:
                calls.extend(_model_calls(rng, prices, weights, ex, AGENTS[i % 12], t, f"s{i // 8}", f"u{i % 500}",
                                          fmt))
        yield execs, tools, calls


def _model_calls(rng: random.Random, prices: Any, weights: list[int], ex: str, agent: str, t: datetime,
                 session: str, user: str, fmt: str) -> list[tuple]:
    out = []
    at = t
    for _ in range(3):
        model, provider, _, median = rng.choices(MODELS, weights)[0]
        dur = median * rng.lognormvariate(0, 0.6)
        ttft = dur * rng.uniform(0.1, 0.5) if rng.random() < 0.7 else None
        status = "success" if rng.random() > 0.04 else rng.choice(("failure", "timeout"))
        if rng.random() < 0.03:  # no usage reported: unpriced whatever the model
            n_in = n_out = cached = None
        else:
            n_in, n_out = int(800 * rng.lognormvariate(0, 0.9)) + 10, int(150 * rng.lognormvariate(0, 0.8)) + 1
            cached = int(n_in * rng.uniform(0, 0.8)) if rng.random() < 0.3 else None
        price = prices.lookup(model, provider)
        cost = None if price is None or n_in is None else price.cost(n_in, n_out, cached)
        out.append((uuid.UUID(int=rng.getrandbits(128)).hex, ex, ex, ex, agent, model, provider, "chat",
                    at.strftime(fmt), (at + timedelta(milliseconds=dur)).strftime(fmt), dur, ttft, status, n_in,
                    n_out, cached, cost, None if cost is None else "price_table", session, user))
        at += timedelta(milliseconds=dur + 5)
    return out


def _finish(url: str) -> None:
    # The bulk load bypassed the tracker's writer: fill the rollups from the raw rows.
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(SESSIONS_SQL)
        rebuild_rollups(conn)
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def build(path: Path, n: int, *, model_calls: bool = False) -> None:
    """A cached SQLite file under .bench/ (with 3 model calls per execution if asked)."""
    if path.exists():
        return
    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    upgrade_database(create_db_engine(f"sqlite:///{tmp}"))
    con = sqlite3.connect(tmp)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    for execs, tools, calls in generate(n, model_calls=model_calls):
        con.executemany(f"INSERT INTO agent_execution_metrics ({EXEC_COLUMNS}) VALUES ({', '.join('?' * 14)})", execs)
        con.executemany(f"INSERT INTO tool_usage_metrics ({TOOL_COLUMNS}) VALUES ({', '.join('?' * 8)})", tools)
        if calls:
            con.executemany(f"INSERT INTO model_call_metrics ({MODEL_COLUMNS}) VALUES ({', '.join('?' * 20)})",
                            calls)
        con.commit()
    con.close()
    _finish(f"sqlite:///{tmp}")
    tmp.rename(path)


def build_postgres(server_url: str, n: int, *, model_calls: bool = False) -> str:
    """A cached database ``studio_analytics_bench_<n>`` (``…_models_<n>`` with model
    calls) on the server (COPY, then rollups); drop it with ``DROP DATABASE`` when done
    benchmarking."""
    from sqlalchemy import create_engine, make_url, text

    name = f"studio_analytics_bench_{'models_' if model_calls else ''}{n}"
    server = make_url(server_url).set(drivername="postgresql+psycopg")
    url = server.set(database=name).render_as_string(hide_password=False)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        exists = c.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
        if exists:
            probe = create_engine(url)
            try:
                with probe.connect() as pc:
                    done = pc.execute(text("SELECT count(*) FROM session_metrics")).scalar()
            except Exception:  # noqa: BLE001 - half-built: start again
                done = 0
            probe.dispose()
            if done:
                admin.dispose()
                return url
            c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    upgrade_database(create_db_engine(url))
    import psycopg

    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)) as pg:
        for execs, tools, calls in generate(n, model_calls=model_calls):
            with pg.cursor() as cur:
                with cur.copy(f"COPY agent_execution_metrics ({EXEC_COLUMNS}) FROM STDIN") as copy:
                    for row in execs:
                        copy.write_row(row)
                with cur.copy(f"COPY tool_usage_metrics ({TOOL_COLUMNS}) FROM STDIN") as copy:
                    for row in tools:
                        copy.write_row(row)
                if calls:
                    with cur.copy(f"COPY model_call_metrics ({MODEL_COLUMNS}) FROM STDIN") as copy:
                        for row in calls:
                            copy.write_row(row)
            pg.commit()
    _finish(url)
    return url


def copy_postgres(server_url: str, n: int, suffix: str) -> tuple[str, Callable[[], None]]:
    """A throw-away copy (``CREATE DATABASE … TEMPLATE``) of the cached database of
    :func:`build_postgres` (built if missing), for benchmarks that change it, and how to
    drop it. Sessions left on the cached database are ended first: a template must be idle."""
    from sqlalchemy import create_engine, make_url, text

    source = make_url(build_postgres(server_url, n, model_calls=True))
    copy = f"{source.database}_{suffix}"
    admin = create_engine(make_url(server_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d "
                       "AND pid <> pg_backend_pid()"), {"d": source.database})
        c.execute(text(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{copy}" TEMPLATE "{source.database}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)'))
        admin.dispose()

    return source.set(database=copy).render_as_string(hide_password=False), drop


def timed(fn, repeats: int = 5) -> float:  # type: ignore[no-untyped-def]
    """Median of ``repeats`` runs after one warm-up run (the window repeats the same
    queries every refresh: warm file cache, and on PostgreSQL prepared statements)."""
    fn()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def timed_pair(fn: Callable[[], object], plain: Callable[[], object], repeats: int = 7) -> tuple[float, float]:
    """Medians of ``fn`` and of ``plain`` run alternately (``plain`` without the model-call
    figures): on a shared machine whose speed drifts, both see the same moments."""
    a: list[float] = []
    b: list[float] = []
    for i in range(repeats + 1):
        for samples, f, bare in ((a, fn, False), (b, plain, True)):
            started = time.perf_counter()
            if bare:
                with without_model_figures():
                    f()
            else:
                f()
            if i:  # the first round warms up
                samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(a), statistics.median(b)


def naive_dashboard(con: sqlite3.Connection, start: str, end: str, prev_start: str) -> int:
    """The same figures the way the original dashboards made them: every row of the range
    (and of the previous period, for the KPI changes) into Python, aggregated there."""
    rows = con.execute("SELECT execution_id, agent_name, status, duration_ms, session_id, tool_count, tokens_used, "
                       "start_time FROM agent_execution_metrics WHERE start_time >= ? AND start_time < ?",
                       (prev_start, end)).fetchall()
    current = [r for r in rows if r[7] >= start]
    previous = [r for r in rows if r[7] < start]
    for period in (current, previous):  # KPIs
        ok = sum(r[2] == "success" for r in period)
        _ = (len({r[4] for r in period}), ok / max(1, len(period)),
             statistics.fmean([r[3] for r in period]) if period else None)
    by_agent: dict[str, list[float]] = {}
    by_hour: dict[str, list[float]] = {}
    for r in current:
        by_agent.setdefault(r[1], []).append(r[3])
        by_hour.setdefault(r[7][:13], []).append(r[3])
    for values in (*by_agent.values(), *by_hour.values()):  # p50/p95/p99 per agent, p95 per hour
        values.sort()
        _ = [values[min(len(values) - 1, int(q * len(values)))] for q in (0.5, 0.95, 0.99)]
    tools = con.execute("SELECT tool_name, duration_ms, status, external_api_called, api_status_code "
                        "FROM tool_usage_metrics WHERE start_time >= ? AND start_time < ?", (start, end)).fetchall()
    by_tool: dict[str, list[float]] = {}
    for t in tools:
        by_tool.setdefault(t[0], []).append(t[1])
    for values in by_tool.values():
        values.sort()
    return len(rows) + len(tools)


@contextmanager
def without_model_figures() -> Iterator[None]:
    """The analytics as they were before model calls (every module that asks
    ``has_model_calls`` is told no): what the new figures add, timed in the same run on
    the same file."""
    from studio_analytics.analytics import agents, cost, executions, models, sessions

    modules = (agents, cost, executions, models, sessions)
    saved = [(m, m.has_model_calls) for m in modules]
    for m in modules:
        m.has_model_calls = lambda _conn: False  # type: ignore[assignment]
    try:
        yield
    finally:
        for m, original in saved:
            m.has_model_calls = original  # type: ignore[assignment]


def measure(url: str, n: int) -> dict[str, float]:
    """Pages first, then refreshes, the raw-row baseline last (its full scans would
    otherwise leave the caches cold for what the window really runs)."""
    engine = create_db_engine(url, read_only=True)
    tr = time_range(preset="7d")
    out: dict[str, float] = {}
    with engine.connect() as conn:
        out["newest"], out["newest_plain"] = timed_pair(
            lambda: list_executions(conn, time_range(days=30), limit=200),
            lambda: list_executions(conn, time_range(days=30), limit=200), repeats=9)
        page = list_executions(conn, time_range(days=30), limit=200)
        assert len(page.rows) == 200
        # a cursor 90% of the way down the 30-day list
        deep_row = conn.execute(
            select(AgentExecutionMetrics.start_time, AgentExecutionMetrics.id)
            .order_by(AgentExecutionMetrics.start_time.desc(), AgentExecutionMetrics.id.desc())
            .limit(1).offset(int(n * 0.9))
        ).one()
        deep_cursor = PageCursor(deep_row[0], deep_row[1])
        deep_execution = conn.execute(select(AgentExecutionMetrics.execution_id).where(
            AgentExecutionMetrics.id == deep_row[1])).scalar_one()
        out["deep"], out["deep_plain"] = timed_pair(
            lambda: list_executions(conn, time_range(days=30), after=deep_cursor, limit=200),
            lambda: list_executions(conn, time_range(days=30), after=deep_cursor, limit=200), repeats=9)
        out["refresh"], out["refresh_plain"] = timed_pair(lambda: dashboard_snapshot(conn, tr, generation=1),
                                                          lambda: dashboard_snapshot(conn, tr, generation=1))
        # What the window reads while the Models tab is shown: the KPIs and the tab's figures.
        models_tab = frozenset({"models"})
        out["models_refresh"] = timed(lambda: dashboard_snapshot(conn, tr, generation=1, tabs=models_tab), repeats=7)
        out["models_tab"] = timed(lambda: model_usage(conn, tr), repeats=7)
        # the trace tree of an execution 90% deep (3 tools + 3 model calls)
        out["trace"] = timed(lambda: execution_spans(conn, deep_execution), repeats=9)
        tabs = frozenset({"overview", "agents", "tools", "workflows", "errors", "sessions"})
        out["every_tab"] = timed(lambda: dashboard_snapshot(conn, tr, generation=1, tabs=tabs), repeats=3)
    with engine.connect() as raw_conn:
        raw_conn = raw_conn.execution_options(**{USE_ROLLUPS_OPTION: False})
        out["raw_sql"] = timed(lambda: dashboard_snapshot(raw_conn, tr, generation=1), repeats=3)
        out["raw_models_refresh"] = timed(lambda: dashboard_snapshot(raw_conn, tr, generation=1, tabs=models_tab),
                                          repeats=3)
        out["raw_models_tab"] = timed(lambda: model_usage(raw_conn, tr), repeats=3)
    # Each view's queries on their own, from rollups and from raw rows only.
    with engine.connect() as conn, engine.connect() as plain:
        raw = plain.execution_options(**{USE_ROLLUPS_OPTION: False})
        for name, view in VIEWS.items():
            out[f"view:{name}"] = timed(lambda view=view: view(conn, tr), repeats=3)
            out[f"raw:{name}"] = timed(lambda view=view: view(raw, tr), repeats=1)
    engine.dispose()
    return out


VIEWS: dict[str, Callable[[Any, Any], object]] = {
    "summary KPIs (2 periods)": summary_kpis,
    "time series (executions, p95)": time_series,
    "agents (p50/p95/p99)": agent_usage,
    "tools, overview (no top agents)": lambda c, tr: tool_usage(c, tr, with_top_agents=False),
    "tools tab (with top agents)": tool_usage,
    "workflows tab": workflow_performance,
    "errors tab": error_analysis,
    "sessions tab": session_activity,
    "models tab (rows, totals, series)": model_usage,
    "cost by agent": lambda c, tr: cost_breakdown(c, tr, by="agent"),
    "cost by user (raw rows always)": lambda c, tr: cost_breakdown(c, tr, by="user"),
}


def report(label: str, m: dict[str, float], naive: float | None = None) -> None:
    refresh = m["refresh"]
    print(f"[{label}] one overview refresh (7 days, rollups + edges): {refresh:8.1f} ms")
    print(f"[{label}] same refresh from raw rows only (SQL):          {m['raw_sql']:8.1f} ms  "
          f"-> {m['raw_sql'] / refresh:.1f}x slower")
    if naive is not None:
        print(f"[{label}] naive: same figures from rows in Python:        {naive:8.1f} ms  "
              f"-> {naive / refresh:.1f}x slower")
    print(f"[{label}] refresh with every tab's queries (7 days):      {m['every_tab']:8.1f} ms")
    print(f"[{label}] same refresh without the model-call figures:    {m['refresh_plain']:8.1f} ms  "
          f"-> cost KPI, agents' tokens and cost add {100 * (refresh / m['refresh_plain'] - 1):.0f} %")
    print(f"[{label}] Models tab refresh (KPIs + model usage):        {m['models_refresh']:8.1f} ms")
    print(f"[{label}] same from raw rows only (SQL):                  {m['raw_models_refresh']:8.1f} ms  "
          f"-> {m['raw_models_refresh'] / m['models_refresh']:.1f}x slower")
    print(f"[{label}] Models tab alone (model_usage with series):      {m['models_tab']:8.1f} ms")
    print(f"[{label}] same from raw rows only (SQL):                  {m['raw_models_tab']:8.1f} ms  "
          f"-> {m['raw_models_tab'] / m['models_tab']:.1f}x slower")
    print(f"[{label}] trace tree of one execution (recursive CTE):    {m['trace']:8.2f} ms")
    print(f"[{label}] page of 200 newest executions:                  {m['newest']:8.2f} ms  "
          f"(without the cost columns {m['newest_plain']:.2f} ms)")
    print(f"[{label}] page of 200 at 90% depth (keyset cursor):       {m['deep']:8.2f} ms  "
          f"(without the cost columns {m['deep_plain']:.2f} ms)")
    for name in VIEWS:
        print(f"[{label}]   {name:34} {m[f'view:{name}']:8.1f} ms   raw rows only {m[f'raw:{name}']:8.1f} ms")
    print(f"[{label}] targets: overview with cost <= 150 ms ({'met' if refresh <= 150 else 'NOT met'}), "
          f"Models tab <= 150 ms ({'met' if m['models_refresh'] <= 150 else 'NOT met'}), "
          f"page <= 5 ms ({'met' if max(m['newest'], m['deep']) <= 5 else 'NOT met'})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--pg", metavar="SERVER_URL",
                        help="also on PostgreSQL (a cached database studio_analytics_bench_models_<N> on that server)")
    args = parser.parse_args(argv)
    path = Path(".bench") / f"analytics-models-{args.executions}.sqlite3"
    path.parent.mkdir(exist_ok=True)
    started = time.perf_counter()
    build(path, args.executions, model_calls=True)
    print(f"database: {path} ({os.path.getsize(path) / 1e6:,.0f} MB, {args.executions:,} executions, "
          f"{3 * args.executions:,} tool usages, {3 * args.executions:,} model calls; "
          f"ready in {time.perf_counter() - started:.0f} s)")
    measured = measure(f"sqlite:///{path.resolve()}", args.executions)
    con = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    tr = time_range(preset="7d")
    prev = tr.start - (tr.end - tr.start)
    naive = timed(lambda: naive_dashboard(con, tr.start.replace(tzinfo=None).strftime(fmt),
                                          tr.end.replace(tzinfo=None).strftime(fmt),
                                          prev.replace(tzinfo=None).strftime(fmt)), repeats=3)
    con.close()
    report("SQLite", measured, naive)
    if args.pg:
        started = time.perf_counter()
        url = build_postgres(args.pg, args.executions, model_calls=True)
        print(f"PostgreSQL database ready in {time.perf_counter() - started:.0f} s")
        report("PostgreSQL", measure(url, args.executions))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
