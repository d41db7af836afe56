"""SpanDetailPanel: the selected span of a trace — its fields, input and output.

The fields shown depend on the kind: a model call's provider, operation, tokens (with
the cached and reasoning shares), time to first token and cost (unpriced when it has
none, never $0); a tool call's external API; an agent run's tokens.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QPlainTextEdit, QSplitter, QTabWidget, QWidget

from studio_analytics.analytics.results import TraceSpan
from studio_analytics.gui import zone
from studio_analytics.gui.models.row_table_model import count, ms, usd
from studio_analytics.gui.models.trace_tree_model import KIND_NAMES

#: the form's rows, and the kinds that show each (None: every kind)
FIELDS: tuple[tuple[str, frozenset[str] | None], ...] = (
    ("Span", None), ("Kind", None), ("Status", None), ("Started", None), ("Duration", None), ("Parent", None),
    ("Provider", frozenset({"model"})), ("Operation", frozenset({"model"})),
    ("Tokens in", frozenset({"model"})), ("Tokens out", frozenset({"model"})),
    ("Time to first token", frozenset({"model"})), ("Cost", frozenset({"model"})),
    ("Tokens", frozenset({"execution"})),
    ("External API", frozenset({"tool"})), ("API status", frozenset({"tool"})),
    ("Error", None),
)


def payload_text(value: Any) -> str:
    """Stored input/output as a person reads it: text as it is, JSON indented."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def model_cost(s: TraceSpan) -> str:
    if s.cost_usd is None:
        why = ("no token count was recorded" if s.input_tokens is None and s.output_tokens is None
               else "no price for this model")
        return f"unpriced ({why})"
    source = {"price_table": "from the price table", "recorded": "recorded by the agent"}.get(s.cost_source or "")
    return usd(s.cost_usd) + (f" ({source})" if source else "")


class SpanDetailPanel(QSplitter):
    def __init__(self) -> None:
        super().__init__(Qt.Orientation.Horizontal)
        self.fields: dict[str, QLabel] = {}
        form_box = QWidget()
        self.form = QFormLayout(form_box)
        for key, _kinds in FIELDS:
            label = QLabel("—")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(key == "Error")
            self.fields[key] = label
            self.form.addRow(key, label)
        self.texts = QTabWidget()
        self.input_text, self.output_text = QPlainTextEdit(readOnly=True), QPlainTextEdit(readOnly=True)
        self.texts.addTab(self.input_text, "Input")
        self.texts.addTab(self.output_text, "Output")
        self.addWidget(form_box)
        self.addWidget(self.texts)
        self.setSizes([380, 620])
        self.span: TraceSpan | None = None
        self.show_span(None)

    def show_span(self, s: TraceSpan | None, *, parent: TraceSpan | None = None,
                  execution_start: datetime | None = None) -> None:
        self.span = s
        for key, kinds in FIELDS:
            self.form.setRowVisible(self.fields[key], s is not None and (kinds is None or s.kind in kinds))
        if s is None:
            self.input_text.setPlainText("")
            self.output_text.setPlainText("")
            return
        f = self.fields
        f["Span"].setText(s.name)
        f["Kind"].setText(KIND_NAMES.get(s.kind, s.kind) + ("" if s.depth == 0 else f" (depth {s.depth})"))
        f["Status"].setText(s.status)
        started = zone.in_zone(s.start_time).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " " + zone.zone_name()
        if execution_start is not None and s.depth > 0:
            started += f"  (+{ms((s.start_time - execution_start).total_seconds() * 1000)})"
        f["Started"].setText(started)
        f["Duration"].setText(ms(s.duration_ms))
        f["Parent"].setText("—" if parent is None else f"{KIND_NAMES.get(parent.kind, parent.kind)} {parent.name}")
        f["Provider"].setText(s.provider or "—")
        f["Operation"].setText(s.operation or "—")
        f["Tokens in"].setText(count(s.input_tokens) + (f" ({count(s.cached_input_tokens)} cached)"
                                                        if s.cached_input_tokens else ""))
        f["Tokens out"].setText(count(s.output_tokens) + (f" ({count(s.reasoning_tokens)} reasoning)"
                                                          if s.reasoning_tokens else ""))
        f["Time to first token"].setText(ms(s.time_to_first_token_ms))
        f["Cost"].setText(model_cost(s))
        f["Tokens"].setText(count(s.tokens_used))
        f["External API"].setText(s.external_api_called or "—")
        api = [str(s.api_status_code)] if s.api_status_code is not None else []
        if s.api_response_time_ms is not None:
            api.append(ms(s.api_response_time_ms))
        f["API status"].setText(" · ".join(api) or "—")
        f["Error"].setText(s.error_message or "—")
        self.form.setRowVisible(self.fields["Error"], bool(s.error_message))
        self.input_text.setPlainText(payload_text(s.input))
        self.output_text.setPlainText(payload_text(s.output))
