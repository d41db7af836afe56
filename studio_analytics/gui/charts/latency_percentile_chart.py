"""p50/p95/p99 latency over time: three curves created once, updated with setData, in one
unit chosen from their values (like the tables' duration columns)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from studio_analytics.analytics.latency import LatencyPercentileSeries
from studio_analytics.gui import zone
from studio_analytics.gui.charts import show_axes, show_message
from studio_analytics.gui.charts.latency_histogram_chart import PERCENTILE_COLOURS
from studio_analytics.gui.models.duration_units import unit_for


class LatencyPercentileChart(pg.PlotWidget):
    def __init__(self) -> None:
        super().__init__(axisItems={"bottom": pg.DateAxisItem(utcOffset=zone.axis_offset())})
        self.setTitle("Latency percentiles over time")
        self.setLabel("bottom", f"time ({zone.zone_name()})")
        self.setLabel("left", "duration (ms)")
        self.getAxis("left").setWidth(self.fontMetrics().horizontalAdvance("000000") + 24)
        self.setMouseEnabled(x=True, y=False)
        self.showGrid(x=True, y=True, alpha=0.2)
        self.addLegend(offset=(10, 5))
        self.curves = {
            name: self.plot([], [], name=name, pen=pg.mkPen(colour, width=2 if name == "p95" else 1.5),
                            connect="finite")
            for name, colour in PERCENTILE_COLOURS.items()
        }
        self.empty_text = pg.TextItem("", anchor=(0.5, 0.5), color=(120, 120, 120))
        self.getPlotItem().vb.addItem(self.empty_text, ignoreBounds=True)
        zone.setting().changed.connect(self._zone_changed)
        show_message(self, self.empty_text, "Loading…")

    def _zone_changed(self) -> None:
        axis = self.getAxis("bottom")
        axis.utcOffset = zone.axis_offset()
        axis.picture = None
        axis.update()
        self.setLabel("bottom", f"time ({zone.zone_name()})")

    def clear_data(self, message: str = "Loading…") -> None:
        for curve in self.curves.values():
            curve.setData([], [])
        show_message(self, self.empty_text, message)

    def set_series(self, s: LatencyPercentileSeries) -> None:
        arrays = {"p50": s.p50_ms, "p95": s.p95_ms, "p99": s.p99_ms}
        if all(np.isnan(a).all() for a in arrays.values()):
            self.clear_data("No durations in this range")
            return
        unit = unit_for(float(v) for a in arrays.values() for v in a[~np.isnan(a)])
        self.setLabel("left", f"duration ({unit.symbol}){' ≈' if s.approximate else ''}")
        for name, values in arrays.items():
            self.curves[name].setData(s.bucket_starts, values / unit.ms_per_unit)
        self.setToolTip(
            f"p50, p95 and p99 per {s.bucket.value}. " + (
                f"From the rollups' latency histograms: within ±{s.error * 100:.1f} % of the exact value."
                if s.approximate else "Exact, from the raw rows."))
        show_axes(self, self.empty_text)
        self.enableAutoRange()
