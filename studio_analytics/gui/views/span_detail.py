"""SpanDetailPanel: the selected span of a trace — its fields, input and output.

The fields shown depend on the kind: a model call's provider, operation, tokens (with
the cached and reasoning shares), time to first token and cost (unpriced when it has
none, never $0); a tool call's external API; an agent run's tokens.

Input and output (a tool call's input and output parameters, a model call's request and
response, an agent run's query and response) are shown as plain text — markup in them is
never rendered — cut at ``PREVIEW_CHARS`` with a "Show all" button, and copied whole by
"Copy".
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
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


#: characters of an input or output shown before "Show all": a payload of megabytes would
#: make the panel slow to fill and to scroll
PREVIEW_CHARS = 20_000


class PayloadView(QWidget):
    """One payload (input or output): plain text, cut at PREVIEW_CHARS, copied whole."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what
        self.full_text = ""
        self.text = QPlainTextEdit(readOnly=True)
        self.text.setObjectName(f"{what.lower()}Text")
        self.note = QLabel("")
        self.show_all_button = QPushButton("Show all")
        self.show_all_button.clicked.connect(self.show_all)
        self.copy_button = QPushButton(f"Copy {what.lower()}")
        self.copy_button.setToolTip(f"Copy the whole {what.lower()} to the clipboard")
        self.copy_button.clicked.connect(self.copy)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.note, stretch=1)
        row.addWidget(self.show_all_button)
        row.addWidget(self.copy_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.text, stretch=1)
        box.addLayout(row)
        self.set_text("")

    def set_text(self, text: str) -> None:
        self.full_text = text
        cut = len(text) > PREVIEW_CHARS
        self.text.setPlainText(text[:PREVIEW_CHARS] if cut else text)
        self.note.setText(f"first {PREVIEW_CHARS:,} of {len(text):,} characters" if cut
                          else "" if text else f"no {self.what.lower()} recorded")
        self.show_all_button.setVisible(cut)
        self.copy_button.setEnabled(bool(text))

    def show_all(self) -> None:
        self.text.setPlainText(self.full_text)
        self.note.setText(f"all {len(self.full_text):,} characters")
        self.show_all_button.hide()

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.full_text)


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
        self.input_view, self.output_view = PayloadView("Input"), PayloadView("Output")
        self.input_text, self.output_text = self.input_view.text, self.output_view.text
        self.texts.addTab(self.input_view, "Input")
        self.texts.addTab(self.output_view, "Output")
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
            self.input_view.set_text("")
            self.output_view.set_text("")
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
        self.input_view.set_text(payload_text(s.input))
        self.output_view.set_text(payload_text(s.output))
