"""The Alerts tab's pieces on their own: the notifier, the table rows, the chart's band."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from studio_analytics.alerts.results import Baseline
from studio_analytics.alerts.rules import Metric, parse_rules
from studio_analytics.alerts.transitions import Transition, TransitionKind
from studio_analytics.gui.alert_notifier import AlertNotifier, dot_icon
from studio_analytics.gui.charts.alert_chart import AlertRuleChart
from studio_analytics.gui.models.alert_rule_table_model import AlertRuleTableModel
from studio_analytics.gui.models.alert_table_model import (
    AlertHistoryTableModel,
    band_text,
    figure_text,
    history_rows,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
RULES = parse_rules('''
[[rule]]
id = "spike"
metric = "failure_rate"
scope = "each agent"
window = "30m"
when = "anomalous"
cooldown = "2h"
''').rules


def transition(kind: TransitionKind, minutes: int, notified: bool, member: str = "A") -> Transition:
    at = NOW + timedelta(minutes=minutes)
    return Transition(kind, "spike", "Agent failure spike", "critical", member, at, 0.5,
                      Baseline(0.05, 0.01, 0.12, 0.02, 20), None, "failure rate 50.0 % above the usual",
                      at - timedelta(minutes=30), at, "agent", "executions", notified)


def test_only_notified_transitions_are_shown(qtbot) -> None:
    fallback: list[tuple[str, str, str]] = []
    notifier = AlertNotifier(dot_icon("#d32f2f"), lambda *a: fallback.append(a))
    assert notifier.tray is None  # offscreen: no system tray, the window's banner instead
    told = notifier.notify([transition(TransitionKind.FIRED, 0, True), transition(TransitionKind.FIRED, 1, False)])
    assert [t.at for t in told] == [NOW] and notifier.shown == told
    assert fallback[0][0] == "Alert (critical): Agent failure spike — A" and fallback[0][2] == "#d32f2f"
    many = [transition(TransitionKind.FIRED, i, True, member=f"M{i}") for i in range(5)]
    with qtbot.waitSignals([notifier.notification_shown] * 5):
        notifier.notify(many)
    assert fallback[-1][0] == "5 alerts fired, 0 resolved" and len(fallback) == 2  # one summary, not five
    assert len(notifier.shown) == 6


def test_history_rows_say_why_a_transition_was_not_notified() -> None:
    history = [transition(TransitionKind.FIRED, 0, True), transition(TransitionKind.RESOLVED, 10, True),
               transition(TransitionKind.FIRED, 20, False), transition(TransitionKind.FIRED, 300, False, "B")]
    rows = history_rows(history, RULES)
    assert [r.change for r in rows] == ["fired", "fired", "resolved", "fired"]  # newest first
    assert rows[0].notified == "no — the rule was silenced"  # no notified FIRED of B before
    assert rows[1].notified.startswith("no — within the cooldown after")
    assert rows[3].notified == "yes"
    assert rows[3].value == "50.0%" and rows[3].band == "1.0%–12.0% (median 5.0%)"
    model = AlertHistoryTableModel()
    model.set_rows(rows)
    assert model.data(model.index(0, 1)) == "fired" and model.rowCount() == 4


def test_models_keep_qt_contracts(qtmodeltester) -> None:
    history = AlertHistoryTableModel()
    history.set_rows(history_rows([transition(TransitionKind.FIRED, 0, True)], RULES))
    qtmodeltester.check(history)
    rules = AlertRuleTableModel()
    rules.set_rules(RULES, {"spike": "until Wed 18:00"})
    qtmodeltester.check(rules)
    assert rules.data(rules.index(0, 1)) == "spike (silenced until Wed 18:00)"


def test_figures_in_their_units() -> None:
    assert figure_text(0.125, Metric.FAILURE_RATE) == "12.5%"
    assert figure_text(1250.0, Metric.P95_LATENCY) == "1,250 ms"
    assert figure_text(3.0, Metric.STUCK_RUNS) == "3"
    assert figure_text(None, Metric.EXECUTIONS) == "—"
    assert band_text(None, 0.34, parse_rules('''
[[rule]]
id = "x"
metric = "failure_rate"
threshold = 0.34
''').rules[0]) == "> 34.0%"


def test_chart_fills_the_band_of_an_anomalous_rule(qtbot) -> None:
    chart = AlertRuleChart()
    qtbot.addWidget(chart)
    x = NOW.timestamp() + np.arange(8) * 900.0
    lows = [0.01, 0.01, None, 0.02, 0.02, 0.02, 0.02, 0.02]
    chart.show_series("spike", "%", x, [0.05] * 7 + [0.5], lows, [0.12] * 8, None,
                      [(x[-1], "fired"), (x[0] - 86_400, "long ago")], scale=100.0)
    assert chart.band.isVisible()
    assert list(chart.low.getData()[0]) == [x[i] for i in (0, 1, 3, 4, 5, 6, 7)]  # the gap left out
    assert chart.markers.shown == [x[-1]]  # only marks inside the series
    assert chart.threshold.getData()[0] is None or len(chart.threshold.getData()[0]) == 0
    chart.clear_data()
    assert not chart.band.isVisible() and chart.markers.shown == []


def test_a_long_title_is_elided_not_widening_the_chart(qtbot) -> None:
    chart = AlertRuleChart()
    qtbot.addWidget(chart)
    chart.resize(320, 200)
    chart.setTitle("a-very-long-rule-id-" * 8 + " — SomeAgentWithALongName")
    title = chart.getPlotItem().titleLabel
    assert title.text.endswith("…") and title.minimumWidth() == 0
    assert chart.minimumSizeHint().width() < 320
