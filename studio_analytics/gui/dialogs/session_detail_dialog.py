"""SessionDetailDialog: a session's aggregates and its executions on a timeline."""

from __future__ import annotations

import uuid
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QModelIndex, Qt, QThreadPool, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QLabel,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from studio_analytics.analytics import session_detail
from studio_analytics.analytics.results import SessionDetail
from studio_analytics.gui import zone
from studio_analytics.gui.charts.waterfall_chart import STATUS_BRUSH
from studio_analytics.gui.models.execution_list_model import ExecutionListModel
from studio_analytics.gui.models.row_table_model import cost_text, count, ms, pct
from studio_analytics.gui.workers.query_runner import start_query


class SessionDetailDialog(QDialog):
    execution_requested = Signal(object)  # uuid.UUID
    detail_loaded = Signal(object)

    def __init__(self, url: str, session_id: str, pool: QThreadPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Session {session_id}")
        self.resize(980, 680)
        self.detail: SessionDetail | None = None
        self.message = QLabel("Loading…")
        self.fields: dict[str, QLabel] = {}
        form = QFormLayout()
        for key in ("User", "Started", "Duration", "Queries", "Success rate", "Agents", "Avg response",
                    "Tokens", "Cost", "Active", "Client"):
            self.fields[key] = QLabel("—")
            form.addRow(key, self.fields[key])
        self.timeline = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(utcOffset=zone.axis_offset())})
        self.timeline.setTitle("Executions in this session")
        self.timeline.getPlotItem().invertY(True)
        self.bars = pg.BarGraphItem(x0=[], y=[], width=[], height=0.7, brushes=[], pen=None)
        self.timeline.addItem(self.bars)
        self.model = ExecutionListModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.doubleClicked.connect(self._activated)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.addWidget(self.message)
        top_layout.addLayout(form)
        split = QSplitter(Qt.Orientation.Vertical)
        for w in (top, self.timeline, self.table):
            split.addWidget(w)
        QVBoxLayout(self).addWidget(split)
        self._runner = start_query(pool, url, 0, lambda conn: session_detail(conn, session_id),
                                   self._loaded, self._failed)

    def _loaded(self, _generation: int, detail: SessionDetail | None) -> None:
        if detail is None:
            self.message.setText("This session is not in the database.")
            self.detail_loaded.emit(None)
            return
        self.detail = detail
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
        rows = detail.executions
        self.bars.setOpts(
            x0=[r.start_time.timestamp() for r in rows], y=list(range(len(rows))),
            width=[max((r.duration_ms or 0) / 1000, 0.05) for r in rows], height=0.7,
            brushes=[pg.mkBrush(STATUS_BRUSH.get(r.status, "#90a4ae")) for r in rows],
        )
        axis = self.timeline.getAxis("left")
        axis.setTicks([[(i, r.agent_name) for i, r in enumerate(rows)]])
        axis.setWidth(max([self.fontMetrics().horizontalAdvance(r.agent_name) for r in rows] or [20]) + 14)
        self.model.reset_pages()
        from studio_analytics.analytics.results import ExecutionPage

        self.model.add_page(ExecutionPage(rows=rows, next_cursor=None))
        self.detail_loaded.emit(detail)

    def _failed(self, _generation: int, error: Any) -> None:
        self.message.setText(f"<b>{error.message}</b><br>{error.hint}")
        self.detail_loaded.emit(None)

    def _activated(self, index: QModelIndex) -> None:
        self.execution_requested.emit(uuid.UUID(str(self.model.row_at(index.row()).execution_id)))
