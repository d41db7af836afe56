"""A chart over a table whose header sorts by re-querying (agents, tools, workflows, errors, sessions)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from studio_analytics.gui.charts.bar_chart import HorizontalBarChart
from studio_analytics.gui.models.row_table_model import RowTableModel

#: a text column (top agents, external APIs) is at most this wide, in characters, elided
MAX_TEXT_CHARS = 40
#: the name column elides down to this width before the table scrolls sideways…
NAME_FLOOR_CHARS = 10
#: …and, once it scrolls anyway, keeps this much of the name readable
NAME_READABLE_CHARS = 24


class UsageView(QWidget):
    def __init__(self, model: RowTableModel, chart: QWidget,
                 chart_values: Callable[[Sequence[Any]], tuple[list[str], list[float]]] | None = None,
                 *, sort_column: int = 1) -> None:
        super().__init__()
        self.model = model
        self.chart = chart
        self.chart_values = chart_values
        #: rows the tab's query returns at most; reaching it is said above the table
        self.cap: int | None = None
        self.cap_label = QLabel()
        self.cap_label.setObjectName("capNotice")
        self.cap_label.hide()
        self.table = QTableView()
        self.table.setModel(model)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        # Figures keep their content's width (long text such as "Top agents" at most
        # MAX_TEXT_CHARS, elided) and the name column — an agent, a tool, an error message —
        # takes what is left, eliding: the last columns ("Last seen") stay in view at
        # 1024 px instead of being pushed off by a long message. See fit_columns().
        # Every column is sized here, not by the header's ResizeToContents: its maximum
        # section size would cap the name column too.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        char = self.fontMetrics().horizontalAdvance("x")
        self._text_cap = char * MAX_TEXT_CHARS
        self._name_floor, self._name_readable = char * NAME_FLOOR_CHARS, char * NAME_READABLE_CHARS
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self._fit_pending = False
        # Other columns change width as rows arrive; the viewport with the window and as
        # the scroll bars come and go (a sideways range appears when the viewport shrinks).
        header.sectionResized.connect(lambda i, _old, _new: i and self._fit_later())
        for bar in (self.table.horizontalScrollBar(), self.table.verticalScrollBar()):
            bar.rangeChanged.connect(lambda _lo, _hi: self._fit_later())
        self.table.horizontalHeader().setSortIndicator(sort_column, Qt.SortOrder.DescendingOrder)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(chart)
        lower = QWidget()
        box = QVBoxLayout(lower)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.cap_label)
        box.addWidget(self.table, stretch=1)
        splitter.addWidget(lower)
        splitter.setSizes([320, 420])
        QVBoxLayout(self).addWidget(splitter)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_later()

    def _fit_later(self) -> None:
        if not self._fit_pending:
            self._fit_pending = True
            QTimer.singleShot(0, self, self.fit_columns)

    def fit_columns(self) -> None:
        """The name column fills the width the others leave (the look of a stretched
        column); when that is too little, it keeps a readable width and the table scrolls."""
        self._fit_pending = False
        header = self.table.horizontalHeader()
        if header.count() == 0:
            return
        for i in range(1, header.count()):  # the figures: their content's width, text capped
            fit = min(max(self.table.sizeHintForColumn(i), header.sectionSizeHint(i)), self._text_cap)
            if fit != header.sectionSize(i):
                header.resizeSection(i, fit)
        others = sum(header.sectionSize(i) for i in range(1, header.count()))
        # Room for the vertical scroll bar even before it shows: it appears once the rows
        # are laid out, and a name column sized without it would push "Last seen" off.
        bar = self.table.verticalScrollBar()
        room = self.table.viewport().width() - (0 if bar.isVisible() else bar.sizeHint().width()) - others
        content = max(self.table.sizeHintForColumn(0), header.sectionSizeHint(0))
        width = room if room >= min(content, self._name_floor) else min(content, self._name_readable)
        if width != header.sectionSize(0):
            header.resizeSection(0, max(width, header.minimumSectionSize()))

    def show_rows(self, rows: Sequence[Any], total: int | None = None) -> None:
        """``total``: how many rows the full result has, when the query says."""
        self.model.set_rows(rows)
        capped = self.cap is not None and len(rows) >= self.cap
        of = f"{len(rows):,} of {total:,}" if total is not None and total > len(rows) else f"the first {len(rows):,}"
        self.cap_label.setText(f"Showing {of} rows in this order (the list stops at {self.cap:,}); "
                               "Export CSV writes all of them" if capped else "")
        self.cap_label.setVisible(capped)
        self._fit_later()
        if self.chart_values is not None and isinstance(self.chart, HorizontalBarChart):
            labels, values = self.chart_values(rows)
            self.chart.set_bars(labels, values)
