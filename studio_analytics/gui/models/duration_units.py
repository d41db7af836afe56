"""One unit per duration column: "p95 (s)" over plain numbers, never "318 ms" above "18.66 s".

A table's duration columns (``Column(..., duration=True)``) get their unit from the
values they hold: seconds as soon as one of them reaches 10 s, minutes from 100 min,
milliseconds otherwise. The header names the unit; the cells hold the number alone,
right-aligned, and still sort by the value (the raw milliseconds stay the UserRole).

Percentile columns (``percentile=True``) whose rows say ``approximate`` — read from the
rollups' log-bucketed latency histograms — read "p95 ≈ (s)" with the error bound in the
header's tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from studio_analytics.db.rollups import PERCENTILE_RELATIVE_ERROR

APPROXIMATE_TIP = (
    "≈: read from the hourly latency histograms (8 log buckets per doubling), so within "
    f"±{PERCENTILE_RELATIVE_ERROR * 100:.1f} % of the exact value. Exact on databases without rollups "
    "and for ranges without a whole hour."
)


@dataclass(frozen=True, slots=True)
class DurationUnit:
    symbol: str  # "ms", "s" or "min"
    ms_per_unit: float
    decimals: int

    def number(self, ms: float | None) -> str:
        """``ms`` in this unit, without the unit: "18.66", "1,204", "<1"."""
        if ms is None or (isinstance(ms, float) and math.isnan(ms)):
            return "—"
        v = ms / self.ms_per_unit
        text = f"{v:,.{self.decimals}f}"
        if v > 0 and float(text.replace(",", "")) == 0:
            return f"<{10 ** -self.decimals:g}"  # a real duration never reads as 0
        return text

    def with_unit(self, ms: float | None) -> str:
        text = self.number(ms)
        return text if text == "—" else f"{text} {self.symbol}"


MS = DurationUnit("ms", 1.0, 0)
FINE_MS = DurationUnit("ms", 1.0, 2)  # every value under 10 ms
SECONDS = DurationUnit("s", 1000.0, 2)
MINUTES = DurationUnit("min", 60_000.0, 1)


def unit_for(values: Iterable[float | None]) -> DurationUnit:
    """The unit for a column holding ``values`` (ms), from the largest of them."""
    largest = max((v for v in values if v is not None and not math.isnan(v)), default=0.0)
    if largest >= 100 * 60_000:
        return MINUTES
    if largest >= 10_000:
        return SECONDS
    return MS if largest >= 10 else FINE_MS


def duration_text(ms: float | None) -> str:
    """One duration alone (a chart label, a tooltip), in the unit its own size calls for."""
    return unit_for((ms,)).with_unit(ms)


class DurationColumns:
    """The chosen unit of each duration column of a table, kept up to date from its rows."""

    def __init__(self) -> None:
        self.units: dict[int, DurationUnit] = {}
        self.approximate = False

    def update(self, columns: Sequence[Any], rows: Sequence[Any]) -> list[int]:
        """Choose the units from ``rows``; returns the columns whose header changed."""
        changed = []
        approximate = any(getattr(r, "approximate", False) for r in rows)
        for i, column in enumerate(columns):
            if not column.duration:
                continue
            unit = unit_for(getattr(r, column.field) for r in rows)
            if self.units.get(i) != unit or (column.percentile and approximate != self.approximate):
                changed.append(i)
            self.units[i] = unit
        self.approximate = approximate
        return changed

    def text(self, index: int, ms: float | None) -> str:
        return self.units.get(index, MS).number(ms)

    def header(self, index: int, column: Any) -> str:
        mark = " ≈" if column.percentile and self.approximate else ""
        return f"{column.header}{mark} ({self.units.get(index, MS).symbol})"

    def header_tip(self, column: Any) -> str | None:
        return APPROXIMATE_TIP if column.percentile and self.approximate else None
