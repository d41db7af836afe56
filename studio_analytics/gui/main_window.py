"""MainWindow: toolbar, tabs, banner and status bar around one background poll worker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import QSettings, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QLabel,
    QMainWindow,
    QSpinBox,
    QTableView,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from studio_analytics.analytics import time_range
from studio_analytics.analytics.latency import bucket_rows
from studio_analytics.analytics.models import MODEL_SORTS, model_usage
from studio_analytics.analytics.results import DashboardSnapshot, ExecutionFilter, Health, TimeRange
from studio_analytics.gui import zone
from studio_analytics.gui.charts import follow_palette
from studio_analytics.gui.charts.bar_chart import HorizontalBarChart
from studio_analytics.gui.charts.time_chart import CountChart, ErrorRateChart
from studio_analytics.gui.charts.workflow_trend_chart import WorkflowTrendChart
from studio_analytics.gui.dialogs.alert_rules_dialog import AlertRulesDialog
from studio_analytics.gui.dialogs.connection_dialog import ConnectionDialog
from studio_analytics.gui.dialogs.execution_detail_dialog import ExecutionDetailDialog
from studio_analytics.gui.dialogs.export_dialog import (
    DISPLAY_CAPS,
    ExportController,
    ExportFileDialog,
    full_result_query,
    overview_rows,
)
from studio_analytics.gui.dialogs.session_detail_dialog import SessionDetailDialog
from studio_analytics.gui.input_guard import InputGuard, show_focus
from studio_analytics.gui.models.agent_table_model import AgentTableModel
from studio_analytics.gui.models.alert_table_model import AlertRow
from studio_analytics.gui.models.more_table_models import ErrorTableModel, WorkflowTableModel
from studio_analytics.gui.models.tool_table_model import ToolTableModel
from studio_analytics.gui.navigation import NavigationHistory, NavState
from studio_analytics.gui.saved_views import SavedView, SavedViewStore
from studio_analytics.gui.views.alert_banner import AlertBanner
from studio_analytics.gui.views.alerts_view import AlertsView
from studio_analytics.gui.views.banner import Banner
from studio_analytics.gui.views.database_view import DatabaseView, database_title
from studio_analytics.gui.views.executions_view import ExecutionsView
from studio_analytics.gui.views.latency_view import LatencyView
from studio_analytics.gui.views.models_view import ModelsView
from studio_analytics.gui.views.overview_view import OverviewView
from studio_analytics.gui.views.row_actions import RowActions, open_command
from studio_analytics.gui.views.sessions_view import SessionsView
from studio_analytics.gui.views.usage_view import UsageView
from studio_analytics.gui.views.users_view import UsersView, all_users_query
from studio_analytics.gui.window_alerts import WindowAlerts
from studio_analytics.gui.window_menus import WindowMenus
from studio_analytics.gui.workers.poll_worker import PollRequest, PollResult, PollThread

DEFAULT_REFRESH_MS = 30_000
MAX_BACKOFF_MS = 60_000
LIVE_INTERVAL_S = 2
RANGES = ("24h", "7d", "30d")
TABS = ("overview", "agents", "tools", "models", "workflows", "errors", "latency", "alerts", "sessions", "users",
        "executions", "database")
#: The Models tab's order until a header is clicked: model_usage's own default.
MODELS_SORT = (model_usage.__kwdefaults__["sort"], model_usage.__kwdefaults__["descending"])


class MainWindow(QMainWindow):
    refresh_finished = Signal(object)  # Health, after the window has shown the result

    def __init__(self, url: str, *, refresh_ms: int = DEFAULT_REFRESH_MS, range_preset: str = "7d") -> None:
        super().__init__()
        follow_palette()
        self.url = url
        self.setWindowTitle(f"studio-analytics — {database_title(url)}")
        self._generation = 0
        self._refresh_ms = refresh_ms
        self._failures = 0
        self._agent_sort: tuple[str, bool] = ("executions", True)
        self._tool_sort: tuple[str, bool] = ("calls", True)
        self.last_health: Health | None = None
        self.last_snapshot: DashboardSnapshot | None = None

        self.range_box = QComboBox()
        self.range_box.addItems(["Last 24 hours", "Last 7 days", "Last 30 days", "Custom…"])
        now = zone.to_input(datetime.now(UTC))  # inputs hold times of the zone shown
        self.custom_start = QDateTimeEdit(now - timedelta(days=7))
        self.custom_end = QDateTimeEdit(now)
        for edit in (self.custom_start, self.custom_end):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd HH:mm")
            edit.editingFinished.connect(self._range_changed)
        self.range_box.setCurrentIndex(RANGES.index(range_preset) if range_preset in RANGES else 1)
        self.range_box.currentIndexChanged.connect(lambda _i: self._range_changed())
        self.auto_refresh = QCheckBox("Auto-refresh every")
        self.auto_refresh.setChecked(True)
        self.auto_refresh.toggled.connect(self._auto_refresh_toggled)
        self.interval = QSpinBox()
        # 2 s is "live": an unchanged SQLite file costs one PRAGMA per poll (poll_worker).
        self.interval.setRange(LIVE_INTERVAL_S, 3600)
        self.interval.setSuffix(" s")
        self.interval.setValue(max(LIVE_INTERVAL_S, refresh_ms // 1000))
        self.interval.valueChanged.connect(self._interval_changed)
        toolbar = QToolBar("Main")
        toolbar.setObjectName("MainToolbar")
        self.connect_action = QAction("&Database…", self)
        self.connect_action.triggered.connect(self.choose_database)
        toolbar.addAction(self.connect_action)
        toolbar.addWidget(QLabel(" Range "))
        toolbar.addWidget(self.range_box)
        self.custom_actions = [toolbar.addWidget(self.custom_start), toolbar.addWidget(self.custom_end)]
        for action in self.custom_actions:
            action.setVisible(False)
        self.refresh_action = QAction("&Refresh", self)
        self.refresh_action.setShortcut("F5")
        self.refresh_action.triggered.connect(self.refresh)
        toolbar.addAction(self.refresh_action)
        toolbar.addWidget(self.auto_refresh)
        toolbar.addWidget(self.interval)
        self.utc_box = QCheckBox("UTC")
        self.utc_box.setToolTip("Show every time in UTC instead of this computer's time zone")
        self.utc_box.setChecked(zone.showing_utc())
        self.utc_box.toggled.connect(self.show_utc)
        toolbar.addWidget(self.utc_box)
        self.export_action = QAction("&Export CSV…", self)
        self.export_action.triggered.connect(lambda: self.export_current_view())
        toolbar.addAction(self.export_action)
        self.addToolBar(toolbar)
        self.input_guard = InputGuard(self)
        self.input_guard.guard(self.range_box)
        self.input_guard.guard(self.interval)
        show_focus(self.auto_refresh)
        show_focus(self.utc_box)

        self.banner = Banner()
        self.alert_banner = AlertBanner()
        self.alert_banner.opened.connect(lambda: self.show_tab("alerts"))
        self.overview = OverviewView()
        self.overview.executions_chart.time_clicked.connect(self.jump_executions_to)
        self.agents = UsageView(AgentTableModel(), HorizontalBarChart("Runs per agent", "runs", "#1e88e5"),
                                lambda rows: ([r.agent_name for r in rows], [r.executions for r in rows]))
        self.tools = UsageView(ToolTableModel(), HorizontalBarChart("Calls per tool", "calls"),
                               lambda rows: ([r.tool_name for r in rows], [r.calls for r in rows]))
        self.workflows = UsageView(WorkflowTableModel(), WorkflowTrendChart())
        self.errors = UsageView(ErrorTableModel(), ErrorRateChart())
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        for tab, usage in (("agents", self.agents), ("tools", self.tools), ("workflows", self.workflows),
                           ("errors", self.errors)):
            usage.cap = DISPLAY_CAPS[tab]
        self.models = ModelsView(MODEL_SORTS, default_sort=MODELS_SORT[0])
        self.models.cap = DISPLAY_CAPS["models"]
        self.sessions = SessionsView(self.pool, CountChart("Sessions started", "sessions"))
        self.sessions.set_database(url)
        self.users = UsersView(self.pool)
        self.users.set_database(url)
        self.latency = LatencyView(self.pool)
        self.latency.set_database(url)
        self.alerts = AlertsView(self.pool)
        self.alerts.set_database(url)
        self.executions = ExecutionsView(self.pool)
        self.executions.set_time_range(self.current_time_range())
        self.executions.set_database(url)
        self.executions.execution_activated.connect(self.open_execution)
        # Shift+drag on a time chart: the Executions tab filtered to that span (a chip).
        for chart in (self.overview.executions_chart, self.overview.latency_chart, self.errors.chart,
                      self.sessions.chart):
            chart.span_selected.connect(
                lambda a, b: self.show_executions(ExecutionFilter(started_after=a, started_before=b)))
        self.executions.session_activated.connect(self.open_session)
        self.dialogs: list[QDialog] = []
        self.exporter = ExportController(self.pool, self)
        self.exporter.export_finished.connect(
            lambda path, n: self.statusBar().showMessage(f"exported {n:,} rows to {path}", 10_000))
        self.exporter.export_failed.connect(lambda message: self.banner.show_problem("Export failed", message))
        self.database = DatabaseView()
        self._sorts: dict[str, tuple[str, bool]] = {}
        self.agents.model.sort_requested.connect(self._sort_agents)
        self.tools.model.sort_requested.connect(self._sort_tools)
        for name, view in (("models", self.models), ("workflows", self.workflows), ("errors", self.errors),
                           ("sessions", self.sessions), ("users", self.users)):
            view.model.sort_requested.connect(lambda field, desc, tab=name: self._sort_tab(tab, field, desc))
        self.tabs = QTabWidget()
        for view, title in ((self.overview, "Overview"), (self.agents, "Agents"), (self.tools, "Tools"),
                            (self.models, "Models"), (self.workflows, "Workflows"), (self.errors, "Errors"), (self.latency, "Latency"), (self.alerts, "Alerts"), (self.sessions, "Sessions"), (self.users, "Users"),
                            (self.executions, "Executions"), (self.database, "Database")):
            self.tabs.addTab(view, title)
        self.tabs.currentChanged.connect(lambda _i: self.refresh())
        # Drill-down: a row of a summary table opens the executions behind it, on a
        # double-click or Enter (`activated` is emitted once for either).
        self.agents.table.activated.connect(
            lambda i: self.show_executions(ExecutionFilter(agent_name=self.agents.model.row_at(i.row()).agent_name, exact=True)))
        self.tools.table.activated.connect(
            lambda i: self.show_executions(ExecutionFilter(tool_name=self.tools.model.row_at(i.row()).tool_name, exact=True)))
        self.errors.table.activated.connect(
            lambda i: self.show_executions(ExecutionFilter(error_signature=self.errors.model.row_at(i.row()).signature)))
        self.sessions.table.activated.connect(
            lambda i: self.open_session(self.sessions.model.row_at(i.row()).session_id))
        self.users.user_activated.connect(lambda user: self.show_executions(ExecutionFilter(user_id=user, exact=True)))
        self.workflows.table.activated.connect(  # the executions of every workflow of that type
            lambda i: self.show_executions(ExecutionFilter(workflow=self.workflows.model.row_at(i.row()).workflow_type, exact=True)))
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.banner)
        layout.addWidget(self.alert_banner)
        layout.addWidget(self.tabs, stretch=1)
        self.setCentralWidget(central)
        self.statusBar().showMessage("Connecting…")

        self.poller = PollThread(self)
        self.poller.worker.refreshed.connect(self._on_result)
        # The Alerts tab's badge, the chart markers, notifications, the rules dialog.
        self.alert_ui = WindowAlerts(self)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.refresh)
        # -- keyboard and navigation (issue 16): after every tab is added --------------
        self.models.table.activated.connect(
            lambda i: self.show_executions(ExecutionFilter(model=self.models.model.row_at(i.row()).model, exact=True)))
        self.row_actions = self._install_row_actions()
        self.history = NavigationHistory()
        self._restoring = False
        self.saved_views = SavedViewStore()
        self.menus = WindowMenus(self)
        self.tabs.currentChanged.connect(lambda _i: self._record_place())
        self.executions.count_changed.connect(lambda _c: self._record_place() if self.current_tab == "executions"
                                              else None)
        self._record_place()
        self._set_focus_order()
        self._focus_tab_content()  # not the range box: an arrow key there changed the range
        self.refresh()

    # -- actions ----------------------------------------------------------------------
    @property
    def range_preset(self) -> str:
        index = self.range_box.currentIndex()
        return RANGES[index] if index < len(RANGES) else "custom"

    @property
    def custom_range(self) -> tuple[datetime, datetime] | None:
        if self.range_preset != "custom":
            return None
        return (zone.from_input(self.custom_start.dateTime().toPython()),
                zone.from_input(self.custom_end.dateTime().toPython()))

    def current_time_range(self) -> TimeRange:
        custom = self.custom_range
        if custom is not None:
            try:
                return time_range(start_date=custom[0], end_date=custom[1])
            except ValueError:
                pass  # end before start: keep showing the default until it is fixed
        return time_range(preset=self.range_preset if self.range_preset != "custom" else "7d")

    def show_tab(self, name: str) -> None:
        if name in TABS:
            self.tabs.setCurrentIndex(TABS.index(name))

    def refresh(self) -> None:
        self._generation += 1
        tr = self.current_time_range()
        # A preset is relative to now: each refresh moves the lists' range too (a custom one stays).
        self.executions.set_time_range(tr)
        self.poller.poll_requested.emit(PollRequest(
            self._generation, self.url, "7d" if self.range_preset == "custom" else self.range_preset,
            self._agent_sort, self._tool_sort, tab=self.current_tab,
            sorts=tuple((t, f, d) for t, (f, d) in self._sorts.items()),
            custom_range=(tr.start, tr.end) if self.custom_range else None, utc=zone.showing_utc(),
        ))

    @property
    def current_tab(self) -> str:
        return TABS[self.tabs.currentIndex()] if hasattr(self, "tabs") else "overview"

    def _sort_tab(self, tab: str, field: str, descending: bool) -> None:
        self._sorts[tab] = (field, descending)
        self.refresh()

    def choose_database(self) -> None:
        dialog = ConnectionDialog(self.url, self.pool, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.set_database(dialog.selected_url())

    def set_database(self, url: str) -> None:
        """Point the window at another database; the old figures go, the new ones load."""
        self.url = url
        self.setWindowTitle(f"studio-analytics — {database_title(url)}")
        self.last_health = None
        self.last_snapshot = None
        self._failures = 0
        self.banner.hide()
        self._clear_figures()
        self.statusBar().showMessage("Connecting…")
        self.sessions.set_database(url)
        self.users.set_database(url)
        self.latency.set_database(url)
        self.alerts.set_database(url)
        self.executions.set_database(url)
        self.refresh()

    def _clear_figures(self, message: str = "Loading…") -> None:
        """The previous database's figures go before the new one answers (or fails)."""
        self.overview.clear(message)
        self.database.clear()
        for view in (self.agents, self.tools, self.workflows, self.errors):
            view.model.set_rows(())
            view.chart.clear_data(message)  # type: ignore[attr-defined]
        self.sessions.chart.clear_data(message)  # type: ignore[attr-defined]  (its pages: its own set_database)
        self.models.clear_data(message)
        self.latency.clear(message)
        self.users.clear_data(message)

    def export_current_view(self, path: str | None = None, *, escape_formulas: bool = True) -> None:
        """CSV of the visible view's full result (the executions list: every matching row).
        Without ``path`` the save dialog asks for it, and for ``escape_formulas``."""
        tab = self.current_tab
        if path is None:
            stamp = datetime.now().strftime("%Y%m%d-%H%M")
            chosen = ExportFileDialog(self, f"{tab}-{stamp}.csv").chosen()
            if chosen is None:
                return
            path, escape_formulas = chosen
        if tab == "executions" and self.executions.time_range is not None:
            self.exporter.stream_executions(self.url, self.executions.time_range, self.executions.filters, path,
                                            escape_formulas=escape_formulas, sort=self.executions.sort)
            return
        snap = self.last_snapshot
        if tab == "sessions" and snap is not None:
            self.exporter.stream_table(self.url, "sessions", self.sessions.latest_range or snap.time_range, path,
                                       escape_formulas=escape_formulas)
            return
        if tab == "users" and snap is not None:  # every user, not the capped rows on screen
            self.exporter.export_query(self.url, all_users_query(snap.time_range, self._sorts.get("users")), path,
                                       escape_formulas=escape_formulas)
            return
        if tab in DISPLAY_CAPS and snap is not None:  # the full result, not the capped rows on screen
            sort = ({"agents": self._agent_sort, "tools": self._tool_sort, "models": MODELS_SORT}.get(tab)
                    if tab not in self._sorts else self._sorts[tab])
            self.exporter.export_query(self.url, full_result_query(tab, snap.time_range, sort), path,
                                       escape_formulas=escape_formulas)
            return
        rows: list[Any] = []
        if tab == "alerts":  # the history, newest first (what the tab lists)
            alerts = self.alert_ui.last
            rows = list(reversed(alerts.history)) if alerts is not None else []
        elif tab == "database":
            rows = [] if self.last_health is None else [self.last_health]
        elif snap is not None:
            rows = {
                "overview": lambda: overview_rows(snap),
                "agents": lambda: list(snap.agents.rows) if snap.agents is not None else [],
                "tools": lambda: list(snap.tools.rows) if snap.tools is not None else [],
                "models": lambda: list(snap.models.rows) if snap.models else [],
                "workflows": lambda: list(snap.workflows.rows) if snap.workflows else [],
                "errors": lambda: list(snap.errors.groups) if snap.errors else [],
                "sessions": lambda: list(snap.sessions.recent) if snap.sessions else [],
                "latency": lambda: bucket_rows(self.latency.report.distribution) if self.latency.report else [],
            }[tab]()
        self.exporter.write_rows(path, rows, escape_formulas=escape_formulas)

    def _range_changed(self) -> None:
        for action in self.custom_actions:
            action.setVisible(self.range_preset == "custom")
        self.executions.set_time_range(self.current_time_range())
        self.refresh()

    def jump_executions_to(self, when: datetime) -> None:
        """The Executions tab, its list starting at ``when`` (e.g. a click on a chart's hour)."""
        self.show_tab("executions")
        self.executions.go_to_time(when)

    def show_executions(self, f: ExecutionFilter) -> None:
        self.executions.set_filter(f)
        self.show_tab("executions")
        self._record_place()  # already on the tab: the filter alone is a new place
        self.executions.table.setFocus()

    def open_execution(self, execution_id: uuid.UUID) -> ExecutionDetailDialog:
        dialog = ExecutionDetailDialog(self.url, execution_id, self.pool, self)
        dialog.session_requested.connect(self.open_session)
        dialog.workflow_requested.connect(lambda wid: self.show_executions(ExecutionFilter(correlation_id=wid)))
        return self._keep(dialog)

    def open_alert_rules(self) -> AlertRulesDialog:
        """The Alerts dialog (Ctrl+Shift+A)."""
        return self.alert_ui.open_rules()

    def open_session(self, session_id: str) -> SessionDetailDialog:
        dialog = SessionDetailDialog(self.url, session_id, self.pool, self)
        dialog.execution_requested.connect(self.open_execution)
        return self._keep(dialog)

    def _keep(self, dialog: Any) -> Any:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda _=None, d=dialog: self.dialogs.remove(d) if d in self.dialogs else None)
        self.dialogs.append(dialog)
        # Esc (QDialog's reject) or Close: the keyboard is back in the window, where it was.
        dialog.finished.connect(lambda _r: self.activateWindow())
        dialog.show()  # non-modal: the window keeps updating behind it
        dialog.activateWindow()
        return dialog

    def keep_dialog(self, dialog: Any) -> Any:
        """Show a non-modal dialog that closes with the window (and on Esc)."""
        return self._keep(dialog)

    def _sort_agents(self, field: str, descending: bool) -> None:
        self._agent_sort = (field, descending)
        self.refresh()

    def _sort_tools(self, field: str, descending: bool) -> None:
        self._tool_sort = (field, descending)
        self.refresh()

    def _interval_changed(self, seconds: int) -> None:
        self._refresh_ms = seconds * 1000
        if self.auto_refresh.isChecked() and self.timer.isActive():
            self.timer.start(self._refresh_ms)

    def _auto_refresh_toggled(self, on: bool) -> None:
        if on:
            self.timer.start(self._refresh_ms)
        else:
            self.timer.stop()

    # -- keyboard, Back/Forward, saved views ---------------------------------------
    def go_to_tab(self, index: int) -> None:
        """A tab by the keyboard: its table (or the tab bar) takes the focus, so the arrow
        keys and Enter work on it at once."""
        if 0 <= index < self.tabs.count():
            self.tabs.setCurrentIndex(index)
            self._focus_tab_content()

    def step_tab(self, step: int) -> None:
        self.go_to_tab((self.tabs.currentIndex() + step) % self.tabs.count())

    def _focus_tab_content(self) -> None:
        table = getattr(self.tabs.currentWidget(), "table", None)
        (table if isinstance(table, QAbstractItemView) and table.isEnabled() else self.tabs.tabBar()).setFocus()

    def find(self) -> None:
        """Ctrl+F on any tab: the Executions search field (the one list that searches text)."""
        self.show_tab("executions")
        self.executions.text.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.executions.text.selectAll()

    def _place(self) -> NavState:
        return NavState(self.current_tab, self.executions.filters)

    def _record_place(self) -> None:
        if not self._restoring and self.history.visit(self._place()):
            self._history_moved()

    def _history_moved(self) -> None:
        self.menus.back.setEnabled(self.history.can_go_back())
        self.menus.forward.setEnabled(self.history.can_go_forward())

    def go_back(self) -> None:
        self._restore(self.history.back())

    def go_forward(self) -> None:
        self._restore(self.history.forward())

    def _restore(self, place: NavState | None) -> None:
        if place is None:
            return
        self._restoring = True
        try:
            if place.filters != self.executions.filters:
                self.executions.set_filter(place.filters)
            self.show_tab(place.tab)
        finally:
            self._restoring = False
        self._history_moved()
        self._focus_tab_content()

    def _install_row_actions(self) -> dict[str, RowActions]:
        """Ctrl+C and a context menu on every table: the row's id, and a link where one opens."""
        def execution(r: int) -> list[tuple[str, str]]:
            row = self.executions.model.row_at(r)
            items = [("Copy execution id", str(row.execution_id))]
            if row.session_id:
                items.append(("Copy session id", row.session_id))
            return [*items, ("Copy link (studio-analytics --open)", open_command("execution", str(row.execution_id),
                                                                                 self.url))]

        def session(r: int) -> list[tuple[str, str]]:
            sid = self.sessions.model.row_at(r).session_id
            return [("Copy session id", sid), ("Copy link (studio-analytics --open)",
                                                open_command("session", sid, self.url))]

        def error(r: int) -> list[tuple[str, str]]:
            group = self.errors.model.row_at(r)
            return [("Copy error signature", group.signature), ("Copy example message", group.example)]

        def alert(row: AlertRow) -> list[tuple[str, str]]:
            who = f" ({row.member})" if row.member else ""
            return [("Copy rule id", row.rule_id), ("Copy alert", f"{row.rule_title}{who}: {row.reason}")]

        copies = {
            "agents": (self.agents.table, lambda r: [("Copy agent name", self.agents.model.row_at(r).agent_name)]),
            "tools": (self.tools.table, lambda r: [("Copy tool name", self.tools.model.row_at(r).tool_name)]),
            "models": (self.models.table, lambda r: [("Copy model name", self.models.model.row_at(r).model)]),
            "workflows": (self.workflows.table,
                          lambda r: [("Copy workflow type", self.workflows.model.row_at(r).workflow_type)]),
            "errors": (self.errors.table, error),
            "sessions": (self.sessions.table, session),
            "users": (self.users.table, lambda r: [("Copy user id", self.users.model.row_at(r).user_id)]),
            "executions": (self.executions.table, execution),
            "alerts": (self.alerts.firing_table, lambda r: alert(self.alerts.firing_model.row_at(r))),
            "alert-history": (self.alerts.history_table, lambda r: alert(self.alerts.history_model.row_at(r))),
        }
        actions = {tab: RowActions(table, rows) for tab, (table, rows) in copies.items()}
        for row_actions in actions.values():
            row_actions.copied.connect(lambda text: self.statusBar().showMessage(f"copied {text}", 5_000))
        return actions

    def _set_focus_order(self) -> None:
        """Tab goes from the toolbar to the tab bar and into the tab's filters and table;
        a table gives Tab back instead of walking its cells."""
        self.tabs.tabBar().setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        for i in range(self.tabs.count()):
            table = getattr(self.tabs.widget(i), "table", None)
            if isinstance(table, QAbstractItemView):
                table.setTabKeyNavigation(False)
        QWidget.setTabOrder(self.interval, self.utc_box)
        QWidget.setTabOrder(self.utc_box, self.tabs.tabBar())

    def current_view(self, name: str) -> SavedView:
        sorts = {"agents": self._agent_sort, "tools": self._tool_sort, **self._sorts}
        return SavedView(name=name, tab=self.current_tab, range_preset=self.range_preset,
                         custom_range=self.custom_range, filters=self.executions.filters,
                         executions_sort=self.executions.sort,
                         sorts=tuple((tab, field, desc) for tab, (field, desc) in sorts.items()))

    def save_current_view(self, name: str) -> SavedView:
        view = self.current_view(name)
        self.saved_views.save(view)
        self.menus.fill_saved_views()
        self.statusBar().showMessage(f"saved view “{name}”", 5_000)
        return view

    def apply_view(self, view: SavedView) -> None:
        """Reopen a saved view: its range, sorts, executions filters, then its tab."""
        boxes = (self.range_box, self.custom_start, self.custom_end)
        for box in boxes:
            box.blockSignals(True)
        if view.range_preset in RANGES:
            self.range_box.setCurrentIndex(RANGES.index(view.range_preset))
        elif view.custom_range is not None:
            self.custom_start.setDateTime(zone.to_input(view.custom_range[0]))
            self.custom_end.setDateTime(zone.to_input(view.custom_range[1]))
            self.range_box.setCurrentIndex(len(RANGES))
        for box in boxes:
            box.blockSignals(False)
        tables: dict[str, QTableView] = {"agents": self.agents.table, "tools": self.tools.table,
                                         "models": self.models.table, "workflows": self.workflows.table,
                                         "errors": self.errors.table, "sessions": self.sessions.table,
                                         "users": self.users.table}
        wanted = [*view.sorts, ("executions", *view.executions_sort)]
        for tab, field, descending in wanted:
            table = tables.get(tab, self.executions.table if tab == "executions" else None)
            columns = [c.field for c in getattr(table.model(), "COLUMNS", ())] if table is not None else []
            order = Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder
            header = table.horizontalHeader() if table is not None else None
            if (header is not None and field in columns
                    and (header.sortIndicatorSection(), header.sortIndicatorOrder()) != (columns.index(field), order)):
                # The header's own path: the indicator moves and the tab re-queries in that order.
                table.sortByColumn(columns.index(field), order)
        self.executions.set_filter(view.filters)
        self._range_changed()
        self.show_tab(view.tab)
        self._record_place()
        self._focus_tab_content()
        self.statusBar().showMessage(f"view “{view.name}”", 5_000)

    # -- results ----------------------------------------------------------------------
    def _on_result(self, result: PollResult) -> None:
        if result.generation != self._generation:
            return  # a newer request is on its way
        if result.unchanged and result.snapshot is self.last_snapshot is not None:
            # Nothing new in the database, and the figures on screen are that snapshot's
            # (a stale reply may have been dropped in between: then it is drawn below).
            self.statusBar().showMessage(f"connected · no changes · checked {zone.in_zone(datetime.now(UTC)):%H:%M:%S %Z}")
            if self.auto_refresh.isChecked():
                self.timer.start(self._refresh_ms)
            self.refresh_finished.emit(result.health)
            return
        health = result.health
        self.database.show_health(health)
        if result.storage is not None or result.storage_problem:  # read only while the Database tab is shown
            self.database.show_storage(result.storage, result.storage_problem)
        if health.ok:
            self._failures = 0
            self.banner.hide()
            self.last_health = health
            self.tabs.setEnabled(True)
            if result.snapshot is not None:
                self.last_snapshot = result.snapshot
                self.overview.show_snapshot(result.snapshot)
                self._show_tabs(result.snapshot)
                self.alert_ui.show_markers()
            delay = self._refresh_ms
        else:
            self._failures += 1
            self.banner.show_problem(health.message, health.hint)
            # The last data stays visible, greyed, until the database answers again.
            self.tabs.setEnabled(self.last_health is None)
            if self.last_snapshot is None:  # nothing to keep: not "Loading…" forever
                self._clear_figures("No data")
            delay = min(1000 * 2 ** min(self._failures - 1, 6), MAX_BACKOFF_MS)
        if health.ok:
            parts = ["connected", f"refreshed {zone.in_zone(datetime.now(UTC)):%H:%M:%S %Z}",
                     f"queries {result.seconds * 1000:.0f} ms"]
            if health.row_counts:  # the range's count, from the same read as the figures
                parts.append(f"{health.row_counts.get('agent_execution_metrics', 0):,} executions in range")
        else:  # never "refreshed" next to "disconnected": nothing was
            parts = ["disconnected", f"retrying in {delay / 1000:.0f} s"]
        self.statusBar().showMessage(" · ".join(parts))
        if self.auto_refresh.isChecked() or not health.ok:
            self.timer.start(delay)
        self.refresh_finished.emit(health)

    def _show_tabs(self, snap: DashboardSnapshot) -> None:
        if snap.agents is not None:
            self.agents.show_rows(snap.agents.rows, snap.agents.total_rows)
        if snap.tools is not None:
            self.tools.show_rows(snap.tools.rows, snap.tools.total_rows)
        if snap.workflows is not None:
            self.workflows.show_rows(snap.workflows.rows, snap.workflows.total_rows)
            self.workflows.chart.set_trends(snap.workflows.trends)  # type: ignore[attr-defined]
        if snap.errors is not None:
            self.errors.show_rows(snap.errors.groups)
            self.errors.chart.set_series(snap.errors.series)  # type: ignore[attr-defined]
        if snap.sessions is not None:
            self.sessions.show_activity(snap.sessions, snap.time_range)
        if snap.users is not None:
            self.users.show_activity(snap.users, snap.heatmap, snap.time_range)
        if self.current_tab == "models":  # asked for: None then means "no model calls in this database"
            self.models.show_usage(snap.models)
        if self.current_tab == "latency":  # its query runs in the pool, for its own selection
            self.latency.load(snap.time_range)

    def show_utc(self, on: bool) -> None:
        """One zone for every time in the window: the time inputs keep the moment they
        hold, shown in the new zone; tables, charts and the status bar follow."""
        edits = (self.custom_start, self.custom_end, self.executions.goto_time)
        moments = [zone.from_input(edit.dateTime().toPython()) for edit in edits]
        zone.setting().set_utc(on)
        for edit, moment in zip(edits, moments, strict=True):
            edit.setDateTime(zone.to_input(moment))
        if self.utc_box.isChecked() != on:
            self.utc_box.setChecked(on)
        QSettings().setValue("time/utc", on)
        if self.last_health is not None:
            self.refresh()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.timer.stop()
        self.poller.stop()
        self.alert_ui.close()
        for dialog in list(self.dialogs):
            dialog.close()
        self.pool.waitForDone(10_000)
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/range", self.range_preset if self.range_preset != "custom" else "7d")
        super().closeEvent(event)
