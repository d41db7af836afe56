"""Users tab: who uses the agents — one row per user over the usage heatmap.

The window's refresh brings the table (``UserActivity``, sorted by the database) and all
users' heatmap. Selecting a user shows that user's heatmap instead, read in the pool
(the rollups have no user, so it comes from the raw rows); "All users" goes back.
Double-click or Enter on a user emits ``user_activated``: the window opens the
Executions list filtered to that user, each row of which opens its session.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any

from PySide6.QtCore import QItemSelection, QModelIndex, Qt, QThreadPool, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from studio_analytics.analytics.heatmap import UsageHeatmap, usage_heatmap
from studio_analytics.analytics.results import TimeRange
from studio_analytics.analytics.users import UserActivity, user_activity
from studio_analytics.gui import zone
from studio_analytics.gui.charts.heatmap_chart import HeatmapChart
from studio_analytics.gui.models.user_table_model import UserTableModel
from studio_analytics.gui.workers.query_runner import start_query

#: Rows the tab's query returns (user_activity's default): reaching it is said above the table.
CAP: int = user_activity.__kwdefaults__["limit"]
EXPORT_LIMIT = 1_000_000


def all_users_query(tr: TimeRange, sort: tuple[str, bool] | None) -> Callable[[Any], Sequence[Any]]:
    """Every user of ``tr`` in the table's order, for the CSV export (not the capped rows)."""
    field, descending = sort or ("executions", True)
    return lambda conn: user_activity(conn, tr, sort=field, descending=descending, limit=EXPORT_LIMIT).rows


class UsersView(QWidget):
    user_activated = Signal(str)  # user_id: double-click or Enter on its row
    heatmap_shown = Signal(object)  # the UsageHeatmap drawn (all users', or the selected user's)

    def __init__(self, pool: QThreadPool) -> None:
        super().__init__()
        self.pool = pool
        self.url = ""
        self.time_range: TimeRange | None = None
        self.all_users: UsageHeatmap | None = None
        self._generation = 0
        self._runners: list[Any] = []
        self._resetting = False
        self.model = UserTableModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.horizontalHeader().setSortIndicator(2, Qt.SortOrder.DescendingOrder)
        # Enter and double-click both activate (Qt emits ``activated`` for each).
        self.table.activated.connect(self._activated)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.summary_label = QLabel()
        self.summary_label.setObjectName("usersSummary")
        self.all_button = QPushButton("&All users")
        self.all_button.setToolTip("Show every user's heatmap (clears the selection)")
        self.all_button.clicked.connect(self.table.clearSelection)
        self.all_button.setEnabled(False)
        self.chart = HeatmapChart()
        top = QHBoxLayout()
        top.addWidget(self.summary_label, stretch=1)
        top.addWidget(self.all_button)
        upper = QWidget()
        box = QVBoxLayout(upper)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(top)
        box.addWidget(self.table, stretch=1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(upper)
        splitter.addWidget(self.chart)
        splitter.setSizes([360, 380])
        QVBoxLayout(self).addWidget(splitter)
        zone.setting().changed.connect(self._zone_changed)

    def set_database(self, url: str) -> None:
        self.url = url
        self._generation += 1  # a selected user's map of the old database is dropped

    def clear_data(self, message: str = "Loading…") -> None:
        self._set_rows(())
        self.all_users = None
        self.summary_label.setText("")
        self.chart.clear_data(message)

    def selected_user(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.row_at(rows[0].row()).user_id if rows else None

    def show_activity(self, users: UserActivity, heatmap: UsageHeatmap | None, tr: TimeRange) -> None:
        """A refresh: the rows (the selected user stays selected) and all users' map,
        or the selected user's map again over the new range."""
        selected = self.selected_user()
        self.time_range = tr
        self.all_users = heatmap
        self._set_rows(users.rows)
        self.summary_label.setText(summary_text(users))
        if selected is not None and self._select(selected):
            self._request_user_heatmap(selected)
        else:
            self._show_all_users()

    def _set_rows(self, rows: Sequence[Any]) -> None:
        self._resetting = True  # a reset clears the selection; show_activity restores it
        try:
            self.model.set_rows(rows)
        finally:
            self._resetting = False

    def _select(self, user_id: str) -> bool:
        for i in range(self.model.rowCount()):
            if self.model.row_at(i).user_id == user_id:
                self._resetting = True
                try:
                    self.table.selectRow(i)
                finally:
                    self._resetting = False
                return True
        return False

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        if self._resetting:
            return
        user = self.selected_user()
        if user is None:
            self._show_all_users()
        else:
            self._request_user_heatmap(user)

    def _show_all_users(self) -> None:
        self._generation += 1  # a user's map still on its way is no longer wanted
        self.all_button.setEnabled(False)
        if self.all_users is not None:
            self.chart.set_heatmap(self.all_users, "all users")
            self.heatmap_shown.emit(self.all_users)

    def _request_user_heatmap(self, user_id: str) -> None:
        self.all_button.setEnabled(True)
        tr = self.time_range
        if tr is None or not self.url:
            return
        self._generation += 1
        tz = UTC if zone.showing_utc() else None  # None: this computer's zone, as the window shows
        self._runners = [r for r in self._runners if r.generation == self._generation]
        self._runners.append(start_query(
            self.pool, self.url, self._generation,
            lambda conn: usage_heatmap(conn, tr, user_id=user_id, tz=tz),
            self._user_heatmap_loaded, self._user_heatmap_failed,
        ))

    def _user_heatmap_loaded(self, generation: int, heatmap: UsageHeatmap) -> None:
        if generation != self._generation:
            return  # another user, range or database since
        self.chart.set_heatmap(heatmap, f"user {heatmap.user_id}")
        self.heatmap_shown.emit(heatmap)

    def _user_heatmap_failed(self, generation: int, error: Any) -> None:
        if generation == self._generation:
            self.chart.clear_data(f"Could not load the user's heatmap: {error.message}")

    def _zone_changed(self) -> None:
        # All users' map comes again with the window's refresh; a user's is read here.
        user = self.selected_user()
        if user is not None:
            self._request_user_heatmap(user)

    def _activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.user_activated.emit(self.model.row_at(index.row()).user_id)


def summary_text(users: UserActivity) -> str:
    shown = len(users.rows)
    if users.total_rows == 0 and not users.no_user_executions:
        return "No executions with a user in this range"
    parts = [f"{users.total_rows:,} user{'s' if users.total_rows != 1 else ''}"
             if shown >= users.total_rows else
             f"Showing {shown:,} of {users.total_rows:,} users (the list stops at {CAP:,}); "
             "Export CSV writes all of them"]
    if users.no_user_executions:
        n = users.no_user_executions
        parts.append(f"{n:,} execution{'s' if n != 1 else ''} without a user (not listed)")
    if not users.has_cost:
        parts.append("no model calls in this database: cost unknown")
    parts.append("Enter or double-click: the user's executions")
    return " · ".join(parts)
