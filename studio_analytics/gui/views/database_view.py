"""Database tab: where the data comes from, its schema, and the storage panel — size and
rows per table and index, how old the raw rows are, what the rollups cover, growth per
day and the size it leads to, and the retention setting in force.

The storage figures are read by the poll worker when this tab is shown, at most every
five minutes (they walk every page of a SQLite file); the tab says when they were read.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import exc, make_url

from studio_analytics.analytics.results import Health
from studio_analytics.analytics.storage import GROWTH_DAYS, StorageReport
from studio_analytics.gui import zone
from studio_analytics.gui.charts.growth_chart import GrowthChart
from studio_analytics.gui.models.storage_table_model import StorageTableModel, size_text
from studio_analytics.gui.workers.poll_worker import STORAGE_MAX_AGE_S
from studio_analytics.retention_settings import RetentionSettings, format_duration

WAITING = "Storage figures are read when this tab is shown…"
INDEX_HINT = "Select a table (arrow keys or a click) for the size of each of its indexes."


class DatabaseView(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.url_label = QLabel()
        self.schema_label = QLabel()
        self.size_label = QLabel()
        self.newest_label = QLabel()
        self.retention_label = QLabel()
        self.raw_rows_label = QLabel()
        for label in (self.url_label, self.size_label, self.retention_label, self.raw_rows_label):
            label.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Database", self.url_label)
        form.addRow("Schema", self.schema_label)
        form.addRow("Size", self.size_label)
        form.addRow("Newest execution", self.newest_label)
        form.addRow("Retention", self.retention_label)
        form.addRow("Raw rows", self.raw_rows_label)

        self.storage_model = StorageTableModel()
        self.table = QTableView()
        self.table.setModel(self.storage_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        # Compact rows: the raw tables and the 17 rollups fit without scrolling at 1280x820.
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(StorageTableModel.COL_TABLE, QHeaderView.ResizeMode.Stretch)

        self.chart = GrowthChart()
        self.chart.setMinimumWidth(240)
        self.projection_label = QLabel()
        self.projection_label.setWordWrap(True)
        side = QVBoxLayout()
        side.addWidget(self.chart, stretch=1)
        side.addWidget(self.projection_label)
        # Each index's size for the selected table (also its Indexes cell's tooltip): reachable
        # from the keyboard, which tooltips are not.
        self.index_label = QLabel()
        self.index_label.setWordWrap(True)
        self.table.selectionModel().currentRowChanged.connect(lambda current, _old: self._show_indexes(current.row()))
        left = QVBoxLayout()
        left.addWidget(self.table, stretch=1)
        left.addWidget(self.index_label)
        middle = QHBoxLayout()
        # The table's names and times need ~650 px: it gets the larger share of a 1024 px window.
        middle.addLayout(left, stretch=5)
        middle.addLayout(side, stretch=2)

        self.read_label = QLabel()
        self.read_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(middle, stretch=1)
        layout.addWidget(self.read_label)
        self.report: StorageReport | None = None
        self.clear()

    def clear(self) -> None:
        """Another database is being opened: nothing of the previous one stays."""
        for label in (self.url_label, self.schema_label, self.size_label, self.newest_label,
                      self.retention_label, self.raw_rows_label):
            label.setText("—")
        self.report = None
        self.storage_model.set_tables(())
        self.index_label.setText("")
        self.chart.clear_data("Loading…")
        self.projection_label.setText("")
        self.read_label.setText(WAITING)

    def show_health(self, health: Health) -> None:
        self.url_label.setText(health.url)
        if not health.ok:
            return
        self.schema_label.setText(f"{health.schema_kind} (revision {health.schema_revision or '—'})")
        if self.report is None:
            self.size_label.setText(size_text(health.database_size_bytes))
        self.newest_label.setText(_when(health.newest_row_time))

    def show_storage(self, report: StorageReport | None, problem: str = "") -> None:
        """The worker's storage report (or why it could not be read)."""
        if report is None:
            self.read_label.setText(f"The storage figures could not be read: {problem}")
            return
        self.report = report
        self.storage_model.set_tables(report.tables)
        self.index_label.setText(INDEX_HINT)
        size = size_text(report.database_bytes)
        if report.free_bytes:
            # Deleted (pruned) rows leave free pages: reused first, returned by `db vacuum`.
            size += (f" ({size_text(report.free_bytes)} of it free pages, reused before the file grows; "
                     "`studio-analytics db vacuum` gives them back)")
        self.size_label.setText(size + (f" · {report.size_note}" if report.size_note else ""))
        self.retention_label.setText(retention_text(report.retention))
        self.raw_rows_label.setText(raw_rows_text(report))
        self.chart.set_days([g.day for g in report.growth], [g.bytes_estimate for g in report.growth])
        self.projection_label.setText(projection_text(report))
        self.read_label.setText(
            f"Storage figures read at {zone.in_zone(report.taken_at):%H:%M:%S %Z}: read when this tab is shown "
            f"and at most every {STORAGE_MAX_AGE_S / 60:.0f} minutes (they read every page of the database).")


    def _show_indexes(self, row: int) -> None:
        if not 0 <= row < self.storage_model.rowCount():
            self.index_label.setText(INDEX_HINT if self.report is not None else "")
            return
        t = self.storage_model.row_at(row)
        listed = ", ".join(f"{i.name} {size_text(i.bytes)}" for i in t.indexes) or "none"
        self.index_label.setText(f"Indexes of {t.name}: {listed}")


def retention_text(settings: RetentionSettings | None) -> str:
    if settings is None or (settings.source == "none" and settings.problem is None):
        return "no retention setting (rows are kept forever)"
    return f"{settings.summary} ({settings.source})"


def raw_rows_text(report: StorageReport) -> str:
    parts = []
    if report.pruned_message:
        parts.append(report.pruned_message)
    if report.rollup_first_hour is not None and report.rollup_last_hour is not None:
        parts.append(f"the hourly rollups cover {_when(report.rollup_first_hour)} – "
                     f"{_when(report.rollup_last_hour)} (hour starts)")
    elif not report.growth_from_rollups:
        parts.append("no rollup tables in this database")
    return "; ".join(parts) or "no rows yet"


def projection_text(report: StorageReport) -> str:
    if report.bytes_per_day is None:
        return f"Nothing was written in the last {GROWTH_DAYS} whole days: no projection."
    source = "the hourly rollups' counts" if report.growth_from_rollups else "raw rows"
    days = f"the last {report.rate_days} days" if report.rate_days > 1 else "the last day"
    text = (f"About {size_text(report.bytes_per_day)} a day (the average of {days}; rows per day from "
            f"{source}, times each table's bytes per row). At that rate: "
            f"{size_text(report.projected_30d)} in 30 days, {size_text(report.projected_90d)} in 90 days.")
    settings = report.retention
    if settings is not None and settings.older_than_s and not settings.problem and report.raw_bytes_per_day:
        keep_days = settings.older_than_s / 86_400
        rollups = (report.bytes_per_day or 0) - report.raw_bytes_per_day
        text += (f" With the retention setting the raw rows level off near "
                 f"{size_text(report.raw_bytes_per_day * keep_days)} ({format_duration(settings.older_than_s)} "
                 f"at this rate); the rollups keep growing by about {size_text(rollups)} a day.")
    return text


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
