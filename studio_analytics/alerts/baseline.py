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
   incident in the samples moves neither.
3. **Band.** ``median ± half-width``, where the half-width is the largest of
   - ``sensitivity × 1.4826 × MAD`` (the spread seen in past weeks),
   - a floor for the noise of a small sample, which the MAD of a few quiet hours
     underestimates: for a rate, ``sensitivity × sqrt(p(1-p)/n) + 0.5/n`` with ``n`` the
     runs in the current window and ``p`` the median clamped to [0.02, 0.98]
     (binomial); for a count, ``sensitivity × sqrt(max(median, 1)) + 0.5`` (Poisson);
     for an amount (latency, tokens, cost), half the median;
   - 0.02 for a rate.
4. **Verdict.** ``up``: anomalous above the band; ``down``: below it; ``both``: either.
   Fewer than :data:`MIN_BASELINE_SAMPLES` samples: the rule is *learning* and does not fire.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from datetime import datetime

from studio_analytics.alerts.figures import Span
from studio_analytics.alerts.results import Baseline
from studio_analytics.alerts.rules import MetricKind

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


def band(kind: MetricKind, values: Sequence[float], *, sensitivity: float, current_sample: int) -> Baseline | None:
    """The baseline of ``values`` (one per valid sample), or None with too few samples."""
    if len(values) < MIN_BASELINE_SAMPLES:
        return None
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    spread = sensitivity * MAD_TO_SD * mad
    if kind is MetricKind.RATE:
        n = max(current_sample, 1)
        p = min(max(median, RATE_FLOOR), 1 - RATE_FLOOR)
        half = max(spread, sensitivity * math.sqrt(p * (1 - p) / n) + 0.5 / n, RATE_FLOOR)
        return Baseline(median, max(0.0, median - half), min(1.0, median + half), mad, len(values))
    if kind is MetricKind.COUNT:
        half = max(spread, sensitivity * math.sqrt(max(median, 1.0)) + 0.5)
    else:
        half = max(spread, AMOUNT_FLOOR * median, 1e-9)
    return Baseline(median, max(0.0, median - half), median + half, mad, len(values))
