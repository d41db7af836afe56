"""One alert rule's figure over time with its usual band and the moments it fired."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics, QResizeEvent

from studio_analytics.gui.charts.alert_markers import AlertMarkers
from studio_analytics.gui.charts.time_chart import _Chart


def epoch_seconds(times: Sequence[Any]) -> np.ndarray:
    """Datetimes (or epoch seconds) as epoch seconds, for the time axis."""
    return np.array([t.timestamp() if isinstance(t, datetime) else float(t) for t in times], dtype=float)


def floats(values: Sequence[float | None]) -> np.ndarray:
    """Figures with None (nothing measured) as NaN: a gap in the curve."""
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


class AlertRuleChart(_Chart):
    """The rule's figure (a line), the band outside which it is anomalous (filled between
    low and high), its threshold (a horizontal line) and fired markers. Every item is
    created here and updated with setData."""

    def __init__(self) -> None:
        self._title = ""
        super().__init__("Select an alert to see its figure", "value")
        self.getAxis("left").setLabel("")
        band_pen = pg.mkPen((67, 160, 71, 140), width=1)
        self.low = pg.PlotDataItem([], [], pen=band_pen)
        self.high = pg.PlotDataItem([], [], pen=band_pen)
        self.band = pg.FillBetweenItem(self.low, self.high, brush=(67, 160, 71, 50))
        for item in (self.low, self.high, self.band):
            self.addItem(item)
        self.value = self.plot([], [], name="figure", pen=pg.mkPen("#1e88e5", width=2), connect="finite",
                               symbol="o", symbolSize=3, symbolBrush="#1e88e5", symbolPen=None)
        # A data item, not an InfiniteLine: the y range then always takes the threshold in.
        self.threshold = self.plot([], [], name="threshold",
                                   pen=pg.mkPen("#ef6c00", width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine))
        self.markers = AlertMarkers(self)
        #: where the replay fired but the window did not record it (it was not running)
        self.replay_markers = AlertMarkers(self, "#9e9e9e", dotted=True)
        # The legend cannot draw a FillBetweenItem: an empty curve with the band's look stands in.
        self.band_sample = self.plot([], [], name="usual band", pen=band_pen, fillLevel=0, brush=(67, 160, 71, 50))

    def setTitle(self, title: str | None = None, **args: Any) -> None:  # noqa: N802 - pyqtgraph's name
        """The title, elided to the chart's width: a long rule id or member name must not
        widen the chart past the window (a title's text sets its minimum width)."""
        self._title = title or ""
        self.getPlotItem().setTitle(self._elided(), **args)
        self.getPlotItem().titleLabel.setMinimumWidth(0)

    def _elided(self) -> str:
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.3)  # the title is drawn larger than the widget's font
        room = max(80, self.width() - 40)
        return QFontMetrics(font).elidedText(self._title, Qt.TextElideMode.ElideRight, room)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if self._title:
            self.getPlotItem().setTitle(self._elided())
            self.getPlotItem().titleLabel.setMinimumWidth(0)

    def show_series(self, title: str, unit: str, times: Sequence[Any], values: Sequence[float | None],
                    lows: Sequence[float | None], highs: Sequence[float | None],
                    threshold: float | None, fired: Sequence[tuple[float, str]], *, scale: float = 1.0,
                    replayed: Sequence[tuple[float, str]] = ()) -> None:
        """``fired``: (epoch seconds, tooltip) of recorded alerts; ``replayed``: the replay's
        own, drawn lighter. ``scale`` multiplies every figure (100 for a rate shown in %)."""
        self.setTitle(title)
        self.setLabel("left", unit)
        x = epoch_seconds(times)
        y = floats(values) * scale
        measured = bool(np.isfinite(y).any())
        # Nothing measured: no points at all (all-NaN symbols make pyqtgraph warn).
        self.value.setData(x if measured else [], y if measured else [])
        low, high = floats(lows) * scale, floats(highs) * scale
        banded = np.isfinite(low) & np.isfinite(high)
        # The band joins the hours that have one (a fill across NaN gaps would smear).
        self.low.setData(x[banded], low[banded])
        self.high.setData(x[banded], high[banded])
        self.band.setVisible(bool(banded.any()))
        if threshold is not None and len(x):
            self.threshold.setData([x[0], x[-1]], [threshold * scale] * 2)
        else:
            self.threshold.setData([], [])
        self._in_legend(self.band_sample, "usual band", bool(banded.any()))
        self._in_legend(self.threshold, "threshold", threshold is not None)
        def inside(marks: Sequence[tuple[float, str]]) -> list[tuple[float, str]]:
            return [(t, tip) for t, tip in marks if len(x) and x[0] <= t <= x[-1]]

        self.markers.set_times(inside(fired))
        self.replay_markers.set_times(inside(replayed))
        self._show_empty(not measured, x, "Nothing measured for this rule in the last 24 hours")

    def _in_legend(self, item: pg.PlotDataItem, name: str, shown: bool) -> None:
        """Only what the rule has: a threshold rule has no band, an anomalous one no threshold."""
        legend = self.getPlotItem().legend
        if legend is None:
            return
        present = any(sample.item is item for sample, _label in legend.items)
        if shown and not present:
            legend.addItem(item, name)
        elif not shown and present:
            legend.removeItem(item)

    def clear_data(self, message: str = "Select an alert to see its figure") -> None:
        self.setTitle("Alert figure")
        for item in (self.low, self.high):
            item.setData([], [])
        self.band.setVisible(False)
        self.markers.set_times(())
        self.replay_markers.set_times(())
        super().clear_data(message)
