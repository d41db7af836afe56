"""ExecutionDetailDialog: one execution's fields and its trace — every span below it at any
depth (sub-agents, tool calls, model calls) as a tree beside a waterfall on one time
axis — and the selected span's fields, input and output."""

from __future__ import annotations

import uuid
from typing import Any

from PySide6.QtCore import Qt, QThreadPool, Signal
from PySide6.QtWidgets import (
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio_analytics.analytics import execution_detail
from studio_analytics.analytics.results import ExecutionDetail, TraceSpan
from studio_analytics.gui import zone
from studio_analytics.gui.dialogs.close_button import add_close_button
from studio_analytics.gui.models.row_table_model import cost_text, count, ms
from studio_analytics.gui.views.span_detail import SpanDetailPanel
from studio_analytics.gui.views.trace_view import TraceView
from studio_analytics.gui.workers.query_runner import start_query

FIELD_KEYS = ("Agent", "Status", "Started", "Duration", "Tools", "API calls", "Tokens", "Cost", "Retries",
              "User", "Session", "Workflow")
FIELD_COLUMNS = 3


class ExecutionDetailDialog(QDialog):
    session_requested = Signal(str)
    workflow_requested = Signal(str)
    detail_loaded = Signal(object)  # ExecutionDetail | None

    def __init__(self, url: str, execution_id: uuid.UUID, pool: QThreadPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Execution {execution_id}")
        self.resize(1200, 800)
        self.detail: ExecutionDetail | None = None
        self.message = QLabel("Loading…")
        self.message.setWordWrap(True)
        self.fields: dict[str, QLabel] = {}
        self.field_names: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        for i, key in enumerate(FIELD_KEYS):
            label = QLabel("—")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            # A long value (an agent id, many tools) is cut, not a reason for a dialog
            # wider than a small screen; the whole text is its tooltip.
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            self.fields[key] = label
            row, col = divmod(i, FIELD_COLUMNS)
            name = QLabel(key)
            name.setStyleSheet("color: palette(mid);")
            self.field_names[key] = name
            grid.addWidget(name, row, col * 2)
            grid.addWidget(label, row, col * 2 + 1)
        for col in range(FIELD_COLUMNS):
            grid.setColumnStretch(col * 2 + 1, 1)
        self.fields["Cost"].setToolTip("Of this execution's own model calls (a sub-agent's calls count as its own).\n"
                                       "Calls without a price are unpriced, never $0.")
        api_why = ("External API requests this execution counted (its api_calls_count), as the agent reported them.\n"
                   "One tool call may make several requests, and an agent may call an API outside a tool,\n"
                   "so this need not match the tool calls drawn in the trace below: each tool call row\n"
                   "names the (last) external API it called.")
        self.fields["API calls"].setToolTip(api_why)
        self.field_names["API calls"].setToolTip(api_why)
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
        self.trace_label = QLabel()
        self.trace_label.setObjectName("traceSummary")
        self.trace = TraceView()
        self.waterfall = self.trace.waterfall
        self.span_detail = SpanDetailPanel()
        self.trace.span_selected.connect(self._span_selected)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.message)
        top_layout.addLayout(grid)
        top_layout.addLayout(buttons)
        top_layout.addWidget(self.trace_label)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.trace)
        split.addWidget(self.span_detail)
        split.setSizes([430, 250])
        layout = QVBoxLayout(self)
        layout.addWidget(top)
        layout.addWidget(split, stretch=1)
        self.close_buttons = add_close_button(self, layout)
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
        with_api = sum(1 for c in detail.tool_calls if c.external_api_called)
        # Short enough for a 1024 px dialog; the tooltip says why the two counts may differ.
        f["API calls"].setText(f"{count(detail.api_calls_count)} counted by the agent · {with_api:,} in tool calls")
        f["Tokens"].setText(count(detail.tokens_used))
        own = cost_text(detail.cost_usd, detail.unpriced_calls)
        f["Cost"].setText(own if own == "—" else f"{own} (its own model calls)")
        f["Retries"].setText(count(detail.retry_count))
        f["User"].setText(detail.user_id or "—")
        f["Session"].setText(detail.session_id or "—")
        f["Workflow"].setText(f"{detail.workflow_type} ({detail.workflow_id})" if detail.workflow_id else
                              (detail.correlation_id or "—"))
        for key, label in f.items():
            if key not in ("Cost", "API calls"):  # they keep their explanation
                label.setToolTip(label.text())
        self.session_button.setEnabled(bool(detail.session_id))
        self.workflow_button.setEnabled(detail.workflow_id is not None)
        # The analytics layer sends the execution first (one level of tool calls on a
        # database without the span tree, such as Agent Studio's).
        spans = detail.spans
        depth = max((s.depth for s in spans), default=0)
        kinds = {k: sum(1 for s in spans if s.kind == k) for k in ("execution", "tool", "model")}
        summary = (f"Trace: {len(spans):,} spans, {depth + 1} level{'s' if depth else ''} — "
                   f"{kinds['execution']:,} agent run{'s' if kinds['execution'] != 1 else ''}, "
                   f"{kinds['tool']:,} tool call{'s' if kinds['tool'] != 1 else ''}, "
                   f"{kinds['model']:,} model call{'s' if kinds['model'] != 1 else ''}")
        if detail.spans_truncated:
            summary += " · the trace is cut here: it has more spans than are shown"
        self.trace_label.setText(summary)
        self.trace.set_spans(detail.start_time, detail.duration_ms, spans)
        self.detail_loaded.emit(detail)

    def _span_selected(self, span: TraceSpan | None) -> None:
        node = self.trace.selected_node()
        parent = None if node is None else self.trace.model.parent_span(node)
        self.span_detail.show_span(span, parent=parent,
                                   execution_start=None if self.detail is None else self.detail.start_time)

    def _failed(self, _generation: int, error: Any) -> None:
        self._runner = None
        self.message.setText(f"<b>{error.message}</b><br>{error.hint}")
        self.detail_loaded.emit(None)
