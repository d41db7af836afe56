"""An axis for counts: ticks only at whole numbers, so a count never reads "2.5"."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg


class CountAxisItem(pg.AxisItem):
    def __init__(self, orientation: str = "left", **kwargs: Any) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)  # "12,000", not "12" and a "(x1e3)" in the label

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:
        # pyqtgraph's levels are 1, 2 or 5 x 10^n: those of at least 1 fall on whole numbers.
        levels = [(spacing, offset) for spacing, offset in super().tickSpacing(minVal, maxVal, size) if spacing >= 1]
        return levels or [(1.0, 0.0)]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [f"{round(v * scale):,}" for v in values]
