"""What a figure usually is at this hour of the week, and how far from it is anomalous.

Method (for ``when = "anomalous"``):

1. **Samples.** The same window at the same hour of the week in each of the last
   ``baseline_weeks`` weeks (default 4), and the hour before and after each — up to 12
   past windows. Samples are whole UTC hours (the hour holding ``now`` and the
   ``ceil(window / 1 h) - 1`` before it), read from the hourly rollups; counts are
   scaled to the rule's window. A sample from before the database's first run of that
   kind is no sample; a rate, a p95, tokens or cost need at least
   :data:`MIN_RUNS_PER_SAMPLE` runs in the sample, so quiet hours do not teach the
   baseline noise (nor that spending nothing is usual).
2. **Centre and spread.** The median of the samples and their median absolute
   deviation (MAD); ``1.4826 × MAD`` estimates a standard deviation robustly, so one past
   incident in the samples moves neither. For a rate the centre is the *pooled* rate —
   all errors over all finished runs of the samples, the sample with the highest rate
   left out when there are 6 or more, with half an error and one run added (so a
   baseline that never failed is not certainty) — which, unlike the median of a dozen
   small shares, is not 0 % for a rare failure.
3. **Band.** ``sensitivity`` (default 4) sets a tail probability ``alpha`` — the normal
   tail beyond ``sensitivity`` standard deviations, 3.2e-5 for 4 — and the band is the
   widest of:
   - ``centre ± sensitivity × 1.4826 × MAD`` (the spread seen in past weeks);
   - for a rate, the **exact binomial** bounds: the figure fires only when ``k`` errors
     of the ``n`` runs in the window are at least as unlikely as ``alpha`` under the
     usual rate (``P(X >= k) < alpha`` up, ``P(X <= k) < alpha`` down), and it is at
     least 2 points from the usual rate;
   - for a count, ``sensitivity × sqrt(max(median, 1)) + 0.5`` (Poisson);
   - for an amount (latency, tokens, cost), half the median. A p95 latency above its
     band fires only when the runs slower than the usual p95 are also too many to be
     chance: more than the 5 % expected, ``P(X >= k) < alpha`` (binomial), so one or two
     slow runs in a small window — a p95 of 30 runs is its second slowest — do not.
4. **Verdict.** ``up``: anomalous above the band; ``down``: below it; ``both``: either.
   Fewer than :data:`MIN_BASELINE_SAMPLES` samples: the rule is *learning* and does not fire.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from studio_analytics.alerts.figures import P95, Span
from studio_analytics.alerts.results import Baseline
from studio_analytics.alerts.rules import MetricKind
from studio_analytics.db.rollups import latency_bucket

HOUR_S = 3600
WEEK_S = 7 * 86_400
NEIGHBOUR_HOURS = 1
MIN_BASELINE_SAMPLES = 3
MIN_RUNS_PER_SAMPLE = 5
MAD_TO_SD = 1.4826
RATE_FLOOR = 0.02
AMOUNT_FLOOR = 0.5  # of the median


def sample_hours(window_s: int) -> int:
    return max(1, -(-window_s // HOUR_S))


def sample_spans(now: datetime, window_s: int, weeks: int) -> list[Span]:
    """The past windows a baseline is learned from, oldest week last."""
    length = sample_hours(window_s) * HOUR_S
    end0 = (int(now.timestamp()) // HOUR_S + 1) * HOUR_S  # the end of the hour holding now
    spans = []
    for week in range(1, weeks + 1):
        for shift in range(-NEIGHBOUR_HOURS, NEIGHBOUR_HOURS + 1):
            end = end0 - week * WEEK_S + shift * HOUR_S
            spans.append((end - length, end))
    return spans


@dataclass(frozen=True, slots=True)
class Sample:
    """One past window's figure, the runs behind it, and (for a rate) its errors."""

    value: float
    runs: int
    hits: int = 0


def tail_probability(sensitivity: float) -> float:
    """``alpha``: the normal distribution's upper tail beyond ``sensitivity`` deviations."""
    return 0.5 * math.erfc(sensitivity / math.sqrt(2.0))


#: Above this many runs the binomial tails come from the normal approximation.
EXACT_BINOMIAL_MAX_N = 5_000
#: Terms of the binomial this far below ``alpha`` end a tail's sum (the rest is smaller still).
_NEGLIGIBLE = 1e-15


def binomial_bounds(n: int, p: float, alpha: float) -> tuple[int, int]:
    """``(low, high)``: the largest ``k`` with ``P(X <= k) < alpha`` (-1 if none) and the
    smallest with ``P(X >= k) < alpha`` (``n + 1`` if none), for ``X ~ Binomial(n, p)``.

    Exact: the probabilities are walked from the mode outwards (each from the last by
    the ratio of consecutive terms) until they no longer matter, a few standard
    deviations, not all ``n + 1`` terms."""
    if n <= 0:
        return -1, n + 1
    p = min(max(p, 1e-12), 1 - 1e-12)
    if n > EXACT_BINOMIAL_MAX_N:
        z = -statistics.NormalDist().inv_cdf(alpha)
        sd = math.sqrt(n * p * (1 - p))
        return math.floor(n * p - z * sd - 0.5), math.ceil(n * p + z * sd + 0.5)
    q = 1 - p
    mode = min(n, max(0, math.floor((n + 1) * p)))
    at_mode = math.exp(math.lgamma(n + 1) - math.lgamma(mode + 1) - math.lgamma(n - mode + 1)
                       + mode * math.log(p) + (n - mode) * math.log(q))
    return _tail_end(n, mode, at_mode, p / q, alpha, down=True), _tail_end(n, mode, at_mode, p / q, alpha, down=False)


def _tail_end(n: int, mode: int, at_mode: float, odds: float, alpha: float, *, down: bool) -> int:
    """The last ``k`` (down) or first ``k`` (up) whose tail beyond the mode is below ``alpha``."""
    terms = [(mode, at_mode)]
    k, value = mode, at_mode
    while (k > 0 if down else k < n) and value > alpha * _NEGLIGIBLE:
        value = value * k / (n - k + 1) / odds if down else value * (n - k) / (k + 1) * odds
        k += -1 if down else 1
        terms.append((k, value))
    tail, end = 0.0, (-1 if down else n + 1)
    for k, value in reversed(terms):  # from the far end of the tail towards the mode
        tail += value
        if tail >= alpha:
            break
        end = k
    return end


def pooled_rate(samples: Sequence[Sample]) -> float:
    """The usual rate: errors over runs of the samples (the highest-rate sample left out
    of 6 or more), with half an error and one run added."""
    kept = sorted(samples, key=lambda s: (s.value, s.runs))
    if len(kept) >= 6:
        kept = kept[:-1]
    return (sum(s.hits for s in kept) + 0.5) / (sum(s.runs for s in kept) + 1)


def band(kind: MetricKind, samples: Sequence[Sample], *, sensitivity: float, current_sample: int) -> Baseline | None:
    """The baseline of ``samples`` (the valid ones), or None with too few of them."""
    if len(samples) < MIN_BASELINE_SAMPLES:
        return None
    values = [s.value for s in samples]
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    spread = sensitivity * MAD_TO_SD * mad
    if kind is MetricKind.RATE:
        usual = pooled_rate(samples)
        n = max(current_sample, 1)
        low_k, high_k = binomial_bounds(n, usual, tail_probability(sensitivity))
        high = min(1.0, max((high_k - 0.5) / n, usual + spread, usual + RATE_FLOOR))
        low = max(0.0, min((low_k + 0.5) / n, usual - spread, usual - RATE_FLOOR))
        return Baseline(usual, low, high, mad, len(samples))
    if kind is MetricKind.COUNT:
        half = max(spread, sensitivity * math.sqrt(max(median, 1.0)) + 0.5)
    else:
        half = max(spread, AMOUNT_FLOOR * median, 1e-9)
    return Baseline(median, max(0.0, median - half), median + half, mad, len(samples))


def slow_runs_significant(histogram: dict[int, int], usual_p95_ms: float, sensitivity: float) -> tuple[int, int, bool]:
    """``(slower, runs, significant)``: runs of ``histogram`` in buckets above the one
    holding the usual p95, all runs, and whether that many is beyond chance when 5 % are
    expected (``P(X >= slower) < alpha``)."""
    usual_bucket = latency_bucket(usual_p95_ms)
    runs = sum(histogram.values())
    slower = sum(n for b, n in histogram.items() if b > usual_bucket)
    _low, high = binomial_bounds(runs, 1 - P95, tail_probability(sensitivity))
    return slower, runs, runs > 0 and slower >= high
