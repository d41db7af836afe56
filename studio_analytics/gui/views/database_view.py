"""Database tab: where the data comes from, its schema, size and row counts."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtWidgets import QFormLayout, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from studio_analytics.analytics.results import Health
from studio_analytics.gui.models.row_count_table_model import RowCountTableModel


class DatabaseView(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.url_label = QLabel()
        self.schema_label = QLabel()
        self.size_label = QLabel()
        self.newest_label = QLabel()
        self.counts_model = RowCountTableModel()
        self.counts_view = QTableView()
        self.counts_view.setModel(self.counts_model)
        self.counts_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.counts_view.verticalHeader().hide()
        form = QFormLayout()
        form.addRow("Database", self.url_label)
        form.addRow("Schema", self.schema_label)
        form.addRow("Size", self.size_label)
        form.addRow("Newest execution", self.newest_label)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.counts_view)

    def show_health(self, health: Health) -> None:
        self.url_label.setText(health.url)
        if not health.ok:
            return
        self.schema_label.setText(f"{health.schema_kind} (revision {health.schema_revision or '—'})")
        self.size_label.setText(_size(health.database_size_bytes))
        self.newest_label.setText(_when(health.newest_row_time))
        self.counts_model.set_counts(health.row_counts)


def _size(n: int | None) -> str:
    if n is None:
        return "—"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{n}"


def _when(t: datetime | None) -> str:
    return "no executions yet" if t is None else t.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
