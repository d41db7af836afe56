"""TraceView: the trace tree beside its waterfall, row for row, on one time axis.

The waterfall draws the tree's rows as they are shown (a collapsed branch's rows go),
and its vertical range follows the tree's scrolling and size so that each bar sits
level with its row. Selecting a row — by mouse or with the arrow keys — bands it on the
waterfall; a click on the waterfall selects the row under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QResizeEvent, QShowEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QSplitter, QTreeView

from studio_analytics.analytics.results import TraceSpan
from studio_analytics.gui.charts.waterfall_chart import WaterfallChart
from studio_analytics.gui.models.trace_tree_model import TraceTreeModel


class TraceView(QSplitter):
    span_selected = Signal(object)  # TraceSpan | None

    def __init__(self) -> None:
        super().__init__(Qt.Orientation.Horizontal)
        self.model = TraceTreeModel(self)
        self.tree = QTreeView()
        self.tree.setObjectName("traceTree")
        self.tree.setModel(self.model)
        self.tree.setUniformRowHeights(True)
        self.tree.setAllColumnsShowFocus(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        # No horizontal scroll bar: it would take height from the tree that the waterfall keeps.
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, self.model.columnCount()):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.waterfall = WaterfallChart()
        # The waterfall's time axis and the tree's header share one height, so the first
        # row is below both.
        height = max(header.sizeHint().height(), self.waterfall.axis_height())
        header.setFixedHeight(height)
        self.waterfall.set_axis_height(height)
        self.addWidget(self.tree)
        self.addWidget(self.waterfall)
        self.setSizes([650, 450])  # names need the room; the waterfall reads at any width
        self.setChildrenCollapsible(False)
        #: span nodes (indexes into model.spans) in the order the tree shows them
        self.rows: list[int] = []
        self.start: datetime | None = None
        self.total_ms: float | None = None
        # Bound methods, not lambdas: Qt drops these connections when this view goes, so a
        # scroll bar torn down after it never calls into a deleted view.
        self.tree.expanded.connect(self._relayout)
        self.tree.collapsed.connect(self._relayout)
        self.tree.verticalScrollBar().valueChanged.connect(self.align)
        self.tree.selectionModel().currentChanged.connect(self._current_changed)
        self.waterfall.row_clicked.connect(self.select_row)
        self.waterfall.getPlotItem().vb.sigResized.connect(self.align)
        self.splitterMoved.connect(self.align)

    def set_spans(self, start: datetime, total_ms: float | None, spans: Sequence[TraceSpan]) -> None:
        """Every span, fully expanded, the execution selected."""
        self.start, self.total_ms = start, total_ms
        self.model.set_spans(spans)
        self.tree.expandAll()  # emits nothing for a freshly reset model: lay out here
        self._relayout()
        if spans:
            self.tree.setCurrentIndex(self.model.index(0, 0))

    def shown_nodes(self) -> list[int]:
        """Span nodes in the tree's shown order (collapsed branches left out)."""
        # From the model and each row's expanded state: the view's own row list
        # (indexBelow) is built lazily and may still be the one before a reset.
        nodes: list[int] = []
        stack = [self.model.index(0, 0)] if self.model.rowCount() else []
        while stack:
            index = stack.pop()
            nodes.append(index.internalId())
            if self.tree.isExpanded(index):
                stack.extend(self.model.index(row, 0, index) for row in reversed(range(self.model.rowCount(index))))
        return nodes

    def selected_node(self) -> int | None:
        return self.model.node_of(self.tree.currentIndex())

    def select_row(self, row: int) -> None:
        """Select the ``row``-th shown row (a click on the waterfall)."""
        if 0 <= row < len(self.rows):
            self.tree.setCurrentIndex(self.model.index_of(self.rows[row]))
            self.tree.setFocus()

    def _relayout(self, *_changed: object) -> None:
        self.rows = self.shown_nodes()
        if self.start is not None:
            self.waterfall.set_spans(self.start, self.total_ms, [self.model.spans[n] for n in self.rows])
        self._show_selection()
        self.align()

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._show_selection()
        node = self.model.node_of(current)
        self.span_selected.emit(None if node is None else self.model.spans[node])

    def _show_selection(self) -> None:
        node = self.selected_node()
        self.waterfall.select_row(self.rows.index(node) if node is not None and node in self.rows else None)

    def align(self, *_changed: object) -> None:
        """Set the waterfall's rows level with the tree's: the same pixel height per row,
        the same row at the same height on screen."""
        first = self.model.index(0, 0)
        rect = self.tree.visualRect(first)
        if not first.isValid() or rect.height() <= 0:
            return
        row_h = rect.height()
        viewport = self.tree.viewport()
        tree_top = viewport.mapToGlobal(QPoint(0, rect.top())).y()  # row 0's top on screen
        vb_rect = self.waterfall.getPlotItem().vb.sceneBoundingRect()
        if vb_rect.height() <= 0:
            return
        view_top = self.waterfall.mapFromScene(vb_rect.topLeft())
        plot_top = self.waterfall.viewport().mapToGlobal(view_top).y()
        top = (plot_top - tree_top) / row_h - 0.5  # bar i is centred on y = i
        self.waterfall.show_rows(top, top + vb_rect.height() / row_h)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        QTimer.singleShot(0, self, self.align)  # after the children have their new geometry

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self, self.align)
