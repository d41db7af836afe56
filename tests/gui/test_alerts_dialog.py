"""The Alerts dialog: rules listed with what they watch, a new rule validated field by
field and written to the rules file (comments kept), enable/disable, delete, and the
test against the last 7 days replayed in the thread pool."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QThreadPool

from studio_analytics.alerts.rules import default_rules, load_rules, rules_path
from studio_analytics.gui.dialogs.alert_rules_dialog import AlertRulesDialog, RuleTest, field_of
from tests.gui.test_alerts_window import RULES, make_db, write_rules


@pytest.fixture(scope="module")
def stuck_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    from studio_analytics.db.engine import create_db_engine
    from studio_analytics.db.migrate import upgrade_database

    url = f"sqlite:///{tmp_path_factory.mktemp('alert-dialog') / 'metrics.sqlite3'}"
    engine = create_db_engine(url)
    upgrade_database(engine)
    engine.dispose()
    make_db(url)
    return url


@pytest.fixture
def dialog(qtbot, stuck_db: str):
    pool = QThreadPool()
    d = AlertRulesDialog(stuck_db, pool)
    qtbot.addWidget(d)
    yield d
    pool.waitForDone(10_000)


def fill(d: AlertRulesDialog, **fields: str) -> None:
    d.new_rule()
    d.id_edit.setText(fields.get("id", "planner-failures"))
    d.metric_box.setCurrentIndex(d.metric_box.findData(fields.get("metric", "failure_rate")))
    d.scope_box.setCurrentText(fields.get("scope", "agent:Planner"))
    d.window_edit.setText(fields.get("window", "1h"))
    d.when_box.setCurrentIndex(d.when_box.findData(fields.get("when", "above")))
    d.threshold_edit.setText(fields.get("threshold", "0.5"))


def test_lists_the_default_rules_until_a_file_exists(dialog: AlertRulesDialog) -> None:
    assert not rules_path().exists()
    ids = [dialog.model.rule_at(i).id for i in range(dialog.model.rowCount())]
    assert ids == [r.id for r in default_rules().rules]
    assert "default rules" in dialog.file_label.text()
    row = dialog.model.row_of("stuck-runs")
    assert dialog.model.data(dialog.model.index(row, 3)) == default_rules().get("stuck-runs").describe()


def test_a_new_rule_is_written_and_a_mistake_names_its_field(qtbot, dialog: AlertRulesDialog) -> None:
    write_rules()
    dialog.reload()
    before = rules_path().read_text(encoding="utf-8")
    fill(dialog, threshold="lots")
    assert not dialog.save()
    assert dialog.error_field == "threshold" and dialog.error_label.text().startswith("Threshold:")
    assert "not a number" in dialog.error_label.text()
    fill(dialog, window="soon")
    assert not dialog.save() and dialog.error_field == "window"
    fill(dialog, scope="agent")
    assert not dialog.save() and dialog.error_field == "scope"
    fill(dialog, id="stuck-agents")  # taken
    assert not dialog.save() and dialog.error_field == "id"
    assert rules_path().read_text(encoding="utf-8") == before  # nothing written
    fill(dialog, threshold="40%")
    with qtbot.waitSignal(dialog.rules_changed):
        assert dialog.save()
    text = rules_path().read_text(encoding="utf-8")
    assert text.startswith(RULES)  # the user's comments and rules stay as they were
    rule = load_rules().get("planner-failures")
    assert rule is not None and rule.threshold == 0.4 and str(rule.scope) == "agent:Planner"
    assert dialog.model.rule_at(dialog.table.currentIndex().row()).id == "planner-failures"
    assert dialog.description.text() == f"<i>{rule.describe()}</i>"


def test_enable_disable_and_delete(qtbot, dialog: AlertRulesDialog) -> None:
    write_rules()
    dialog.reload(select="busy")
    row = dialog.model.row_of("busy")
    index = dialog.model.index(row, 0)
    with qtbot.waitSignal(dialog.rules_changed):
        dialog.model.setData(index, Qt.CheckState.Unchecked, Qt.ItemDataRole.CheckStateRole)
    assert load_rules().get("busy").enabled is False
    assert dialog.model.rule_at(dialog.model.row_of("busy")).enabled is False
    with qtbot.waitSignal(dialog.rules_changed):
        dialog.delete(confirm=False)
    assert load_rules().get("busy") is None and load_rules().get("stuck-agents") is not None


def test_the_test_replays_the_last_seven_days(qtbot, dialog: AlertRulesDialog) -> None:
    write_rules()
    dialog.reload(select="stuck-agents")
    with qtbot.waitSignal(dialog.test_finished, timeout=30_000) as blocker:
        dialog.test_button.click()
    result: RuleTest = blocker.args[0]
    assert isinstance(result, RuleTest) and [m for _at, m in result.fired] == ["Planner"]
    assert "would have fired 1 time in the last 7 days" in dialog.test_result.text()
    assert dialog.test_button.isEnabled()
    fill(dialog, threshold="")  # a mistake: nothing runs, the field says why
    dialog.test_button.click()
    assert dialog.error_field == "threshold" and dialog.test_button.isEnabled()


def test_field_of_messages() -> None:
    assert field_of("threshold is missing (when = \"above\" compares the figure with it)") == "threshold"
    assert field_of("window: 'soon' is not a duration; write e.g. \"15m\"") == "window"
    assert field_of("unknown scope 'agent'; write \"all\"") == "scope"
    assert field_of("stuck_runs cannot be scoped to workflows; it takes all, agent, tool") == "scope"
    assert field_of("min_sample = -1 must be at least 0") == "min_sample"
