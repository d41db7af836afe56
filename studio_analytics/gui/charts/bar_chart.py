"""Horizontal bar chart (tool usage frequency); one BarGraphItem updated in place."""

from __future__ import annotations

from collections.abc import Sequence

import pyqtgraph as pg

from studio_analytics.gui.charts import show_axes, show_message


class HorizontalBarChart(pg.PlotWidget):
    def __init__(self, title: str, x_label: str, colour: str = "#fb8c00", *,
                 empty_message: str | None = None) -> None:
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
        self.empty_message = empty_message or f"No {x_label} in this range"
        show_message(self, self.empty_text, "Loading…")  # until the first result arrives

    def clear_data(self, message: str = "Loading…") -> None:
        self.set_bars([], [])
        show_message(self, self.empty_text, message)

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
            show_axes(self, self.empty_text, grid=False)
            self.setYRange(-0.6, len(y) - 0.4, padding=0)
            self.setXRange(0, max(self.values) * 1.05 or 1, padding=0)
        else:
            show_message(self, self.empty_text, self.empty_message)
