"""The Alerts tab's tables: what is firing now, the history of transitions, rule problems."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon

from studio_analytics.alerts.results import Baseline
from studio_analytics.alerts.rules import METRICS, Metric, MetricKind, Rule, RuleProblem
from studio_analytics.alerts.transitions import FiringAlert, Transition, TransitionKind
from studio_analytics.gui import zone
from studio_analytics.gui.alert_notifier import SEVERITY_COLOURS, dot_icon
from studio_analytics.gui.models.row_table_model import Column, Index, RowTableModel, ms, usd, when


def short_when(v: datetime | None) -> str:
    """A time of today as "16:18", an older one with its day ("12-01 09:30")."""
    if v is None:
        return "—"
    shown = zone.in_zone(v)
    today = zone.in_zone(datetime.now(shown.tzinfo)).date()
    return f"{shown:%H:%M}" if shown.date() == today else f"{shown:%m-%d %H:%M}"


def figure_text(value: float | None, metric: Metric | None) -> str:
    """A rule's figure in its unit: 42.0%, 1,250 ms, 3 runs, $1.20/h."""
    if value is None or value != value:
        return "—"
    if metric is None:
        return f"{value:g}"
    info = METRICS[metric]
    if info.kind is MetricKind.RATE:
        return f"{value * 100:.1f}%"
    if info.unit == "ms":
        return ms(value)
    if info.unit == "USD/h":
        return f"{usd(value)}/h"
    if info.unit == "tokens/h":
        return f"{value:,.0f} tokens/h"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def band_text(baseline: Baseline | None, threshold: float | None, rule: Rule | None) -> str:
    """The usual band of an anomalous rule ("1.0%–4.0%, median 2.0%"), else its threshold."""
    metric = rule.metric if rule is not None else None
    if baseline is not None and baseline.low == baseline.low and baseline.high == baseline.high:
        return (f"{figure_text(baseline.low, metric)}–{figure_text(baseline.high, metric)}"
                f" (median {figure_text(baseline.median, metric)})")
    if threshold is not None:
        side = {"below": "<"}.get(rule.when.value, ">") if rule is not None else ">"
        return f"{side} {figure_text(threshold, metric)}"
    return "—"


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One line of the Alerts tab: an alert firing now, or one transition of the history."""

    change: str  # "firing", "fired" or "resolved"
    rule_id: str
    rule_title: str
    severity: str
    member: str | None
    at: datetime  # firing: since; history: when
    value: str
    band: str
    notified: str
    reason: str
    #: the window behind the figure (the executions link) and what it counts
    start: datetime | None
    end: datetime | None
    scope_kind: str
    subject: str

    @property
    def member_text(self) -> str:
        return self.member or "all"


def firing_rows(firing: Sequence[FiringAlert], rules: Sequence[Rule],
                silenced: dict[str, datetime]) -> list[AlertRow]:
    """Critical first, then the longest-firing."""
    by_id = {r.id: r for r in rules}
    order = {"critical": 0, "warning": 1, "info": 2}
    rows = []
    for a in sorted(firing, key=lambda a: (order.get(a.severity, 3), a.since)):
        rule = by_id.get(a.rule_id)
        until = silenced.get(a.rule_id)
        rows.append(AlertRow(
            "firing", a.rule_id, a.rule_title, a.severity, a.member, a.since,
            figure_text(a.value, rule.metric if rule else None), band_text(a.baseline, a.threshold, rule),
            f"silenced until {short_when(until)}" if until else ("yes" if a.notified else "no"), a.reason,
            a.start, a.end, a.scope_kind, a.subject))
    return rows


def why_not_notified(t: Transition, earlier: Sequence[Transition], rule: Rule | None) -> str:
    """Why a transition was not told: the rule's cooldown, a silence, or a start nobody heard."""
    if t.notified:
        return "yes"
    if t.kind is TransitionKind.RESOLVED:
        return "no — its start was not notified or the rule is silenced"
    for e in reversed(earlier):
        if e.key == t.key and e.kind is TransitionKind.FIRED and e.notified:
            if rule is not None and t.at - e.at < timedelta(seconds=rule.cooldown_s):
                return f"no — within the cooldown after {when(e.at)}"
            break
    return "no — the rule was silenced"


def history_rows(history: Sequence[Transition], rules: Sequence[Rule]) -> list[AlertRow]:
    """Newest first."""
    by_id = {r.id: r for r in rules}
    rows = []
    for i, t in enumerate(history):
        rule = by_id.get(t.rule_id)
        rows.append(AlertRow(
            t.kind.value, t.rule_id, t.rule_title, t.severity, t.member, t.at,
            figure_text(t.value, rule.metric if rule else None), band_text(t.baseline, t.threshold, rule),
            why_not_notified(t, history[:i], rule), t.reason, t.start, t.end, t.scope_kind, t.subject))
    rows.reverse()
    return rows


class _AlertTableModel(RowTableModel):
    """Rows in the order given; the rule's dot and the change coloured."""

    _icons: dict[str, QIcon] = {}

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (role == Qt.ItemDataRole.DecorationRole and index.isValid()
                and self.COLUMNS[index.column()].field == "rule_title"):
            severity = self.row_at(index.row()).severity
            if severity not in self._icons:
                self._icons[severity] = dot_icon(SEVERITY_COLOURS.get(severity, "#757575"), 12)
            return self._icons[severity]
        if role == Qt.ItemDataRole.ForegroundRole and index.isValid():
            row: AlertRow = self.row_at(index.row())
            field = self.COLUMNS[index.column()].field
            if field == "severity":
                return QColor(SEVERITY_COLOURS.get(row.severity, "#757575"))
            if field == "change" and row.change != "resolved":
                return QColor(SEVERITY_COLOURS["critical"])
            if field == "change":
                return QColor("#2e7d32")
            return None
        if role == Qt.ItemDataRole.ToolTipRole and index.isValid():
            row = self.row_at(index.row())
            told = "" if row.notified == "yes" else f"\nnotified: {row.notified}"
            return (f"{row.rule_title} ({row.severity})\n{row.reason}{told}\n"
                    "Enter or double-click: the executions behind it")
        return super().data(index, role)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """The order is the tab's own (critical first; newest first)."""


class FiringAlertTableModel(_AlertTableModel):
    """Critical first; the rule's dot has the severity's colour."""

    COLUMNS = (
        Column("Rule", "rule_title", str, numeric=False, sortable=False),
        Column("Severity", "severity", str, numeric=False, sortable=False),
        Column("Member", "member_text", str, numeric=False, sortable=False),
        Column("Value", "value", str, sortable=False),
        Column("Usual / threshold", "band", str, sortable=False),
        Column("Since", "at", short_when, numeric=False, sortable=False, timed=True),
    )


class AlertHistoryTableModel(_AlertTableModel):
    COLUMNS = (
        Column("When", "at", when, numeric=False, sortable=False, timed=True),
        Column("Change", "change", str, numeric=False, sortable=False),
        Column("Rule", "rule_title", str, numeric=False, sortable=False),
        Column("Member", "member_text", str, numeric=False, sortable=False),
        Column("Value", "value", str, sortable=False),
        Column("Usual / threshold", "band", str, sortable=False),
        Column("Notified", "notified", str, numeric=False, sortable=False),
    )


@dataclass(frozen=True, slots=True)
class ProblemRow:
    file: str
    line: str
    rule: str
    message: str


class RuleProblemTableModel(RowTableModel):
    COLUMNS = (
        Column("File", "file", str, numeric=False, sortable=False),
        Column("Line", "line", str, sortable=False),
        Column("Rule", "rule", str, numeric=False, sortable=False),
        Column("Problem", "message", str, numeric=False, sortable=False),
    )

    def set_problems(self, problems: Sequence[RuleProblem]) -> None:
        self.set_rows([ProblemRow(p.source or "rules", str(p.line) if p.line else "—", p.rule_id or "—", p.message)
                       for p in problems])

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """In the file's order."""
