"""SessionDetailDialog: a session's aggregates, and its executions as a conversation
thread, on a timeline and in a table (one tab each)."""

from __future__ import annotations

import uuid
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QModelIndex, QObject, Qt, QThreadPool, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio_analytics.analytics import session_detail
from studio_analytics.analytics.conversation import SessionConversation, session_conversation
from studio_analytics.analytics.results import ExecutionPage, SessionDetail
from studio_analytics.gui import zone
from studio_analytics.gui.charts.waterfall_chart import STATUS_BRUSH
from studio_analytics.gui.models.conversation_model import ConversationModel
from studio_analytics.gui.models.execution_list_model import ExecutionListModel
from studio_analytics.gui.models.row_table_model import cost_text, count, ms, pct
from studio_analytics.gui.views.conversation_view import ConversationListView
from studio_analytics.gui.workers.query_runner import start_query

#: the narrowest a run's bar is drawn, however short the run against the session
MIN_BAR_PX = 3.0
FIELDS = ("User", "Started", "Duration", "Queries", "Success rate", "Agents", "Avg response", "Tokens", "Cost",
          "Active", "Client")
FIELD_COLUMNS = 3  # label/value pairs side by side: the thread keeps the height
#: the Executions list's columns this table has no use for: the session's own id and
#: user repeat the title; queries are in the Conversation tab; workflow and model are
#: not read for a session (they would all be "—")
TABLE_LEAVES_OUT = {"session_id", "user_id", "query_preview", "workflow_type", "model"}


class SessionDetailDialog(QDialog):
    execution_requested = Signal(object)  # uuid.UUID
    detail_loaded = Signal(object)  # SessionDetail | None

    def __init__(self, url: str, session_id: str, pool: QThreadPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Session {session_id}")
        self.resize(980, 680)
        self.detail: SessionDetail | None = None
        self.conversation: SessionConversation | None = None
        self.message = QLabel("Loading…")
        self.fields: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        for i, key in enumerate(FIELDS):
            self.fields[key] = QLabel("—")
            self.fields[key].setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.fields[key].setWordWrap(True)  # seven agents' names must not widen the dialog
            row, col = divmod(i, FIELD_COLUMNS)
            grid.addWidget(QLabel(f"{key}:"), row, 2 * col)
            grid.addWidget(self.fields[key], row, 2 * col + 1)
        for col in range(FIELD_COLUMNS):
            grid.setColumnStretch(2 * col + 1, 1)

        self.conversation_model = ConversationModel()
        self.conversation_view = ConversationListView(self.conversation_model)
        self.conversation_view.execution_activated.connect(self.execution_requested)
        self.more_label = QLabel()
        self.more_label.hide()
        thread_page = QWidget()
        thread_box = QVBoxLayout(thread_page)
        thread_box.setContentsMargins(0, 0, 0, 0)
        thread_box.addWidget(self.conversation_view, stretch=1)
        thread_box.addWidget(self.more_label)

        self.timeline = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(utcOffset=zone.axis_offset())})
        self.timeline.setTitle("Executions in this session")
        self.timeline.getPlotItem().invertY(True)
        self.bars = pg.BarGraphItem(x0=[], y=[], width=[], height=0.7, brushes=[], pen=None)
        self.timeline.addItem(self.bars)
        self._min_width = 0.0
        view_box = self.timeline.getPlotItem().vb
        # Bar widths are in seconds: a 1 ms run in an hour's session would be far under
        # a pixel, so the narrowest bar is kept at MIN_BAR_PX at every zoom and size.
        view_box.sigXRangeChanged.connect(self._update_bar_widths)
        view_box.sigResized.connect(self._update_bar_widths)

        self.model = ExecutionListModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.doubleClicked.connect(self._activated)
        self.table.installEventFilter(self)

        self.tabs = QTabWidget()
        self.tabs.addTab(thread_page, "Conversation")
        self.tabs.addTab(self.timeline, "Timeline")
        self.tabs.addTab(self.table, "Table")
        # The fields above wrap at narrow widths; the thread and table keep room for rows.
        self.tabs.setMinimumHeight(self.fontMetrics().height() * 16)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        close = buttons.button(QDialogButtonBox.StandardButton.Close)
        # Enter belongs to the thread and the table (open the execution), never to Close.
        close.setAutoDefault(False)
        close.setDefault(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addLayout(grid)
        layout.addWidget(self.tabs, stretch=1)
        layout.addWidget(buttons)
        self._runner = start_query(
            pool, url, 0, lambda conn: (session_detail(conn, session_id), session_conversation(conn, session_id)),
            self._loaded, self._failed)

    def _loaded(self, _generation: int, result: tuple[SessionDetail | None, SessionConversation]) -> None:
        detail, conversation = result
        if detail is None:
            self.message.setText("This session is not in the database.")
            self.detail_loaded.emit(None)
            return
        self.detail = detail
        self.conversation = conversation
        s = detail.session
        self.message.setText(f"<b>{s.session_id}</b>" + (" · executions truncated to the first 500"
                                                         if detail.executions_truncated else ""))
        f = self.fields
        f["User"].setText(s.user_id or "—")
        f["Started"].setText(zone.in_zone(s.start_time).strftime("%Y-%m-%d %H:%M:%S %Z"))
        f["Duration"].setText(ms(s.duration_ms))
        f["Queries"].setText(f"{s.total_queries:,} ({s.successful_queries:,} ok, {s.failed_queries:,} failed)")
        f["Success rate"].setText(pct(s.successful_queries / s.total_queries if s.total_queries else None))
        f["Agents"].setText(f"{s.unique_agents_count}: {', '.join(detail.agents_used) or '—'}")
        f["Avg response"].setText(ms(s.average_response_time_ms))
        f["Tokens"].setText(count(s.total_tokens_used))
        f["Cost"].setText(cost_text(s.cost_usd, s.unpriced_calls))
        f["Active"].setText("yes" if s.is_active else "no")
        f["Client"].setText(" · ".join(x for x in (detail.user_agent, detail.ip_address) if x) or "—")

        self.conversation_model.set_turns(conversation.turns)
        self.tabs.setTabText(0, f"Conversation ({len(conversation.turns):,})")
        more = conversation.more
        self.more_label.setText(f"{more:,} more execution{'s' if more != 1 else ''} after these "
                                f"{len(conversation.turns):,} (the thread stops there; the Executions tab "
                                "lists them all, filtered by this session)")
        self.more_label.setVisible(more > 0)
        if conversation.turns:
            self.conversation_view.setCurrentIndex(self.conversation_model.index(0))
        self.conversation_view.setFocus()

        rows = detail.executions
        self.bars.setOpts(
            x0=[r.start_time.timestamp() for r in rows], y=list(range(len(rows))),
            width=self._widths(0.0), height=0.7,
            brushes=[pg.mkBrush(STATUS_BRUSH.get(r.status, "#90a4ae")) for r in rows],
        )
        self._min_width = 0.0
        self._update_bar_widths()
        axis = self.timeline.getAxis("left")
        axis.setTicks([[(i, r.agent_name) for i, r in enumerate(rows)]])
        axis.setWidth(max([self.fontMetrics().horizontalAdvance(r.agent_name) for r in rows] or [20]) + 14)
        self.model.reset_pages()
        self.model.add_page(ExecutionPage(rows=rows, next_cursor=None))
        for i, column in enumerate(self.model.COLUMNS):
            self.table.setColumnHidden(i, column.field in TABLE_LEAVES_OUT)
        self.table.resizeColumnsToContents()
        self.detail_loaded.emit(detail)

    def _widths(self, minimum: float) -> list[float]:
        rows = self.detail.executions if self.detail is not None else ()
        return [max((r.duration_ms or 0) / 1000, minimum) for r in rows]

    def _update_bar_widths(self, *_args: Any) -> None:
        if self.detail is None or not self.detail.executions:
            return
        seconds_per_px = self.timeline.getPlotItem().vb.viewPixelSize()[0]
        minimum = MIN_BAR_PX * seconds_per_px
        # Only a real change redraws: the new widths move the auto-range a hair, which
        # would otherwise call back here without end.
        if minimum <= 0 or abs(minimum - self._min_width) <= 0.01 * self._min_width:
            return
        self._min_width = minimum
        self.bars.setOpts(width=self._widths(minimum))

    def _failed(self, _generation: int, error: Any) -> None:
        self.message.setText(f"<b>{error.message}</b><br>{error.hint}")
        self.detail_loaded.emit(None)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (watched is self.table and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent)
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.table.currentIndex().isValid()):
            self._activated(self.table.currentIndex())
            return True
        return super().eventFilter(watched, event)

    def _activated(self, index: QModelIndex) -> None:
        self.execution_requested.emit(uuid.UUID(str(self.model.row_at(index.row()).execution_id)))
