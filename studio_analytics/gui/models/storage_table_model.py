"""The Database tab's table: one row per database table with its rows, size, indexes
and the age of its rows (a rollup: the first and last period it covers)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from studio_analytics.analytics.storage import TableStorage
from studio_analytics.gui import zone

Index = QModelIndex | QPersistentModelIndex


def size_text(n: float | None) -> str:
    """Bytes for people: "812 B", "4.0 KB", "1.6 GB"."""
    if n is None:
        return "—"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            break
        value /= 1024
    return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"


def _when(t: datetime | None) -> str:
    return "—" if t is None else zone.in_zone(t).strftime("%Y-%m-%d %H:%M")


class StorageTableModel(QAbstractTableModel):
    COL_TABLE, COL_ROWS, COL_SIZE, COL_INDEXES, COL_OLDEST, COL_NEWEST = range(6)
    HEADERS = ("Table", "Rows", "Size", "Indexes", "Oldest raw row", "Newest")
    HEADER_TIPS = (
        "Raw metrics tables first, then the hourly and daily rollups, then bookkeeping",
        "Rows in the whole table (≈: PostgreSQL's estimate for a large table)",
        "The table's own pages (PostgreSQL: with its TOAST data)",
        "All of the table's indexes; hover a cell for each index",
        "Raw tables: the oldest row's start time. Rollups: the first period they cover",
        "Raw tables: the newest row's start time. Rollups: the last period they cover",
    )

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[TableStorage] = []

    def set_tables(self, tables: Sequence[TableStorage]) -> None:
        self.beginResetModel()
        self._rows = list(tables)
        self.endResetModel()

    def row_at(self, row: int) -> TableStorage:
        return self._rows[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        t, col = self._rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(t, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tip(t, col)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (self.COL_ROWS, self.COL_SIZE, self.COL_INDEXES):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _display(self, t: TableStorage, col: int) -> str:
        if col == self.COL_TABLE:
            return t.name
        if col == self.COL_ROWS:
            return f"≈{t.rows:,}" if t.rows_estimated else f"{t.rows:,}"
        if col == self.COL_SIZE:
            return size_text(t.table_bytes)
        if col == self.COL_INDEXES:
            return size_text(t.index_bytes) if t.indexes or t.index_bytes is None else "—"
        if col == self.COL_OLDEST:
            text = _when(t.oldest)
            return f"{text} · older pruned" if t.pruned_before is not None and t.oldest is not None else text
        return _when(t.newest)

    def _tip(self, t: TableStorage, col: int) -> str | None:
        if col == self.COL_ROWS and t.rows_estimated:
            return "PostgreSQL's estimate (pg_class.reltuples): counting every row of a large table reads all of it"
        if col == self.COL_INDEXES and t.indexes:
            return "\n".join(f"{i.name}: {size_text(i.bytes)}" for i in t.indexes)
        if col in (self.COL_OLDEST, self.COL_NEWEST):
            if t.kind == "rollup":
                return "the first and last period (UTC hour or day) this rollup holds"
            if t.pruned_before is not None:
                return (f"raw rows before {_when(t.pruned_before)} were pruned; "
                        "figures before it come from the hourly rollups")
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not (0 <= section < len(self.HEADERS)):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.HEADER_TIPS[section]
        return None
