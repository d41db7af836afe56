"""Sessions tab: the sessions-started chart over a lazily paged table of every session.

The window's refresh brings the first page (``SessionActivity.recent``, in the list's
own keyset order) with the chart; later pages load in the pool as the user scrolls, each
tagged with a generation so a page of an older range or sort is dropped. The line above
the table says how much of the range is loaded ("showing 200 of 1,020 sessions").

The chart and the count come from the rollups for whole hours, so a pruned period keeps
them; the table lists raw session rows, which a prune removes with their executions: a
line above it then says so, as the Executions list does ("Raw rows pruned before …").
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QThreadPool, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from studio_analytics.analytics.pruning import PrunedRange, archive_note, pruned_in, raw_rows_start
from studio_analytics.analytics.results import PageCursor, SessionActivity, SessionPage, TimeRange
from studio_analytics.analytics.sessions import list_sessions, session_cursor
from studio_analytics.gui.models.more_table_models import SessionTableModel
from studio_analytics.gui.workers.query_runner import start_query
from studio_analytics.retention_settings import load_retention

#: Must equal session_activity's default limit: the snapshot's rows are the first page.
PAGE_SIZE = 200


def loaded_text(loaded: int, total: int) -> str:
    if loaded >= total:
        return f"{total:,} session{'s' if total != 1 else ''}"
    return f"Showing {loaded:,} of {total:,} sessions — scroll for more; Export CSV writes all of them"


def read_pruned(conn: Any) -> tuple[PrunedRange | None, str | None]:
    """Where raw rows start, and where the pruned days are (in the worker: reads a file)."""
    pruned = raw_rows_start(conn)
    return pruned, None if pruned is None else archive_note(pruned, load_retention())


class SessionsView(QWidget):
    pages_loaded = Signal(int)  # rows now held, after each page

    def __init__(self, pool: QThreadPool, chart: QWidget) -> None:
        super().__init__()
        self.pool = pool
        self.chart = chart
        self.url = ""
        self.time_range: TimeRange | None = None  # the range of the loaded rows
        self.latest_range: TimeRange | None = None  # the newest refresh's (what an export writes)
        self.sort: tuple[str, bool] = ("start_time", True)
        self.total = 0
        self._generation = 0
        self._runners: list[Any] = []
        self.model = SessionTableModel()
        self.model.page_requested.connect(self._load_page)
        self.model.sort_requested.connect(self._sort_changed)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        # Interactive, sized from the first page: ResizeToContents would measure every loaded row.
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSortIndicator(2, Qt.SortOrder.DescendingOrder)
        self.loaded_label = QLabel()
        self.loaded_label.setObjectName("sessionsLoaded")
        self.pruned: tuple[PrunedRange | None, str | None] = (None, None)
        self.pruned_label = QLabel()
        self.pruned_label.setObjectName("sessionsPruned")
        self.pruned_label.setWordWrap(True)
        self.pruned_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.pruned_label.hide()
        lower = QWidget()
        box = QVBoxLayout(lower)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.pruned_label)
        box.addWidget(self.loaded_label)
        box.addWidget(self.table, stretch=1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(chart)
        splitter.addWidget(lower)
        splitter.setSizes([320, 420])
        QVBoxLayout(self).addWidget(splitter)

    def set_database(self, url: str) -> None:
        self.url = url
        self._generation += 1
        self.pruned = (None, None)
        self.model.reset_pages()

    def show_activity(self, activity: SessionActivity, tr: TimeRange) -> None:
        """A refresh's sessions: the chart, the total, and the first page — unless the
        user has paged further, whose rows stay (the range only moved to now)."""
        self.chart.set_counts(activity.bucket_starts, activity.sessions_started,  # type: ignore[attr-defined]
                              "No sessions in this range")
        self.total = activity.total_sessions
        self.latest_range = tr
        old = self.time_range
        same_window = old is not None and tr.label == old.label and (tr.label != "custom" or tr == old)
        # Replacing the rows under a user who scrolled or paged on would throw them back to the top.
        moved_on = self.model.loaded_count > len(activity.recent) or self.table.verticalScrollBar().value() > 0
        if not (same_window and moved_on):
            self._generation += 1
            self.time_range = tr
            first = self.model.loaded_count == 0
            selected = self._selected_id()
            self.model.reset_pages()
            more = len(activity.recent) >= PAGE_SIZE and activity.total_sessions > len(activity.recent)
            cursor: PageCursor | None = (session_cursor(activity.recent[-1], self.sort[0])
                                         if more and activity.recent[-1].row_id is not None else None)
            self.model.add_page(SessionPage(rows=activity.recent, next_cursor=cursor))
            if first and activity.recent:
                self.table.resizeColumnsToContents()
            self._reselect(selected)
            self._read_pruned()
        self._show_loaded()
        self._show_pruned()

    def _read_pruned(self) -> None:
        """Where raw rows start, read in the pool for this generation's list."""
        if not self.url:
            return
        self._runners = [r for r in self._runners if r.generation == self._generation]
        self._runners.append(start_query(self.pool, self.url, self._generation, read_pruned, self._pruned_read,
                                         lambda _generation, _error: None))  # the line is a hint: no error for it

    def _pruned_read(self, generation: int, pruned: tuple[PrunedRange | None, str | None]) -> None:
        if generation == self._generation:
            self.pruned = pruned
            self._show_pruned()

    def _show_pruned(self) -> None:
        pruned, archive = self.pruned
        shown = pruned_in(pruned, self.time_range) if self.time_range is not None else None
        if shown is None:
            self.pruned_label.hide()
            return
        self.pruned_label.setText(f"{shown.message(archive)}. The chart and the count still include those "
                                  "sessions; the list shows the session rows left.")
        self.pruned_label.show()

    def _selected_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.row_at(rows[0].row()).session_id if rows else None

    def _reselect(self, session_id: str | None) -> None:
        for i in range(self.model.rowCount()):
            if session_id is not None and self.model.row_at(i).session_id == session_id:
                self.table.selectRow(i)
                return

    def _show_loaded(self) -> None:
        self.loaded_label.setText(loaded_text(self.model.loaded_count, max(self.total, self.model.loaded_count)))

    def _sort_changed(self, field: str, descending: bool) -> None:
        # The window re-polls with this sort (its first page arrives with the snapshot);
        # until then no page of the old order may be appended.
        self.sort = (field, descending)
        self._generation += 1
        self.model.reset_pages()
        self.time_range = None

    def _load_page(self, cursor: PageCursor | None) -> None:
        tr, (sort, desc) = self.time_range, self.sort
        if tr is None or cursor is None or not self.url:
            self.model.page_failed()  # page one comes with the window's refresh
            return
        self._runners = [r for r in self._runners if r.generation == self._generation]
        self._runners.append(start_query(
            self.pool, self.url, self._generation,
            lambda conn: list_sessions(conn, tr, sort=sort, descending=desc, after=cursor, limit=PAGE_SIZE),
            self._page_loaded, self._page_failed,
        ))

    def _page_loaded(self, generation: int, page: SessionPage) -> None:
        if generation != self._generation:
            return  # a page of an older range or sort
        self.model.add_page(page)
        self._show_loaded()
        self.pages_loaded.emit(self.model.rowCount())

    def _page_failed(self, generation: int, error: Any) -> None:
        if generation == self._generation:
            self.model.page_failed()
            self.loaded_label.setText(f"Could not load more sessions: {error.message}")
