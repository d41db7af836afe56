"""ConversationListView: a session's turns as a scrollable thread; the selected turn
expands, Enter or a double-click opens its execution."""

from __future__ import annotations

import uuid

from PySide6.QtCore import QItemSelection, QModelIndex, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QAbstractItemView, QListView

from studio_analytics.gui.models.conversation_model import ConversationModel
from studio_analytics.gui.views.conversation_delegate import ConversationDelegate


class ConversationListView(QListView):
    execution_activated = Signal(object)  # uuid.UUID of the turn's execution

    def __init__(self, model: ConversationModel) -> None:
        super().__init__()
        self.setModel(model)
        self.setItemDelegate(ConversationDelegate(self))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Heights follow the width (the texts wrap): lay the items out again on resize.
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(False)
        self.setSpacing(2)
        self.selectionModel().selectionChanged.connect(self._selection_changed)
        self.doubleClicked.connect(self._open)

    def _selection_changed(self, selected: QItemSelection, deselected: QItemSelection) -> None:
        # The selected turn shows all its text, the one left folds again: new heights.
        delegate = self.itemDelegate()
        for index in [*selected.indexes(), *deselected.indexes()]:
            delegate.sizeHintChanged.emit(index)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Handled here, not left to ``activated``: that passes Enter on to the dialog,
        # whose default button would take it as well.
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self._open(self.currentIndex())
            event.accept()
            return
        super().keyPressEvent(event)

    def _open(self, index: QModelIndex) -> None:
        model = self.model()
        assert isinstance(model, ConversationModel)
        self.execution_activated.emit(uuid.UUID(str(model.turn_at(index.row()).execution_id)))
