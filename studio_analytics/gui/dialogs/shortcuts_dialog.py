"""Help › Keyboard shortcuts: read from the menu bar's actions, so the list is never a
second copy that drifts; the keys of lists and dialogs (not actions) follow."""

from __future__ import annotations

import html

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QMenu,
    QMenuBar,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

#: Keys handled by the lists and dialogs themselves rather than by a menu action.
VIEW_KEYS = (
    ("Enter", "Open the selected row (as a double-click does)"),
    ("Ctrl+C", "Copy the selected row's id (right-click or the Menu key: more to copy)"),
    ("Tab / Shift+Tab", "Move between the toolbar, the tabs, the filters and the table"),
    ("Home / End", "Executions: the newest / oldest executions of the range"),
    ("Ctrl+G", "Executions: go to a time"),
    ("Esc", "Close a dialog"),
)


def menu_shortcuts(menu_bar: QMenuBar) -> list[tuple[str, str, str]]:
    """(menu, action, keys) of every action in the menu bar that has a shortcut."""
    found: list[tuple[str, str, str]] = []

    def walk(menu: QMenu, path: str) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu(), f"{path} › {plain(action.text())}")  # type: ignore[arg-type]
            elif action.shortcuts() and not action.isSeparator():
                keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts())
                found.append((path, plain(action.text()), keys))

    for top in menu_bar.actions():
        if top.menu() is not None:
            walk(top.menu(), plain(top.text()))  # type: ignore[arg-type]
    return found


def plain(text: str) -> str:
    """A menu text without its mnemonic marker ("&File" → "File", "&&" → "&")."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


class KeyboardShortcutsDialog(QDialog):
    def __init__(self, menu_bar: QMenuBar, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(560, 640)
        self.rows = menu_shortcuts(menu_bar)
        cells = "".join(f"<tr><td>{html.escape(menu)}</td><td>{html.escape(name)}</td>"
                        f"<td><b>{html.escape(keys)}</b></td></tr>" for menu, name, keys in self.rows)
        cells += "".join(f"<tr><td>Lists and dialogs</td><td>{html.escape(what)}</td>"
                         f"<td><b>{html.escape(keys)}</b></td></tr>" for keys, what in VIEW_KEYS)
        self.text = QTextBrowser()
        self.text.setHtml(f"<table cellpadding='3'>{cells}</table>"
                          "<p>Menus open with Alt and the underlined letter (Alt+F: File).</p>")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
