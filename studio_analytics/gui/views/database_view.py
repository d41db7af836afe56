"""Database tab: where the data comes from, its schema, size and row counts."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtWidgets import QFormLayout, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget
from sqlalchemy import exc, make_url

from studio_analytics.analytics.results import Health
from studio_analytics.gui import zone
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
        self.counts_label = QLabel()
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.counts_label)
        layout.addWidget(self.counts_view)
        self.clear()

    def clear(self) -> None:
        """Another database is being opened: nothing of the previous one stays."""
        for label in (self.url_label, self.schema_label, self.size_label, self.newest_label):
            label.setText("—")
        self.counts_label.setText("Loading…")
        self.counts_model.set_counts({})

    def show_health(self, health: Health) -> None:
        self.url_label.setText(health.url)
        if not health.ok:
            return
        self.schema_label.setText(f"{health.schema_kind} (revision {health.schema_revision or '—'})")
        self.size_label.setText(_size(health.database_size_bytes))
        self.newest_label.setText(_when(health.newest_row_time))
        tr = health.counts_range
        # The counts are the range's (from the rollups), not whole tables: a count(*)
        # of every table took seconds on a large file and was what delayed a cold start.
        self.counts_label.setText("Rows in the whole tables" if tr is None else
                                  f"Rows started in the range {_when(tr.start)} – {_when(tr.end)}")
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


def database_title(url: str) -> str:
    """What the window title calls the database: the file name, or user@host/db."""
    try:
        u = make_url(url)
    except exc.ArgumentError:
        return url
    if u.get_backend_name() == "sqlite":
        return (u.database or "memory").rsplit("/", 1)[-1] or "memory"
    where = f"{u.host or 'localhost'}" + (f":{u.port}" if u.port else "")
    return f"{u.username + '@' if u.username else ''}{where}/{u.database or ''}"


def _when(t: datetime | None) -> str:
    return "no executions yet" if t is None else zone.in_zone(t).strftime("%Y-%m-%d %H:%M:%S %Z")
