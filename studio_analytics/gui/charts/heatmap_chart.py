"""Usage heatmap: executions or failures by weekday × hour of day, one ImageItem updated
with setImage, a colour bar, and the count of the cell under the pointer."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio_analytics.analytics.heatmap import WEEKDAYS, UsageHeatmap
from studio_analytics.gui.charts import show_axes, show_message

SHOWN = ("Executions", "Failures")
#: From a pale cell (none) to a strong one: blue for runs, red for failures.
COLOURS = {"Executions": ((236, 241, 248), (13, 71, 161)), "Failures": ((250, 238, 236), (183, 28, 28))}


class HeatmapChart(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.heatmap: UsageHeatmap | None = None
        self.subject = "all users"
        self.show_box = QComboBox()
        self.show_box.addItems(SHOWN)
        self.show_box.setToolTip("Colour the cells by executions or by failures (failed or timed out)")
        self.show_box.currentIndexChanged.connect(lambda _i: self._draw())
        show_label = QLabel("Sho&w")
        show_label.setBuddy(self.show_box)
        self.hover_label = QLabel()  # the cell under the pointer, else the map's totals
        self.hover_label.setObjectName("heatmapHover")
        self.plot = pg.PlotWidget()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        item = self.plot.getPlotItem()
        item.invertY(True)  # Monday on top, as in a calendar
        self.image = pg.ImageItem(np.zeros((24, 7)))
        self.plot.addItem(self.image)
        self.colour_bar = pg.ColorBarItem(values=(0, 1), colorMap=self._colour_map("Executions"), interactive=False,
                                          width=14)
        self.colour_bar.setImageItem(self.image, insert_in=item)
        self.plot.getAxis("bottom").setTicks([[(h + 0.5, str(h)) for h in range(24)]])
        self.plot.getAxis("left").setTicks([[(d + 0.5, name) for d, name in enumerate(WEEKDAYS)]])
        self.plot.getAxis("left").setWidth(self.fontMetrics().horizontalAdvance("Wed") + 16)
        self.empty_text = pg.TextItem("", anchor=(0.5, 0.5), color=(120, 120, 120))
        self.plot.addItem(self.empty_text, ignoreBounds=True)
        self.plot.scene().sigMouseMoved.connect(self._pointer_moved)
        top = QHBoxLayout()
        top.addWidget(show_label)
        top.addWidget(self.show_box)
        top.addSpacing(12)
        top.addWidget(self.hover_label, stretch=1)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(top)
        box.addWidget(self.plot, stretch=1)
        self.clear_data()

    @property
    def shown(self) -> str:
        return SHOWN[self.show_box.currentIndex()]

    def clear_data(self, message: str = "Loading…") -> None:
        self.heatmap = None
        self._show_empty(message)

    def set_heatmap(self, heatmap: UsageHeatmap, subject: str) -> None:
        """``subject``: whose executions these are ("all users", "user alice")."""
        self.heatmap, self.subject = heatmap, subject
        self._draw()

    def grid(self) -> np.ndarray:
        """The counts drawn: ``[weekday, hour]`` of the map shown (zeros when none)."""
        if self.heatmap is None:
            return np.zeros((7, 24), dtype=np.int64)
        return np.asarray(self.heatmap.failures if self.shown == "Failures" else self.heatmap.executions,
                          dtype=np.int64)

    def cell_text(self, weekday: int, hour: int) -> str:
        h = self.heatmap
        if h is None:
            return ""
        n, failed = h.executions[weekday][hour], h.failures[weekday][hour]
        rate = f" ({failed / n:.0%})" if n else ""
        return (f"{WEEKDAYS[weekday]} {hour:02d}:00–{hour + 1:02d}:00 ({h.zone}): "
                f"{n:,} execution{'s' if n != 1 else ''}, {failed:,} failed{rate}")

    def _draw(self) -> None:
        h = self.heatmap
        if h is None:
            return
        if h.total_executions == 0:
            whose = "" if self.subject == "all users" else f" of {self.subject}"
            self._show_empty(f"No executions{whose} in this range")
            return
        grid = self.grid()
        top = max(int(grid.max()), 1)
        self.colour_bar.setColorMap(self._colour_map(self.shown))
        # x = hour, y = weekday: pyqtgraph images are indexed [x, y]
        self.image.setImage(grid.T.astype(np.float64), levels=(0, top), autoLevels=False)
        self.colour_bar.setLevels((0, top))
        # pyqtgraph drops tick labels wider than the axis (its fixed 45 px clipped them at scale 2)
        self.colour_bar.axis.setWidth(self.fontMetrics().horizontalAdvance(f"{top:,}") + 18)
        self.image.setVisible(True)
        self.colour_bar.setVisible(True)
        show_axes(self.plot, self.empty_text, grid=False)
        self.plot.setRange(xRange=(0, 24), yRange=(0, 7), padding=0)
        self.plot.setTitle(f"{self.shown} by weekday and hour ({h.zone}) — {self.subject}")
        self.hover_label.setText(self._totals_text())

    def _show_empty(self, message: str) -> None:
        self.image.setVisible(False)
        self.colour_bar.setVisible(False)
        self.plot.setTitle(None)
        self.hover_label.setText("")
        show_message(self.plot, self.empty_text, message)

    def _totals_text(self) -> str:
        h = self.heatmap
        if h is None:
            return ""
        return (f"{h.total_executions:,} executions, {h.total_failures:,} failed — point at a cell for its count")

    def _pointer_moved(self, pos: QPointF) -> None:
        if self.heatmap is None or not self.image.isVisible():
            return
        point = self.plot.getPlotItem().vb.mapSceneToView(pos)
        hour, weekday = math.floor(point.x()), math.floor(point.y())
        inside = 0 <= hour < 24 and 0 <= weekday < 7 and self.plot.getPlotItem().vb.sceneBoundingRect().contains(pos)
        text = self.cell_text(weekday, hour) if inside else ""
        self.hover_label.setText(text or self._totals_text())
        self.plot.setToolTip(text)

    @staticmethod
    def _colour_map(shown: str) -> pg.ColorMap:
        low, high = COLOURS[shown]
        return pg.ColorMap(pos=[0.0, 1.0], color=[low, high])
