"""The anomaly band's building blocks against plain definitions."""

from __future__ import annotations

import math
import random

from studio_analytics.alerts.baseline import (
    EXACT_BINOMIAL_MAX_N,
    Sample,
    binomial_bounds,
    pooled_rate,
    sample_spans,
    tail_probability,
)


def _reference(n: int, p: float, alpha: float) -> tuple[int, int]:
    pmf = [math.comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n + 1)]
    lows = [k for k in range(n + 1) if sum(pmf[: k + 1]) < alpha]
    highs = [k for k in range(n + 1) if sum(pmf[k:]) < alpha]
    return (max(lows) if lows else -1), (min(highs) if highs else n + 1)


def test_binomial_bounds_are_the_exact_tails() -> None:
    rng = random.Random(7)
    for _ in range(300):
        n = rng.choice([1, 2, 5, 8, 13, 30, 77, 200, 600])
        p = rng.choice([1e-4, 0.01, 0.02, 0.05, 0.2, 0.5, 0.95, 0.999])
        alpha = rng.choice([tail_probability(4), tail_probability(6), 1e-3, 0.05])
        assert binomial_bounds(n, p, alpha) == _reference(n, p, alpha), (n, p, alpha)


def test_large_samples_use_the_normal_approximation() -> None:
    n = EXACT_BINOMIAL_MAX_N * 4
    low, high = binomial_bounds(n, 0.05, tail_probability(4))
    sd = math.sqrt(n * 0.05 * 0.95)
    assert abs((high - n * 0.05) / sd - 4) < 0.1 and abs((n * 0.05 - low) / sd - 4) < 0.1


def test_a_rare_failure_is_not_a_usual_zero() -> None:
    """Twelve hours of 20 runs with one failure in three of them: the median share is 0 %,
    the pooled rate is what failures usually are."""
    samples = [Sample(0.05 if i % 4 == 0 else 0.0, 20, 1 if i % 4 == 0 else 0) for i in range(12)]
    assert pooled_rate(samples) == (2 + 0.5) / (11 * 20 + 1)  # the highest-rate sample left out


def test_samples_are_the_same_hours_of_past_weeks() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 25, 14, 20, tzinfo=UTC)
    spans = sample_spans(now, 1800, 2)
    hour = int(datetime(2026, 11, 25, 15, tzinfo=UTC).timestamp())
    week = 7 * 86_400
    assert spans == [(hour - week + d * 3600 - 3600, hour - week + d * 3600) for d in (-1, 0, 1)] + \
        [(hour - 2 * week + d * 3600 - 3600, hour - 2 * week + d * 3600) for d in (-1, 0, 1)]
