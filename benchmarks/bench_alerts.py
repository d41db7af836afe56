"""Alert evaluation at scale: 50 rules from the hourly rollups, against the same rules from
raw rows, measured in the same run.

    python -m benchmarks.bench_alerts [--executions 1000000] [--repeats 21] [--pg SERVER_URL]
    python -m benchmarks.bench_alerts --quick        # 100,000 executions, fewer repeats

Uses benchmarks/bench_analytics.py's database (built once and cached under
.bench/analytics-models-N.sqlite3: N executions over 30 days, 3 tool calls and 3 model
calls each, rollups filled). Evaluates :data:`RULES` — 50 rules over every metric and
every scope kind (everything, one member, each member), thresholds and anomalous ones,
windows from 15 minutes to a day — with ``alerts.evaluate.evaluate`` as of the latest
run in the database, and prints the median and p95 of each way, and their ratio.
Target (issue #17): the 50 rules in <= 100 ms from the rollups on SQLite.

The raw-row way is the same ``evaluate`` on a connection with the rollups switched off
(``studio_analytics_rollups=False``): every window and every baseline sample is then
summed from the raw tables, as on a database without rollups.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from benchmarks.bench_analytics import build, build_postgres
from studio_analytics.alerts.evaluate import BASELINE_CACHE, evaluate
from studio_analytics.alerts.results import Evaluation, Verdict
from studio_analytics.alerts.rules import Metric, Rule, rule_from_table
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import AgentExecutionMetrics
from studio_analytics.db.rollups import USE_ROLLUPS_OPTION

TARGET_MS = 100.0

# (metric, scope, window, condition): condition is "anomalous up|down|both" or "above|below X".
# Names are those of the bench database (benchmarks/bench_analytics.py): Agent00-11,
# tool_00-11, the API "api", nine models; it has no workflow runs and nothing in progress,
# so those rules measure the cost of asking (an empty answer), as on a database without them.
_RULES: tuple[tuple[str, str, str, str], ...] = (
    ("failure_rate", "all", "30m", "above 0.3"),
    ("failure_rate", "all", "15m", "anomalous up"),
    ("failure_rate", "each agent", "30m", "anomalous up"),
    ("failure_rate", "each agent", "6h", "anomalous up"),
    ("failure_rate", "agent:Agent03", "1h", "above 0.2"),
    ("failure_rate", "each workflow", "1h", "anomalous up"),
    ("failure_rate", "model:gpt-4o", "1h", "above 0.1"),
    ("failure_rate", "each tool", "30m", "anomalous up"),
    ("failure_count", "all", "1h", "above 500"),
    ("failure_count", "each agent", "1h", "anomalous up"),
    ("failure_count", "tool:tool_02", "30m", "above 50"),
    ("failure_count", "each model", "1h", "anomalous up"),
    ("timeout_rate", "all", "1h", "above 0.1"),
    ("timeout_rate", "each agent", "1h", "anomalous up"),
    ("timeout_rate", "each workflow", "2h", "above 0.2"),
    ("timeout_rate", "model:claude-sonnet-4-5", "1h", "above 0.05"),
    ("p95_latency", "all", "1h", "above 5000"),
    ("p95_latency", "all", "1h", "anomalous up"),
    ("p95_latency", "each agent", "1h", "anomalous up"),
    ("p95_latency", "each tool", "1h", "anomalous up"),
    ("p95_latency", "each model", "1h", "anomalous both"),
    ("p95_latency", "workflow:data_analysis", "1h", "above 60000"),
    ("p95_latency", "agent:Agent07", "30m", "above 3000"),
    ("executions", "all", "30m", "anomalous down"),
    ("executions", "all", "1h", "below 10"),
    ("executions", "all", "1d", "anomalous both"),
    ("executions", "each agent", "1h", "anomalous both"),
    ("executions", "each tool", "1h", "anomalous down"),
    ("executions", "each api", "1h", "anomalous down"),
    ("executions", "each model", "1h", "anomalous up"),
    ("executions", "each workflow", "1h", "anomalous down"),
    ("tool_error_rate", "all", "30m", "above 0.2"),
    ("tool_error_rate", "each tool", "30m", "anomalous up"),
    ("tool_error_rate", "tool:tool_05", "1h", "above 0.1"),
    ("api_error_rate", "all", "30m", "above 0.2"),
    ("api_error_rate", "each api", "30m", "anomalous up"),
    ("api_error_rate", "api:api", "1h", "above 0.1"),
    ("model_failure_rate", "all", "30m", "above 0.2"),
    ("model_failure_rate", "each model", "30m", "anomalous up"),
    ("model_failure_rate", "each agent", "1h", "anomalous up"),
    ("model_failure_rate", "model:gpt-4o-mini", "1h", "above 0.1"),
    ("tokens_per_hour", "all", "1h", "anomalous up"),
    ("tokens_per_hour", "each model", "1h", "anomalous up"),
    ("tokens_per_hour", "each agent", "2h", "above 5000000"),
    ("cost_per_hour", "all", "1h", "above 10"),
    ("cost_per_hour", "all", "1h", "anomalous up"),
    ("cost_per_hour", "each model", "1h", "anomalous up"),
    ("cost_per_hour", "each agent", "6h", "anomalous up"),
    ("stuck_runs", "all", "30m", "above 0"),
    ("stuck_runs", "each tool", "1h", "above 2"),
)


def _rule(n: int, metric: str, scope: str, window: str, condition: str) -> Rule:
    table: dict[str, Any] = {"id": f"r{n:02d}-{metric}-{scope.replace(' ', '-').replace(':', '-')}",
                             "metric": metric, "scope": scope, "min_sample": 10}
    if metric == "stuck_runs":
        table["stuck_after"] = window
        table["min_sample"] = 0
    else:
        table["window"] = window
    when, _, arg = condition.partition(" ")
    table["when"] = when
    if when == "anomalous":
        table["direction"] = arg
    else:
        table["threshold"] = float(arg)
    return rule_from_table(table)


RULES: tuple[Rule, ...] = tuple(_rule(n, *spec) for n, spec in enumerate(_RULES, 1))


def evaluation_time(url: str) -> datetime:
    """The latest run's start (plus a second): the database's "now", wherever its cache
    was built (older than a couple of minutes, evaluate reads it "as of" that time)."""
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn:
        latest = conn.execute(select(func.max(AgentExecutionMetrics.start_time))).scalar_one()
    engine.dispose()
    latest = latest if isinstance(latest, datetime) else datetime.fromisoformat(str(latest))
    return (latest.replace(tzinfo=UTC) if latest.tzinfo is None else latest) + timedelta(seconds=1)


def _samples(fn: Callable[[], Evaluation], repeats: int) -> list[float]:
    fn()  # warm-up: the window repeats the same statements every refresh
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def _same_findings(a: Evaluation, b: Evaluation) -> int:
    """How many observations the two ways judge differently (the rollups' p95 comes from
    latency histograms, so a p95 near a limit may fall the other way)."""
    verdicts = {o.key: o.verdict for o in b.observations}
    return sum(1 for o in a.observations if verdicts.get(o.key) is not o.verdict)


def measure(url: str, repeats: int, raw_repeats: int) -> dict[str, Any]:
    now = evaluation_time(url)
    engine = create_db_engine(url, read_only=True)
    out: dict[str, Any] = {"now": now}
    with engine.connect() as conn:
        # As the window evaluates: live (nothing in the database started after ``now``).
        rolled: Callable[[], Evaluation] = lambda: evaluate(conn, RULES, now=now, replay=False)  # noqa: E731
        out["rollups"] = _samples(rolled, repeats)  # the window's refreshes: baselines kept for the hour

        def first_of_the_hour() -> Evaluation:
            BASELINE_CACHE.clear()  # what the first evaluation of an hour reads: the baselines too
            return evaluate(conn, RULES, now=now, replay=False)

        out["cold"] = _samples(first_of_the_hour, repeats)
        first = rolled()
        stuck = [r for r in RULES if r.metric is Metric.STUCK_RUNS]
        out["stuck"] = _samples(lambda: evaluate(conn, stuck, now=now, replay=False), repeats)
    with engine.connect() as plain:
        raw_conn: Connection = plain.execution_options(**{USE_ROLLUPS_OPTION: False})
        def raw() -> Evaluation:
            BASELINE_CACHE.clear()  # each way reads its own baselines
            return evaluate(raw_conn, RULES, now=now, replay=False)

        out["raw"] = _samples(raw, raw_repeats)
        second = raw()
    engine.dispose()
    out["observations"] = len(first.observations)
    out["firing"] = len(first.firing)
    out["judged"] = sum(1 for o in first.observations if o.verdict in (Verdict.OK, Verdict.FIRING))
    out["problems"] = [str(p) for p in first.problems]
    out["differ"] = _same_findings(first, second)
    return out


def report(label: str, m: dict[str, Any]) -> None:
    rolled, raw = m["rollups"], m["raw"]
    med, med_raw = statistics.median(rolled), statistics.median(raw)
    print(f"[{label}] {len(RULES)} rules as of {m['now']:%Y-%m-%d %H:%M:%S} UTC: {m['observations']} observations "
          f"({m['judged']} judged, {m['firing']} firing), {len(m['problems'])} problems")
    for problem in m["problems"]:
        print(f"[{label}]   problem: {problem}")
    cold = m["cold"]
    print(f"[{label}] from rollups (+ raw edges):   median {med:8.1f} ms   p95 {p95(rolled):8.1f} ms   "
          f"({len(rolled)} runs; baselines read once an hour, as the window's refreshes run)")
    print(f"[{label}]   the first evaluation of an hour: median {statistics.median(cold):8.1f} ms   "
          f"p95 {p95(cold):8.1f} ms (the baselines read too)")
    print(f"[{label}] from raw rows only:           median {med_raw:8.1f} ms   p95 {p95(raw):8.1f} ms   "
          f"({len(raw)} runs, baselines read each time)  -> {med_raw / med:.1f}x the steady state, "
          f"{med_raw / statistics.median(cold):.1f}x the first of the hour")
    mode = "live, as the window evaluates: an index lookup of the rows in progress"
    print(f"[{label}]   of which the {sum(r.metric is Metric.STUCK_RUNS for r in RULES)} stuck-run rules alone: "
          f"median {statistics.median(m['stuck']):6.1f} ms ({mode})")
    print(f"[{label}] verdicts that differ between the two ways: {m['differ']} of {m['observations']}")
    print(f"[{label}] target: 50 rules <= {TARGET_MS:.0f} ms from rollups "
          f"({'met' if med <= TARGET_MS else 'NOT met'}; p95 {'within' if p95(rolled) <= TARGET_MS else 'above'} it)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=None, help="database size (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="100,000 executions and fewer repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timed evaluations from rollups (default 21)")
    parser.add_argument("--pg", metavar="SERVER_URL",
                        help="also on PostgreSQL (bench_analytics's cached database on that server)")
    args = parser.parse_args(argv)
    n = args.executions or (100_000 if args.quick else 1_000_000)
    repeats = args.repeats or (9 if args.quick else 21)
    raw_repeats = max(3, repeats // 4)
    assert len(RULES) == 50
    path = Path(".bench") / f"analytics-models-{n}.sqlite3"
    path.parent.mkdir(exist_ok=True)
    started = time.perf_counter()
    build(path, n, model_calls=True)
    print(f"database: {path} ({os.path.getsize(path) / 1e6:,.0f} MB, {n:,} executions, {3 * n:,} tool usages, "
          f"{3 * n:,} model calls; ready in {time.perf_counter() - started:.0f} s)")
    report("SQLite", measure(f"sqlite:///{path.resolve()}", repeats, raw_repeats))
    if args.pg:
        url = build_postgres(args.pg, n, model_calls=True)
        report("PostgreSQL", measure(url, repeats, raw_repeats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
