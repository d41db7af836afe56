"""Which columns a table shows and how wide they are, kept across reloads and restarts.

Stored in QSettings (window state) as JSON by column *field*, not as the header's
``saveState`` bytes: a release that adds a column then keeps the user's choices instead
of discarding the whole state for a changed section count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from PySide6.QtCore import QPoint, QSettings, Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHeaderView, QMenu, QTableView

from studio_analytics.gui.models.row_table_model import Column

#: Save this long after the last drag of a column edge (not on every pixel).
SAVE_DELAY_MS = 300


class ColumnChooser:
    """Shows and hides the table's columns (header context menu, or :meth:`menu` from a
    button) and keeps their widths: the table's own model resets leave them alone."""

    def __init__(self, table: QTableView, columns: Sequence[Column], key: str,
                 default_hidden: Iterable[str] = ()) -> None:
        self.table, self.columns, self.key = table, columns, key
        self.header: QHeaderView = table.horizontalHeader()
        self.widths: dict[str, int] = {}
        self.hidden: set[str] = set(default_hidden)
        self._restoring = False
        self._load()
        self._save_timer = QTimer(table, singleShot=True, interval=SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.save)
        self.header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.header.customContextMenuRequested.connect(self._header_menu)
        self.header.sectionResized.connect(self._resized)
        # A reset may give the sections back their default sizes: put the user's back.
        table.model().modelReset.connect(self.apply)
        self.apply()

    def _load(self) -> None:
        raw = QSettings().value(self.key)
        if not raw:
            return
        try:
            state = json.loads(str(raw))
            fields = {c.field for c in self.columns}
            self.hidden = {f for f in state.get("hidden", []) if f in fields}
            self.widths = {f: int(w) for f, w in state.get("widths", {}).items() if f in fields and int(w) > 0}
        except (ValueError, TypeError, AttributeError):
            pass  # a damaged value: the defaults

    def save(self) -> None:
        QSettings().setValue(self.key, json.dumps({"hidden": sorted(self.hidden), "widths": self.widths}))

    def apply(self) -> None:
        self._restoring = True
        try:
            for i, column in enumerate(self.columns):
                self.header.setSectionHidden(i, column.field in self.hidden)
                width = self.widths.get(column.field)
                if width:
                    self.header.resizeSection(i, width)
        finally:
            self._restoring = False

    def fit_once(self) -> None:
        """Size the shown columns whose width is not known yet (saved, dragged or fitted
        before) to their contents; the others keep theirs. Call it with rows loaded."""
        missing = [i for i, c in enumerate(self.columns)
                   if c.field not in self.widths and not self.header.isSectionHidden(i)]
        for i in missing:
            self.table.resizeColumnToContents(i)
            self.widths[self.columns[i].field] = self.header.sectionSize(i)
        if missing:
            self.save()

    def _resized(self, index: int, _old: int, new: int) -> None:
        if self._restoring or new <= 0 or self.header.isSectionHidden(index):
            return
        self.widths[self.columns[index].field] = new
        self._save_timer.start()

    def set_visible(self, field: str, visible: bool) -> None:
        i = next(i for i, c in enumerate(self.columns) if c.field == field)
        if not visible and len(self.hidden) >= len(self.columns) - 1:
            return  # the last column shown stays
        self.hidden.discard(field) if visible else self.hidden.add(field)
        self._restoring = True
        self.header.setSectionHidden(i, not visible)
        self._restoring = False
        if visible and field not in self.widths and self.table.model().rowCount():
            self.table.resizeColumnToContents(i)
            self.widths[field] = self.header.sectionSize(i)
        self.save()

    def is_visible(self, field: str) -> bool:
        return field not in self.hidden

    def menu(self) -> QMenu:
        """A checkable entry per column (the header's context menu, the Columns… button)."""
        menu = QMenu(self.table)
        for column in self.columns:
            action = QAction(column.header, menu, checkable=True)
            action.setChecked(self.is_visible(column.field))
            action.toggled.connect(lambda on, f=column.field: self.set_visible(f, on))
            menu.addAction(action)
        return menu

    def _header_menu(self, pos: QPoint) -> None:
        self.menu().exec(self.header.mapToGlobal(pos))
