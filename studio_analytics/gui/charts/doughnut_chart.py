"""Doughnut of the agent usage distribution, painted with QPainter, with a legend.

Each agent keeps its colour while the window runs, whatever its rank in the range shown
(the largest slice is not always blue); "other" is grey.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from studio_analytics.gui.charts.series_colours import SeriesColours


class DoughnutChart(QWidget):
    def __init__(self, title: str, max_slices: int = 8) -> None:
        super().__init__()
        self.title = title
        self.max_slices = max_slices
        self.slices: list[tuple[str, float]] = []
        self.colours = SeriesColours()
        #: each slice's colour, in the order of ``slices``
        self.slice_colours: list[str] = []
        #: what an empty doughnut says: "Loading…" until the first result arrives
        self.message = "Loading…"
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(360, 240)

    def set_values(self, labels: Sequence[str], values: Sequence[float]) -> None:
        pairs = [(label, float(v)) for label, v in zip(labels, values, strict=True) if v > 0]
        pairs.sort(key=lambda p: -p[1])
        if len(pairs) > self.max_slices:
            rest = sum(v for _, v in pairs[self.max_slices - 1:])
            pairs = pairs[: self.max_slices - 1] + [("other", rest)]
        self.slices = pairs
        self.slice_colours = self.colours.distinct([name for name, _ in pairs])
        self.message = "No executions in this range"
        self.update()

    def clear_data(self, message: str = "Loading…") -> None:
        self.slices, self.slice_colours = [], []
        self.message = message
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = p.fontMetrics()
        text = self.palette().windowText().color()
        p.setPen(text)
        title_h = fm.height() + 6
        p.drawText(QRectF(0, 0, self.width(), title_h), Qt.AlignmentFlag.AlignHCenter, self.title)
        area = QRectF(8, title_h, self.width() - 16, self.height() - title_h - 8)
        total = sum(v for _, v in self.slices)
        if total <= 0:
            p.setPen(QColor(120, 120, 120))
            p.drawText(area, Qt.AlignmentFlag.AlignCenter, self.message)
            return
        legend_w = min(area.width() * 0.45, max(fm.horizontalAdvance(f"{n}  100.0%") for n, _ in self.slices) + 28)
        d = max(10.0, min(area.height(), area.width() - legend_w - 12))
        ring = QRectF(area.left(), area.top() + (area.height() - d) / 2, d, d)
        width = d * 0.22
        inner = ring.adjusted(width / 2, width / 2, -width / 2, -width / 2)
        angle = 90 * 16
        for i, (_, value) in enumerate(self.slices):
            span = -int(round(value / total * 360 * 16))
            pen = QPen(QColor(self.slice_colours[i]), width)
            pen.setCapStyle(Qt.PenCapStyle.FlatCap)
            p.setPen(pen)
            p.drawArc(inner, angle, span)
            angle += span
        p.setPen(text)
        p.drawText(inner, Qt.AlignmentFlag.AlignCenter, f"{int(total):,}\nruns")
        x = ring.right() + 14
        y = area.top() + max(0.0, (area.height() - len(self.slices) * (fm.height() + 4)) / 2)
        for i, (label, value) in enumerate(self.slices):
            p.fillRect(QRectF(x, y + 3, 10, fm.height() - 6), QColor(self.slice_colours[i]))
            p.drawText(QRectF(x + 16, y, area.right() - x - 16, fm.height()), Qt.AlignmentFlag.AlignVCenter,
                       fm.elidedText(f"{label}  {value / total * 100:.1f}%", Qt.TextElideMode.ElideRight,
                                     int(area.right() - x - 16)))
            y += fm.height() + 4
        p.end()
