"""Bytes the database grew by per UTC day (an estimate): one BarGraphItem updated in place.

The unit (B, KB, MB, GB) follows the largest day, so the axis reads "1.5", never "1.5e6".
Days are named under their bars ("11-24"), every n-th one when they would not fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

import pyqtgraph as pg
from PySide6.QtCore import QPointF

from studio_analytics.gui.charts import show_axes, show_message

_UNITS = (("B", 1), ("KB", 1024), ("MB", 1024**2), ("GB", 1024**3))


def unit_for(largest: float) -> tuple[str, int]:
    """The unit whose values stay below 1024 for the largest bar."""
    chosen = _UNITS[0]
    for unit in _UNITS:
        if largest >= unit[1]:
            chosen = unit
    return chosen


class GrowthChart(pg.PlotWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Growth per day (estimate)")
        self.setLabel("bottom", "last 14 whole days (UTC)")
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush="#1e88e5", pen=None)
        self.addItem(self.bars)
        self.getAxis("left").enableAutoSIPrefix(False)
        # The newest day's name may reach past the plot's end: drawn, not dropped, with room
        # for half of it right of the plot.
        self.getAxis("bottom").setStyle(hideOverlappingLabels=False)
        self.getPlotItem().setContentsMargins(0, 0, self.fontMetrics().horizontalAdvance("00-00") / 2 + 4, 0)
        self.getAxis("left").setWidth(self.fontMetrics().horizontalAdvance("0000.0") + 24)
        self.empty_text = pg.TextItem("", anchor=(0.5, 0.5), color=(120, 120, 120))
        self.addItem(self.empty_text, ignoreBounds=True)
        self.days: list[date] = []
        self.values: list[float] = []  # bytes
        self.unit = "B"
        self.getPlotItem().vb.sigResized.connect(self._layout_ticks)
        self.scene().sigMouseMoved.connect(self._hovered)
        show_message(self, self.empty_text, "Loading…")

    def clear_data(self, message: str = "Loading…") -> None:
        self.days, self.values = [], []
        self.bars.setOpts(x=[], height=[])
        show_message(self, self.empty_text, message)

    def set_days(self, days: Sequence[date], bytes_per_day: Sequence[float]) -> None:
        self.days, self.values = list(days), [float(v) for v in bytes_per_day]
        if not self.days or not any(self.values):
            self.bars.setOpts(x=[], height=[])
            show_message(self, self.empty_text, "Nothing written in the last 14 days")
            return
        self.unit, scale = unit_for(max(self.values))
        self.bars.setOpts(x=list(range(len(self.days))), height=[v / scale for v in self.values], width=0.7)
        self.setLabel("left", f"{self.unit} per day")
        show_axes(self, self.empty_text, grid=False)
        self.getPlotItem().showGrid(y=True, alpha=0.2)
        self.setXRange(-0.8, len(self.days) - 0.2, padding=0)
        self.setYRange(0, max(self.values) / scale * 1.1, padding=0)
        self._layout_ticks()

    def _layout_ticks(self, *_changed: object) -> None:
        if not self.days:
            return
        width = self.getPlotItem().vb.width()
        label = self.fontMetrics().horizontalAdvance("00-00") + 10
        step = max(1, math.ceil(label / max(1.0, width / len(self.days))))
        # The newest day is always named: count back from it.
        last = len(self.days) - 1
        ticks = [(i, f"{self.days[i]:%m-%d}") for i in range(last, -1, -step)]
        self.getAxis("bottom").setTicks([sorted(ticks)])

    def _hovered(self, scene_pos: QPointF) -> None:
        vb = self.getPlotItem().vb
        if not self.days or not vb.sceneBoundingRect().contains(scene_pos):
            self.setToolTip("")
            return
        i = round(vb.mapSceneToView(scene_pos).x())
        if 0 <= i < len(self.days):
            _, scale = unit_for(max(self.values))
            self.setToolTip(f"{self.days[i]:%Y-%m-%d}: about {self.values[i] / scale:,.1f} {self.unit}")
