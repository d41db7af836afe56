"""Horizontal bar chart (tool usage frequency); one BarGraphItem updated in place."""

from __future__ import annotations

from collections.abc import Sequence

import pyqtgraph as pg


class HorizontalBarChart(pg.PlotWidget):
    def __init__(self, title: str, x_label: str, colour: str = "#fb8c00") -> None:
        super().__init__()
        self.setTitle(title)
        self.setLabel("bottom", x_label)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.bars = pg.BarGraphItem(x0=[], y=[], width=[], height=0.6, brush=colour, pen=None)
        self.addItem(self.bars)
        self.getPlotItem().invertY(True)
        self.empty_text = pg.TextItem("", anchor=(0.5, 0.5), color=(120, 120, 120))
        self.addItem(self.empty_text, ignoreBounds=True)
        self.labels: list[str] = []
        self.values: list[float] = []

    def set_bars(self, labels: Sequence[str], values: Sequence[float]) -> None:
        self.labels, self.values = list(labels), [float(v) for v in values]
        y = list(range(len(labels)))
        self.bars.setOpts(x0=[0] * len(y), y=y, width=self.values, height=0.6)
        axis = self.getAxis("left")
        axis.setTicks([list(zip(y, self.labels, strict=True))])
        # pyqtgraph drops tick labels wider than the axis: size it to the longest name.
        metrics = self.fontMetrics()
        axis.setWidth(max([metrics.horizontalAdvance(label) for label in self.labels] or [20]) + 14)
        if labels:
            self.empty_text.setText("")
            self.setYRange(-0.6, len(y) - 0.4, padding=0)
            self.setXRange(0, max(self.values) * 1.05 or 1, padding=0)
        else:
            self.empty_text.setText("No tool calls in this range")
            self.empty_text.setPos(0.5, 0.5)
            self.setXRange(0, 1)
            self.setYRange(0, 1)
