"""Copy a row's id (Ctrl+C, or the context menu) and, for executions and sessions, a
command that reopens it (``studio-analytics --open execution:ID``).

Installed on a table with a function that names what each row can give; the first is
what Ctrl+C copies. The view's own Ctrl+C (the current cell's text) is replaced: the
id is what another tool, a bug report or ``--open`` wants.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction, QContextMenuEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QMenu, QTableView
from sqlalchemy.engine import make_url

from studio_analytics.config import default_db_url

#: What a row gives: (menu text, text copied), the id first.
RowCopies = Callable[[int], Sequence[tuple[str, str]]]


def open_command(kind: str, ident: str, url: str) -> str:
    """The command that opens ``kind:ident`` in this database. The URL is left out for
    the default database, and when it holds a password (never copied to a clipboard)."""
    parts = ["studio-analytics"]
    if url and url != default_db_url():
        try:
            has_password = make_url(url).password is not None
        except Exception:  # noqa: BLE001 — not a URL (a plain path): nothing secret in it
            has_password = False
        if not has_password:
            parts += ["--db", url]
    parts += ["--open", f"{kind}:{ident}"]
    return shlex.join(parts)


class RowActions(QObject):
    """The copy actions of one table's rows."""

    copied = Signal(str)  # the text now on the clipboard

    def __init__(self, table: QTableView, copies: RowCopies) -> None:
        super().__init__(table)
        self.table = table
        self.copies = copies
        self.copy_id = QAction("Copy id", table)
        self.copy_id.setShortcut(QKeySequence(QKeySequence.StandardKey.Copy))
        # Only while the table has focus: Ctrl+C in a filter field copies its text.
        self.copy_id.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.copy_id.triggered.connect(self.copy_current)
        table.addAction(self.copy_id)
        self.menu: QMenu | None = None  # the menu open now, if any
        # A right-click arrives at the viewport; the Menu key (or Shift+F10) at the table.
        table.viewport().installEventFilter(self)
        table.installEventFilter(self)

    def current_row(self) -> int | None:
        index = self.table.currentIndex()
        return index.row() if index.isValid() else None

    def copy_current(self) -> None:
        row = self.current_row()
        if row is not None:
            items = self.copies(row)
            if items:
                self.copy(items[0][1])

    def copy(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.copied.emit(text)

    def menu_for(self, row: int) -> QMenu:
        menu = QMenu(self.table)
        for i, (label, text) in enumerate(self.copies(row)):
            action = menu.addAction(label)
            if i == 0:
                action.setShortcut(self.copy_id.shortcut())  # shown, not bound twice
            action.triggered.connect(lambda _=False, t=text: self.copy(t))
        return menu

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.ContextMenu or not isinstance(event, QContextMenuEvent):
            return False
        viewport = self.table.viewport()
        if event.reason() == QContextMenuEvent.Reason.Mouse:
            pos = event.pos() if watched is viewport else viewport.mapFrom(self.table, event.pos())
            index = self.table.indexAt(pos)
        else:  # from the keyboard: the current row, wherever the mouse is
            index = self.table.currentIndex()
            pos = self.table.visualRect(index).center()
        if index.isValid():
            self.table.setCurrentIndex(index)
            self.menu = self.menu_for(index.row())
            self.menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.menu.destroyed.connect(lambda _=None: setattr(self, "menu", None))
            self.menu.popup(viewport.mapToGlobal(pos))
        return True
