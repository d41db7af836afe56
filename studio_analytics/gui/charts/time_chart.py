"""Time series charts: items created once, updated with setData."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from studio_analytics.analytics.results import TimeSeries


class _Chart(pg.PlotWidget):
    def __init__(self, title: str, y_label: str) -> None:
        super().__init__(axisItems={"bottom": pg.DateAxisItem(utcOffset=0)})
        self.setTitle(title)
        self.setLabel("left", y_label)
        # Room for five-digit values: pyqtgraph drops tick labels wider than the axis.
        self.getAxis("left").setWidth(self.fontMetrics().horizontalAdvance("000000") + 24)
        self.showGrid(x=True, y=True, alpha=0.2)
        self.setMouseEnabled(x=True, y=False)
        self.addLegend(offset=(10, 5))
        self.empty_text = pg.TextItem("", anchor=(0.5, 0.5), color=(120, 120, 120))
        self.getPlotItem().vb.addItem(self.empty_text, ignoreBounds=True)

    def _show_empty(self, empty: bool, x: np.ndarray) -> None:
        if empty:
            self.empty_text.setText("No executions in this range")
            self.empty_text.setPos(float(x.mean()) if len(x) else 0.0, 0.5)
            self.setYRange(0, 1)
        else:
            self.empty_text.setText("")
            self.enableAutoRange(axis="y")


class ExecutionsChart(_Chart):
    """Executions and failures (failures + timeouts) per bucket."""

    def __init__(self) -> None:
        super().__init__("Executions and failures", "per bucket")
        self.executions = self.plot([], [], name="executions", pen=pg.mkPen("#1e88e5", width=2),
                                    fillLevel=0, brush=(30, 136, 229, 40))
        self.failures = self.plot([], [], name="failures", pen=pg.mkPen("#e53935", width=2))

    def set_series(self, s: TimeSeries) -> None:
        x = s.bucket_starts
        self.executions.setData(x, s.executions.astype(float))
        self.failures.setData(x, s.failures.astype(float))
        self._show_empty(int(s.executions.sum()) == 0, x)


class LatencyChart(_Chart):
    """p95 and average latency per bucket; gaps where a bucket has no runs."""

    def __init__(self) -> None:
        super().__init__("Latency", "ms")
        self.p95 = self.plot([], [], name="p95", pen=pg.mkPen("#8e24aa", width=2), connect="finite")
        self.avg = self.plot([], [], name="average", pen=pg.mkPen("#43a047", width=1.5), connect="finite")

    def set_series(self, s: TimeSeries) -> None:
        x = s.bucket_starts
        self.p95.setData(x, s.p95_duration_ms)
        self.avg.setData(x, s.avg_duration_ms)
        self._show_empty(bool(np.isnan(s.p95_duration_ms).all()), x)
