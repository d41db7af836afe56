"""Latency histogram: bars on a log-duration axis ("10 ms, 100 ms, 1 s, 10 s") with the
p50/p95/p99 as labelled vertical lines. Items are created once and updated in place."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from studio_analytics.analytics.latency import LatencyDistribution, Percentiles
from studio_analytics.gui.charts import show_axes, show_message
from studio_analytics.gui.models.duration_units import duration_text

#: Tick positions (ms) on the log axis and their labels.
TICKS_MS = (0.01, 0.1, 1, 10, 100, 1_000, 10_000, 60_000, 600_000, 3_600_000)
_TICK_LABELS = {0.01: "10 µs", 0.1: "100 µs", 1: "1 ms", 10: "10 ms", 100: "100 ms", 1_000: "1 s",
                10_000: "10 s", 60_000: "1 min", 600_000: "10 min", 3_600_000: "1 h"}
PERCENTILE_COLOURS = {"p50": "#43a047", "p95": "#8e24aa", "p99": "#e53935"}


class LogDurationAxis(pg.AxisItem):
    """An axis over log10(ms) whose ticks read as durations at the powers of ten."""

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:  # noqa: N802, N803
        major = [math.log10(t) for t in TICKS_MS if minVal <= math.log10(t) <= maxVal]
        return [(1.0, major)]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        out = []
        for v in values:
            ms = min(TICKS_MS, key=lambda t: abs(math.log10(t) - v))
            out.append(_TICK_LABELS[ms])
        return out


def percentile_label(name: str, value: float | None, approximate: bool) -> str:
    return f"{name} {'≈' if approximate else '='} {duration_text(value)}"


class LatencyHistogramChart(pg.PlotWidget):
    def __init__(self) -> None:
        super().__init__(axisItems={"bottom": LogDurationAxis("bottom")})
        self.setTitle("Latency distribution")
        self.setLabel("left", "count")
        self.setLabel("bottom", "duration (log scale)")
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.getAxis("left").setWidth(self.fontMetrics().horizontalAdvance("000000") + 16)
        self.bars = pg.BarGraphItem(x0=[], x1=[], height=[], y0=0, brush="#42a5f5", pen=pg.mkPen("#1e88e5"))
        self.addItem(self.bars)
        self.lines: dict[str, pg.InfiniteLine] = {}
        # Labels at different heights so close percentiles (p95 next to p99) stay readable.
        for name, height in (("p50", 0.95), ("p95", 0.82), ("p99", 0.69)):
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(PERCENTILE_COLOURS[name], width=2),
                                   label=name, labelOpts={"position": height, "color": PERCENTILE_COLOURS[name],
                                                          "fill": (255, 255, 255, 200), "anchors": [(0, 0.5), (0, 0.5)]})
            line.setVisible(False)
            self.addItem(line, ignoreBounds=True)
            self.lines[name] = line
        self.empty_text = pg.TextItem("", anchor=(0.5, 0.5), color=(120, 120, 120))
        self.addItem(self.empty_text, ignoreBounds=True)
        show_message(self, self.empty_text, "Loading…")

    def clear_data(self, message: str = "Loading…") -> None:
        self.bars.setOpts(x0=[], x1=[], height=[])
        for line in self.lines.values():
            line.setVisible(False)
        show_message(self, self.empty_text, message)

    def set_distribution(self, d: LatencyDistribution, empty_message: str = "No durations in this range") -> None:
        if d.total == 0:
            self.clear_data(empty_message)
            return
        x0, x1 = np.log10(d.lower_ms), np.log10(d.upper_ms)
        self.bars.setOpts(x0=x0, x1=x1, height=d.counts.astype(float))
        self._set_lines(d.percentiles)
        show_axes(self, self.empty_text, grid=False)
        self.showGrid(x=False, y=True, alpha=0.2)
        span = max(float(x1[-1] - x0[0]), 1.0)  # at least a decade, so ticks show
        # Room right of the last bar for the labels of lines that sit near it.
        self.setXRange(float(x0[0]) - 0.08 * span, float(x1[-1]) + 0.3 * span, padding=0)
        self.setYRange(0, float(d.counts.max()) * 1.1, padding=0)

    def _set_lines(self, p: Percentiles) -> None:
        for name, value in (("p50", p.p50_ms), ("p95", p.p95_ms), ("p99", p.p99_ms)):
            line = self.lines[name]
            line.setVisible(value is not None and value > 0)
            if value is not None and value > 0:
                line.setValue(math.log10(value))
                line.label.setFormat(percentile_label(name, value, p.approximate))
