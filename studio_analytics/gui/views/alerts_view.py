"""Alerts tab: what is firing now, the history of transitions, rule problems, and the
selected alert's figure over the last 24 hours with its usual band.

Enter or a double-click on a row asks for the executions behind it
(``executions_requested``); the window turns that into the Executions tab's filter.
The chart's figures are replayed from the database in the thread pool
(:func:`studio_analytics.alerts.backtest.backtest`), never on the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QThreadPool, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from studio_analytics.alerts.backtest import backtest
from studio_analytics.alerts.rules import METRICS, MetricKind, Rule
from studio_analytics.alerts.transitions import TransitionKind
from studio_analytics.db.engine import read_transaction
from studio_analytics.gui import zone
from studio_analytics.gui.charts.alert_chart import AlertRuleChart
from studio_analytics.gui.models.alert_table_model import (
    AlertHistoryTableModel,
    AlertRow,
    FiringAlertTableModel,
    RuleProblemTableModel,
    firing_rows,
    history_rows,
)
from studio_analytics.gui.workers.alert_watch import AlertsSnapshot
from studio_analytics.gui.workers.query_runner import start_query

#: The chart's span and the replay's step.
CHART_HOURS = 24
CHART_STEP_S = 900
#: A chart already drawn is replayed again at most this often (or when its alert changes).
CHART_MAX_AGE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class AlertSeries:
    """A rule's figure for one member over the chart's span, replayed."""

    rule_id: str
    member: str | None
    times: tuple[Any, ...]
    values: tuple[float | None, ...]
    lows: tuple[float | None, ...]
    highs: tuple[float | None, ...]
    #: moments the replay fired (its own cooldown applied)
    fired: tuple[datetime, ...]


def replay_query(rule: Rule, member: str | None, end: datetime) -> Any:
    """A query for the pool: ``rule``'s figure for ``member`` over the CHART_HOURS before ``end``."""
    def query(conn: Any) -> AlertSeries:
        with read_transaction(conn):
            result = backtest(conn, [rule], start=end - timedelta(hours=CHART_HOURS), end=end, step_s=CHART_STEP_S)
            times, values, lows, highs = result.series(rule.id, member)
            fired = tuple(t.at for t in result.fired(rule.id) if (t.member or "") == (member or ""))
        return AlertSeries(rule.id, member, tuple(times), tuple(values), tuple(lows), tuple(highs), fired)
    return query


def _table(model: Any, stretch: str = "rule_title") -> QTableView:
    """A table whose ``stretch`` column takes the width the others leave (eliding)."""
    table = QTableView()
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    table.setWordWrap(False)
    table.setTextElideMode(Qt.TextElideMode.ElideRight)
    table.setTabKeyNavigation(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    # Long texts elide (the tooltip has them whole): every column stays in view at 1024 px.
    header.setMaximumSectionSize(table.fontMetrics().horizontalAdvance("x") * 40)
    header.setStretchLastSection(False)
    fields = [c.field for c in model.COLUMNS]
    if stretch in fields:
        header.setSectionResizeMode(fields.index(stretch), QHeaderView.ResizeMode.Stretch)
    return table


def _titled(title: str, widget: QWidget, *extra: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    label = QLabel(f"<b>{title}</b>")
    label.setBuddy(widget)
    layout.addWidget(label)
    for w in extra:
        layout.addWidget(w)
    layout.addWidget(widget, stretch=1)
    return box


class AlertsView(QWidget):
    executions_requested = Signal(object, object)  # AlertRow, Rule | None
    rules_requested = Signal()  # "Rules…": the rules dialog
    silence_requested = Signal(str)  # rule id: ask for how long, then silence it
    chart_shown = Signal(object)  # AlertSeries | None, once the chart is drawn (or left empty)

    def __init__(self, pool: QThreadPool) -> None:
        super().__init__()
        self.pool = pool
        self.url: str | None = None
        self.snapshot: AlertsSnapshot | None = None
        self._generation = 0
        #: the row charted ((rule id, member); None: no row, the quiet chart) and whether any is
        self._chart_key: tuple[str, str] | None = None
        self._charted = False
        self._chart_at: datetime | None = None
        #: a replay for the chart is running (the screenshot waits for it)
        self.chart_pending = False

        self.summary = QLabel("Alerts are evaluated after each refresh.")
        self.summary.setWordWrap(True)
        self.error = QLabel()
        self.error.setObjectName("alertsError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("QLabel { color: #b71c1c; }")
        self.error.hide()
        self.rules_button = QPushButton("R&ules…")
        self.rules_button.setToolTip("Create, edit, test, enable or disable the alert rules (Ctrl+Shift+A)")
        self.rules_button.clicked.connect(self.rules_requested)
        self.silence_button = QPushButton("Silen&ce rule…")
        self.silence_button.setToolTip("No notifications from the selected alert's rule for a number of hours")
        self.silence_button.clicked.connect(self._silence_clicked)
        self.silence_button.setEnabled(False)
        top = QHBoxLayout()
        top.addWidget(self.summary, stretch=1)
        top.addWidget(self.silence_button)
        top.addWidget(self.rules_button)

        self.firing_model = FiringAlertTableModel()
        self.firing_table = _table(self.firing_model)
        self.table = self.firing_table  # the tab's first table: the window focuses it
        self.history_model = AlertHistoryTableModel()
        self.history_table = _table(self.history_model)
        self.problem_model = RuleProblemTableModel()
        self.problem_table = _table(self.problem_model, "message")
        self.chart = AlertRuleChart()
        self.chart.setMinimumHeight(180)
        for table in (self.firing_table, self.history_table):
            table.activated.connect(lambda index, t=table: self._activated(t, index))
            table.selectionModel().currentRowChanged.connect(
                lambda current, _previous, t=table: self._selected(t, current))

        self.problems_box = _titled("Rule problems (these rules are skipped)", self.problem_table)
        self.problems_box.hide()
        upper = QSplitter(Qt.Orientation.Horizontal)
        upper.addWidget(_titled("Firing now", self.firing_table))
        upper.addWidget(self.chart)
        upper.setStretchFactor(0, 3)
        upper.setStretchFactor(1, 2)
        upper.setSizes([600, 400])
        lower = QSplitter(Qt.Orientation.Vertical)
        lower.addWidget(upper)
        lower.addWidget(_titled("History (newest first)", self.history_table))
        lower.addWidget(self.problems_box)
        lower.setSizes([330, 240, 90])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.error)
        layout.addWidget(lower, stretch=1)
        self.chart.clear_data("No alerts yet")

    # -- data ----------------------------------------------------------------------
    def set_database(self, url: str) -> None:
        self.url = url
        self._charted = False
        self._generation += 1
        self.chart.clear_data("Loading…")

    def show_snapshot(self, snap: AlertsSnapshot) -> None:
        self.snapshot = snap
        now = datetime.now(UTC)
        silenced = {rule_id: until for rule_id, until in snap.silenced_until if until > now}
        selected = self.selected_row()
        self.firing_model.set_rows(firing_rows(snap.firing, snap.rules, silenced))
        self.history_model.set_rows(history_rows(snap.history, snap.rules))
        self.problem_model.set_problems(snap.problems)
        self.problems_box.setVisible(bool(snap.problems))
        self.summary.setText(self._summary(snap, silenced))
        self.error.setText(snap.error or "")
        self.error.setVisible(bool(snap.error))
        self._reselect(selected)
        changed = {t.key for t in snap.new}
        row = self.selected_row()
        key = (row.rule_id, row.member or "") if row is not None else None
        if (not self._charted or key != self._chart_key or key in changed or self._chart_at is None
                or now - self._chart_at > CHART_MAX_AGE):
            self._chart_for(row)

    @staticmethod
    def _summary(snap: AlertsSnapshot, silenced: dict[str, datetime]) -> str:
        n = len(snap.firing)
        parts = [f"<b>{n} alert{'s' if n != 1 else ''} firing</b>" if n else "Nothing is firing"]
        enabled = sum(r.enabled for r in snap.rules)
        parts.append(f"{enabled} of {len(snap.rules)} rules enabled")
        if snap.at is not None:
            parts.append(f"evaluated {zone.in_zone(snap.at):%H:%M:%S} in {snap.seconds * 1000:.0f} ms")
        if silenced:
            parts.append("silenced: " + ", ".join(f"{r} until {zone.in_zone(u):%H:%M}" for r, u in silenced.items()))
        if snap.rules_source:
            parts.append(f"rules: {snap.rules_source}")
        return " · ".join(parts)

    def selected_row(self) -> AlertRow | None:
        for table in (self.firing_table, self.history_table):
            index = table.currentIndex()
            if index.isValid() and table.hasFocus():
                return table.model().row_at(index.row())  # type: ignore[attr-defined, no-any-return]
        for table in (self.firing_table, self.history_table):
            index = table.currentIndex()
            if index.isValid():
                return table.model().row_at(index.row())  # type: ignore[attr-defined, no-any-return]
        return None

    def _reselect(self, previous: AlertRow | None) -> None:
        """The same alert stays selected across refreshes; else the first firing one."""
        for table in (self.firing_table, self.history_table):
            model = table.model()
            rows = [model.row_at(i) for i in range(model.rowCount())]  # type: ignore[attr-defined]
            match = next((i for i, r in enumerate(rows) if previous is not None and r.rule_id == previous.rule_id
                          and r.member == previous.member and r.at == previous.at), None)
            if match is None and table is self.firing_table and rows and (
                    previous is None or previous.change == "firing"):
                match = 0
            if match is not None:
                table.selectionModel().setCurrentIndex(
                    model.index(match, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
                    | QItemSelectionModel.SelectionFlag.Rows)
                return
        if previous is None and self.history_model.rowCount():
            self.history_table.selectionModel().setCurrentIndex(
                self.history_model.index(0, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows)

    def rule_of(self, row: AlertRow) -> Rule | None:
        return self.snapshot.rule(row.rule_id) if self.snapshot is not None else None

    # -- actions -------------------------------------------------------------------
    def _activated(self, table: QTableView, index: QModelIndex) -> None:
        if index.isValid():
            row = table.model().row_at(index.row())  # type: ignore[attr-defined]
            self.executions_requested.emit(row, self.rule_of(row))

    def _selected(self, table: QTableView, current: QModelIndex) -> None:
        if not current.isValid():
            return
        other = self.history_table if table is self.firing_table else self.firing_table
        other.selectionModel().blockSignals(True)
        other.clearSelection()
        other.setCurrentIndex(QModelIndex())
        other.selectionModel().blockSignals(False)
        row = table.model().row_at(current.row())  # type: ignore[attr-defined]
        self.silence_button.setEnabled(True)
        if self._chart_key != (row.rule_id, row.member or ""):
            self._chart_for(row)

    def _silence_clicked(self) -> None:
        self.ask_silence()

    def ask_silence(self) -> None:
        """Silence the selected alert's rule (the window asks for how long)."""
        row = self.selected_row()
        if row is not None:
            self.silence_requested.emit(row.rule_id)

    # -- the chart -----------------------------------------------------------------
    def _chart_for(self, row: AlertRow | None) -> None:
        """Replay the row's rule for its member; with no row, the first enabled rule over
        everything (the chart shows how quiet things are rather than nothing)."""
        self._generation += 1
        if row is None:
            rules = self.snapshot.rules if self.snapshot is not None else ()
            rule = next((r for r in rules if r.enabled and r.scope.kind == "all"), None)
            member = None
        else:
            rule, member = self.rule_of(row), row.member
        self.silence_button.setEnabled(row is not None)
        self._chart_key = (row.rule_id, row.member or "") if row is not None else None
        self._charted = True
        self._chart_at = datetime.now(UTC)
        if rule is None or self.url is None:
            self.chart.clear_data("No enabled rule to show" if row is None
                                  else f"The rule {row.rule_id!r} is no longer in the rules file")
            self.chart_pending = False
            self.chart_shown.emit(None)
            return
        self.chart_pending = True
        self.chart.setTitle(f"{rule.id}: replaying the last {CHART_HOURS} h…")
        start_query(self.pool, self.url, self._generation, replay_query(rule, member, datetime.now(UTC)),
                    lambda g, series, rl=rule, quiet=row is None: self._chart_loaded(g, series, rl, quiet),
                    self._chart_failed)

    def _chart_loaded(self, generation: int, series: AlertSeries, rule: Rule, quiet: bool = False) -> None:
        if generation != self._generation:
            return
        info = METRICS[rule.metric]
        rate = info.kind is MetricKind.RATE
        unit = "%" if rate else info.unit
        member = series.member
        who = f" — {member}" if member else ""
        fired, replayed = self._fired_marks(rule.id, member, series)
        # The rule's id, not its title: a long title would widen the chart past the window.
        self.chart.setToolTip(f"{rule.title}{who}\n{rule.describe()}\nThe figure replayed every "
                              f"{CHART_STEP_S // 60} min; the band is the usual range it is judged against.")
        self.chart.show_series(f"{rule.id}{who} · last {CHART_HOURS} h", unit, series.times, series.values,
                               series.lows, series.highs, rule.threshold, fired, scale=100.0 if rate else 1.0,
                               replayed=replayed)
        self.chart_pending = False
        self.chart_shown.emit(series)

    def _fired_marks(self, rule_id: str, member: str | None,
                     series: AlertSeries) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
        """Fired times of the history for this alert, and the replay's that the history
        does not have (the window was not running then)."""
        marks: list[tuple[float, str]] = []
        history = self.snapshot.history if self.snapshot is not None else ()
        for t in history:
            if t.kind is TransitionKind.FIRED and t.key == (rule_id, member or ""):
                marks.append((t.at.timestamp(), f"fired {zone.in_zone(t.at):%Y-%m-%d %H:%M}"))
        replayed = [(at.timestamp(), f"would have fired {zone.in_zone(at):%Y-%m-%d %H:%M} (replayed; the window "
                                     "was not watching then)")
                    for at in series.fired if all(abs(at.timestamp() - x) > CHART_STEP_S for x, _ in marks)]
        return sorted(marks), replayed

    def _chart_failed(self, generation: int, error: Any) -> None:
        if generation != self._generation:
            return
        self.chart.clear_data(f"Could not replay the rule: {getattr(error, 'message', error)}")
        self.chart_pending = False
        self.chart_shown.emit(None)
