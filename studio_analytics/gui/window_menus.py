"""The main window's menu bar: every action a key reaches, with mnemonics.

File, View (one entry per tab, Ctrl+1..9 and Ctrl+0 for the first ten, Ctrl+Tab /
Ctrl+Shift+Tab and Ctrl+PgDown / Ctrl+PgUp), Go (Back, Forward, Find), Saved Views,
Alerts (the rules dialog, the Alerts tab, silencing the selected alert's rule), Help. The
toolbar's actions are the same QAction objects; the toolbar's check boxes are mirrored
by checkable actions so either one changes the other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QCheckBox, QInputDialog, QMenu, QMessageBox, QStyle, QToolBar, QWidget

from studio_analytics.gui.dialogs.shortcuts_dialog import KeyboardShortcutsDialog

if TYPE_CHECKING:
    from studio_analytics.gui.main_window import MainWindow


def _mirror(box: QCheckBox, action: QAction) -> None:
    """A checkable action and a check box that always agree."""
    action.setCheckable(True)
    action.setChecked(box.isChecked())
    action.toggled.connect(box.setChecked)
    box.toggled.connect(action.setChecked)


class WindowMenus(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        bar = window.menuBar()

        file = bar.addMenu("&File")
        file.addAction(window.connect_action)
        file.addAction(window.export_action)
        file.addSeparator()
        self.quit = file.addAction("&Quit")
        self.quit.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit.triggered.connect(window.close)

        view = bar.addMenu("&View")
        # Built from the tabs present (others may add tabs): never a fixed list.
        self.tab_actions: list[QAction] = []
        for i in range(window.tabs.count()):
            title = window.tabs.tabText(i).replace("&", "&&")
            # The digits row: 1..9, then 0 for the tenth tab.
            digit = str((i + 1) % 10) if i < 10 else None
            action = view.addAction(f"&{digit} {title}" if digit else title)
            if digit:
                action.setShortcut(QKeySequence(f"Ctrl+{digit}"))
            action.triggered.connect(lambda _=False, index=i: window.go_to_tab(index))
            self.tab_actions.append(action)
        view.addSeparator()
        self.next_tab = view.addAction("&Next tab")
        self.next_tab.setShortcuts([QKeySequence("Ctrl+Tab"), QKeySequence("Ctrl+PgDown")])
        self.next_tab.triggered.connect(lambda: window.step_tab(1))
        self.previous_tab = view.addAction("&Previous tab")
        self.previous_tab.setShortcuts([QKeySequence("Ctrl+Shift+Tab"), QKeySequence("Ctrl+PgUp")])
        self.previous_tab.triggered.connect(lambda: window.step_tab(-1))
        view.addSeparator()
        view.addAction(window.refresh_action)
        self.auto_refresh = view.addAction("&Auto-refresh")
        _mirror(window.auto_refresh, self.auto_refresh)
        self.utc = view.addAction("Times in &UTC")
        _mirror(window.utc_box, self.utc)

        go = bar.addMenu("&Go")
        self.back = go.addAction("&Back")
        # Not QKeySequence.Back: on Linux that includes Backspace, which a table or field needs.
        self.back.setShortcuts([QKeySequence("Alt+Left"), QKeySequence(Qt.Key.Key_Back)])
        self.back.setToolTip("Back to the previous tab and filter (Alt+Left)")
        self.back.triggered.connect(window.go_back)
        self.forward = go.addAction("&Forward")
        self.forward.setShortcuts([QKeySequence("Alt+Right"), QKeySequence(Qt.Key.Key_Forward)])
        self.forward.setToolTip("Forward again (Alt+Right)")
        self.forward.triggered.connect(window.go_forward)
        toolbar = window.findChild(QToolBar, "MainToolbar")
        if toolbar is not None and toolbar.actions():
            first = toolbar.actions()[0]
            for action, icon in ((self.back, QStyle.StandardPixmap.SP_ArrowBack),
                                 (self.forward, QStyle.StandardPixmap.SP_ArrowForward)):
                action.setIcon(window.style().standardIcon(icon))
                toolbar.insertAction(first, action)
            toolbar.insertSeparator(first)
        go.addSeparator()
        self.find = go.addAction("Find &execution…")
        self.find.setShortcut(QKeySequence("Ctrl+F"))
        self.find.setToolTip("The Executions tab's search field (from any tab)")
        self.find.triggered.connect(window.find)

        self.saved = bar.addMenu("&Saved Views")
        self.save_view = QAction("&Save current view…", self)
        self.save_view.setShortcut(QKeySequence("Ctrl+S"))
        self.save_view.triggered.connect(self.ask_save_view)
        self.delete_view = QAction("&Delete a saved view…", self)
        self.delete_view.triggered.connect(self.ask_delete_view)
        self.view_actions: list[QAction] = []
        self.fill_saved_views()

        alerts = bar.addMenu("A&lerts")
        self.alert_rules = alerts.addAction("Alert &rules…")
        self.alert_rules.setShortcut(QKeySequence("Ctrl+Shift+A"))
        self.alert_rules.setToolTip("Create, edit, test, enable, disable or silence alert rules")
        self.alert_rules.triggered.connect(window.open_alert_rules)
        self.show_alerts = alerts.addAction("&Show the Alerts tab")
        self.show_alerts.triggered.connect(lambda: window.go_to_tab(window.tabs.indexOf(window.alerts)))
        self.silence_alert = alerts.addAction("S&ilence the selected alert's rule…")
        self.silence_alert.triggered.connect(window.alerts.ask_silence)

        help_menu = bar.addMenu("&Help")
        self.shortcuts = help_menu.addAction("&Keyboard shortcuts")
        self.shortcuts.setShortcut(QKeySequence(QKeySequence.StandardKey.HelpContents))
        self.shortcuts.triggered.connect(self.show_shortcuts)


    def fill_saved_views(self) -> None:
        """The Saved Views menu: its two commands, then one entry per saved view."""
        menu: QMenu = self.saved
        menu.clear()
        menu.addAction(self.save_view)
        menu.addAction(self.delete_view)
        views = self.window.saved_views.load()
        self.delete_view.setEnabled(bool(views))
        self.view_actions = []
        if views:
            menu.addSeparator()
        for i, saved in enumerate(views):
            name = saved.name.replace("&", "&&")
            action = menu.addAction(f"&{i + 1} {name}" if i < 9 else name)
            action.triggered.connect(lambda _=False, v=saved: self.window.apply_view(v))
            self.view_actions.append(action)
        if self.window.saved_views.problem:
            problem = menu.addAction("Saved views file unreadable (see the log)")
            problem.setEnabled(False)

    def ask_save_view(self) -> None:
        name, ok = QInputDialog.getText(self.window, "Save current view",
                                        "Name (tab, range, executions filters and sorts are kept):",
                                        text=self.window.tabs.tabText(self.window.tabs.currentIndex()))
        if ok and name.strip():
            self._saved(lambda: self.window.save_current_view(name.strip()))

    def ask_delete_view(self) -> None:
        names = [v.name for v in self.window.saved_views.load()]
        if not names:
            return
        name, ok = QInputDialog.getItem(self.window, "Delete a saved view", "View:", names, 0, False)
        if ok and name:
            self._saved(lambda: self.window.saved_views.delete(name))

    def _saved(self, change: Callable[[], object]) -> None:
        try:
            change()
        except OSError as e:
            QMessageBox.warning(self.window, "Saved views", f"Could not save: {e}")
        self.fill_saved_views()

    def show_shortcuts(self) -> QWidget:
        return self.window.keep_dialog(KeyboardShortcutsDialog(self.window.menuBar(), self.window))
