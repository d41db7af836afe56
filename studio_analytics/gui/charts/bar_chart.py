"""Horizontal bar chart (tool usage frequency); one BarGraphItem updated in place.

Names label the bars as far as they fit: when the bars are thinner than a line of text
(many tools, a short chart, QT_SCALE_FACTOR=2) only every n-th bar is named, and a name
wider than a third of the chart is elided. Hovering a bar shows its whole name and value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt

from studio_analytics.gui.charts import show_axes, show_message

#: a label's height, in lines of text, that a bar needs for its name to be drawn
LINE_SPACING = 1.0
#: the share of the chart's width that names may take
LABEL_SHARE = 1 / 3


class HorizontalBarChart(pg.PlotWidget):
    def __init__(self, title: str, x_label: str, colour: str = "#fb8c00", *,
                 empty_message: str | None = None) -> None:
        super().__init__()
        self.setTitle(title)
        self.setLabel("bottom", x_label)
        self.x_label = x_label
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.bars = pg.BarGraphItem(x0=[], y=[], width=[], height=0.6, brush=colour, pen=None)
        self.addItem(self.bars)
        self.getPlotItem().invertY(True)
        self.empty_text = pg.TextItem("", anchor=(0.5, 0.5), color=(120, 120, 120))
        self.addItem(self.empty_text, ignoreBounds=True)
        self.labels: list[str] = []
        self.values: list[float] = []
        #: the (row, text) tick labels drawn now: every ``step``-th row, elided
        self.shown_ticks: list[tuple[int, str]] = []
        self.empty_message = empty_message or f"No {x_label} in this range"
        self.getPlotItem().vb.sigResized.connect(self._layout_labels)
        self.scene().sigMouseMoved.connect(self._hovered)
        show_message(self, self.empty_text, "Loading…")  # until the first result arrives

    def clear_data(self, message: str = "Loading…") -> None:
        self.set_bars([], [])
        show_message(self, self.empty_text, message)

    def set_bars(self, labels: Sequence[str], values: Sequence[float]) -> None:
        self.labels, self.values = list(labels), [float(v) for v in values]
        y = list(range(len(labels)))
        self.bars.setOpts(x0=[0] * len(y), y=y, width=self.values, height=0.6)
        self._layout_labels()
        if labels:
            show_axes(self, self.empty_text, grid=False)
            self.setYRange(-0.6, len(y) - 0.4, padding=0)
            self.setXRange(0, max(self.values) * 1.05 or 1, padding=0)
        else:
            show_message(self, self.empty_text, self.empty_message)

    def label_step(self) -> int:
        """Name every n-th bar: as many names as the plot's height holds without overlap."""
        rows = len(self.labels)
        height = self.getPlotItem().vb.height()
        if rows == 0 or height <= 0:
            return 1
        line = self.fontMetrics().height() * LINE_SPACING
        return max(1, math.ceil(line / (height / rows)))

    def _layout_labels(self, *_changed: object) -> None:
        metrics = self.fontMetrics()
        widest = max(80, int(self.width() * LABEL_SHARE))
        step = self.label_step()
        self.shown_ticks = [(i, metrics.elidedText(self.labels[i], Qt.TextElideMode.ElideRight, widest))
                            for i in range(0, len(self.labels), step)]
        axis = self.getAxis("left")
        axis.setTicks([self.shown_ticks])
        # pyqtgraph drops tick labels wider than the axis: size it to the longest name shown.
        axis.setWidth(max([metrics.horizontalAdvance(text) for _, text in self.shown_ticks] or [20]) + 14)

    def bar_at(self, scene_pos: QPointF) -> int | None:
        """The row under a point of the scene (the plot or its name), or None."""
        vb = self.getPlotItem().vb
        if not self.labels or not (vb.sceneBoundingRect().top() <= scene_pos.y() <= vb.sceneBoundingRect().bottom()):
            return None
        row = round(vb.mapSceneToView(scene_pos).y())
        return row if 0 <= row < len(self.labels) else None

    def _hovered(self, scene_pos: QPointF) -> None:
        row = self.bar_at(scene_pos)
        self.setToolTip("" if row is None else f"{self.labels[row]}: {self.values[row]:,.0f} {self.x_label}")
