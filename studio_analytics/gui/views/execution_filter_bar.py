"""The Executions list's filter inputs: a first row of names and text, a second row
("More filters") of measures, model, workflow and has-error; names complete from the
database through a bounded query run in the pool."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import QStringListModel, Qt, QThreadPool, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio_analytics.analytics.names import COMPLETION_LIMIT, list_names
from studio_analytics.analytics.results import NAME_FIELDS, ExecutionFilter
from studio_analytics.gui.workers.query_runner import start_query

STATUSES = ("", "success", "failure", "timeout", "in_progress")
HAS_ERROR = (None, True, False)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|sec|m|min)?\s*$", re.IGNORECASE)
_UNIT_MS = {None: 1.0, "ms": 1.0, "s": 1000.0, "sec": 1000.0, "m": 60_000.0, "min": 60_000.0}
#: Wait this long after the last key before asking the database for names.
COMPLETION_DELAY_MS = 150


def parse_duration_ms(text: str) -> float | None:
    """ "250", "250 ms", "2s", "1.5 min" as milliseconds (a bare number is ms); "" is
    None; anything else raises ValueError."""
    if not text.strip():
        return None
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(f"not a duration: {text!r} (e.g. 500 ms, 2 s, 1.5 min)")
    return float(m.group(1)) * _UNIT_MS[m.group(2).lower() if m.group(2) else None]


def parse_number(text: str, kind: type[int] | type[float]) -> int | float | None:
    """A count ("1,000") or an amount ("$0.05"); "" is None; else ValueError."""
    cleaned = text.strip().lstrip("$").replace(",", "").replace("_", "")
    if not cleaned:
        return None
    value = kind(float(cleaned)) if kind is int else float(cleaned)
    if value < 0:
        raise ValueError("must not be negative")
    return value


class NameCompleter(QCompleter):
    """Completion for one filter edit from :func:`list_names`: at most
    ``COMPLETION_LIMIT`` names containing what was typed, asked for in the pool a moment
    after the last key (never on the GUI thread, never all rows)."""

    names_loaded = Signal(list)

    def __init__(self, edit: QLineEdit, kind: str, pool: QThreadPool, url: Callable[[], str]) -> None:
        super().__init__(edit)
        self.kind, self.pool, self.url, self.edit = kind, pool, url, edit
        self.limit = COMPLETION_LIMIT
        self.names = QStringListModel(self)
        self.setModel(self.names)
        self.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterMode(Qt.MatchFlag.MatchContains)
        self.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self._generation = 0
        self._runner = None
        self._timer = QTimer(self, singleShot=True, interval=COMPLETION_DELAY_MS)
        self._timer.timeout.connect(self.load)
        edit.setCompleter(self)
        edit.textEdited.connect(lambda _t: self._timer.start())

    def load(self) -> None:
        url = self.url()
        if not url:
            return
        self._generation += 1
        kind, text, limit = self.kind, self.edit.text().strip(), self.limit
        self._runner = start_query(self.pool, url, self._generation,
                                   lambda conn: list_names(conn, kind, text, limit=limit),
                                   self._loaded, lambda _g, _e: None)

    def _loaded(self, generation: int, names: tuple[str, ...]) -> None:
        if generation != self._generation:
            return
        self.names.setStringList(list(names))
        if self.edit.hasFocus() and names:
            self.complete()
        self.names_loaded.emit(list(names))


class ExecutionFilterBar(QWidget):
    """The inputs; :meth:`read` turns them into a filter, :meth:`show_filter` shows one."""

    apply_requested = Signal()
    clear_requested = Signal()

    def __init__(self, pool: QThreadPool, url: Callable[[], str]) -> None:
        super().__init__()
        self.text = QLineEdit(placeholderText="Search query, response or error")
        self.agent = QLineEdit(placeholderText="Agent")
        self.tool = QLineEdit(placeholderText="Tool")
        self.session = QLineEdit(placeholderText="Session")
        self.user = QLineEdit(placeholderText="User")
        self.status = QComboBox()
        self.status.addItems(["Any status", "Success", "Failure", "Timeout", "In progress"])
        self.more = QPushButton("&More filters")
        self.more.setCheckable(True)
        self.more.setToolTip("Duration, tokens, cost, model, workflow, errors")
        apply = QPushButton("Apply")
        clear = QPushButton("Clear")
        self.min_duration = QLineEdit(placeholderText="2 s")
        self.max_duration = QLineEdit(placeholderText="500 ms")
        self.min_tokens = QLineEdit(placeholderText="1000")
        self.min_cost = QLineEdit(placeholderText="0.05")
        self.model = QLineEdit(placeholderText="Model")
        self.workflow = QLineEdit(placeholderText="Workflow type or id")
        self.model.setToolTip("Executions that called a model whose name contains this")
        self.workflow.setToolTip("Executions of a workflow: its id, or part of its type")
        self.has_error = QComboBox()
        self.has_error.addItems(["Errors: any", "With an error", "Without an error"])
        self.completers = {kind: NameCompleter(edit, kind, pool, url) for kind, edit in
                           (("agent", self.agent), ("tool", self.tool), ("user", self.user),
                            ("model", self.model), ("workflow", self.workflow))}
        for edit in self._edits():
            edit.returnPressed.connect(self.apply_requested)
        apply.clicked.connect(self.apply_requested)
        clear.clicked.connect(self.clear_requested)
        self.status.currentIndexChanged.connect(lambda _i: self.apply_requested.emit())
        self.has_error.currentIndexChanged.connect(lambda _i: self.apply_requested.emit())

        first = QHBoxLayout()
        first.setContentsMargins(0, 0, 0, 0)
        for w in (self.text, self.agent, self.tool, self.session, self.user, self.status, self.more, apply, clear):
            first.addWidget(w, stretch=2 if w is self.text else 1 if isinstance(w, QLineEdit) else 0)
        self.second = QWidget()
        second = QHBoxLayout(self.second)
        second.setContentsMargins(0, 0, 0, 0)
        for label, edit in (("Duration ≥", self.min_duration), ("≤", self.max_duration),
                            ("Tokens ≥", self.min_tokens), ("Cost ≥ $", self.min_cost)):
            second.addWidget(QLabel(label))
            second.addWidget(edit, stretch=1)
        second.addWidget(self.model, stretch=2)
        second.addWidget(self.workflow, stretch=2)
        second.addWidget(self.has_error)
        self.second.hide()
        self.more.toggled.connect(self.second.setVisible)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(first)
        layout.addWidget(self.second)

    def _edits(self) -> tuple[QLineEdit, ...]:
        return (self.text, self.agent, self.tool, self.session, self.user, self.min_duration, self.max_duration,
                self.min_tokens, self.min_cost, self.model, self.workflow)

    def read(self, base: ExecutionFilter) -> ExecutionFilter | None:
        """``base`` with the inputs' values (its drill-down-only fields kept); None when
        a number does not parse (that input is marked and says why)."""
        values: dict[str, object] = {}
        bad = False
        for name, edit, parse in (("min_duration_ms", self.min_duration, parse_duration_ms),
                                  ("max_duration_ms", self.max_duration, parse_duration_ms),
                                  ("min_tokens", self.min_tokens, lambda t: parse_number(t, int)),
                                  ("min_cost_usd", self.min_cost, lambda t: parse_number(t, float))):
            try:
                values[name] = parse(edit.text())
                edit.setStyleSheet("")
                edit.setToolTip("")
            except ValueError as e:
                bad = True
                edit.setStyleSheet("border: 1px solid #c62828;")
                edit.setToolTip(str(e))
        if bad:
            self.more.setChecked(True)
            return None
        f = replace(
            base, text=self.text.text().strip() or None, agent_name=self.agent.text().strip() or None,
            tool_name=self.tool.text().strip() or None, session_id=self.session.text().strip() or None,
            user_id=self.user.text().strip() or None, status=STATUSES[self.status.currentIndex()] or None,
            model=self.model.text().strip() or None, workflow=self.workflow.text().strip() or None,
            has_error=HAS_ERROR[self.has_error.currentIndex()], **values)
        # A drill-down's whole names stay whole until a name is typed: typed text is a part.
        if f.exact and any(getattr(f, n) != getattr(base, n) and getattr(f, n) for n in NAME_FIELDS):
            f = replace(f, exact=False)
        return f

    def show_filter(self, f: ExecutionFilter) -> None:
        """The inputs as ``f`` says, without asking to apply it."""
        for edit, value in ((self.text, f.text), (self.agent, f.agent_name), (self.tool, f.tool_name),
                            (self.session, f.session_id), (self.user, f.user_id), (self.model, f.model),
                            (self.workflow, f.workflow), (self.min_duration, _number(f.min_duration_ms, " ms")),
                            (self.max_duration, _number(f.max_duration_ms, " ms")),
                            (self.min_tokens, _number(f.min_tokens)), (self.min_cost, _number(f.min_cost_usd))):
            edit.blockSignals(True)
            edit.setText(value or "")
            edit.setStyleSheet("")
            edit.blockSignals(False)
        for combo, index in ((self.status, STATUSES.index(f.status) if f.status in STATUSES else 0),
                             (self.has_error, HAS_ERROR.index(f.has_error))):
            combo.blockSignals(True)
            combo.setCurrentIndex(index)
            combo.blockSignals(False)


def _number(value: float | None, unit: str = "") -> str | None:
    if value is None:
        return None
    return f"{value:g}{unit}"
