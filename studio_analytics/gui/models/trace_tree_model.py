"""TraceTreeModel: an execution's spans (TraceSpan) as a tree, each under its parent.

The analytics layer sends the spans flat — the execution first, then depth first with
siblings by start time — each naming its parent. The tree keeps that order among
siblings. A span whose parent is not among them (a cut trace) hangs under the
execution, so nothing sent is ever hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from studio_analytics.analytics.results import TraceSpan
from studio_analytics.gui.charts.waterfall_chart import STATUS_OUTLINE, kind_colour
from studio_analytics.gui.models.row_table_model import cost_text, count, ms

Index = QModelIndex | QPersistentModelIndex
NO_PARENT = -1
KIND_NAMES = {"execution": "agent", "tool": "tool", "model": "model"}


def span_tokens(s: TraceSpan) -> str:
    if s.kind == "model":
        if s.input_tokens is None and s.output_tokens is None:
            return "—"
        return f"{count(s.input_tokens)} → {count(s.output_tokens)}"
    return "" if s.tokens_used is None else count(s.tokens_used)


def span_cost(s: TraceSpan) -> str:
    """A model call without a cost is unpriced, never $0; other spans show a cost only when
    the analytics layer gave one."""
    if s.kind == "model":
        return cost_text(s.cost_usd, 0) if s.cost_usd is not None else "unpriced"
    return "" if s.cost_usd is None else cost_text(s.cost_usd, 0)


class TraceTreeModel(QAbstractItemModel):
    COLUMNS = ("Span", "Kind", "Duration", "Tokens", "Cost")  # model calls: "in → out"

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.spans: list[TraceSpan] = []
        self._parent: list[int] = []  # node -> parent node (NO_PARENT for the execution)
        self._children: dict[int, list[int]] = {NO_PARENT: []}
        self._row: list[int] = []  # node -> its row under its parent

    def set_spans(self, spans: Sequence[TraceSpan]) -> None:
        self.beginResetModel()
        self.spans = list(spans)
        position = {s.span_id: i for i, s in enumerate(self.spans)}
        self._parent, self._row = [], []
        self._children = {NO_PARENT: []}
        for i, s in enumerate(self.spans):
            if i == 0:
                parent = NO_PARENT
            else:
                parent = position.get(s.parent_id, 0) if s.parent_id is not None else 0
                if parent >= i:  # a parent listed after its child: not the promised order
                    parent = 0
            siblings = self._children.setdefault(parent, [])
            self._parent.append(parent)
            self._row.append(len(siblings))
            siblings.append(i)
        self.endResetModel()

    # -- tree structure -------------------------------------------------------------
    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        node = parent.internalId() if parent.isValid() else NO_PARENT
        children = self._children.get(node, [])
        if not (0 <= row < len(children)) or not (0 <= column < len(self.COLUMNS)):
            return QModelIndex()
        return self.createIndex(row, column, children[row])

    def parent(self, child: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not child.isValid():
            return QModelIndex()
        up = self._parent[child.internalId()]
        if up == NO_PARENT:
            return QModelIndex()
        return self.createIndex(self._row[up], 0, up)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._children.get(parent.internalId() if parent.isValid() else NO_PARENT, []))

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return len(self.COLUMNS)

    def index_of(self, node: int, column: int = 0) -> QModelIndex:
        """The index of ``spans[node]``."""
        if not (0 <= node < len(self.spans)):
            return QModelIndex()
        return self.createIndex(self._row[node], column, node)

    def node_of(self, index: Index) -> int | None:
        return index.internalId() if index.isValid() else None

    def parent_span(self, node: int) -> TraceSpan | None:
        up = self._parent[node]
        return None if up == NO_PARENT else self.spans[up]

    # -- cells ----------------------------------------------------------------------
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        s = self.spans[index.internalId()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return s.name
            if col == 1:
                return KIND_NAMES.get(s.kind, s.kind)
            if col == 2:
                return ms(s.duration_ms)
            if col == 3:
                return span_tokens(s)
            return span_cost(s)
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            return QColor(kind_colour(s.kind))
        if role == Qt.ItemDataRole.ForegroundRole and s.status in STATUS_OUTLINE:
            return QColor(STATUS_OUTLINE[s.status])
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = f"{KIND_NAMES.get(s.kind, s.kind)} · {s.status}"
            return tip + (f"\n{s.error_message}" if s.error_message else "")
        if role == Qt.ItemDataRole.UserRole:
            return s
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.COLUMNS[section]
        return None
