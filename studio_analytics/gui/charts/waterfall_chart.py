"""Waterfall of an execution's spans on one time axis (ms since the execution started).

Row ``i`` of the chart is row ``i`` of the trace tree as it is shown (collapsed
branches left out), so the tree beside it reads as the waterfall's labels. Bars are
filled by kind — executions (the run and its sub-agents), tool calls, and model calls
in their own colour — and outlined by status when a span failed or timed out. The
selected span's row is banded and its bar outlined; a click on a row says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal

from studio_analytics.analytics.results import TraceSpan

STATUS_BRUSH = {"success": "#43a047", "failure": "#e53935", "timeout": "#fb8c00", "in_progress": "#1e88e5"}
KIND_COLOURS = {"execution": "#607d8b", "tool": "#26a69a", "model": "#8e24aa"}
MODEL_COLOUR = KIND_COLOURS["model"]
STATUS_OUTLINE = {"failure": "#e53935", "timeout": "#fb8c00"}
SELECTION_COLOUR = "#fdd835"
#: a zero-length or still-running span still shows as a sliver of this share of the axis
MIN_WIDTH_SHARE = 0.003


def kind_colour(kind: str) -> str:
    return KIND_COLOURS.get(kind, "#90a4ae")


class ElapsedAxis(pg.AxisItem):
    """Time since the execution started, each tick with its unit ("250 ms", "1.5 s"):
    the axis has no room for a label of its own (it is as tall as the tree's header)."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        if spacing >= 1000:
            return [f"{v / 1000:g} s" for v in values]
        return [f"{v:g} ms" for v in values]


class WaterfallChart(pg.PlotWidget):
    row_clicked = Signal(int)  # the row (in the tree's shown order) under a click

    def __init__(self) -> None:
        super().__init__(axisItems={"top": ElapsedAxis("top")})
        item = self.getPlotItem()
        # The time axis on top, level with the tree's header; rows follow the tree, so no left axis.
        item.showAxis("top")
        item.hideAxis("bottom")
        item.hideAxis("left")
        item.layout.setContentsMargins(0, 0, 4, 0)
        self.setToolTip("Time since the execution started. Drag or scroll to pan and zoom the time axis;\n"
                        "click a row to select its span.")
        item.invertY(True)
        item.showGrid(x=True, y=False, alpha=0.15)
        self.setMouseEnabled(x=True, y=False)
        self.hideButtons()
        self.band = pg.LinearRegionItem(orientation="horizontal", movable=False,
                                        brush=pg.mkBrush(253, 216, 53, 50), pen=pg.mkPen(None))
        self.band.hide()
        self.addItem(self.band, ignoreBounds=True)
        self.bars = pg.BarGraphItem(x0=[], y=[], width=[], height=0.6, brush=None, pen=None)
        self.addItem(self.bars)
        self.highlight = pg.BarGraphItem(x0=[], y=[], width=[], height=0.8, brush=None,
                                         pen=pg.mkPen(SELECTION_COLOUR, width=2.5))
        self.addItem(self.highlight, ignoreBounds=True)
        self.scene().sigMouseClicked.connect(self._clicked)
        #: per row, as drawn: offset (ms since the start), width (ms), fill colour
        self.offsets: list[float] = []
        self.widths: list[float] = []
        self.colours: list[str] = []
        self.spans: list[TraceSpan] = []
        self.selected_row: int | None = None
        self.total_ms = 1.0

    def set_spans(self, start: datetime, total_ms: float | None, spans: Sequence[TraceSpan]) -> None:
        """The rows to draw, in the tree's shown order; ``start`` is the execution's."""
        self.spans = list(spans)
        self.offsets = [(s.start_time - start).total_seconds() * 1000 for s in spans]
        ends = [o + (s.duration_ms or 0.0) for o, s in zip(self.offsets, spans, strict=True)]
        self.total_ms = max([total_ms or 0.0, *ends, 1.0])
        sliver = self.total_ms * MIN_WIDTH_SHARE
        self.widths = [max(s.duration_ms or 0.0, sliver) for s in spans]
        self.colours = [kind_colour(s.kind) for s in spans]
        pens = [pg.mkPen(STATUS_OUTLINE[s.status], width=2.5) if s.status in STATUS_OUTLINE else pg.mkPen(None)
                for s in spans]
        # pyqtgraph 0.14 fails on an empty ``pens`` list: no rows, no per-bar pens.
        self.bars.setOpts(x0=self.offsets, y=list(range(len(spans))), width=self.widths, height=0.6,
                          brushes=[pg.mkBrush(c) for c in self.colours] or None, pens=pens or None, pen=None)
        self.setXRange(0, self.total_ms * 1.02, padding=0)
        self.select_row(self.selected_row if self.selected_row is not None and self.selected_row < len(spans)
                        else None)

    def select_row(self, row: int | None) -> None:
        """Band the row and outline its bar (None: no selection)."""
        self.selected_row = row
        if row is None or not (0 <= row < len(self.spans)):
            self.selected_row = None
            self.band.hide()
            self.highlight.setOpts(x0=[], y=[], width=[])
            return
        self.band.setRegion((row - 0.5, row + 0.5))
        self.band.show()
        self.highlight.setOpts(x0=[self.offsets[row]], y=[row], width=[self.widths[row]], height=0.8)

    def axis_height(self) -> int:
        """Pixels the time axis needs: the tree's header is made at least this tall."""
        return self.fontMetrics().height() + 12

    def set_axis_height(self, pixels: int) -> None:
        self.getAxis("top").setHeight(pixels)

    def show_rows(self, top: float, bottom: float) -> None:
        """Show rows ``top``..``bottom`` (fractional: the tree may be scrolled mid-row)."""
        self.setYRange(top, bottom, padding=0)

    def _clicked(self, event: object) -> None:
        if event.button() != Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            return
        vb = self.getPlotItem().vb
        pos = event.scenePos()  # type: ignore[attr-defined]
        if not vb.sceneBoundingRect().contains(pos):
            return  # the axis
        row = round(vb.mapSceneToView(pos).y())
        if 0 <= row < len(self.spans):
            self.row_clicked.emit(row)
