"""Sort arrows that point the usual way: a descending sort shows ▼, an ascending one ▲.

QHeaderView hands the style ``SortDown`` for an ascending sort and ``SortUp`` for a
descending one (``QHeaderView::paintSection``), and Fusion draws ``SortUp`` as an upward
arrow: a table sorted from the largest value down showed ▲. The header's own
``sortIndicatorOrder()`` is right; only the drawing is swapped, so sorting by a click
and ``setSortIndicator`` keep Qt's meaning.
"""

from __future__ import annotations

from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QApplication,
    QProxyStyle,
    QStyle,
    QStyleOption,
    QStyleOptionHeader,
    QWidget,
)

#: base styles whose arrows are drawn the wrong way round (checked by tests/gui/test_polish.py)
SWAPPED_STYLES = frozenset({"fusion"})
_SWAP = {QStyleOptionHeader.SortIndicator.SortUp: QStyleOptionHeader.SortIndicator.SortDown,
         QStyleOptionHeader.SortIndicator.SortDown: QStyleOptionHeader.SortIndicator.SortUp}


class SortArrowStyle(QProxyStyle):
    def drawPrimitive(self, element: QStyle.PrimitiveElement, option: QStyleOption, painter: QPainter,
                      widget: QWidget | None = None) -> None:
        if element == QStyle.PrimitiveElement.PE_IndicatorHeaderArrow and isinstance(option, QStyleOptionHeader) \
                and option.sortIndicator in _SWAP:
            option = QStyleOptionHeader(option)
            option.sortIndicator = _SWAP[option.sortIndicator]
        super().drawPrimitive(element, option, painter, widget)


def use_conventional_sort_arrows(app: QApplication) -> None:
    """Wrap the application's style when it is one that draws the arrows inverted."""
    name = app.style().name().lower()
    if name in SWAPPED_STYLES:
        app.setStyle(SortArrowStyle(name))
