"""How well the default alert rules catch incidents: 4 simulated weeks replayed.

    python -m benchmarks.bench_alert_accuracy [--executions 200000] [--step 5m] [--workers 2]
    python -m benchmarks.bench_alert_accuracy --quick     # 2 + 1 weeks, 40,000 executions, no variants

Data: six weeks of demo history (the demo's agents, tools and models, through the real
tracker on a virtual clock: :func:`studio_analytics.demo.generator.backfill`), with a
daily rhythm, weekdays busier than weekends, day-to-day noise and slow growth
(:func:`weekly_rhythm`), cached under .bench/. The first two weeks are history, so
the anomaly baselines (the same hour of the week over the last 4 weeks) have something
to learn from; in each of the last four weeks every kind of incident of the demo is
injected once (:func:`incident_schedule`) — one agent's failure spike, one tool's outage,
a provider's rate-limit storm, an hour without traffic, runs left in progress, and the
latency spike — each on another day of the week and at another hour (14:00, 03:00,
10:00 and 21:00 UTC: busy and quiet ones), an hour long.

Replay: the rules are evaluated every ``--step`` (default 5 minutes, what the window's
poll does) from the start of week 3 to the end, as of each time
(``alerts.evaluate.evaluate(conn, rules, now=t)`` reads only rows that started
before ``t``), and fed to an :class:`~studio_analytics.alerts.transitions.AlertBook` as
the window does (cooldowns apply).

Printed, for the default rules (``rules.default_rules()``):

- incidents detected per kind, by a rule that watches that kind (e.g. the tool outage
  by a rule on that tool's error rate), and the minutes from the incident's start to
  that first alert — for stuck runs from the moment they *can* be stuck (start +
  the rule's ``stuck_after``);
- false alerts per simulated week: notified FIRED transitions that no incident explains
  (an incident explains an alert from its start until its end plus the rule's window
  and one step, for stuck runs until they leave the rule's look-back).

Target (issue #17): every incident detected within two evaluation intervals, at most 1
false alert per simulated week. Variants of single default rules (:data:`VARIANTS`) are
replayed in the same run and scored as "the defaults with this one rule changed".
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from studio_analytics.alerts.durations import format_duration, parse_duration
from studio_analytics.alerts.evaluate import evaluate
from studio_analytics.alerts.rules import Direction, Metric, Rule, When, default_rules
from studio_analytics.alerts.transitions import AlertBook, Transition, TransitionKind
from studio_analytics.db.engine import create_db_engine
from studio_analytics.demo.generator import backfill, demo_rhythm
from studio_analytics.demo.scenario import (
    FAILING_AGENT,
    MODELS,
    OUTAGE_TOOL,
    STORM_PROVIDER,
    STUCK_AGENT,
    TOOLS,
    Incident,
    IncidentKind,
)

HOUR_NS = 3_600_000_000_000
DAY_NS = 24 * HOUR_NS
WEEK_NS = 7 * DAY_NS
#: 1970-01-01 was a Thursday: the weekday (Monday 0) of day 0.
_EPOCH_WEEKDAY = 3

#: Each kind's target, in the order the kinds take the days of a week.
KINDS: tuple[tuple[IncidentKind, str | None], ...] = (
    (IncidentKind.AGENT_FAILURES, FAILING_AGENT),
    (IncidentKind.TOOL_OUTAGE, OUTAGE_TOOL),
    (IncidentKind.RATE_LIMIT_STORM, STORM_PROVIDER),
    (IncidentKind.TRAFFIC_DROP, None),
    (IncidentKind.STUCK_RUNS, STUCK_AGENT),
    (IncidentKind.LATENCY_SPIKE, None),
)
#: Hours (UTC) incidents start at: the busiest, the quietest, a morning, an evening.
HOURS = (14, 3, 10, 21)
INCIDENT_S = 3600
#: Stuck runs start over this long (STUCK_RUN_COUNT of them, STUCK_RUN_SPACING_MIN apart).
STUCK_START_S = 1800


def weekly_rhythm(seed: int, start_ns: int) -> Callable[[int], float]:
    """How busy each moment is (0-1): the demo's daily rhythm, weekends at 45 % of
    weekdays, each day's level off by a random few percent, and 2 % growth a week
    from ``start_ns``."""
    levels: dict[int, float] = {}
    first_day = start_ns // DAY_NS

    def busy(ns: int) -> float:
        day = ns // DAY_NS
        level = levels.get(day)
        if level is None:
            noise = random.Random(seed * 1_000_003 + day).lognormvariate(0, 0.08)
            weekend = 0.45 if (day + _EPOCH_WEEKDAY) % 7 >= 5 else 1.0
            level = levels[day] = weekend * noise * 1.02 ** ((day - first_day) / 7)
        return min(1.0, demo_rhythm(ns) * level / 1.3)

    return busy


def incident_schedule(replay_start_ns: int, weeks: int) -> tuple[Incident, ...]:
    """Every kind once a week from ``replay_start_ns`` (a Monday 00:00): kind ``k`` of
    week ``w`` on day ``(k + 2w) % 7`` of the week at ``HOURS[(k + w) % 4]``, a few
    minutes past the hour — each kind on other days and hours, weekends among them."""
    out = []
    for w in range(weeks):
        for k, (kind, target) in enumerate(KINDS):
            day = (k + 2 * w) % 7
            minute = (17 * k + 11 * w) % 60
            start = replay_start_ns + w * WEEK_NS + day * DAY_NS + HOURS[(k + w) % len(HOURS)] * HOUR_NS
            start += minute * 60_000_000_000
            length = STUCK_START_S if kind is IncidentKind.STUCK_RUNS else INCIDENT_S
            out.append(Incident(kind, target, start, start + int(length * 1e9)))
    return tuple(sorted(out, key=lambda i: i.start_ns))


@dataclass(frozen=True, slots=True)
class History:
    url: str
    start: datetime  # of the replay (history before it)
    end: datetime
    incidents: tuple[Incident, ...]
    executions: int
    seconds: float  # to write it (0: from the cache)


def _at(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def week_start(now: datetime) -> datetime:
    """Monday 00:00 UTC of ``now``'s week."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def build_history(path: Path, *, executions: int, history_weeks: int, replay_weeks: int, seed: int,
                  end: datetime | None = None, progress: Callable[[int], None] | None = None) -> History:
    """The data set at ``path`` (written unless it is there): ``history_weeks`` +
    ``replay_weeks`` weeks ending ``end`` (default: this week's Monday 00:00 UTC), the
    incidents in the replay weeks."""
    end = week_start(datetime.now(UTC)) if end is None else end
    end_ns = int(end.timestamp()) * 1_000_000_000
    replay_start = end_ns - replay_weeks * WEEK_NS
    incidents = incident_schedule(replay_start, replay_weeks)
    url = f"sqlite:///{path.resolve()}"
    if path.exists():
        return History(url, _at(replay_start), end, incidents, executions, 0.0)
    building = path.with_name(path.name + ".building")
    for extra in ("", "-wal", "-shm"):
        Path(f"{building}{extra}").unlink(missing_ok=True)
    result = backfill(f"sqlite:///{building.resolve()}", executions=executions,
                      days=(history_weeks + replay_weeks) * 7, seed=seed, incidents=incidents, end_ns=end_ns,
                      rhythm=weekly_rhythm(seed, end_ns - (history_weeks + replay_weeks) * WEEK_NS),
                      progress=progress)
    engine = create_db_engine(f"sqlite:///{building.resolve()}")
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    for extra in ("-wal", "-shm"):
        Path(f"{building}{extra}").unlink(missing_ok=True)
    building.rename(path)
    return History(url, _at(replay_start), end, incidents, result.executions, result.seconds)


# -- replay ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Replay:
    transitions: tuple[Transition, ...]
    evaluations: int
    seconds: float  # wall time
    eval_ms: float  # median time of one evaluation


def _replay_part(url: str, rules: Sequence[Rule], times: Sequence[datetime], keep_from: datetime
                 ) -> tuple[list[Transition], list[float]]:
    engine = create_db_engine(url, read_only=True)
    book = AlertBook(history_limit=0)
    out: list[Transition] = []
    spent: list[float] = []
    with engine.connect() as conn:
        for at in times:
            evaluation = evaluate(conn, rules, now=at)
            spent.append(evaluation.seconds * 1000)
            out.extend(t for t in book.apply(evaluation) if t.at >= keep_from)
    engine.dispose()
    return out, spent


def _replay_star(args: tuple[str, Sequence[Rule], Sequence[datetime], datetime]) -> tuple[list[Transition], list[float]]:
    return _replay_part(*args)


def replay(url: str, rules: Sequence[Rule], *, start: datetime, end: datetime, step_s: int,
           workers: int = 1) -> Replay:
    """Evaluate ``rules`` every ``step_s`` over [start, end] with one AlertBook, as the
    window would. With ``workers`` > 1 the range is cut in parts replayed side by side;
    each part but the first starts a warm-up (the longest cooldown) earlier and keeps
    only its own transitions, so alerts and cooldowns carry over the cuts."""
    started = time.perf_counter()
    count = int((end - start).total_seconds() // step_s) + 1
    times = [start + timedelta(seconds=i * step_s) for i in range(count)]
    warmup = max([r.cooldown_s for r in rules] + [r.window_s for r in rules]) + step_s
    cuts = [round(i * count / workers) for i in range(workers + 1)]
    parts = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        first = times[a]
        lead = [t for t in times[:a] if t >= first - timedelta(seconds=warmup)]
        parts.append((url, tuple(rules), lead + times[a:b], first))
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            results = pool.map(_replay_star, parts)
    else:
        results = [_replay_part(*parts[0])]
    transitions = tuple(t for found, _ in results for t in found)
    spent = [ms for _, s in results for ms in s]
    return Replay(transitions, count, time.perf_counter() - started, statistics.median(spent))


# -- scoring --------------------------------------------------------------------------
def _storm_models(provider: str | None) -> set[str]:
    return {m.name for m in MODELS.values() if m.provider == provider}


def watches(rule: Rule, incident: Incident, member: str | None) -> bool:
    """Whether an alert of ``rule`` for ``member`` is the one meant to catch ``incident``."""
    kind, target, metric = incident.kind, incident.target, rule.metric
    whole = rule.scope.kind == "all"
    if kind is IncidentKind.AGENT_FAILURES:
        return metric in (Metric.FAILURE_RATE, Metric.FAILURE_COUNT) and rule.scope.kind in ("all", "agent") and (
            whole or member == target)
    if kind is IncidentKind.TOOL_OUTAGE:
        api = TOOLS[target].api if target in TOOLS else None
        return (metric in (Metric.TOOL_ERROR_RATE, Metric.FAILURE_RATE, Metric.FAILURE_COUNT)
                and rule.scope.kind == "tool" and member == target) or (
            metric is Metric.API_ERROR_RATE and (whole or member == api))
    if kind is IncidentKind.RATE_LIMIT_STORM:
        return metric is Metric.MODEL_FAILURE_RATE and rule.scope.kind in ("all", "model") and (
            whole or member in _storm_models(target))
    if kind is IncidentKind.TRAFFIC_DROP:
        return metric is Metric.EXECUTIONS and (rule.when is When.BELOW or rule.direction in (
            Direction.DOWN, Direction.BOTH))
    if kind is IncidentKind.STUCK_RUNS:
        return metric is Metric.STUCK_RUNS and (whole or member == target)
    if kind is IncidentKind.LATENCY_SPIKE:
        return metric is Metric.P95_LATENCY
    return False


def detectable_from(incident: Incident, rule: Rule | None) -> datetime:
    """When the incident can first be seen: its start; for stuck runs, when the first
    has been in progress for the rule's ``stuck_after``."""
    start = _at(incident.start_ns)
    if incident.kind is IncidentKind.STUCK_RUNS and rule is not None:
        return start + timedelta(seconds=rule.stuck_after_s)
    return start


def explains(incident: Incident, rule: Rule, at: datetime, step_s: int) -> bool:
    """Whether the incident accounts for an alert of ``rule`` at ``at``: from its start
    until its rows have left the rule's window (stuck runs: its look-back)."""
    start, end = _at(incident.start_ns), _at(incident.end_ns)
    tail = rule.stuck_after_s + rule.stuck_lookback_s if rule.metric is Metric.STUCK_RUNS else rule.window_s
    return start <= at < end + timedelta(seconds=tail + step_s)


@dataclass(frozen=True, slots=True)
class Found:
    incident: Incident
    alert: Transition | None  # the first alert of a rule watching it
    minutes: float | None  # from when it was detectable to that alert


@dataclass
class Score:
    rules: tuple[Rule, ...]
    found: list[Found] = field(default_factory=list)
    false_alerts: list[Transition] = field(default_factory=list)
    alerts: int = 0  # notified FIRED transitions in all

    def of_kind(self, kind: IncidentKind) -> list[Found]:
        return [f for f in self.found if f.incident.kind is kind]

    def within(self, step_s: int, intervals: int = 2) -> int:
        return sum(1 for f in self.found if f.minutes is not None and f.minutes <= intervals * step_s / 60)


def score(rules: Sequence[Rule], transitions: Sequence[Transition], incidents: Sequence[Incident], *,
          step_s: int) -> Score:
    """Detections and false alerts of ``rules`` (the transitions of other rules are
    ignored, so variants replayed together are scored one set at a time)."""
    by_id = {r.id: r for r in rules}
    fired = [t for t in transitions if t.kind is TransitionKind.FIRED and t.rule_id in by_id]
    out = Score(tuple(rules))
    for incident in incidents:
        first: Transition | None = None
        for t in fired:
            rule = by_id[t.rule_id]
            if watches(rule, incident, t.member) and explains(incident, rule, t.at, step_s) and (
                    first is None or t.at < first.at):
                first = t
        minutes = None
        if first is not None:
            since = detectable_from(incident, by_id[first.rule_id])
            minutes = max(0.0, (first.at - since).total_seconds() / 60)
        out.found.append(Found(incident, first, minutes))
    for t in fired:
        if not t.notified:
            continue
        out.alerts += 1
        rule = by_id[t.rule_id]
        if not any(explains(i, rule, t.at, step_s) for i in incidents):
            out.false_alerts.append(t)
    return out


# -- variants -------------------------------------------------------------------------
#: Single-rule changes replayed beside the defaults: (default rule id, changes).
VARIANTS: tuple[tuple[str, dict[str, object]], ...] = (
    ("agent-failure-spike", {"min_sample": 12}),
    ("agent-failure-spike", {"min_sample": 20}),
    ("agent-failure-spike", {"sensitivity": 6.0}),
    ("tool-outage", {"min_sample": 20}),
    ("model-errors", {"min_sample": 20}),
    ("traffic-drop", {"window": "15m"}),
    ("traffic-drop", {"sensitivity": 6.0}),
    ("traffic-drop", {"window": "15m", "sensitivity": 6.0}),
    ("latency-spike", {"min_sample": 50}),
    ("latency-spike", {"window": "2h", "min_sample": 50}),
    ("cost-spike", {"window": "3h"}),
    ("cost-spike", {"sensitivity": 8.0}),
)
_FIELDS = {"window": "window_s", "min_sample": "min_sample", "sensitivity": "sensitivity",
           "cooldown": "cooldown_s", "stuck_after": "stuck_after_s"}


def variant(rule: Rule, changes: dict[str, object]) -> Rule:
    """``rule`` with ``changes`` (rules-file keys), under an id naming them."""
    kwargs: dict[str, object] = {}
    label = []
    for key, value in changes.items():
        attr = _FIELDS[key]
        kwargs[attr] = parse_duration(value) if attr.endswith("_s") else value  # type: ignore[arg-type]
        label.append(f"{key}{value}")
    return replace(rule, id=f"{rule.id}.{'.'.join(label)}"[:80], **kwargs)  # type: ignore[arg-type]


def parse_variant(text: str) -> tuple[str, dict[str, object]]:
    """``traffic-drop:window=15m,min_sample=10`` -> ("traffic-drop", {...})."""
    rule_id, _, rest = text.partition(":")
    changes: dict[str, object] = {}
    for part in filter(None, rest.split(",")):
        key, _, value = part.partition("=")
        key = key.strip()
        if key not in _FIELDS:
            raise argparse.ArgumentTypeError(f"{key!r} is not one of {', '.join(_FIELDS)}")
        changes[key] = float(value) if key == "sensitivity" else int(value) if key == "min_sample" else value.strip()
    return rule_id.strip(), changes


# -- report ---------------------------------------------------------------------------
def s_within(s: Score, kind: IncidentKind, step_s: int) -> int:
    return sum(1 for f in s.of_kind(kind) if f.minutes is not None and f.minutes <= 2 * step_s / 60)


def s_minutes(s: Score, kind: IncidentKind) -> str:
    found = [f.minutes for f in s.of_kind(kind) if f.minutes is not None]
    return f"{statistics.median(found):.0f}" if found else "-"


def watched(rule: Rule, kind: IncidentKind) -> bool:
    """Whether ``rule`` watches some incident of ``kind`` (any member)."""
    probe = Incident(kind, dict(KINDS).get(kind), 0, 1)
    members = {None, probe.target, *_storm_models(probe.target)}
    if probe.target in TOOLS:
        members.add(TOOLS[probe.target].api)
    return any(watches(rule, probe, m) for m in members)


def _minutes(values: list[float]) -> str:
    if not values:
        return "-"
    return f"median {statistics.median(values):5.1f}, max {max(values):5.1f}"


def report(s: Score, label: str, *, step_s: int, weeks: float, verbose: bool = True, max_listed: int = 20
           ) -> None:
    n = len(s.found)
    detected = [f for f in s.found if f.alert is not None]
    print(f"[{label}] incidents detected: {len(detected)} of {n}; within two intervals "
          f"({2 * step_s // 60} min): {s.within(step_s)} of {n}; false alerts: {len(s.false_alerts)} "
          f"({len(s.false_alerts) / weeks:.2f} per week) of {s.alerts} notified alerts")
    if not verbose:
        return
    for kind in IncidentKind:
        found = s.of_kind(kind)
        if not found:
            continue
        hit = [f.minutes for f in found if f.minutes is not None]
        print(f"[{label}]   {kind:17} detected {len(hit)} of {len(found)}; minutes to first alert: {_minutes(hit)}")
        for f in found:
            at = _at(f.incident.start_ns)
            what = (f"{f.minutes:5.1f} min  {f.alert.rule_id}" + (f" ({f.alert.member})" if f.alert.member else "")
                    if f.alert is not None and f.minutes is not None else "  missed")
            print(f"[{label}]       {at:%a %H:%M} {f.incident.name:28} {what}")
    by_rule: dict[str, int] = {}
    for t in s.false_alerts:
        by_rule[t.rule_id] = by_rule.get(t.rule_id, 0) + 1
    print(f"[{label}]   false alerts by rule: " + (", ".join(f"{rule_id} {n}" for rule_id, n in sorted(
        by_rule.items(), key=lambda kv: -kv[1])) or "none"))
    for t in s.false_alerts[:max_listed]:
        member = f" ({t.member})" if t.member else ""
        print(f"[{label}]   false alert {t.at:%a %Y-%m-%d %H:%M} {t.rule_id}{member}: {t.reason}")
    if len(s.false_alerts) > max_listed:
        print(f"[{label}]   ... and {len(s.false_alerts) - max_listed} more")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=None, help="runs in the six weeks (default 200,000)")
    parser.add_argument("--step", default="5m", help="evaluation interval (default 5m)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes replaying parts of the weeks side by side (default 2)")
    parser.add_argument("--quick", action="store_true", help="2 + 1 weeks, 40,000 executions, no variants")
    parser.add_argument("--no-variants", action="store_true", help="the default rules only")
    parser.add_argument("--variant", action="append", type=parse_variant, default=[], metavar="RULE:KEY=VALUE,...",
                        help="also score the defaults with this rule changed (window, min_sample, sensitivity, "
                             "cooldown, stuck_after), e.g. traffic-drop:window=15m; repeatable")
    args = parser.parse_args(argv)
    step_s = parse_duration(args.step)
    history_weeks, replay_weeks = (2, 1) if args.quick else (2, 4)
    executions = args.executions or (40_000 if args.quick else 200_000)
    path = Path(".bench") / (f"alert-accuracy-{executions}-{history_weeks}+{replay_weeks}w-s{args.seed}-"
                             f"{week_start(datetime.now(UTC)):%Y%m%d}.sqlite3")
    path.parent.mkdir(exist_ok=True)
    history = build_history(path, executions=executions, history_weeks=history_weeks, replay_weeks=replay_weeks,
                            seed=args.seed)
    made = f"written in {history.seconds:.0f} s" if history.seconds else "cached"
    print(f"data: {path} ({os.path.getsize(path) / 1e6:,.0f} MB, {made}): ~{executions:,} runs over "
          f"{history_weeks + replay_weeks} weeks to {history.end:%Y-%m-%d %H:%M} UTC, "
          f"{len(history.incidents)} incidents in the last {replay_weeks}")
    defaults = default_rules().enabled
    variants = [] if args.quick or args.no_variants else list(VARIANTS)
    variants += args.variant
    by_id = {r.id: r for r in defaults}
    extra = [variant(by_id[rule_id], changes) for rule_id, changes in variants if rule_id in by_id]
    rules = (*defaults, *extra)
    result = replay(history.url, rules, start=history.start, end=history.end, step_s=step_s, workers=args.workers)
    print(f"replay: {result.evaluations:,} evaluations of {len(rules)} rules every {format_duration(step_s)} "
          f"over {replay_weeks} weeks in {result.seconds:.0f} s ({args.workers} workers; one evaluation: median "
          f"{result.eval_ms:.1f} ms)")
    base = score(defaults, result.transitions, history.incidents, step_s=step_s)
    report(base, "default rules", step_s=step_s, weeks=replay_weeks)
    if extra:
        print("\nthe default rules with one rule changed (the incidents its rule watches: detected/injected):")
    for rule in extra:
        original = rule.id.split(".", 1)[0]
        swapped = [rule if r.id == original else r for r in defaults]
        s = score(swapped, result.transitions, history.incidents, step_s=step_s)
        kinds = ", ".join(f"{kind} {sum(f.alert is not None for f in s.of_kind(kind))}/{len(s.of_kind(kind))} "
                          f"({s_within(s, kind, step_s)} in time, median {s_minutes(s, kind)} min)"
                          for kind in IncidentKind if s.of_kind(kind) and watched(rule, kind))
        mine = sum(1 for t in s.false_alerts if t.rule_id == rule.id)
        print(f"  {rule.id:45} within 2 intervals {s.within(step_s):2}/{len(s.found)}, false alerts "
              f"{len(s.false_alerts) / replay_weeks:6.2f}/week ({mine / replay_weeks:.2f} of them this rule's); {kinds}")
    ok = base.within(step_s) == len(base.found) and len(base.false_alerts) <= replay_weeks
    print(f"\ntarget: every incident within two intervals, <= 1 false alert a week: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
