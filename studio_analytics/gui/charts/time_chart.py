"""Time series charts: items created once, updated with setData."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal

from studio_analytics.analytics.results import TimeSeries
from studio_analytics.gui import zone
from studio_analytics.gui.charts import show_axes, show_message

LOADING = "Loading…"


class BrushViewBox(pg.ViewBox):
    """Shift+drag selects a span of time (a shaded region while dragging); a plain drag
    still pans. ``on_span(start_s, end_s)`` receives the span in epoch seconds."""

    def __init__(self) -> None:
        super().__init__()
        self.on_span: Any = None
        self._brushing = False
        # Created once, shown only while brushing.
        self.brush_region = pg.LinearRegionItem(movable=False, brush=(255, 193, 7, 60), pen=pg.mkPen("#ffa000"))
        self.brush_region.setZValue(1_000)
        self.brush_region.hide()
        self.addItem(self.brush_region, ignoreBounds=True)

    def mouseDragEvent(self, ev: Any, axis: int | None = None) -> None:
        if ev.isStart():
            # Decided when the drag starts: Shift may be let go before the button.
            self._brushing = (ev.button() == Qt.MouseButton.LeftButton and axis is None
                              and bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier))
        if not self._brushing:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        start = self.mapSceneToView(ev.buttonDownScenePos()).x()
        end = self.mapSceneToView(ev.scenePos()).x()
        self.brush_region.setRegion((min(start, end), max(start, end)))
        self.brush_region.show()
        if ev.isFinish():
            self._brushing = False
            self.brush_region.hide()
            if start != end and self.on_span is not None:
                self.on_span(min(start, end), max(start, end))


class _Chart(pg.PlotWidget):
    """A chart over time. Shift+drag across it brushes a span: ``span_selected``."""

    span_selected = Signal(object, object)  # start, end: datetimes (UTC)

    def __init__(self, title: str, y_label: str) -> None:
        # Local time, like the tables; the axis says which zone.
        box = BrushViewBox()
        super().__init__(viewBox=box, axisItems={"bottom": pg.DateAxisItem(utcOffset=zone.axis_offset())})
        self.brush_box = box
        box.on_span = self.emit_span
        self.setTitle(title)
        self.setLabel("left", y_label)
        self.setLabel("bottom", f"time ({zone.zone_name()})")
        zone.setting().changed.connect(self._zone_changed)
        # Room for five-digit values: pyqtgraph drops tick labels wider than the axis.
        self.getAxis("left").setWidth(self.fontMetrics().horizontalAdvance("000000") + 24)
        self.showGrid(x=True, y=True, alpha=0.2)
        self.setMouseEnabled(x=True, y=False)
        self.addLegend(offset=(10, 5))
        self.empty_text = pg.TextItem("", anchor=(0.5, 0.5), color=(120, 120, 120))
        self.getPlotItem().vb.addItem(self.empty_text, ignoreBounds=True)
        show_message(self, self.empty_text, LOADING)  # until the first result arrives

    def emit_span(self, start_s: float, end_s: float) -> None:
        """The span brushed, from epoch seconds on the x axis."""
        self.span_selected.emit(datetime.fromtimestamp(start_s, UTC), datetime.fromtimestamp(end_s, UTC))

    def _zone_changed(self) -> None:
        axis = self.getAxis("bottom")
        axis.utcOffset = zone.axis_offset()
        axis.picture = None  # the ticks are drawn again in the new zone
        axis.update()
        self.setLabel("bottom", f"time ({zone.zone_name()})")

    def clear_data(self, message: str = LOADING) -> None:
        """No figures (a database switch, a first refresh): curves emptied, a message."""
        for item in self.getPlotItem().listDataItems():
            item.setData([], [])
        show_message(self, self.empty_text, message)

    def _show_empty(self, empty: bool, x: np.ndarray, message: str = "No executions in this range") -> None:
        if empty:
            show_message(self, self.empty_text, message)
        else:
            show_axes(self, self.empty_text)
            self.enableAutoRange()


class ExecutionsChart(_Chart):
    """Executions and failures (failures + timeouts) per bucket. A click on the chart
    says which moment was clicked (the window opens the executions there)."""

    time_clicked = Signal(object)  # datetime (UTC) under the mouse

    def __init__(self) -> None:
        super().__init__("Executions and failures", "per bucket")
        self.setToolTip("Click a moment to list the executions started then;\n"
                        "Shift+drag across a span to list the executions started in it")
        self.scene().sigMouseClicked.connect(self._clicked)
        self.executions = self.plot([], [], name="executions", pen=pg.mkPen("#1e88e5", width=2),
                                    fillLevel=0, brush=(30, 136, 229, 40))
        self.failures = self.plot([], [], name="failures", pen=pg.mkPen("#e53935", width=2))

    def set_series(self, s: TimeSeries) -> None:
        x = s.bucket_starts
        self.executions.setData(x, s.executions.astype(float))
        self.failures.setData(x, s.failures.astype(float))
        self._show_empty(int(s.executions.sum()) == 0, x)

    def _clicked(self, event: Any) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        x, _ = self.executions.getData()
        if x is None or not len(x):
            return
        vb = self.getPlotItem().vb
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return  # a click on an axis or the title
        self.emit_time(float(vb.mapSceneToView(event.scenePos()).x()))

    def emit_time(self, seconds: float) -> None:
        self.time_clicked.emit(datetime.fromtimestamp(seconds, UTC))


class LatencyChart(_Chart):
    """p95 and average latency per bucket; gaps where a bucket has no runs."""

    def __init__(self) -> None:
        super().__init__("Latency", "ms")
        self.p95 = self.plot([], [], name="p95", pen=pg.mkPen("#8e24aa", width=2), connect="finite")
        self.avg = self.plot([], [], name="average", pen=pg.mkPen("#43a047", width=1.5), connect="finite")
        self.setToolTip("p95 per bucket. From the rollups' latency histograms: within 4.4 % of the exact\n"
                        "nearest-rank value; exact on databases without rollups and for ranges of 3 h or less.")

    def set_series(self, s: TimeSeries) -> None:
        x = s.bucket_starts
        self.p95.setData(x, s.p95_duration_ms)
        self.avg.setData(x, s.avg_duration_ms)
        self._show_empty(bool(np.isnan(s.p95_duration_ms).all()), x)


class ErrorRateChart(_Chart):
    """Failures and timeouts per bucket, and the error rate on its own axis."""

    def __init__(self) -> None:
        super().__init__("Failures and timeouts over time", "per bucket")
        self.failures = self.plot([], [], name="failures", pen=pg.mkPen("#e53935", width=2),
                                  fillLevel=0, brush=(229, 57, 53, 40))
        self.timeouts = self.plot([], [], name="timeouts", pen=pg.mkPen("#fb8c00", width=2))

    def set_series(self, s: TimeSeries) -> None:
        x = s.bucket_starts
        self.failures.setData(x, (s.failures - s.timeouts).astype(float))
        self.timeouts.setData(x, s.timeouts.astype(float))
        self._show_empty(int(s.failures.sum()) == 0, x, "No failures in this range")


class CountChart(_Chart):
    """One count per bucket (sessions started)."""

    def __init__(self, title: str, name: str, colour: str = "#00897b") -> None:
        super().__init__(title, "per bucket")
        self.curve = self.plot([], [], name=name, pen=pg.mkPen(colour, width=2), fillLevel=0,
                               brush=pg.mkColor(colour).lighter(170))

    def set_counts(self, x: np.ndarray, y: np.ndarray, empty_text: str) -> None:
        self.curve.setData(x, y.astype(float))
        self._show_empty(int(y.sum()) == 0, x, empty_text)
