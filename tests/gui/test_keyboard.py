"""The window by keys alone: tabs, Enter on rows, Esc, Back, Ctrl+Tab, Ctrl+F, Ctrl+C,
the menu bar, and toolbar inputs that arrows and the wheel no longer change by accident."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QContextMenuEvent, QGuiApplication, QWheelEvent
from PySide6.QtWidgets import QApplication, QWidget

from studio_analytics.analytics.results import ExecutionFilter
from studio_analytics.cli import run_cli
from studio_analytics.gui.dialogs.execution_detail_dialog import ExecutionDetailDialog
from studio_analytics.gui.dialogs.session_detail_dialog import SessionDetailDialog
from studio_analytics.gui.dialogs.shortcuts_dialog import KeyboardShortcutsDialog, menu_shortcuts
from studio_analytics.gui.main_window import MainWindow
from studio_analytics.gui.views.row_actions import open_command

CTRL = Qt.KeyboardModifier.ControlModifier
ALT = Qt.KeyboardModifier.AltModifier


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('keys') / 'demo.sqlite3'}"
    assert run_cli(["demo", "--db", url, "--executions", "300", "--days", "2", "--seed", "16"]) == 0
    return url


@pytest.fixture(scope="module")
def shared_window(qapp, demo_url: str):
    """One window for the module (each costs seconds to start); every test starts it
    over on its first tab, with no filter and no dialog."""
    win = MainWindow(demo_url)
    win.resize(1280, 820)
    win.show()
    yield win
    win.close()


@pytest.fixture
def window(qtbot, shared_window: MainWindow):
    win = shared_window
    qtbot.waitUntil(lambda: win.last_health is not None, timeout=20_000)
    for dialog in list(win.dialogs):
        dialog.close()
    win.executions.set_filter(ExecutionFilter())
    win.go_to_tab(0)
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    return win


def focused() -> QWidget:
    widget = QApplication.focusWidget()
    assert widget is not None
    return widget


def press(qtbot, key: Qt.Key, modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(focused(), key, modifiers)


def test_round_trip_by_keys_only(qtbot, window: MainWindow) -> None:
    assert not window.range_box.hasFocus()  # an arrow key at start must not change the range
    press(qtbot, Qt.Key.Key_2, CTRL)
    assert window.current_tab == "agents" and focused() is window.agents.table
    qtbot.waitUntil(lambda: window.agents.model.rowCount() > 1, timeout=20_000)
    press(qtbot, Qt.Key.Key_Down)
    press(qtbot, Qt.Key.Key_Down)
    agent = window.agents.model.row_at(window.agents.table.currentIndex().row()).agent_name
    press(qtbot, Qt.Key.Key_Return)
    assert window.current_tab == "executions" and window.executions.filters == ExecutionFilter(agent_name=agent, exact=True)

    assert focused() is window.executions.table
    qtbot.waitUntil(lambda: window.executions.model.rowCount() > 0, timeout=20_000)
    press(qtbot, Qt.Key.Key_Down)
    row = window.executions.model.row_at(window.executions.table.currentIndex().row())
    assert row.agent_name == agent
    press(qtbot, Qt.Key.Key_Enter)
    assert len(window.dialogs) == 1
    dialog = window.dialogs[0]
    assert isinstance(dialog, ExecutionDetailDialog) and str(row.execution_id) in dialog.windowTitle()
    qtbot.waitUntil(lambda: focused().window() is dialog)
    press(qtbot, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.dialogs)  # closed and deleted, not hidden
    qtbot.waitUntil(lambda: focused() is window.executions.table)  # the keyboard is back where it was

    press(qtbot, Qt.Key.Key_Left, ALT)
    assert window.current_tab == "agents" and window.executions.filters == ExecutionFilter()
    assert focused() is window.agents.table
    press(qtbot, Qt.Key.Key_Tab, CTRL)
    assert window.current_tab == "tools"
    press(qtbot, Qt.Key.Key_PageUp, CTRL)
    assert window.current_tab == "agents"
    press(qtbot, Qt.Key.Key_F, CTRL)
    assert window.current_tab == "executions" and focused() is window.executions.text


def test_tab_shortcuts_follow_the_tabs(qtbot, window: MainWindow) -> None:
    tabs = window.tabs
    assert len(window.menus.tab_actions) == tabs.count()
    for i in range(min(tabs.count(), 9)):
        press(qtbot, getattr(Qt.Key, f"Key_{i + 1}"), CTRL)
        assert tabs.currentIndex() == i, tabs.tabText(i)
    last = tabs.count() - 1
    window.go_to_tab(last)
    press(qtbot, Qt.Key.Key_Tab, CTRL)  # wraps round
    assert tabs.currentIndex() == 0
    press(qtbot, Qt.Key.Key_Tab, CTRL | Qt.KeyboardModifier.ShiftModifier)
    assert tabs.currentIndex() == last


def test_tab_walks_from_toolbar_through_tab_bar_into_the_table(qtbot, window: MainWindow) -> None:
    window.show_tab("executions")
    window.range_box.setFocus()
    seen: list[QWidget] = []
    for _ in range(30):
        press(qtbot, Qt.Key.Key_Tab)
        seen.append(focused())
        if focused() is window.executions.table:
            break
    assert window.tabs.tabBar() in seen and window.executions.text in seen
    assert seen[-1] is window.executions.table
    press(qtbot, Qt.Key.Key_Tab)  # the table hands Tab on instead of walking its cells
    assert focused() is not window.executions.table


def test_double_click_opens_one_dialog(qtbot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.refresh_finished, timeout=20_000):
        window.show_tab("sessions")
    table = window.sessions.table
    qtbot.waitUntil(lambda: window.sessions.model.rowCount() > 0, timeout=20_000)
    rect = table.visualRect(window.sessions.model.index(0, 0))
    # What a real double-click sends: a click, then the double-click.
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert len(window.dialogs) == 1 and isinstance(window.dialogs[0], SessionDetailDialog)
    window.dialogs[0].close()


def test_enter_on_models_and_errors_rows_opens_their_executions(qtbot, window: MainWindow) -> None:
    for view, expected in ((window.models, lambda row: ExecutionFilter(model=row.model, exact=True)),
                           (window.errors, lambda row: ExecutionFilter(error_signature=row.signature))):
        window.go_to_tab(window.tabs.indexOf(view))
        qtbot.waitUntil(lambda view=view: view.model.rowCount() > 0, timeout=20_000)
        assert focused() is view.table
        press(qtbot, Qt.Key.Key_Down)
        row = view.model.row_at(view.table.currentIndex().row())
        press(qtbot, Qt.Key.Key_Return)
        assert window.current_tab == "executions" and window.executions.filters == expected(row)


def test_toolbar_inputs_ignore_stray_arrows_and_wheel(qtbot, window: MainWindow) -> None:
    preset, seconds = window.range_box.currentIndex(), window.interval.value()
    for box in (window.range_box, window.interval):
        assert box.focusPolicy() == Qt.FocusPolicy.StrongFocus
        centre = QPointF(box.rect().center())
        wheel = QWheelEvent(centre, QPointF(box.mapToGlobal(box.rect().center())), QPoint(0, 0), QPoint(0, -120),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                            False)
        QApplication.sendEvent(box, wheel)
    assert (window.range_box.currentIndex(), window.interval.value()) == (preset, seconds)
    window.range_box.setFocus()
    press(qtbot, Qt.Key.Key_Down)  # opens the list: choosing needs Enter in it
    assert window.range_box.currentIndex() == preset and window.range_preset != "custom"
    window.range_box.hidePopup()
    for box in (window.range_box, window.auto_refresh, window.utc_box):  # Fusion shows no focus on these
        assert ":focus" in box.styleSheet()


def test_copy_id_and_link(qtbot, window: MainWindow, demo_url: str) -> None:
    window.find()
    table = window.executions.table
    qtbot.waitUntil(lambda: window.executions.model.rowCount() > 0, timeout=20_000)
    table.setFocus()
    press(qtbot, Qt.Key.Key_Down)
    row = window.executions.model.row_at(table.currentIndex().row())
    for _ in range(20):  # a row of a session (the demo's newest runs may have none)
        if row.session_id:
            break
        press(qtbot, Qt.Key.Key_Down)
        row = window.executions.model.row_at(table.currentIndex().row())
    assert row.session_id
    press(qtbot, Qt.Key.Key_C, CTRL)
    assert QGuiApplication.clipboard().text() == str(row.execution_id)
    # The Menu key opens the current row's menu (right under it, not where the mouse is).
    QApplication.sendEvent(table, QContextMenuEvent(QContextMenuEvent.Reason.Keyboard, QPoint(5, 5),
                                                    table.mapToGlobal(QPoint(5, 5))))
    menu = window.row_actions["executions"].menu
    assert menu is not None and menu.isVisible()
    texts = [a.text() for a in menu.actions()]
    assert texts[0] == "Copy execution id" and "Copy session id" in texts
    menu.actions()[-1].trigger()
    assert QGuiApplication.clipboard().text() == f"studio-analytics --db {demo_url} --open execution:{row.execution_id}"
    menu.close()
    # Ctrl+C in a filter field copies its text, not a row's id.
    window.executions.text.setText("needle")
    window.executions.text.setFocus()
    window.executions.text.selectAll()
    press(qtbot, Qt.Key.Key_C, CTRL)
    assert QGuiApplication.clipboard().text() == "needle"
    window.go_to_tab(1)
    qtbot.waitUntil(lambda: window.agents.model.rowCount() > 0, timeout=20_000)
    press(qtbot, Qt.Key.Key_Down)
    press(qtbot, Qt.Key.Key_C, CTRL)
    row = window.agents.table.currentIndex().row()
    assert QGuiApplication.clipboard().text() == window.agents.model.row_at(row).agent_name
    # A right-click on another row: that row's menu, and it becomes the current one.
    agents = window.agents.table
    other = agents.visualRect(window.agents.model.index(row + 1, 0)).center()
    QApplication.sendEvent(agents.viewport(), QContextMenuEvent(QContextMenuEvent.Reason.Mouse, other,
                                                                agents.viewport().mapToGlobal(other)))
    menu = window.row_actions["agents"].menu
    assert menu is not None and agents.currentIndex().row() == row + 1
    menu.actions()[0].trigger()
    assert QGuiApplication.clipboard().text() == window.agents.model.row_at(row + 1).agent_name
    menu.close()


def test_open_command_keeps_passwords_out() -> None:
    assert open_command("session", "s 1", "postgresql://me:secret@db/x") == "studio-analytics --open 'session:s 1'"
    assert open_command("execution", "e", "postgresql://me@db/x") == \
        "studio-analytics --db postgresql://me@db/x --open execution:e"


def test_shortcuts_dialog_lists_the_menu_actions(qtbot, window: MainWindow) -> None:
    rows = menu_shortcuts(window.menuBar())
    assert ("Go", "Back", "Alt+Left, Back") in rows and ("File", "Quit", "Ctrl+Q") in rows
    assert ("View", "Refresh", "F5") in rows and ("Saved Views", "Save current view…", "Ctrl+S") in rows
    assert ("View", f"1 {window.tabs.tabText(0)}", "Ctrl+1") in rows
    press(qtbot, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: any(isinstance(d, KeyboardShortcutsDialog) for d in window.dialogs), timeout=10_000)
    dialog = window.dialogs[-1]
    assert isinstance(dialog, KeyboardShortcutsDialog) and dialog.rows == rows
    assert "Alt+Left" in dialog.text.toPlainText()
    qtbot.waitUntil(lambda: focused().window() is dialog)
    press(qtbot, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.dialogs)


def test_each_menu_has_its_own_mnemonic(window: MainWindow) -> None:
    """Alt+letter opens one menu, and in each menu one entry per letter."""
    def letters(actions) -> list[str]:
        out = []
        for action in actions:
            text = action.text().replace("&&", "")
            if "&" in text:
                out.append(text[text.index("&") + 1].lower())
        return out

    menus = [a for a in window.menuBar().actions() if a.menu() is not None]
    top = letters(menus)
    assert len(top) == len(menus) and len(set(top)) == len(top), top
    for menu_action in menus:
        inner = letters(menu_action.menu().actions())
        assert len(set(inner)) == len(inner), (menu_action.text(), inner)
