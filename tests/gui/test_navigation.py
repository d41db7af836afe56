"""Back and Forward: the history's rules, and the window restoring tab and filter."""

from __future__ import annotations

from PySide6.QtWidgets import QToolBar

from studio_analytics.analytics.results import ExecutionFilter
from studio_analytics.gui.main_window import MainWindow
from studio_analytics.gui.navigation import NavigationHistory, NavState

AGENTS = NavState("agents")
WEB = NavState("executions", ExecutionFilter(agent_name="WebAgent"))
SQL = NavState("executions", ExecutionFilter(agent_name="SQLAgent"))


def test_back_and_forward_walk_the_places_visited() -> None:
    history = NavigationHistory()
    assert history.current is None and history.back() is None and history.forward() is None
    for place in (AGENTS, WEB, SQL):
        assert history.visit(place)
    assert not history.visit(SQL)  # the same place twice is one entry
    assert history.back() == WEB and history.back() == AGENTS and history.back() is None
    assert history.current == AGENTS and history.can_go_forward()
    assert history.forward() == WEB and history.current == WEB


def test_a_new_place_after_going_back_drops_the_ones_ahead() -> None:
    history = NavigationHistory()
    for place in (AGENTS, WEB, SQL):
        history.visit(place)
    history.back()
    history.back()
    history.visit(NavState("tools"))
    assert not history.can_go_forward()
    assert history.back() == AGENTS


def test_the_oldest_places_go_first() -> None:
    history = NavigationHistory(limit=3)
    for tab in ("a", "b", "c", "d"):
        history.visit(NavState(tab))
    assert [history.back(), history.back(), history.back()] == [NavState("c"), NavState("b"), None]


def test_window_back_and_forward_restore_tab_and_filter(qtbot, window_without_data: MainWindow) -> None:
    window = window_without_data
    back, forward = window.menus.back, window.menus.forward
    assert not back.isEnabled() and not forward.isEnabled()
    window.show_tab("agents")
    window.show_executions(ExecutionFilter(agent_name="WebAgent"))
    window.show_executions(ExecutionFilter(agent_name="WebAgent", status="failure"))  # on the tab: a place too
    window.show_tab("errors")
    back.trigger()
    assert window.current_tab == "executions"
    assert window.executions.filters == ExecutionFilter(agent_name="WebAgent", status="failure")
    assert window.executions.status.currentText() == "Failure"  # the filter fields show it, too
    back.trigger()
    assert window.executions.filters == ExecutionFilter(agent_name="WebAgent")
    back.trigger()
    assert (window.current_tab, window.executions.filters) == ("agents", ExecutionFilter())
    assert forward.isEnabled()
    forward.trigger()
    assert (window.current_tab, window.executions.filters) == ("executions", ExecutionFilter(agent_name="WebAgent"))
    # Restoring a place records none: Forward is still there.
    assert forward.isEnabled() and back.isEnabled()
    toolbar_actions = window.findChild(QToolBar, "MainToolbar").actions()
    assert back in toolbar_actions and forward in toolbar_actions
