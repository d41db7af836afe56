"""Draws a conversation turn as two message blocks: the query on the user's side, the
agent's header (agent, start, duration, status, tokens, cost) and response on its side.

Unselected turns show at most a few lines of each text; the selected turn shows all
that was read. ``sizeHint`` and ``paint`` share one layout so they always agree."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QTextLayout, QTextOption
from PySide6.QtWidgets import QAbstractItemView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from studio_analytics.analytics.conversation import ConversationTurn
from studio_analytics.gui.charts.waterfall_chart import STATUS_BRUSH
from studio_analytics.gui.models.conversation_model import (
    ShowDateRole,
    TurnRole,
    cut_note,
    turn_header,
)

Index = QModelIndex | QPersistentModelIndex

#: lines of a query or response shown while the turn is not selected
COLLAPSED_LINES = 3
PAD = 6  # around a turn
BUBBLE_PAD = 7  # inside a message block
GAP = 4  # between the blocks of a turn
#: each side's block leaves this share of the width to the other side, as chat threads do
OFFSET_SHARE = 0.12
USER_FILL = QColor("#e3f2fd")
AGENT_FILL = QColor("#f1f3f4")
FAILED_FILL = QColor("#fdecea")
TEXT = QColor("#202124")
MUTED = QColor("#5f6368")
ERROR = QColor("#c62828")


@dataclass(frozen=True, slots=True)
class _Text:
    layout: QTextLayout
    lines: int
    origin: QPointF
    colour: QColor


@dataclass(frozen=True, slots=True)
class _Block:
    rect: QRectF
    fill: QColor
    stripe: QColor | None  # the status colour down the block's left edge


def _wrapped(text: str, font: QFont, width: float, max_lines: int) -> tuple[QTextLayout, int, float, float, bool]:
    """``text`` broken into lines ``width`` wide: (layout, lines kept, height, widest
    line, cut)."""
    layout = QTextLayout(text.replace("\r\n", "\n").replace("\n", "\u2028"), font)
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    layout.setTextOption(option)
    layout.beginLayout()
    lines, height, widest, cut = 0, 0.0, 0.0, False
    while True:
        line = layout.createLine()
        if not line.isValid():
            break
        if max_lines and lines == max_lines:
            cut = True
            break
        line.setLineWidth(max(width, 10.0))
        line.setPosition(QPointF(0, height))
        height += line.height()
        widest = max(widest, line.naturalTextWidth())
        lines += 1
    layout.endLayout()
    return layout, lines, height, widest, cut


class ConversationDelegate(QStyledItemDelegate):
    def __init__(self, view: QAbstractItemView) -> None:
        super().__init__(view)
        self.view = view

    def expanded(self, index: Index) -> bool:
        selection = self.view.selectionModel()
        return selection is not None and selection.isSelected(QModelIndex(index))

    def _layout(self, turn: ConversationTurn, with_date: bool, width: float,
                expanded: bool, font: QFont) -> tuple[list[_Block], list[_Text], float]:
        """The turn's blocks and texts at ``width``, and its height."""
        small = QFont(font)
        small.setPointSizeF(max(font.pointSizeF() * 0.9, 6.0))
        bold = QFont(small)
        bold.setBold(True)
        limit = 0 if expanded else COLLAPSED_LINES
        blocks: list[_Block] = []
        texts: list[_Text] = []
        offset = width * OFFSET_SHARE
        inner = width - offset - 2 * BUBBLE_PAD
        y = float(PAD)

        def add(into: list[_Text], text: str, f: QFont, colour: QColor, max_lines: int = 0) -> tuple[float, bool]:
            """A text at ``y`` (x relative to its block's inside); its widest line, and whether it was cut."""
            nonlocal y
            layout, lines, height, widest, cut = _wrapped(text, f, inner, max_lines)
            into.append(_Text(layout, lines, QPointF(0, y), colour))
            y += height
            return widest, cut

        def bubble(body: list[_Text], widest: float, top: float, right: bool, fill: QColor,
                   stripe: QColor | None) -> None:
            """The block around ``body``, as wide as its widest line, on its side."""
            w = min(widest + 2 * BUBBLE_PAD, width - offset)
            x = width - w if right else 0.0
            blocks.append(_Block(QRectF(x, top, w, y - top), fill, stripe))
            texts.extend(_Text(t.layout, t.lines, t.origin + QPointF(x + BUBBLE_PAD, 0), t.colour) for t in body)

        # The user's side: the query, on the right.
        label: list[_Text] = []
        label_width, _ = add(label, "User", bold, MUTED)
        texts.extend(_Text(t.layout, t.lines, t.origin + QPointF(width - label_width - BUBBLE_PAD, 0), t.colour)
                     for t in label)
        body: list[_Text] = []
        top = y
        y += BUBBLE_PAD
        widest, cut = add(body, turn.query or "(no query recorded)", font, TEXT if turn.query else MUTED, limit)
        note = cut_note(turn.query, turn.query_chars) if expanded else ""
        if cut or note:
            widest = max(widest, add(body, "… select to read all of it" if cut else note.strip(), small, MUTED)[0])
        y += BUBBLE_PAD
        bubble(body, widest, top, True, USER_FILL, None)
        y += GAP
        # The agent's side, on the left: who answered, when, how, then what.
        header: list[_Text] = []
        add(header, turn_header(turn, with_date=with_date), bold, MUTED)
        texts.extend(_Text(t.layout, t.lines, t.origin + QPointF(BUBBLE_PAD, 0), t.colour) for t in header)
        body = []
        top = y
        y += BUBBLE_PAD
        failed = turn.status in ("failure", "timeout")
        widest, cut = 0.0, False
        if turn.error_message:
            widest, cut = add(body, turn.error_message, font, ERROR, limit)
        if turn.response or not turn.error_message:
            w, c = add(body, turn.response or "(no response recorded)", font, TEXT if turn.response else MUTED, limit)
            widest, cut = max(widest, w), cut or c
        note = cut_note(turn.response, turn.response_chars) if expanded else ""
        if cut or note:
            widest = max(widest, add(body, "… select to read all of it" if cut else note.strip(), small, MUTED)[0])
        y += BUBBLE_PAD
        bubble(body, widest, top, False, FAILED_FILL if failed else AGENT_FILL,
               QColor(STATUS_BRUSH.get(turn.status, "#90a4ae")))
        return blocks, texts, y + PAD

    def _width(self) -> float:
        return float(max(self.view.viewport().width() - 2 * PAD, 120))

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        turn = index.data(TurnRole)
        if turn is None:
            return super().sizeHint(option, index)
        _, _, height = self._layout(turn, bool(index.data(ShowDateRole)), self._width(), self.expanded(index),
                                    option.font)
        return QSize(int(self._width()), int(height + 1))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        turn = index.data(TurnRole)
        if turn is None:
            super().paint(painter, option, index)
            return
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        blocks, texts, _ = self._layout(turn, bool(index.data(ShowDateRole)), self._width(), self.expanded(index),
                                        option.font)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(option.rect)
        if selected:
            highlight = QColor(option.palette.highlight().color())
            painter.setPen(QPen(highlight, 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)  # a frame only: the blocks keep their own colours
            painter.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 6, 6)
        else:
            painter.setPen(QPen(QColor(0, 0, 0, 30), 1))
            painter.drawLine(rect.bottomLeft() + QPointF(PAD, 0), rect.bottomRight() - QPointF(PAD, 0))
        origin = rect.topLeft() + QPointF(PAD, 0)
        painter.setPen(Qt.PenStyle.NoPen)
        for block in blocks:
            r = block.rect.translated(origin)
            painter.setBrush(block.fill)
            painter.drawRoundedRect(r, 8, 8)
            if block.stripe is not None:
                painter.setBrush(block.stripe)
                painter.drawRoundedRect(QRectF(r.left(), r.top(), 4, r.height()), 2, 2)
        for text in texts:
            painter.setPen(text.colour)
            for i in range(text.lines):
                text.layout.lineAt(i).draw(painter, origin + text.origin)
        painter.restore()
