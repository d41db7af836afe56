"""The window's alerts: evaluated by the poll worker after each refresh, shown in the
Alerts tab with a badge, markers on the charts, notifications without repeats inside the
cooldown, silences, the drill-down to the executions, and state across a restart."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication
from sqlalchemy import insert, update

from studio_analytics.alerts.rules import RULES_FILENAME
from studio_analytics.alerts.state_file import alerts_state_path, load_state
from studio_analytics.alerts.transitions import TransitionKind
from studio_analytics.analytics.results import ExecutionFilter
from studio_analytics.config import config_dir
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import AgentExecutionMetrics
from studio_analytics.db.rollups import rebuild_rollups
from studio_analytics.gui.main_window import TABS, MainWindow
from studio_analytics.gui.models.alert_table_model import AlertRow
from studio_analytics.gui.window_alerts import alert_filter
from studio_analytics.gui.workers.alert_watch import AlertWatch
from studio_analytics.gui.workers.poll_worker import PollRequest, PollResult, PollWorker

RULES = """\
# rules of the window tests
[[rule]]
id = "stuck-agents"
name = "An agent's runs are stuck"
metric = "stuck_runs"
scope = "each agent"
stuck_after = "30m"
when = "above"
threshold = 0
min_sample = 0
cooldown = "1h"
severity = "critical"

[[rule]]
id = "busy"
metric = "executions"
scope = "all"
window = "1h"
when = "above"
threshold = 100000
min_sample = 0
severity = "info"

[[rule]]
id = "broken"
metric = "failure_rate"
when = "above"
"""
STUCK_ID = uuid.UUID("00000000-0000-4000-8000-000000000017")


def write_rules(text: str = RULES) -> Path:
    path = config_dir(create=True) / RULES_FILENAME
    path.write_text(text, encoding="utf-8")
    return path


def _row(agent: str, at: datetime, status: str = "success") -> dict:
    done = status != "in_progress"
    return dict(execution_id=uuid.uuid4(), agent_name=agent, start_time=at, end_time=at if done else None,
                duration_ms=120.0 if done else None, status=status, error_message=None, tool_count=0,
                retry_count=0, api_calls_count=0)


def make_db(url: str, *, stuck: bool = True) -> None:
    """A few finished runs of two agents over the last hours, and (``stuck``) a Planner
    run in progress for 45 minutes."""
    now = datetime.now(UTC)
    rows = [_row(agent, now - timedelta(minutes=7 * i + 3)) for i in range(30) for agent in ("Planner", "Coder")]
    stuck_row = _row("Planner", now - timedelta(minutes=45), "in_progress")
    stuck_row["execution_id"] = STUCK_ID
    if not stuck:
        stuck_row.update(status="success", end_time=now - timedelta(minutes=44), duration_ms=60_000.0)
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(AgentExecutionMetrics), [*rows, stuck_row])
        rebuild_rollups(conn)
    engine.dispose()


def set_stuck(url: str, in_progress: bool) -> None:
    """The Planner run finishes (or is in progress again)."""
    now = datetime.now(UTC)
    values = (dict(status="in_progress", end_time=None, duration_ms=None) if in_progress
              else dict(status="success", end_time=now, duration_ms=45 * 60_000.0))
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(update(AgentExecutionMetrics).where(AgentExecutionMetrics.execution_id == STUCK_ID)
                     .values(**values))
        rebuild_rollups(conn)
    engine.dispose()


@pytest.fixture
def stuck_url(sqlite_db_url: str) -> str:
    make_db(sqlite_db_url)
    return sqlite_db_url


def open_window(qtbot, url: str) -> MainWindow:
    win = MainWindow(url, refresh_ms=3_600_000)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.alert_ui.last is not None and win.last_health is not None, timeout=20_000)
    return win


def evaluated(qtbot, win: MainWindow, *, timeout: int = 20_000):
    """Refresh and wait for the alerts evaluated after it."""
    with qtbot.waitSignal(win.poller.worker.alerts_evaluated, timeout=timeout) as blocker:
        win.refresh()
    qtbot.waitUntil(lambda: win.alert_ui.last is blocker.args[0])
    return blocker.args[0]


def test_firing_alert_badge_banner_problems_and_markers(qtbot, stuck_url: str) -> None:
    write_rules()
    win = open_window(qtbot, stuck_url)
    snap = win.alert_ui.last
    assert [(a.rule_id, a.member) for a in snap.firing] == [("stuck-agents", "Planner")]
    index = TABS.index("alerts")
    assert win.tabs.tabText(index) == "Alerts (1)" and not win.tabs.tabIcon(index).isNull()
    assert win.tabs.tabBar().tabTextColor(index).name() == "#d32f2f"  # a critical one fires
    row = win.alerts.firing_model.row_at(0)
    assert (row.rule_id, row.member, row.value, row.band) == ("stuck-agents", "Planner", "1", "> 0")
    assert win.alerts.history_model.rowCount() == 1 and win.alerts.history_model.row_at(0).change == "fired"
    # Offscreen there is no system tray: the notification is the window's banner.
    assert [t.kind for t in win.alert_ui.notifier.shown] == [TransitionKind.FIRED]
    assert not win.alert_banner.isHidden() and "stuck" in win.alert_banner.text()
    # The rule with a mistake is listed with its line; the others still run.
    problems = [win.alerts.problem_model.row_at(i) for i in range(win.alerts.problem_model.rowCount())]
    assert [(p.rule, p.line) for p in problems] == [("broken", "24")] and "threshold" in problems[0].message
    assert win.alerts.problems_box.isVisibleTo(win.alerts)
    # A marker where it fired on the executions chart (stuck runs), none on the latency chart.
    markers, _ = win.alert_ui.markers["executions"]
    assert markers.shown == [pytest.approx(snap.firing[0].since.timestamp())]
    assert win.alert_ui.markers["latency"][0].shown == []
    lines = list(markers.lines)
    win.alert_ui.show_markers()
    assert markers.lines == lines  # moved, never created again
    # Viewing the tab puts the banner away; Ctrl+8 reaches it, and its table has the keys.
    win.show()
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    qtbot.keyClick(win, Qt.Key.Key_8, Qt.KeyboardModifier.ControlModifier)
    assert win.current_tab == "alerts" and QApplication.focusWidget() is win.alerts.firing_table
    assert win.alert_banner.isHidden()
    win.close()


def test_chart_replays_the_selected_alert(qtbot, stuck_url: str) -> None:
    write_rules()
    win = open_window(qtbot, stuck_url)
    view = win.alerts
    if view.chart_pending:
        with qtbot.waitSignal(view.chart_shown, timeout=20_000) as blocker:
            pass
        series = blocker.args[0]
    else:
        series = None
    qtbot.waitUntil(lambda: not view.chart_pending, timeout=20_000)
    assert series is None or series.rule_id == "stuck-agents"
    x, y = view.chart.value.getData()
    assert x is not None and len(x) >= 90 and y[-1] == 1.0  # every 15 min over 24 h; stuck now
    assert view.chart.markers.shown  # where it fired
    assert not view.chart.band.isVisible()  # a threshold rule has no usual band
    tx, ty = view.chart.threshold.getData()
    assert list(ty) == [0.0, 0.0]
    win.close()


def test_drill_down_opens_the_executions_behind_the_alert(qtbot, stuck_url: str) -> None:
    write_rules()
    win = open_window(qtbot, stuck_url)
    win.show()
    qtbot.waitExposed(win)
    win.go_to_tab(TABS.index("alerts"))
    table = win.alerts.firing_table
    table.setCurrentIndex(win.alerts.firing_model.index(0, 0))
    qtbot.keyClick(table, Qt.Key.Key_Return)
    alert = win.alert_ui.last.firing[0]
    assert win.current_tab == "executions"
    f = win.executions.filters
    assert f == ExecutionFilter(agent_name="Planner", status="in_progress", exact=True,
                                started_after=alert.start, started_before=alert.end)
    qtbot.waitUntil(lambda: win.executions.model.rowCount() == 1, timeout=20_000)
    assert win.executions.model.row_at(0).execution_id == STUCK_ID
    win.close()


def test_resolve_then_refire_inside_the_cooldown_is_not_notified_again(qtbot, stuck_url: str) -> None:
    write_rules()
    win = open_window(qtbot, stuck_url)
    assert len(win.alert_ui.last.firing) == 1
    set_stuck(stuck_url, False)
    snap = evaluated(qtbot, win)
    assert snap.firing == () and [t.kind for t in snap.new] == [TransitionKind.RESOLVED]
    assert win.tabs.tabText(TABS.index("alerts")) == "Alerts" and win.tabs.tabIcon(TABS.index("alerts")).isNull()
    history = [win.alerts.history_model.row_at(i) for i in range(win.alerts.history_model.rowCount())]
    assert [r.change for r in history] == ["resolved", "fired"]  # newest first
    assert [t.kind for t in win.alert_ui.notifier.shown] == [TransitionKind.FIRED, TransitionKind.RESOLVED]
    # It comes back within the rule's 1 h cooldown: recorded, shown, not notified.
    set_stuck(stuck_url, True)
    snap = evaluated(qtbot, win)
    assert [(t.kind, t.notified) for t in snap.new] == [(TransitionKind.FIRED, False)]
    assert len(win.alert_ui.notifier.shown) == 2
    assert win.alerts.history_model.row_at(0).notified.startswith("no — within the cooldown")
    assert win.tabs.tabText(TABS.index("alerts")) == "Alerts (1)"
    win.close()


def test_silence_from_the_dialog_suppresses_notifications(qtbot, sqlite_db_url: str) -> None:
    make_db(sqlite_db_url, stuck=False)
    write_rules()
    win = open_window(qtbot, sqlite_db_url)
    assert win.alert_ui.last.firing == ()
    # Nothing fires: the chart shows the first enabled rule over everything, not nothing.
    qtbot.waitUntil(lambda: not win.alerts.chart_pending, timeout=20_000)
    assert "busy" in win.alerts.chart.getPlotItem().titleLabel.text
    assert len(win.alerts.chart.value.getData()[0]) >= 90
    dialog = win.open_alert_rules()
    dialog.table.setCurrentIndex(dialog.model.index(dialog.model.row_of("stuck-agents"), 0))
    dialog.hours.setValue(2)
    with qtbot.waitSignal(win.poller.worker.alerts_evaluated, timeout=10_000) as blocker:
        dialog.silence_button.click()
    silenced = dict(blocker.args[0].silenced_until)
    assert silenced["stuck-agents"] > datetime.now(UTC) + timedelta(minutes=110)
    assert "stuck-agents" in load_state(alerts_state_path(sqlite_db_url)).silenced_until  # written by the worker
    qtbot.waitUntil(lambda: "silenced" in dialog.model.data(dialog.model.index(
        dialog.model.row_of("stuck-agents"), 1)))
    set_stuck(sqlite_db_url, True)
    snap = evaluated(qtbot, win)
    assert [(t.rule_id, t.notified) for t in snap.new] == [("stuck-agents", False)]
    assert win.alert_ui.notifier.shown == [] and win.alert_banner.isHidden()
    assert win.alerts.history_model.row_at(0).notified == "no — the rule was silenced"
    assert win.alerts.firing_model.row_at(0).notified.startswith("silenced until")
    win.close()


def test_state_survives_a_restart(qtbot, stuck_url: str) -> None:
    write_rules()
    first = open_window(qtbot, stuck_url)
    since = first.alert_ui.last.firing[0].since
    assert len(first.alert_ui.notifier.shown) == 1
    first.close()
    second = open_window(qtbot, stuck_url)
    assert [(a.rule_id, a.since) for a in second.alert_ui.last.firing] == [("stuck-agents", since)]
    assert second.alert_ui.notifier.shown == [] and second.alert_ui.last.new == ()  # nothing new to tell
    assert second.alerts.history_model.rowCount() == 1
    second.close()


def test_default_rules_fire_on_a_stuck_run(qtbot, stuck_url: str) -> None:
    """No rules file: the shipped rules run, and "stuck-runs" catches the run."""
    win = open_window(qtbot, stuck_url)
    assert "stuck-runs" in [a.rule_id for a in win.alert_ui.last.firing]
    assert "default rules" in win.alerts.summary.text()
    win.close()


def test_a_failing_evaluation_never_breaks_the_refresh(qtbot, stuck_url: str) -> None:
    def broken(*_args: object, **_kwargs: object):
        raise RuntimeError("evaluation exploded")

    worker = PollWorker(AlertWatch(evaluate_rules=broken))
    results: list[PollResult] = []
    alerts: list = []
    worker.refreshed.connect(results.append)
    worker.alerts_evaluated.connect(alerts.append)
    worker.poll(PollRequest(1, stuck_url))
    worker.close()
    assert results[0].health.ok and results[0].snapshot is not None
    assert alerts[0].error and "evaluation exploded" in alerts[0].error and alerts[0].firing == ()
    win = MainWindow(stuck_url, refresh_ms=3_600_000)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.alert_ui.last is not None, timeout=20_000)
    win.alert_ui.show(alerts[0])
    assert win.alerts.error.isVisibleTo(win.alerts) and "evaluation exploded" in win.alerts.error.text()
    win.close()


def test_keyboard_reaches_every_alert_action(qtbot, window_without_data: MainWindow) -> None:
    win = window_without_data
    win.show()
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    rows = {(a.text(), a.shortcut().toString()) for a in win.menus.tab_actions}
    assert ("&8 Alerts", "Ctrl+8") in rows and ("&0 Users", "Ctrl+0") in rows
    qtbot.keyClick(win, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: any(type(d).__name__ == "AlertRulesDialog" for d in win.dialogs))
    dialog = win.dialogs[-1]
    assert win.open_alert_rules() is dialog  # one dialog, raised again
    dialog.close()


def test_worker_evaluates_when_the_rules_change_even_without_new_rows(stuck_url: str) -> None:
    worker = PollWorker()
    results: list[PollResult] = []
    alerts: list = []
    worker.refreshed.connect(results.append)
    worker.alerts_evaluated.connect(alerts.append)
    try:
        worker.poll(PollRequest(1, stuck_url))
        assert [a.rule_id for a in alerts[-1].firing] == ["stuck-runs"]  # the defaults: no file yet
        worker.poll(PollRequest(2, stuck_url))
        assert results[-1].unchanged and len(alerts) == 1  # nothing changed: nothing evaluated
        write_rules()
        worker.poll(PollRequest(3, stuck_url))
        assert results[-1].unchanged and len(alerts) == 2  # the file changed: evaluated again
        assert [a.rule_id for a in alerts[-1].firing] == ["stuck-agents"]
        assert [(t.rule_id, t.kind) for t in alerts[-1].new] == [
            ("stuck-runs", TransitionKind.RESOLVED), ("stuck-agents", TransitionKind.FIRED)]
        assert "the rule is no longer in the rules" in alerts[-1].history[-2].reason
    finally:
        worker.close()


def test_postgresql_evaluates_in_the_refresh(db_url: str) -> None:
    make_db(db_url)
    write_rules()
    worker = PollWorker()
    alerts: list = []
    worker.alerts_evaluated.connect(alerts.append)
    try:
        worker.poll(PollRequest(1, db_url))
    finally:
        worker.close()
    assert [(a.rule_id, a.member) for a in alerts[0].firing] == [("stuck-agents", "Planner")]
    assert alerts[0].error is None and [p.rule_id for p in alerts[0].problems] == ["broken"]


def test_screenshot_of_the_alerts_tab(stuck_url: str, tmp_path: Path) -> None:
    """``studio-analytics --tab alerts --screenshot F`` waits for the chart's replay."""
    write_rules()
    out = tmp_path / "alerts.png"
    exe = Path(sys.executable).with_name("studio-analytics")
    proc = subprocess.run([str(exe), "--db", stuck_url, "--tab", "alerts", "--screenshot", str(out),
                           "--size", "1024x700"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1024, 700)
    assert len({image.pixel(x, y) for x in range(0, 1024, 7) for y in range(0, 700, 7)}) > 5
    assert "stuck-agents" in load_state(alerts_state_path(stuck_url)).history[0].rule_id  # it ran the rules


def _alert_row(scope_kind: str, member: str | None, start: datetime, change: str = "fired") -> AlertRow:
    return AlertRow(change, "r", "R", "warning", member, start + timedelta(minutes=30), "1", "> 0", "yes", "",
                    start, start + timedelta(minutes=30), scope_kind, "executions")


def test_drill_down_filters_and_widens_the_range(qtbot, window_without_data: MainWindow) -> None:
    win = window_without_data
    now = datetime.now(UTC)
    tool = _alert_row("tool", "search", now - timedelta(days=3))
    assert alert_filter(tool, None) == ExecutionFilter(tool_name="search", exact=True, started_after=tool.start,
                                                       started_before=tool.end)
    assert alert_filter(_alert_row("api", "openai", now), None).tool_name is None  # no API filter: the window only
    win.range_box.setCurrentIndex(0)  # 24 hours
    win.alert_ui.show_executions(tool, None)
    assert win.range_preset == "7d" and win.current_tab == "executions"
    win.alert_ui.show_executions(_alert_row("agent", "A", now - timedelta(days=20)), None)
    assert win.range_preset == "30d"
    old = _alert_row("all", None, now - timedelta(days=60))
    win.alert_ui.show_executions(old, None)
    assert win.range_preset == "custom" and win.current_time_range().start <= old.start
    assert win.executions.filters == ExecutionFilter(started_after=old.start, started_before=old.end)
