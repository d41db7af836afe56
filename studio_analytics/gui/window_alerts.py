"""The window's side of the alerts: what the poll worker evaluated goes to the Alerts
tab, its badge ("Alerts (3)", a dot of the worst severity), markers on the time charts
and notifications; the tab's rows open their executions; silences go back to the worker.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QColor, QIcon
from PySide6.QtWidgets import QInputDialog

from studio_analytics.alerts.rules import Metric, Rule
from studio_analytics.alerts.transitions import TransitionKind
from studio_analytics.analytics import time_range
from studio_analytics.analytics.results import ExecutionFilter
from studio_analytics.gui import zone
from studio_analytics.gui.alert_notifier import SEVERITY_COLOURS, AlertNotifier, dot_icon
from studio_analytics.gui.charts.alert_markers import AlertMarkers
from studio_analytics.gui.dialogs.alert_rules_dialog import AlertRulesDialog
from studio_analytics.gui.models.alert_table_model import AlertRow
from studio_analytics.gui.resources import app_icon
from studio_analytics.gui.workers.alert_watch import AlertsSnapshot

if TYPE_CHECKING:
    from studio_analytics.gui.main_window import MainWindow

#: Which alerts mark which time chart: the rules whose figure the chart shows (or explains).
EXECUTION_METRICS = frozenset({Metric.FAILURE_RATE, Metric.FAILURE_COUNT, Metric.TIMEOUT_RATE, Metric.EXECUTIONS,
                               Metric.STUCK_RUNS})
LATENCY_METRICS = frozenset({Metric.P95_LATENCY})
ERROR_METRICS = frozenset({Metric.FAILURE_RATE, Metric.FAILURE_COUNT, Metric.TIMEOUT_RATE, Metric.TOOL_ERROR_RATE,
                           Metric.API_ERROR_RATE, Metric.MODEL_FAILURE_RATE})
#: The executions list's filter field for each scope kind (external APIs have none).
SCOPE_FIELDS = {"agent": "agent_name", "tool": "tool_name", "model": "model", "workflow": "workflow"}


def alert_filter(row: AlertRow, rule: Rule | None) -> ExecutionFilter:
    """The executions behind an alert: its member (a whole name) over its window; a stuck
    run that is still stuck, in progress."""
    name = row.member or (rule.scope.name if rule is not None else None)
    field = SCOPE_FIELDS.get(row.scope_kind)
    f = ExecutionFilter(**{field: name}, exact=True) if field and name else ExecutionFilter()
    if rule is not None and rule.metric is Metric.STUCK_RUNS and row.change == "firing":
        f = replace(f, status="in_progress")
    end = row.end or row.at
    return replace(f, started_after=row.start or end - timedelta(hours=1), started_before=end)


class WindowAlerts(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.last: AlertsSnapshot | None = None
        self.index = window.tabs.indexOf(window.alerts)
        window.poller.worker.alerts_evaluated.connect(self.show)
        window.alerts.executions_requested.connect(self.show_executions)
        window.alerts.rules_requested.connect(self.open_rules)
        window.alerts.silence_requested.connect(self.ask_silence)
        # Looking at the tab is reading the news: the banner goes.
        window.tabs.currentChanged.connect(lambda i: window.alert_banner.hide() if i == self.index else None)
        self.notifier = AlertNotifier(app_icon(), self._notify_in_window, self)
        self.notifier.clicked.connect(self._show_from_outside)
        # Lines created once per chart, then moved and hidden.
        self.markers = {
            "executions": (AlertMarkers(window.overview.executions_chart), EXECUTION_METRICS),
            "latency": (AlertMarkers(window.overview.latency_chart), LATENCY_METRICS),
            "errors": (AlertMarkers(window.errors.chart), ERROR_METRICS),  # type: ignore[arg-type]
        }

    def show(self, snap: AlertsSnapshot) -> None:
        """The poll worker evaluated the rules (or a silence changed): the tab, its badge,
        the chart markers, and a notification for each new transition that is told."""
        self.last = snap
        self.window.alerts.show_snapshot(snap)
        self._show_badge(snap)
        self.show_markers()
        self.notifier.notify(snap.new)
        for dialog in self.window.dialogs:
            if isinstance(dialog, AlertRulesDialog):
                dialog.show_silences(dict(snap.silenced_until))

    def _show_badge(self, snap: AlertsSnapshot) -> None:
        tabs, n = self.window.tabs, len(snap.firing)
        tabs.setTabText(self.index, f"Alerts ({n})" if n else "Alerts")
        worst = next((s for s in ("critical", "warning", "info") if any(a.severity == s for a in snap.firing)), None)
        tabs.setTabIcon(self.index, dot_icon(SEVERITY_COLOURS[worst]) if worst else QIcon())
        bar = tabs.tabBar()
        bar.setTabTextColor(self.index, QColor(SEVERITY_COLOURS["critical"]) if snap.critical
                            else bar.palette().windowText().color())
        tabs.setTabToolTip(self.index, "\n".join(f"{a.severity}: {a.rule_title}" + (f" — {a.member}" if a.member else "")
                                                 for a in snap.firing) or "Nothing is firing")

    def show_markers(self) -> None:
        """Fired alerts inside the range shown, on the charts of their figure."""
        snap, alerts = self.window.last_snapshot, self.last
        for markers, metrics in self.markers.values():
            marks: list[tuple[float, str]] = []
            if snap is not None and alerts is not None:
                tr = snap.time_range
                # A relative range ends when it was read; the alerts are evaluated just after.
                end = tr.end + timedelta(minutes=1)
                for t in alerts.history:
                    rule = alerts.rule(t.rule_id)
                    if (t.kind is TransitionKind.FIRED and rule is not None and rule.metric in metrics
                            and tr.start <= t.at <= end):
                        who = f" — {t.member}" if t.member else ""
                        marks.append((t.at.timestamp(),
                                      f"{t.rule_title}{who}: fired {zone.in_zone(t.at):%Y-%m-%d %H:%M}\n{t.reason}"))
            markers.set_times(marks)

    def _notify_in_window(self, title: str, body: str, colour: str) -> None:
        """No system tray: the notification goes to the alert banner (unless the Alerts tab
        is the one shown: it says so already) and the status bar."""
        if self.window.tabs.currentIndex() != self.index:
            self.window.alert_banner.show_notification(title, body, colour)
        self.window.statusBar().showMessage(f"{title} — {body}", 15_000)

    def _show_from_outside(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()
        self.window.go_to_tab(self.index)

    # -- actions -------------------------------------------------------------------
    def show_executions(self, row: AlertRow, rule: Rule | None) -> None:
        """The Executions tab filtered to the alert's member and window, the range widened
        when the window starts before it."""
        f = alert_filter(row, rule)
        if f.started_after is not None:
            self._cover(f.started_after)
        self.window.show_executions(f)
        if row.scope_kind == "api":
            self.window.statusBar().showMessage("the executions list has no external-API filter: every execution "
                                                "of the alert's window is listed", 10_000)

    def _cover(self, start: datetime) -> None:
        """The range shown reaches back to ``start``: the shortest preset that does, else a
        custom range from an hour before it."""
        from studio_analytics.gui.main_window import RANGES  # the window imports this module

        w = self.window
        if w.current_time_range().start <= start:
            return
        for i, preset in enumerate(RANGES):
            if time_range(preset=preset).start <= start:
                w.range_box.setCurrentIndex(i)
                return
        w.custom_start.setDateTime(zone.to_input(start - timedelta(hours=1)))
        w.custom_end.setDateTime(zone.to_input(datetime.now(UTC)))
        w.range_box.setCurrentIndex(len(RANGES))

    def open_rules(self) -> AlertRulesDialog:
        """The Alerts dialog (non-modal, one at a time); its silences go to the poll worker."""
        for dialog in self.window.dialogs:
            if isinstance(dialog, AlertRulesDialog):
                dialog.raise_()
                dialog.activateWindow()
                return dialog
        dialog = AlertRulesDialog(self.window.url, self.window.pool, self.window)
        if self.last is not None:
            dialog.show_silences(dict(self.last.silenced_until))
        dialog.rules_changed.connect(self.window.refresh)  # the worker sees the file changed and evaluates
        dialog.silence_requested.connect(self.silence)
        dialog.unsilence_requested.connect(self.unsilence)
        return self.window.keep_dialog(dialog)  # type: ignore[no-any-return]

    def ask_silence(self, rule_id: str) -> None:
        hours, ok = QInputDialog.getInt(self.window, "Silence rule",
                                        f"No notifications from {rule_id} for (hours):", 4, 1, 24 * 14)
        if ok:
            self.silence(rule_id, datetime.now(UTC) + timedelta(hours=hours))

    def silence(self, rule_id: str, until: datetime) -> None:
        """Ask the poll worker, which owns the alert book and its file."""
        self.window.poller.silence_requested.emit(rule_id, until)
        self.window.statusBar().showMessage(f"{rule_id} silenced until {zone.in_zone(until):%a %H:%M}", 10_000)

    def unsilence(self, rule_id: str) -> None:
        self.window.poller.unsilence_requested.emit(rule_id)
        self.window.statusBar().showMessage(f"{rule_id} is no longer silenced", 10_000)

    def close(self) -> None:
        self.notifier.close()
