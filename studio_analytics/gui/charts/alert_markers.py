"""Vertical lines where alerts fired, on a time chart: created once, moved and hidden."""

from __future__ import annotations

from collections.abc import Sequence

import pyqtgraph as pg

#: More lines than this on one chart say nothing more (the Alerts tab lists them all).
MAX_MARKERS = 60


class AlertMarkers:
    """A pool of InfiniteLines on ``plot``: :meth:`set_times` moves as many as needed into
    place and hides the rest, so a refresh never adds or removes items."""

    def __init__(self, plot: pg.PlotWidget, colour: str = "#d32f2f", *, dotted: bool = False) -> None:
        self._plot = plot
        style = pg.QtCore.Qt.PenStyle.DotLine if dotted else pg.QtCore.Qt.PenStyle.DashLine
        self._pen = pg.mkPen(colour, width=1.5, style=style)
        self.lines: list[pg.InfiniteLine] = []

    def set_times(self, marks: Sequence[tuple[float, str]]) -> None:
        """``marks``: (epoch seconds, tooltip) of each alert to show."""
        shown = list(marks)[-MAX_MARKERS:]
        for i, (x, tip) in enumerate(shown):
            if i == len(self.lines):
                line = pg.InfiniteLine(angle=90, movable=False, pen=self._pen)
                line.setZValue(500)
                # Markers never widen the chart's range: they show only inside it.
                self._plot.addItem(line, ignoreBounds=True)
                self.lines.append(line)
            line = self.lines[i]
            line.setValue(x)
            line.setToolTip(tip)
            line.show()
        for line in self.lines[len(shown):]:
            line.hide()

    @property
    def shown(self) -> list[float]:
        """The x of every visible marker (for tests and the screenshot check)."""
        return [float(line.value()) for line in self.lines if line.isVisible()]
