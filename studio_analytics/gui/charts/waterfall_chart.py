"""Waterfall of one execution's tool calls on a time axis (ms since the run started)."""

from __future__ import annotations

from datetime import datetime

import pyqtgraph as pg

from studio_analytics.analytics.results import ToolCall

STATUS_BRUSH = {"success": "#43a047", "failure": "#e53935", "timeout": "#fb8c00", "in_progress": "#1e88e5"}


class WaterfallChart(pg.PlotWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Tool calls")
        self.setLabel("bottom", "ms since the execution started")
        self.setMouseEnabled(x=True, y=False)
        self.getPlotItem().invertY(True)
        self.run_bar = pg.BarGraphItem(x0=[], y=[], width=[], height=0.5, brush=(120, 144, 156, 90), pen=None)
        self.bars = pg.BarGraphItem(x0=[], y=[], width=[], height=0.6, brushes=[], pen=None)
        self.addItem(self.run_bar)
        self.addItem(self.bars)
        self.labels: list[pg.TextItem] = []
        self.offsets: list[float] = []
        self.widths: list[float] = []

    def set_calls(self, start: datetime, total_ms: float | None, calls: tuple[ToolCall, ...]) -> None:
        for item in self.labels:
            self.removeItem(item)
        self.labels = []
        self.offsets = [(c.start_time - start).total_seconds() * 1000 for c in calls]
        self.widths = [max(c.duration_ms or 0.0, 0.0) for c in calls]
        y = [i + 1 for i in range(len(calls))]
        self.bars.setOpts(x0=self.offsets, y=y, width=self.widths, height=0.6,
                          brushes=[pg.mkBrush(STATUS_BRUSH.get(c.status, "#90a4ae")) for c in calls])
        total = total_ms or max([o + w for o, w in zip(self.offsets, self.widths, strict=True)] or [1.0])
        self.run_bar.setOpts(x0=[0], y=[0], width=[total], height=0.5)
        ticks = [(0, "execution")] + [(i + 1, c.tool_name) for i, c in enumerate(calls)]
        axis = self.getAxis("left")
        axis.setTicks([ticks])
        axis.setWidth(max(self.fontMetrics().horizontalAdvance(t) for _, t in ticks) + 14)
        for i, c in enumerate(calls):
            text = f"{self.widths[i]:,.0f} ms"
            if c.external_api_called:
                text += f" · {c.external_api_called}" + (f" {c.api_status_code}" if c.api_status_code else "")
            label = pg.TextItem(text, anchor=(0, 0.5), color=self.getAxis("bottom").textPen().color())
            label.setPos(self.offsets[i] + self.widths[i], i + 1)
            self.addItem(label, ignoreBounds=True)
            self.labels.append(label)
        self.setXRange(0, total * 1.25, padding=0)
        self.setYRange(-0.6, len(calls) + 0.6, padding=0)
