"""ExecutionListModel: a lazy table over keyset pages, fetched in the background."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from studio_analytics.analytics.results import ExecutionRow, PageCursor
from studio_analytics.gui.models.row_table_model import Column, RowTableModel, count, ms, row_cost
from studio_analytics.gui.zone import in_zone

Index = QModelIndex | QPersistentModelIndex
STATUS_COLOURS = {"success": QColor("#2e7d32"), "failure": QColor("#c62828"), "timeout": QColor("#ef6c00"),
                  "in_progress": QColor("#1565c0")}


def _time(v: Any) -> str:
    return in_zone(v).strftime("%Y-%m-%d %H:%M:%S")


def _workflow(row: ExecutionRow) -> str:
    """The workflow's type, else the bare correlation id, else a dash."""
    return row.workflow_type or row.correlation_id or "—"


def _models(row: ExecutionRow) -> str:
    """The first model it called by name, and how many others ("gpt-4o +1")."""
    if not row.model:
        return "—"
    return row.model + (f" +{row.model_count - 1}" if row.model_count > 1 else "")


class PagedRowTableModel(RowTableModel):
    """A table over keyset pages (``rows`` + ``next_cursor``): ``fetchMore`` asks for the
    next page once, by ``page_requested``; the owning view runs it in a worker."""

    page_requested = Signal(object)  # PageCursor | None

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

    def set_rows(self, rows: Sequence[Any]) -> None:
        """A fixed list (e.g. none while another database loads): nothing more to fetch."""
        self.reset_pages()
        super().set_rows(rows)
        self._complete = True

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and not self._complete and not self._loading

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if self.canFetchMore(parent):
            self._loading = True
            self.page_requested.emit(self._cursor)

    def add_page(self, page: Any) -> None:
        self._loading = False
        self._cursor = page.next_cursor
        self._complete = page.next_cursor is None
        if page.rows:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(page.rows) - 1)
            self._rows.extend(page.rows)
            self.endInsertRows()

    def start_at(self, cursor: PageCursor | None) -> None:
        """Forget every row and make the next fetchMore start at ``cursor`` (go to a time)."""
        self.reset_pages()
        self._cursor = cursor

    def prepend_rows(self, rows: tuple[Any, ...]) -> None:
        """Insert newer rows above the loaded ones; views keep selection and indexes
        because Qt moves persistent indexes past an insertion."""
        if rows:
            self.beginInsertRows(QModelIndex(), 0, len(rows) - 1)
            self._rows[0:0] = rows
            self.endInsertRows()

    def drop_older_than(self, start: datetime) -> int:
        """Remove trailing rows that started before ``start`` (the range moved past them);
        only valid for newest-first lists. Returns how many went."""
        keep = len(self._rows)
        while keep and self._rows[keep - 1].start_time < start:
            keep -= 1
        gone = len(self._rows) - keep
        if gone:
            self.beginRemoveRows(QModelIndex(), keep, len(self._rows) - 1)
            del self._rows[keep:]
            self.endRemoveRows()
        return gone

    def newest(self) -> PageCursor | None:
        """Keyset position of the first row (newest, for the newest-first sort)."""
        if not self._rows:
            return None
        first = self._rows[0]
        return PageCursor(sort_value=first.start_time, row_id=first.row_id) if first.row_id is not None else None

    def hold(self) -> None:
        """A page is on its way that the view asked for itself (End key): no fetchMore meanwhile."""
        self._loading = True

    def page_failed(self) -> None:
        self._loading = False

    @property
    def complete(self) -> bool:
        return self._complete

    @property
    def loaded_count(self) -> int:
        return len(self._rows)


class ExecutionListModel(PagedRowTableModel):
    """Rows arrive a page at a time; ``fetchMore`` asks for the next page once."""

    COLUMNS = (
        Column("Started", "start_time", _time, timed=True),
        Column("Agent", "agent_name", str, numeric=False, sortable=False),
        Column("Status", "status", str, numeric=False, sortable=False),
        Column("Duration", "duration_ms", ms, duration=True),
        Column("Tools", "tool_count", count, sortable=False),
        Column("Tokens", "tokens_used", count, sortable=False),
        Column("Tokens in", "input_tokens", count, sortable=False),
        Column("Tokens out", "output_tokens", count, sortable=False),
        Column("Cost", "cost_usd", row_fmt=row_cost, sortable=False),
        Column("Session", "session_id", lambda v: v or "—", numeric=False, sortable=False),
        Column("User", "user_id", lambda v: v or "—", numeric=False, sortable=False),
        Column("Workflow", "workflow_type", row_fmt=_workflow, numeric=False, sortable=False),
        Column("Model", "model", row_fmt=_models, numeric=False, sortable=False),
        Column("Query", "query_preview", lambda v: " ".join((v or "").split()), numeric=False, sortable=False),
        Column("Error", "error_message", lambda v: (v or "").splitlines()[0] if v else "", numeric=False,
               sortable=False),
    )

    def row_at(self, row: int) -> ExecutionRow:
        return self._rows[row]

    def row_of(self, execution_id: uuid.UUID) -> int | None:
        """Where a loaded execution is (a linear scan: only the loaded pages are searched)."""
        for i, row in enumerate(self._rows):
            if row.execution_id == execution_id:
                return i
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and index.isValid() and self.COLUMNS[index.column()].field == "status":
            return STATUS_COLOURS.get(self._rows[index.row()].status)
        return super().data(index, role)


