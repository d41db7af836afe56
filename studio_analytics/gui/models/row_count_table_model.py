"""Table of metrics tables and their row counts."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

Index = QModelIndex | QPersistentModelIndex


class RowCountTableModel(QAbstractTableModel):
    COL_TABLE, COL_ROWS = range(2)
    HEADERS = ("Table", "Rows")

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[tuple[str, int]] = []

    def set_counts(self, counts: dict[str, int]) -> None:
        self.beginResetModel()
        self._rows = list(counts.items())
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        table, rows = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return table if index.column() == self.COL_TABLE else f"{rows:,}"
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == self.COL_ROWS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None
