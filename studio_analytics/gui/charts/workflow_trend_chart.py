"""The Workflows tab's trends: runs, duration (average and p95) and success rate per
bucket for the busiest workflow types, side by side on one time axis.

The legend is a row of its own above the plots, never over the data; a type keeps its
colour in all three plots and across refreshes. Curves are created once per type and
updated with setData."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio_analytics.gui import zone
from studio_analytics.gui.charts import show_axes, show_message
from studio_analytics.gui.charts.count_axis import CountAxisItem
from studio_analytics.gui.charts.date_axis import UncrowdedDateAxisItem
from studio_analytics.gui.charts.series_colours import SeriesColours, SeriesLegend

LOADING = "Loading…"
EMPTY = "No workflows in this range"
#: more types than this would be a tangle of lines: the busiest are drawn, the table has all
MAX_TYPES = 6


class WorkflowTrendChart(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.colours = SeriesColours()
        self.legend = SeriesLegend()
        self.note = QLabel()
        self.note.setObjectName("chartNote")
        self.note.setWordWrap(True)
        self.runs_plot = self._plot("Runs per bucket", "runs", CountAxisItem("left"))
        self.duration_plot = self._plot("Duration: average (solid), p95 (dashed)", "seconds")
        self.rate_plot = self._plot("Success rate", "% of finished runs")
        self.rate_plot.setYRange(0, 100, padding=0.05)
        self.duration_plot.setToolTip("p95 per bucket. From the rollups' latency histograms: within 4.4 % of the "
                                      "exact nearest-rank value;\nexact on databases without rollups and for ranges "
                                      "of 3 h or less.")
        self.rate_plot.setToolTip("Successful runs / finished runs (success, failure, timeout) per bucket; "
                                  "a gap where a bucket has none")
        for plot in (self.duration_plot, self.rate_plot):
            plot.setXLink(self.runs_plot)
        self.plots = (self.runs_plot, self.duration_plot, self.rate_plot)
        #: (plot, type, "avg" | "p95" | "") -> its curve, created on first use
        self.curves: dict[tuple[str, str, str], pg.PlotDataItem] = {}
        self.shown_types: list[str] = []
        top = QHBoxLayout()
        top.addWidget(self.legend, stretch=1)
        top.addWidget(self.note)
        row = QHBoxLayout()
        for plot in self.plots:
            row.addWidget(plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addLayout(row, stretch=1)
        zone.setting().changed.connect(self._zone_changed)
        self.clear_data(LOADING)

    def _plot(self, title: str, y_label: str, left: pg.AxisItem | None = None) -> pg.PlotWidget:
        axes: dict[str, Any] = {"bottom": UncrowdedDateAxisItem(utcOffset=zone.axis_offset())}
        if left is not None:
            axes["left"] = left
        plot = pg.PlotWidget(axisItems=axes)
        plot.setTitle(title, size="9pt")
        plot.setLabel("left", y_label)
        plot.setLabel("bottom", f"time ({zone.zone_name()})")
        plot.setMouseEnabled(x=True, y=False)
        plot.setMinimumWidth(220)
        plot.empty_text = pg.TextItem("", anchor=(0.5, 0.5), color=(120, 120, 120))  # type: ignore[attr-defined]
        plot.getPlotItem().vb.addItem(plot.empty_text, ignoreBounds=True)  # type: ignore[attr-defined]
        return plot

    def _zone_changed(self) -> None:
        for plot in self.plots:
            axis = plot.getAxis("bottom")
            axis.utcOffset = zone.axis_offset()
            axis.picture = None  # the ticks are drawn again in the new zone
            axis.update()
            plot.setLabel("bottom", f"time ({zone.zone_name()})")

    def _curve(self, plot: pg.PlotWidget, plot_key: str, name: str, style: str) -> pg.PlotDataItem:
        key = (plot_key, name, style)
        curve = self.curves.get(key)
        if curve is None:
            curve = self.curves[key] = plot.plot([], [], connect="finite")
        colour = self.colours.colour(name)
        pen_style = Qt.PenStyle.DashLine if style == "p95" else Qt.PenStyle.SolidLine
        curve.setPen(pg.mkPen(colour, width=1.5 if style == "p95" else 2, style=pen_style))
        if plot_key != "runs":
            # A bucket between two empty ones has no line to either: its dot still shows.
            curve.setSymbol("o" if style != "p95" else "t")
            curve.setSymbolSize(4)
            curve.setSymbolPen(None)
            curve.setSymbolBrush(colour)
        return curve

    def clear_data(self, message: str = LOADING) -> None:
        """No figures (a database switch, a first refresh): curves emptied, a message."""
        for curve in self.curves.values():
            curve.setData([], [])
        for plot in self.plots:
            show_message(plot, plot.empty_text, message)  # type: ignore[attr-defined]
        self.legend.set_entries([])
        self.note.setText("")
        self.shown_types = []

    def set_trends(self, trends: Mapping[str, Any]) -> None:
        """``trends``: per workflow type an analytics.workflows.WorkflowTrend."""
        busiest = sorted(trends, key=lambda name: (-int(trends[name].runs.sum()), name))
        shown = [name for name in busiest if trends[name].runs.sum() > 0][:MAX_TYPES]
        if not shown:
            self.clear_data(EMPTY)
            return
        # Colours by name in a fixed order, so a type keeps its colour whatever the ranking.
        colours = dict(zip(sorted(shown), self.colours.distinct(sorted(shown)), strict=True))
        for curve in self.curves.values():
            curve.setData([], [])
        for name in shown:
            t = trends[name]
            x = np.asarray(t.bucket_starts, dtype=float)
            self._curve(self.runs_plot, "runs", name, "").setData(x, t.runs.astype(float))
            self._curve(self.duration_plot, "duration", name, "avg").setData(x, t.avg_duration_ms / 1000)
            self._curve(self.duration_plot, "duration", name, "p95").setData(x, t.p95_duration_ms / 1000)
            self._curve(self.rate_plot, "rate", name, "").setData(x, t.success_rate * 100)
        self.shown_types = shown
        self.legend.set_entries([(name, colours[name]) for name in shown])
        others = len([name for name in trends if trends[name].runs.sum() > 0]) - len(shown)
        self.note.setText(f"the {len(shown)} types with the most runs; {others:,} more in the table"
                          if others > 0 else "")
        for plot in self.plots:
            show_axes(plot, plot.empty_text)  # type: ignore[attr-defined]
            plot.enableAutoRange(axis="x")
        self.runs_plot.enableAutoRange(axis="y")
        self.duration_plot.enableAutoRange(axis="y")
        self.rate_plot.setYRange(0, 100, padding=0.05)
