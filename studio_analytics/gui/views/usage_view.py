"""A chart over a table whose header sorts by re-querying (agents, tools, workflows, errors, sessions)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
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
        self.table = QTableView()
        self.table.setModel(model)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        # Long error messages elide instead of pushing the other columns out of view.
        self.table.horizontalHeader().setMaximumSectionSize(self.fontMetrics().horizontalAdvance("x") * 70)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.horizontalHeader().setSortIndicator(sort_column, Qt.SortOrder.DescendingOrder)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(chart)
        splitter.addWidget(self.table)
        splitter.setSizes([320, 420])
        QVBoxLayout(self).addWidget(splitter)

    def show_rows(self, rows: Sequence[Any]) -> None:
        self.model.set_rows(rows)
        if self.chart_values is not None and isinstance(self.chart, HorizontalBarChart):
            labels, values = self.chart_values(rows)
            self.chart.set_bars(labels, values)
