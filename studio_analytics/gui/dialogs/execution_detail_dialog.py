"""ExecutionDetailDialog: one execution's fields, texts and the waterfall of its tool calls."""

from __future__ import annotations

import uuid
from typing import Any

from PySide6.QtCore import Qt, QThreadPool, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio_analytics.analytics import execution_detail
from studio_analytics.analytics.results import ExecutionDetail
from studio_analytics.gui import zone
from studio_analytics.gui.charts.waterfall_chart import WaterfallChart
from studio_analytics.gui.models.row_table_model import count, ms
from studio_analytics.gui.workers.query_runner import start_query


class ExecutionDetailDialog(QDialog):
    session_requested = Signal(str)
    workflow_requested = Signal(str)
    detail_loaded = Signal(object)  # ExecutionDetail | None

    def __init__(self, url: str, execution_id: uuid.UUID, pool: QThreadPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Execution {execution_id}")
        self.resize(1000, 720)
        self.detail: ExecutionDetail | None = None
        self.message = QLabel("Loading…")
        self.fields: dict[str, QLabel] = {}
        form = QFormLayout()
        for key in ("Agent", "Status", "Started", "Duration", "Tools", "API calls", "Tokens", "Retries",
                    "User", "Session", "Workflow"):
            label = QLabel("—")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.fields[key] = label
            form.addRow(key, label)
        self.session_button = QPushButton("Open session")
        self.session_button.setEnabled(False)
        self.session_button.clicked.connect(lambda: self.detail and self.session_requested.emit(self.detail.session_id or ""))
        self.workflow_button = QPushButton("Workflow's executions")
        self.workflow_button.setEnabled(False)
        self.workflow_button.clicked.connect(
            lambda: self.detail and self.detail.workflow_id and self.workflow_requested.emit(str(self.detail.workflow_id)))
        buttons = QHBoxLayout()
        buttons.addWidget(self.session_button)
        buttons.addWidget(self.workflow_button)
        buttons.addStretch(1)
        self.waterfall = WaterfallChart()
        self.texts = QTabWidget()
        self.query_text, self.response_text, self.error_text = (QPlainTextEdit(readOnly=True) for _ in range(3))
        self.texts.addTab(self.query_text, "Query")
        self.texts.addTab(self.response_text, "Response")
        self.texts.addTab(self.error_text, "Error")
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.addWidget(self.message)
        top_layout.addLayout(form)
        top_layout.addLayout(buttons)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.waterfall)
        split.addWidget(self.texts)
        split.setSizes([260, 300, 160])
        QVBoxLayout(self).addWidget(split)
        self._runner = start_query(pool, url, 0, lambda conn: execution_detail(conn, execution_id),
                                   self._loaded, self._failed)

    def _loaded(self, _generation: int, detail: ExecutionDetail | None) -> None:
        self._runner = None
        if detail is None:
            self.message.setText("This execution is not in the database (any more).")
            self.detail_loaded.emit(None)
            return
        self.detail = detail
        self.message.setText(f"<b>{detail.agent_name}</b> · {detail.execution_id}")
        f = self.fields
        f["Agent"].setText(detail.agent_name + (f"  (id {detail.agent_id})" if detail.agent_id else ""))
        f["Status"].setText(detail.status + (f" (stored as {detail.raw_status})" if detail.raw_status != detail.status else ""))
        f["Started"].setText(zone.in_zone(detail.start_time).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " " + zone.zone_name())
        f["Duration"].setText(ms(detail.duration_ms))
        f["Tools"].setText(f"{detail.tool_count} ({', '.join(c.tool_name for c in detail.tool_calls) or 'none'})")
        f["API calls"].setText(count(detail.api_calls_count))
        f["Tokens"].setText(count(detail.tokens_used))
        f["Retries"].setText(count(detail.retry_count))
        f["User"].setText(detail.user_id or "—")
        f["Session"].setText(detail.session_id or "—")
        f["Workflow"].setText(f"{detail.workflow_type} ({detail.workflow_id})" if detail.workflow_id else
                              (detail.correlation_id or "—"))
        self.session_button.setEnabled(bool(detail.session_id))
        self.workflow_button.setEnabled(detail.workflow_id is not None)
        self.query_text.setPlainText(detail.query or "")
        self.response_text.setPlainText(detail.response or "")
        self.error_text.setPlainText(detail.error_message or "")
        if detail.error_message:
            self.texts.setCurrentWidget(self.error_text)
        self.waterfall.set_calls(detail.start_time, detail.duration_ms, detail.tool_calls)
        self.detail_loaded.emit(detail)

    def _failed(self, _generation: int, error: Any) -> None:
        self._runner = None
        self.message.setText(f"<b>{error.message}</b><br>{error.hint}")
        self.detail_loaded.emit(None)
