"""Evaluating rules: one observation per rule and scope member, from as few statements
as the rules allow.

Rules that count the same rows over the same window share one statement (all members
at once), and so do their baselines; 50 rules typically need a dozen statements. The
database is only read. See :mod:`alerts.rules` for the metrics and
:mod:`alerts.baseline` for the anomaly method.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from studio_analytics.alerts import figures
from studio_analytics.alerts.baseline import (
    MIN_RUNS_PER_SAMPLE,
    Sample,
    band,
    sample_hours,
    sample_spans,
    slow_runs_significant,
)
from studio_analytics.alerts.figures import Sums
from studio_analytics.alerts.results import Baseline, Evaluation, Observation, Verdict
from studio_analytics.alerts.rules import (
    METRICS,
    Direction,
    Metric,
    MetricKind,
    Rule,
    RuleProblem,
    Subject,
    When,
)
from studio_analytics.alerts.sources import TOOLS, Source, source_for
from studio_analytics.db.capabilities import has_model_calls

#: A ``now`` this far behind the clock is a replay: runs that finished after it count
#: as still in progress then.
AS_OF_SLACK = timedelta(minutes=2)


class RuleNotApplicable(Exception):
    """The rule cannot be evaluated on this database (a table it needs is missing)."""


def evaluate(conn: Connection, rules: Sequence[Rule], *, now: datetime | None = None,
             replay: bool | None = None) -> Evaluation:
    """Evaluate ``rules`` as of ``now`` (default: the current time). Database errors
    propagate (the caller decides about the connection); a rule the database cannot
    answer becomes a problem and the others still run.

    ``replay``: the database holds rows from after ``now`` (a backtest), so runs that
    finished after it were still in progress then; default: ``now`` is more than
    :data:`AS_OF_SLACK` behind the clock."""
    started = time.perf_counter()
    wall = datetime.now(UTC)
    at = wall if now is None else (now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC))
    reads = _Reads(conn, at, as_of=at < wall - AS_OF_SLACK if replay is None else replay)
    observations: list[Observation] = []
    problems: list[RuleProblem] = []
    for rule in rules:
        try:
            observations.extend(_evaluate_rule(reads, rule))
        except RuleNotApplicable as e:
            problems.append(RuleProblem(str(e), rule.line or None, rule.id))
    return Evaluation(at, tuple(observations), tuple(problems), tuple(rules), time.perf_counter() - started)


#: Baseline samples read before, by (what, database, source, from rollups, spans): the
#: window evaluates every refresh, and its samples change once an hour. An entry is read
#: again after PAST_MAX_AGE_S (rows of a week ago that arrive late, e.g. replayed from a
#: tracker's spool after a long outage, are seen within that time).
BASELINE_CACHE: dict[tuple[Any, ...], tuple[float, Any]] = {}
PAST_ENTRIES = 256
PAST_MAX_AGE_S = 3600.0


def _database(conn: Connection) -> str:
    return conn.engine.url.render_as_string(hide_password=True)


class _Reads:
    """Every statement's result for one evaluation, keyed by what it depends on."""

    def __init__(self, conn: Connection, now: datetime, *, as_of: bool) -> None:
        self.conn, self.now, self.as_of = conn, now, as_of
        self._memo: dict[tuple[Any, ...], Any] = {}

    def _get(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def sums(self, source: Source, window_s: int) -> dict[str, Sums]:
        start = self.now - timedelta(seconds=window_s)
        return self._get(("sums", source.name, window_s),
                         lambda: figures.window_sums(self.conn, source, start, self.now))

    def histograms(self, source: Source, window_s: int) -> dict[str, figures.Histogram]:
        start = self.now - timedelta(seconds=window_s)
        return self._get(("histograms", source.name, window_s),
                         lambda: figures.window_histograms(self.conn, source, start, self.now))

    def spans(self, source: Source, window_s: int, weeks: int) -> list[figures.Span]:
        """The baseline's sample spans, without those before the source's first run."""
        first = self._get(("first", source.name), lambda: figures.first_hour(self.conn, source))
        if first is None:
            return []
        return [s for s in sample_spans(self.now, window_s, weeks) if s[0] >= first]

    def samples(self, source: Source, window_s: int, weeks: int) -> tuple[list[figures.Span], dict[tuple[int, str], Sums]]:
        spans = self.spans(source, window_s, weeks)
        return spans, self._get(("samples", source.name, sample_hours(window_s), weeks),
                                lambda: self._past("sums", source, spans, figures.sample_sums))

    def _past(self, what: str, source: Source, spans: list[figures.Span], read: Callable[..., Any]) -> Any:
        """Baseline samples are whole hours at least six days old: kept between
        evaluations (:data:`BASELINE_CACHE`) while the spans are the same, i.e. for the hour."""
        key = (what, _database(self.conn), source.name, figures.reads_rollups(self.conn, source), tuple(spans))
        found = BASELINE_CACHE.get(key)
        if found is not None and time.monotonic() - found[0] < PAST_MAX_AGE_S:
            return found[1]
        value = read(self.conn, source, spans)
        if len(BASELINE_CACHE) >= PAST_ENTRIES:
            BASELINE_CACHE.pop(next(iter(BASELINE_CACHE)))  # the oldest
        BASELINE_CACHE[key] = (time.monotonic(), value)
        return value

    def sample_histograms(self, source: Source, window_s: int,
                          weeks: int) -> tuple[list[figures.Span], dict[tuple[int, str], figures.Histogram]]:
        spans = self.spans(source, window_s, weeks)
        return spans, self._get(("sample-histograms", source.name, sample_hours(window_s), weeks),
                                lambda: self._past("histograms", source, spans, figures.sample_histograms))

    def stuck(self, source: Source, after_s: int, lookback_s: int) -> dict[str, int]:
        return self._get(("stuck", source.name, after_s, lookback_s),
                         lambda: figures.stuck_counts(self.conn, source, self.now, after_s=after_s,
                                                      lookback_s=lookback_s, as_of=self.as_of))


def _metric_value(metric: Metric, s: Sums, window_s: int, p95: float | None = None) -> tuple[float | None, int]:
    """The figure for one member's sums over a window of ``window_s``, and the runs behind it."""
    if metric in (Metric.FAILURE_RATE, Metric.TOOL_ERROR_RATE, Metric.MODEL_FAILURE_RATE):
        return (s.errors / s.finished if s.finished else None), s.finished
    if metric is Metric.TIMEOUT_RATE:
        return (s.timeouts / s.finished if s.finished else None), s.finished
    if metric is Metric.API_ERROR_RATE:
        return (s.api_errors / s.n if s.n else None), s.n
    if metric is Metric.FAILURE_COUNT:
        return float(s.errors), s.n
    if metric is Metric.EXECUTIONS:
        return float(s.n), s.n
    if metric is Metric.TOKENS_PER_HOUR:
        return s.tokens * 3600.0 / window_s, s.n
    if metric is Metric.COST_PER_HOUR:
        return s.cost * 3600.0 / window_s, s.n
    if metric is Metric.P95_LATENCY:
        return p95, s.finished
    raise AssertionError(metric)


def _members(rule: Rule, *sources: Any) -> list[str | None]:
    if rule.scope.kind == "all":
        return [None]
    if not rule.scope.each:
        return [rule.scope.name]
    seen: set[str] = set()
    for found in sources:
        seen.update(found)
    return sorted(seen)


def _total(values: dict[str, Sums]) -> Sums:
    out = Sums()
    for s in values.values():
        out = out + s
    return out


def _rate_parts(metric: Metric, s: Sums) -> tuple[int, int]:
    """(errors, runs) behind a rate metric."""
    if metric is Metric.TIMEOUT_RATE:
        return s.timeouts, s.finished
    if metric is Metric.API_ERROR_RATE:
        return s.api_errors, s.n
    return s.errors, s.finished


def _histogram(histograms: dict[str, figures.Histogram], member: str | None) -> figures.Histogram:
    if member is None:
        return figures.merged(histograms.values())
    return histograms.get(member, {})


def _evaluate_rule(reads: _Reads, rule: Rule) -> list[Observation]:
    source = source_for(rule)
    if source.needs_model_calls and not has_model_calls(reads.conn):
        raise RuleNotApplicable("this database has no model calls (an Agent Studio database, or one of ours "
                                "before `studio-analytics db upgrade`)")
    if rule.metric is Metric.STUCK_RUNS:
        return _stuck(reads, rule, TOOLS if rule.subject is Subject.TOOLS else source)
    now, window = reads.now, rule.window_s
    start = now - timedelta(seconds=window)
    kind = METRICS[rule.metric].kind
    latency = rule.metric is Metric.P95_LATENCY
    current = reads.sums(source, window)
    histograms = reads.histograms(source, window) if latency else {}
    anomalous = rule.when is When.ANOMALOUS
    spans: list[figures.Span] = []
    samples: dict[tuple[int, str], Sums] = {}
    sample_histograms: dict[tuple[int, str], figures.Histogram] = {}
    if anomalous:
        spans, samples = reads.samples(source, window, rule.baseline_weeks)
        if latency:
            _, sample_histograms = reads.sample_histograms(source, window, rule.baseline_weeks)
    out = []
    for member in _members(rule, current, (m for _, m in samples)):
        s = _total(current) if member is None else current.get(member, Sums())
        histogram = _histogram(histograms, member) if latency else {}
        value, sample = _metric_value(rule.metric, s, window, figures.percentile(histogram) if latency else None)
        baseline, slow = None, None
        if anomalous:
            history = _samples(rule, kind, spans, samples, sample_histograms, member)
            baseline = band(kind, history, sensitivity=rule.sensitivity, current_sample=sample)
            if latency and baseline is not None:
                slow = slow_runs_significant(histogram, baseline.median, rule.sensitivity)
        verdict, reason = _judge(rule, kind, value, sample, baseline, slow)
        out.append(Observation(rule.id, member, value, sample, verdict, baseline, start, now, reason))
    return out


def _samples(rule: Rule, kind: MetricKind, spans: list[figures.Span], samples: dict[tuple[int, str], Sums],
             sample_histograms: dict[tuple[int, str], figures.Histogram], member: str | None) -> list[Sample]:
    out = []
    totals: dict[int, Sums] = {}
    if member is None:
        for (i, _m), v in samples.items():
            totals[i] = totals[i] + v if i in totals else v
    for idx, (lo, hi) in enumerate(spans):
        length = hi - lo
        if member is None:
            s = totals.get(idx, Sums())
        else:
            s = samples.get((idx, member), Sums())
        if rule.metric is Metric.P95_LATENCY:
            if member is None:
                histogram = figures.merged(h for (i, _m), h in sample_histograms.items() if i == idx)
            else:
                histogram = sample_histograms.get((idx, member), {})
            runs = sum(histogram.values())
            p95 = figures.percentile(histogram)
            if p95 is not None and runs >= MIN_RUNS_PER_SAMPLE:
                out.append(Sample(p95, runs))
            continue
        value, runs = _metric_value(rule.metric, s, length)
        if value is None:
            continue
        if kind is not MetricKind.COUNT and runs < MIN_RUNS_PER_SAMPLE:
            continue  # a quiet hour's spend or error share is noise, not what is usual
        if kind is MetricKind.COUNT:
            value *= rule.window_s / length  # the sample's count in a window of the rule's length
        hits = _rate_parts(rule.metric, s)[0] if kind is MetricKind.RATE else 0
        out.append(Sample(value, runs, hits))
    return out


def _judge(rule: Rule, kind: MetricKind, value: float | None, sample: int, baseline: Baseline | None,
           slow: tuple[int, int, bool] | None = None) -> tuple[Verdict, str]:
    label = METRICS[rule.metric].label
    unit = METRICS[rule.metric].unit
    if value is None:
        return Verdict.INSUFFICIENT, f"no finished runs to measure the {label} on"
    shown = format_value(value, unit, kind)
    falling = rule.when is When.BELOW or (rule.when is When.ANOMALOUS and rule.direction is Direction.DOWN)
    # A fall is judged against how busy it usually is (a drop to zero has no runs of its own).
    if falling and baseline is not None and kind is MetricKind.COUNT:
        needed, what = baseline.median, "usual runs"
    else:
        needed, what = float(sample), "runs"
    if not (falling and rule.when is When.BELOW) and needed < rule.min_sample:
        return Verdict.INSUFFICIENT, f"{label} {shown} from {needed:g} {what}, fewer than {rule.min_sample}"
    if rule.when is When.ABOVE:
        assert rule.threshold is not None
        limit = format_value(rule.threshold, unit, kind)
        if value > rule.threshold:
            return Verdict.FIRING, f"{label} {shown} above {limit}"
        return Verdict.OK, f"{label} {shown}, not above {limit}"
    if rule.when is When.BELOW:
        assert rule.threshold is not None
        limit = format_value(rule.threshold, unit, kind)
        if value < rule.threshold:
            return Verdict.FIRING, f"{label} {shown} below {limit}"
        return Verdict.OK, f"{label} {shown}, not below {limit}"
    if baseline is None:
        return Verdict.LEARNING, f"{label} {shown}; too little history at this hour of the week to learn what is usual"
    usual = (f"the usual {format_value(baseline.low, unit, kind)}–{format_value(baseline.high, unit, kind)} "
             f"(median {format_value(baseline.median, unit, kind)})")
    if rule.direction in (Direction.UP, Direction.BOTH) and value > baseline.high:
        if slow is not None and not slow[2]:
            return Verdict.OK, (f"{label} {shown} above {usual}, but only {slow[0]} of {slow[1]} runs slower "
                                "than usual: within chance")
        if slow is not None:
            return Verdict.FIRING, f"{label} {shown} above {usual}; {slow[0]} of {slow[1]} runs slower than usual"
        return Verdict.FIRING, f"{label} {shown} above {usual}"
    if rule.direction in (Direction.DOWN, Direction.BOTH) and value < baseline.low:
        return Verdict.FIRING, f"{label} {shown} below {usual}"
    return Verdict.OK, f"{label} {shown}, within {usual}"


def _stuck(reads: _Reads, rule: Rule, source: Source) -> list[Observation]:
    counts = reads.stuck(source, rule.stuck_after_s, rule.stuck_lookback_s)
    start = reads.now - timedelta(seconds=rule.stuck_lookback_s)
    end = reads.now - timedelta(seconds=rule.stuck_after_s)
    threshold = rule.threshold or 0.0
    out = []
    for member in _members(rule, counts):
        n = sum(counts.values()) if member is None else counts.get(member, 0)
        after = f"in progress for more than {rule.stuck_after_s // 60} min"
        if rule.when is When.BELOW:
            firing = n < threshold
        else:
            firing = n > threshold
        verdict = Verdict.FIRING if firing else Verdict.OK
        reason = f"{n} {'run' if n == 1 else 'runs'} {after}"
        out.append(Observation(rule.id, member, float(n), n, verdict, None, start, end, reason))
    return out


def format_value(value: float, unit: str, kind: MetricKind) -> str:
    """A figure as the rule's reason shows it."""
    if kind is MetricKind.RATE:
        return f"{value * 100:.1f} %"
    if unit == "ms":
        return f"{value / 1000:.2f} s" if value >= 10_000 else f"{value:,.0f} ms"
    if unit == "USD/h":
        return f"${value:,.2f}/h" if value >= 0.1 else f"${value:,.4f}/h"
    if unit == "tokens/h":
        return f"{value:,.0f} tokens/h"
    return f"{value:,.1f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value):,}"
