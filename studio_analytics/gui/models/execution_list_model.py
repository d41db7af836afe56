"""ExecutionListModel: a lazy table over keyset pages, fetched in the background."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from studio_analytics.analytics.results import ExecutionPage, ExecutionRow, PageCursor
from studio_analytics.gui.models.row_table_model import Column, RowTableModel, count, ms

Index = QModelIndex | QPersistentModelIndex
STATUS_COLOURS = {"success": QColor("#2e7d32"), "failure": QColor("#c62828"), "timeout": QColor("#ef6c00"),
                  "in_progress": QColor("#1565c0")}


def _time(v: Any) -> str:
    return v.astimezone().strftime("%Y-%m-%d %H:%M:%S")


class ExecutionListModel(RowTableModel):
    """Rows arrive a page at a time; ``fetchMore`` asks for the next page once."""

    page_requested = Signal(object)  # PageCursor | None
    COLUMNS = (
        Column("Started", "start_time", _time),
        Column("Agent", "agent_name", str, numeric=False, sortable=False),
        Column("Status", "status", str, numeric=False, sortable=False),
        Column("Duration", "duration_ms", ms),
        Column("Tools", "tool_count", count, sortable=False),
        Column("Tokens", "tokens_used", count, sortable=False),
        Column("Session", "session_id", lambda v: v or "—", numeric=False, sortable=False),
        Column("Error", "error_message", lambda v: (v or "").splitlines()[0] if v else "", numeric=False,
               sortable=False),
    )

    def __init__(self) -> None:
        super().__init__()
        self._cursor: PageCursor | None = None
        self._complete = False
        self._loading = False

    def reset_pages(self) -> None:
        """Forget every row (new filter or sort); the view's next fetchMore starts over."""
        self.beginResetModel()
        self._rows, self._cursor, self._complete, self._loading = [], None, False, False
        self.endResetModel()

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and not self._complete and not self._loading

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if self.canFetchMore(parent):
            self._loading = True
            self.page_requested.emit(self._cursor)

    def add_page(self, page: ExecutionPage) -> None:
        self._loading = False
        self._cursor = page.next_cursor
        self._complete = page.next_cursor is None
        if page.rows:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(page.rows) - 1)
            self._rows.extend(page.rows)
            self.endInsertRows()

    def page_failed(self) -> None:
        self._loading = False

    @property
    def complete(self) -> bool:
        return self._complete

    def row_at(self, row: int) -> ExecutionRow:
        return self._rows[row]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and index.isValid() and self.COLUMNS[index.column()].field == "status":
            return STATUS_COLOURS.get(self._rows[index.row()].status)
        return super().data(index, role)


