"""A chart over a table whose header sorts by re-querying (agents, tools, workflows, errors, sessions)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import Qt
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
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # Columns keep their content's width; a table wider than the tab scrolls sideways
        # instead of squeezing its last column into wrapped lines.
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.setWordWrap(False)
        # Long error messages elide instead of pushing the other columns out of view.
        self.table.horizontalHeader().setMaximumSectionSize(self.fontMetrics().horizontalAdvance("x") * 70)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
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

    def show_rows(self, rows: Sequence[Any], total: int | None = None) -> None:
        """``total``: how many rows the full result has, when the query says."""
        self.model.set_rows(rows)
        capped = self.cap is not None and len(rows) >= self.cap
        of = f"{len(rows):,} of {total:,}" if total is not None and total > len(rows) else f"the first {len(rows):,}"
        self.cap_label.setText(f"Showing {of} rows in this order (the list stops at {self.cap:,}); "
                               "Export CSV writes all of them" if capped else "")
        self.cap_label.setVisible(capped)
        if self.chart_values is not None and isinstance(self.chart, HorizontalBarChart):
            labels, values = self.chart_values(rows)
            self.chart.set_bars(labels, values)
