"""A read-only table over frozen result rows; clicking a header asks for a new query."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal

from studio_analytics.gui import zone
from studio_analytics.gui.models.duration_units import DurationColumns
from studio_analytics.gui.zone import in_zone

Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    field: str
    fmt: Callable[[Any], str] = str
    numeric: bool = True
    sortable: bool = True
    timed: bool = False  # a time: the header names the zone shown
    #: formats from the whole row instead of ``fmt(value)`` (a cost and its unpriced calls)
    row_fmt: Callable[[Any], str] | None = None
    #: milliseconds, shown in one unit per column named in the header (see duration_units)
    duration: bool = False
    #: a percentile that may come from the latency histograms ("p95 ≈" when rows say so)
    percentile: bool = False


def ms(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v / 1000:,.2f} s" if v >= 10_000 else f"{v:,.0f} ms" if v >= 10 else f"{v:.2f} ms"


def pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.1f}%"


def count(v: int | None) -> str:
    return "—" if v is None else f"{v:,}"


def when(v: datetime | None) -> str:
    return "—" if v is None else in_zone(v).strftime("%Y-%m-%d %H:%M")


def usd(v: float | None) -> str:
    """A known cost. None (unknown) is "—", never "$0.00": see :func:`cost_text`."""
    if v is None:
        return "—"
    if v == 0 or abs(v) >= 1:
        return f"${v:,.2f}"
    # Below a dollar, two significant digits: "$0.38", "$0.0042", "$0.00000056" (an
    # embedding call) — never a small known cost shown as "$0.00".
    return f"${v:.{min(12, max(2, 1 - math.floor(math.log10(abs(v)))))}f}"


def cost_text(cost: float | None, unpriced_calls: int, *, noun: str = "unpriced") -> str:
    """A cost that says what it leaves out: "$12.40", "$12.40 + 37 unpriced",
    "unpriced (37 calls)", or "—" when there were no model calls at all. A call without
    a price is never counted as $0."""
    if cost is None:
        if unpriced_calls:
            return f"{noun} ({unpriced_calls:,} call{'s' if unpriced_calls != 1 else ''})"
        return "—"
    return usd(cost) + (f" + {unpriced_calls:,} {noun}" if unpriced_calls else "")


def row_cost(row: Any) -> str:
    """The ``cost_usd`` and ``unpriced_calls`` of a result row, as :func:`cost_text`."""
    return cost_text(row.cost_usd, row.unpriced_calls)


class RowTableModel(QAbstractTableModel):
    """Rows come sorted from the database; ``sort()`` only emits ``sort_requested``."""

    sort_requested = Signal(str, bool)  # field, descending
    COLUMNS: Sequence[Column] = ()

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[Any] = []
        zone.setting().changed.connect(self._zone_changed)
        # Connected before any view's: the units are chosen before the view asks for a cell.
        self._durations = DurationColumns()
        for signal in (self.modelReset, self.rowsInserted, self.rowsRemoved):
            signal.connect(self._choose_units)

    def _choose_units(self, *_args: Any) -> None:
        for i in self._durations.update(self.COLUMNS, self._rows):
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, i, i)
            if self._rows:
                self.dataChanged.emit(self.index(0, i), self.index(len(self._rows) - 1, i))

    def _zone_changed(self) -> None:
        if self.COLUMNS:
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, len(self.COLUMNS) - 1)
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(self.COLUMNS) - 1))

    def set_rows(self, rows: Sequence[Any]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row_at(self, row: int) -> Any:
        return self._rows[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        column = self.COLUMNS[index.column()]
        value = getattr(self._rows[index.row()], column.field)
        if role == Qt.ItemDataRole.DisplayRole:
            if column.duration:
                return self._durations.text(index.column(), value)
            return column.fmt(value) if column.row_fmt is None else column.row_fmt(self._rows[index.row()])
        if role == Qt.ItemDataRole.ToolTipRole and column.duration and value is not None:
            return ms(value)  # the cell's number with its unit
        if role == Qt.ItemDataRole.TextAlignmentRole and column.numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return value
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            column = self.COLUMNS[section]
            if column.duration:
                return self._durations.header(section, column)
            return zone.with_zone(column.header) if column.timed else column.header
        if role == Qt.ItemDataRole.ToolTipRole and orientation == Qt.Orientation.Horizontal:
            return self._durations.header_tip(self.COLUMNS[section])
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if 0 <= column < len(self.COLUMNS) and self.COLUMNS[column].sortable:
            self.sort_requested.emit(self.COLUMNS[column].field, order == Qt.SortOrder.DescendingOrder)
