"""Executions tab: filters over a lazily paged list of every execution in the range."""

from __future__ import annotations

import uuid
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, QThreadPool, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from studio_analytics.analytics import list_executions
from studio_analytics.analytics.results import ExecutionFilter, ExecutionPage, PageCursor, TimeRange
from studio_analytics.gui.models.execution_list_model import ExecutionListModel
from studio_analytics.gui.workers.query_runner import start_query

PAGE_SIZE = 200
STATUSES = ("", "success", "failure", "timeout", "in_progress")


class ExecutionsView(QWidget):
    execution_activated = Signal(object)  # uuid.UUID
    session_activated = Signal(str)
    pages_loaded = Signal(int)  # rows now held, after each page

    def __init__(self, pool: QThreadPool) -> None:
        super().__init__()
        self.pool = pool
        self.url = ""
        self.time_range: TimeRange | None = None
        self.filters = ExecutionFilter()
        self.sort: tuple[str, bool] = ("start_time", True)
        self._generation = 0
        self._runners: list[Any] = []
        self.model = ExecutionListModel()
        self.model.page_requested.connect(self._load_page)

        self.text = QLineEdit(placeholderText="Search query or error text")
        self.agent = QLineEdit(placeholderText="Agent")
        self.tool = QLineEdit(placeholderText="Tool")
        self.session = QLineEdit(placeholderText="Session")
        self.user = QLineEdit(placeholderText="User")
        self.status = QComboBox()
        self.status.addItems(["Any status", "Success", "Failure", "Timeout", "In progress"])
        apply = QPushButton("Apply")
        clear = QPushButton("Clear")
        for edit in (self.text, self.agent, self.tool, self.session, self.user):
            edit.returnPressed.connect(self.apply_filters)
        apply.clicked.connect(self.apply_filters)
        clear.clicked.connect(lambda: self.set_filter(ExecutionFilter()))
        self.status.currentIndexChanged.connect(lambda _i: self.apply_filters())
        bar = QHBoxLayout()
        for w in (self.text, self.agent, self.tool, self.session, self.user, self.status, apply, clear):
            bar.addWidget(w, stretch=2 if w is self.text else 1 if isinstance(w, QLineEdit) else 0)
        self.signature_label = QLabel()
        self.signature_label.hide()

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.doubleClicked.connect(self._activated)
        # Connected after the initial sort indicator, which would otherwise ask for a reload.
        self.model.sort_requested.connect(self._sort_changed)
        self.empty = QLabel("No executions match these filters in this range.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.hide()
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.signature_label)
        layout.addWidget(self.table, stretch=1)
        layout.addWidget(self.empty)

    # -- inputs ---------------------------------------------------------------------
    def set_database(self, url: str) -> None:
        self.url = url
        self.refresh()

    def set_time_range(self, tr: TimeRange) -> None:
        if tr != self.time_range:
            self.time_range = tr
            self.refresh()

    def set_filter(self, f: ExecutionFilter) -> None:
        self.filters = f
        for edit, value in ((self.text, f.text), (self.agent, f.agent_name), (self.tool, f.tool_name),
                            (self.session, f.session_id), (self.user, f.user_id)):
            edit.blockSignals(True)
            edit.setText(value or "")
            edit.blockSignals(False)
        self.status.blockSignals(True)
        self.status.setCurrentIndex(STATUSES.index(f.status) if f.status in STATUSES else 0)
        self.status.blockSignals(False)
        self.signature_label.setText(f"Error group: {f.error_signature}" if f.error_signature else "")
        self.signature_label.setVisible(bool(f.error_signature))
        self.refresh()

    def apply_filters(self) -> None:
        self.filters = ExecutionFilter(
            text=self.text.text().strip() or None, agent_name=self.agent.text().strip() or None,
            tool_name=self.tool.text().strip() or None, session_id=self.session.text().strip() or None,
            user_id=self.user.text().strip() or None, status=STATUSES[self.status.currentIndex()] or None,
            error_signature=self.filters.error_signature, correlation_id=self.filters.correlation_id,
        )
        self.refresh()

    def refresh(self) -> None:
        """Start over from the first page (new filter, sort, range or database)."""
        self._generation += 1
        self.model.reset_pages()
        self.empty.hide()
        if self.url and self.time_range is not None:
            self.model.fetchMore()

    # -- paging ---------------------------------------------------------------------
    def _load_page(self, cursor: PageCursor | None) -> None:
        tr, filters, (sort, desc) = self.time_range, self.filters, self.sort
        if tr is None:
            self.model.page_failed()
            return
        self._runners.append(start_query(
            self.pool, self.url, self._generation,
            lambda conn: list_executions(conn, tr, filters=filters, sort=sort, descending=desc, after=cursor,
                                         limit=PAGE_SIZE),
            self._page_loaded, self._page_failed,
        ))

    def _page_loaded(self, generation: int, page: ExecutionPage) -> None:
        self._runners = [r for r in self._runners if r.generation == self._generation]
        if generation != self._generation:
            return  # a page for an old filter or sort
        first = self.model.rowCount() == 0
        self.model.add_page(page)
        if first and page.rows:
            # Sized once from the first page; a million rows are never measured.
            self.table.resizeColumnsToContents()
        self.empty.setVisible(self.model.rowCount() == 0)
        self.pages_loaded.emit(self.model.rowCount())

    def _page_failed(self, generation: int, error: Any) -> None:
        if generation == self._generation:
            self.model.page_failed()
            self.empty.setText(f"Could not load executions: {error.message}")
            self.empty.show()

    def _sort_changed(self, field: str, descending: bool) -> None:
        self.sort = (field if field in ("start_time", "duration_ms") else "start_time", descending)
        self.refresh()

    def _activated(self, index: QModelIndex) -> None:
        row = self.model.row_at(index.row())
        if self.model.COLUMNS[index.column()].field == "session_id" and row.session_id:
            self.session_activated.emit(row.session_id)
        else:
            self.execution_activated.emit(uuid.UUID(str(row.execution_id)))
