"""The Alerts dialog: the rules of the rules file — create, edit, test against the last
7 days, enable or disable, delete, and silence for N hours.

Rules are validated exactly as the file is read (:func:`~studio_analytics.alerts.rules.rule_from_table`),
so a mistake is named by its field before anything is written; the file is changed one
``[[rule]]`` block at a time (:mod:`studio_analytics.alerts.rules_file`), keeping the
user's comments. Silences belong to the alert book, which the poll worker owns: the
dialog asks for them (``silence_requested``) and never writes the state file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QThreadPool, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from studio_analytics.alerts import rules_file
from studio_analytics.alerts.backtest import backtest
from studio_analytics.alerts.durations import format_duration
from studio_analytics.alerts.rules import (
    METRICS,
    Direction,
    Metric,
    Rule,
    RuleSet,
    Severity,
    When,
    load_rules,
    rule_from_table,
    rules_path,
)
from studio_analytics.db.engine import read_transaction
from studio_analytics.gui import zone
from studio_analytics.gui.dialogs.close_button import add_close_button
from studio_analytics.gui.models.alert_rule_table_model import AlertRuleTableModel
from studio_analytics.gui.workers.query_runner import start_query

TEST_DAYS = 7
TEST_STEP_S = 900
SCOPES = ("all", "each agent", "each tool", "each api", "each model", "each workflow")
INVALID = "QLineEdit, QComboBox { border: 1px solid #d32f2f; }"


@dataclass(frozen=True, slots=True)
class RuleTest:
    """What a rule would have done over the test's span."""

    rule_id: str
    start: datetime
    end: datetime
    fired: tuple[tuple[datetime, str | None], ...]  # (when, member)
    problems: tuple[str, ...]


def backtest_query(rule: Rule, end: datetime) -> Any:
    def query(conn: Any) -> RuleTest:
        start = end - timedelta(days=TEST_DAYS)
        with read_transaction(conn):
            result = backtest(conn, [rule], start=start, end=end, step_s=TEST_STEP_S)
        return RuleTest(rule.id, start, end, tuple((t.at, t.member) for t in result.fired(rule.id)),
                        tuple(p.message for p in result.problems(rule.id)))
    return query


def field_of(message: str) -> str:
    """The rule key a validation message is about (its first known word)."""
    words = message.replace("=", " ").replace(":", " ").replace("'", " ").split()
    keys = ("threshold", "window", "cooldown", "stuck_after", "min_sample", "severity", "direction", "when",
            "metric", "scope", "id", "name", "enabled")
    for word in words:
        if word in keys:
            return word
        if word in ("scoped", "each"):
            return "scope"
    return "id"


class AlertRulesDialog(QDialog):
    rules_changed = Signal()  # the file was written: the window re-evaluates
    silence_requested = Signal(str, object)  # rule id, until (UTC)
    unsilence_requested = Signal(str)
    test_finished = Signal(object)  # RuleTest, or None when it failed

    def __init__(self, url: str, pool: QThreadPool, parent: QWidget | None = None, *,
                 path: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Alert rules")
        self.url = url
        self.pool = pool
        self.path = path or rules_path()
        self.ruleset: RuleSet = RuleSet(())
        self._editing: str | None = None  # id of the rule in the form; None: a new one
        self._generation = 0
        self._silenced: dict[str, datetime] = {}

        self.model = AlertRuleTableModel()
        self.model.enabled_toggled.connect(self.set_enabled)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setTabKeyNavigation(False)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.selectionModel().currentRowChanged.connect(lambda current, _p: self._row_chosen(current))
        rules_label = QLabel("&Rules (Space turns one on or off):")
        rules_label.setBuddy(self.table)
        self.file_label = QLabel()
        self.file_label.setWordWrap(True)
        self.file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems_label = QLabel()
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet("QLabel { color: #b71c1c; }")
        self.problems_label.hide()

        # -- the form ------------------------------------------------------------------
        self.id_edit = QLineEdit()
        self.id_edit.setPlaceholderText("e.g. planner-failures")
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("what it means, for people (optional)")
        self.metric_box = QComboBox()
        for metric in Metric:
            self.metric_box.addItem(f"{METRICS[metric].label} ({metric.value})", metric.value)
        self.scope_box = QComboBox()
        self.scope_box.setEditable(True)
        self.scope_box.addItems(SCOPES)
        self.scope_box.setToolTip('"all", "each agent" (one alert per agent), or one member: "agent:WebAgent",\n'
                                  '"tool:search", "api:openai", "model:gpt-4o", "workflow:research"')
        self.window_edit = QLineEdit()
        self.window_edit.setPlaceholderText("30m, 1h, 2d")
        self.stuck_edit = QLineEdit()
        self.stuck_edit.setPlaceholderText("30m")
        self.when_box = QComboBox()
        for when in When:
            self.when_box.addItem(when.value, when.value)
        self.threshold_edit = QLineEdit()
        self.threshold_edit.setPlaceholderText("a rate is a share: 0.2 = 20 %")
        self.direction_box = QComboBox()
        for direction in Direction:
            self.direction_box.addItem(direction.value, direction.value)
        self.min_sample = QSpinBox()
        self.min_sample.setRange(0, 1_000_000)
        self.cooldown_edit = QLineEdit()
        self.cooldown_edit.setPlaceholderText("1h")
        self.severity_box = QComboBox()
        for severity in Severity:
            self.severity_box.addItem(severity.value, severity.value)
        self.enabled_box = QCheckBox("Enabled")
        self.fields: dict[str, QWidget] = {
            "id": self.id_edit, "name": self.name_edit, "metric": self.metric_box, "scope": self.scope_box,
            "window": self.window_edit, "stuck_after": self.stuck_edit, "when": self.when_box,
            "threshold": self.threshold_edit, "direction": self.direction_box, "min_sample": self.min_sample,
            "cooldown": self.cooldown_edit, "severity": self.severity_box, "enabled": self.enabled_box,
        }
        form = QFormLayout()
        for label, key in (("&Id", "id"), ("&Name", "name"), ("&Metric", "metric"), ("Sc&ope", "scope"),
                           ("&Window", "window"), ("Stuc&k after", "stuck_after"), ("Con&dition", "when"),
                           ("&Threshold", "threshold"), ("Dir&ection", "direction"), ("Min &sample", "min_sample"),
                           ("&Cooldown", "cooldown"), ("Severit&y", "severity")):
            form.addRow(label, self.fields[key])
        form.addRow("", self.enabled_box)
        self.metric_box.currentIndexChanged.connect(lambda _i: self._fit_form())
        self.when_box.currentIndexChanged.connect(lambda _i: self._fit_form())
        self.error_label = QLabel()
        self.error_label.setObjectName("ruleError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("QLabel { color: #b71c1c; }")
        self.error_label.hide()
        self.description = QLabel()
        self.description.setWordWrap(True)

        self.new_button = QPushButton("&Add rule")
        self.new_button.clicked.connect(self.new_rule)
        self.save_button = QPushButton("Sa&ve rule")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save)
        self.delete_button = QPushButton("De&lete…")
        self.delete_button.clicked.connect(self.delete)
        self.test_button = QPushButton(f"Test against the last &{TEST_DAYS} days")
        self.test_button.clicked.connect(self.test)
        self.test_result = QLabel()
        self.test_result.setWordWrap(True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hours = QSpinBox()
        self.hours.setRange(1, 24 * 14)
        self.hours.setValue(4)
        self.hours.setSuffix(" h")
        hours_label = QLabel("Silence &for")
        hours_label.setBuddy(self.hours)
        self.silence_button = QPushButton("Silence &until then")
        self.silence_button.clicked.connect(self.silence)
        self.unsilence_button = QPushButton("Lift t&he silence")
        self.unsilence_button.clicked.connect(self.unsilence)
        self.silence_label = QLabel()

        buttons = QHBoxLayout()
        for b in (self.new_button, self.save_button, self.delete_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        silence = QHBoxLayout()
        for w in (hours_label, self.hours, self.silence_button, self.unsilence_button):
            silence.addWidget(w)
        silence.addStretch(1)
        right = QWidget()
        side = QVBoxLayout(right)
        side.addLayout(form)
        side.addWidget(self.description)
        side.addWidget(self.error_label)
        side.addLayout(buttons)
        side.addWidget(self.test_button)
        side.addWidget(self.test_result)
        side.addLayout(silence)
        side.addWidget(self.silence_label)
        side.addStretch(1)
        left = QWidget()
        left_box = QVBoxLayout(left)
        left_box.setContentsMargins(0, 0, 0, 0)
        left_box.addWidget(rules_label)
        left_box.addWidget(self.table, stretch=1)
        left_box.addWidget(self.problems_label)
        left_box.addWidget(self.file_label)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([520, 440])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, stretch=1)
        add_close_button(self, layout)
        self.resize(1000, 620)
        self.reload()

    # -- the rules -----------------------------------------------------------------
    def reload(self, select: str | None = None) -> None:
        """Read the rules file again (the defaults when there is none yet)."""
        self.ruleset = load_rules(self.path)
        self.model.set_rules(self.ruleset.rules, self._silence_texts())
        exists = self.path.exists()
        self.file_label.setText(f"Rules file: {self.path}" if exists else
                                f"No rules file yet: these are the default rules; saving writes {self.path}")
        problems = self.ruleset.problems
        self.problems_label.setText("\n".join(str(p) for p in problems))
        self.problems_label.setVisible(bool(problems))
        row = self.model.row_of(select) if select else None
        if row is None and self.model.rowCount():
            row = 0
        if row is not None:
            self.table.selectionModel().setCurrentIndex(
                self.model.index(row, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
            self._row_chosen(self.model.index(row, 0))  # also when the row index did not change
        else:
            self.new_rule()

    def _row_chosen(self, current: QModelIndex) -> None:
        if current.isValid():
            self.show_rule(self.model.rule_at(current.row()))

    def show_rule(self, rule: Rule) -> None:
        self._editing = rule.id
        self.id_edit.setText(rule.id)
        self.name_edit.setText(rule.name)
        self.metric_box.setCurrentIndex(self.metric_box.findData(rule.metric.value))
        self.scope_box.setCurrentText(str(rule.scope))
        self.window_edit.setText(format_duration(rule.window_s))
        self.stuck_edit.setText(format_duration(rule.stuck_after_s))
        self.when_box.setCurrentIndex(self.when_box.findData(rule.when.value))
        self.threshold_edit.setText("" if rule.threshold is None else f"{rule.threshold:g}")
        self.direction_box.setCurrentIndex(self.direction_box.findData(rule.direction.value))
        self.min_sample.setValue(rule.min_sample)
        self.cooldown_edit.setText(format_duration(rule.cooldown_s))
        self.severity_box.setCurrentIndex(self.severity_box.findData(rule.severity.value))
        self.enabled_box.setChecked(rule.enabled)
        self.description.setText(f"<i>{rule.describe()}</i>")
        self.test_result.setText("")
        self._clear_error()
        self._fit_form()
        self._show_silence()

    def new_rule(self) -> None:
        """An empty form (a failure-rate rule of every run, the usual starting point)."""
        self._editing = None
        self.table.clearSelection()
        self.id_edit.setText("")
        self.name_edit.setText("")
        self.metric_box.setCurrentIndex(self.metric_box.findData(Metric.FAILURE_RATE.value))
        self.scope_box.setCurrentText("all")
        self.window_edit.setText("30m")
        self.stuck_edit.setText("30m")
        self.when_box.setCurrentIndex(self.when_box.findData(When.ABOVE.value))
        self.threshold_edit.setText("")
        self.direction_box.setCurrentIndex(self.direction_box.findData(Direction.UP.value))
        self.min_sample.setValue(10)
        self.cooldown_edit.setText("1h")
        self.severity_box.setCurrentIndex(self.severity_box.findData(Severity.WARNING.value))
        self.enabled_box.setChecked(True)
        self.description.setText("<i>A new rule: fill in the form, then Save rule (Alt+V).</i>")
        self.test_result.setText("")
        self._clear_error()
        self._fit_form()
        self._show_silence()
        self.id_edit.setFocus()

    def _fit_form(self) -> None:
        """Only the fields the rule's metric and condition use are enabled."""
        stuck = self.metric_box.currentData() == Metric.STUCK_RUNS.value
        anomalous = self.when_box.currentData() == When.ANOMALOUS.value
        self.window_edit.setEnabled(not stuck)
        self.stuck_edit.setEnabled(stuck)
        self.threshold_edit.setEnabled(not anomalous)
        self.direction_box.setEnabled(anomalous)

    def form_table(self) -> dict[str, Any]:
        """The form as a ``[[rule]]`` table, for :func:`rule_from_table`."""
        table: dict[str, Any] = {
            "id": self.id_edit.text().strip(), "metric": self.metric_box.currentData(),
            "scope": self.scope_box.currentText().strip(), "when": self.when_box.currentData(),
            "min_sample": self.min_sample.value(), "cooldown": self.cooldown_edit.text().strip(),
            "severity": self.severity_box.currentData(), "enabled": self.enabled_box.isChecked(),
        }
        if self.name_edit.text().strip():
            table["name"] = self.name_edit.text().strip()
        if table["metric"] == Metric.STUCK_RUNS.value:
            table["stuck_after"] = self.stuck_edit.text().strip()
        else:
            table["window"] = self.window_edit.text().strip()
        if table["when"] == When.ANOMALOUS.value:
            table["direction"] = self.direction_box.currentData()
        else:
            text = self.threshold_edit.text().strip().replace(",", ".")
            if text:
                try:
                    table["threshold"] = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
                except ValueError:
                    table["threshold"] = text  # rule_from_table says "is not a number"
        if not table["id"]:
            del table["id"]
        return table

    def form_rule(self) -> Rule | None:
        """The rule in the form, or None with its mistake shown beside the field."""
        self._clear_error()
        try:
            rule = rule_from_table(self.form_table())
        except ValueError as e:
            self.show_error(field_of(str(e)), str(e))
            return None
        if rule.id != self._editing and self.ruleset.get(rule.id) is not None:
            self.show_error("id", f"id {rule.id!r} is already used by another rule")
            return None
        # Keep what the form does not show (sensitivity, baseline weeks, lookback).
        old = self.ruleset.get(self._editing) if self._editing else None
        if old is not None:
            from dataclasses import replace

            rule = replace(rule, sensitivity=old.sensitivity, baseline_weeks=old.baseline_weeks,
                           stuck_lookback_s=old.stuck_lookback_s)
        return rule

    def show_error(self, field: str, message: str) -> None:
        widget = self.fields.get(field, self.id_edit)
        widget.setStyleSheet(INVALID)
        label = field.replace("_", " ")
        self.error_label.setText(f"{label[:1].upper()}{label[1:]}: {message}")
        self.error_label.show()
        widget.setFocus()
        self.error_field = field

    def _clear_error(self) -> None:
        self.error_field: str | None = None
        self.error_label.hide()
        for widget in self.fields.values():
            widget.setStyleSheet("")

    # -- file changes --------------------------------------------------------------
    def save(self) -> bool:
        rule = self.form_rule()
        if rule is None:
            return False
        try:
            rules_file.save_rule(self.path, rule, replace_id=self._editing)
        except (OSError, ValueError) as e:
            self.show_error("id", f"could not save: {e}")
            return False
        self.reload(select=rule.id)
        self.rules_changed.emit()
        return True

    def set_enabled(self, rule_id: str, enabled: bool) -> None:
        try:
            rules_file.set_enabled(self.path, rule_id, enabled)
        except (OSError, ValueError) as e:
            QMessageBox.warning(self, "Alert rules", f"Could not change {rule_id}: {e}")
            return
        self.reload(select=rule_id)
        self.rules_changed.emit()

    def delete(self, *, confirm: bool = True) -> None:
        if self._editing is None:
            return
        rule_id = self._editing
        if confirm and QMessageBox.question(self, "Delete rule", f"Delete the rule {rule_id!r} from {self.path}?") \
                != QMessageBox.StandardButton.Yes:
            return
        try:
            rules_file.delete_rule(self.path, rule_id)
        except (OSError, ValueError) as e:
            QMessageBox.warning(self, "Alert rules", f"Could not delete {rule_id}: {e}")
            return
        self.reload()
        self.rules_changed.emit()

    # -- test ----------------------------------------------------------------------
    def test(self) -> None:
        """Replay the form's rule over the last TEST_DAYS days, in the thread pool."""
        rule = self.form_rule()
        if rule is None:
            return
        self._generation += 1
        self.test_button.setEnabled(False)
        self.test_result.setText(f"Replaying {rule.id} over the last {TEST_DAYS} days…")
        start_query(self.pool, self.url, self._generation, backtest_query(rule, datetime.now(UTC)),
                    self._tested, self._test_failed)

    def _tested(self, generation: int, result: RuleTest) -> None:
        if generation != self._generation:
            return
        self.test_button.setEnabled(True)
        n = len(result.fired)
        lines = [f"<b>This rule would have fired {n} time{'s' if n != 1 else ''} in the last {TEST_DAYS} days"
                 + (":</b>" if n else ".</b>")]
        for at, member in result.fired[:12]:
            lines.append(f"{zone.in_zone(at):%a %Y-%m-%d %H:%M}" + (f" — {member}" if member else ""))
        if n > 12:
            lines.append(f"… and {n - 12} more")
        lines += [f"<span style='color:#b71c1c'>{p}</span>" for p in result.problems]
        self.test_result.setText("<br>".join(lines))
        self.test_finished.emit(result)

    def _test_failed(self, generation: int, error: Any) -> None:
        if generation != self._generation:
            return
        self.test_button.setEnabled(True)
        self.test_result.setText(f"The test could not run: {getattr(error, 'message', error)}")
        self.test_finished.emit(None)

    # -- silences ------------------------------------------------------------------
    def show_silences(self, silenced: dict[str, datetime]) -> None:
        """The silences the poll worker reports (its book is the one that counts)."""
        self._silenced = dict(silenced)
        self.model.set_silenced(self._silence_texts())
        self._show_silence()

    def _silence_texts(self) -> dict[str, str]:
        now = datetime.now(UTC)
        return {r: f"until {zone.in_zone(u):%a %H:%M}" for r, u in self._silenced.items() if u > now}

    def _show_silence(self) -> None:
        until = self._silenced.get(self._editing or "")
        silenced = until is not None and until > datetime.now(UTC)
        self.silence_label.setText(f"{self._editing} is silenced until {zone.in_zone(until):%a %Y-%m-%d %H:%M}"
                                   if silenced and until is not None else "")
        self.silence_button.setEnabled(self._editing is not None)
        self.unsilence_button.setEnabled(silenced)

    def silence(self) -> None:
        if self._editing is None:
            return
        until = datetime.now(UTC) + timedelta(hours=self.hours.value())
        self._silenced[self._editing] = until
        self.silence_requested.emit(self._editing, until)
        self.model.set_silenced(self._silence_texts())
        self._show_silence()

    def unsilence(self) -> None:
        if self._editing is None:
            return
        self._silenced.pop(self._editing, None)
        self.unsilence_requested.emit(self._editing)
        self.model.set_silenced(self._silence_texts())
        self._show_silence()
