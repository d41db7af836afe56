"""A session's executions as a list of turns: query (user) then response (agent)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from studio_analytics.analytics.conversation import TEXT_CHARS, ConversationTurn
from studio_analytics.gui import zone
from studio_analytics.gui.models.row_table_model import cost_text, count, ms

Index = QModelIndex | QPersistentModelIndex

#: The turn itself (a ConversationTurn) for the delegate.
TurnRole = Qt.ItemDataRole.UserRole
#: Whether the turn's date is shown in its header (the first turn, and each new day).
ShowDateRole = Qt.ItemDataRole.UserRole + 1

STATUS_MARK = {"success": "✓ success", "failure": "✗ failure", "timeout": "⏱ timeout", "in_progress": "… running"}


def tokens_text(turn: ConversationTurn) -> str:
    """ "5,516 tokens (4,164 in · 1,352 out)", the model calls' split when there is one."""
    if turn.input_tokens is not None or turn.output_tokens is not None:
        total = (turn.input_tokens or 0) + (turn.output_tokens or 0)
        return f"{total:,} tokens ({count(turn.input_tokens)} in · {count(turn.output_tokens)} out)"
    return "— tokens" if turn.tokens_used is None else f"{turn.tokens_used:,} tokens"


def turn_header(turn: ConversationTurn, *, with_date: bool = False) -> str:
    """The agent side's first line: agent, start, duration, status, tokens, cost."""
    start = zone.in_zone(turn.start_time).strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")
    parts = [turn.agent_name, start, ms(turn.duration_ms), STATUS_MARK.get(turn.status, turn.status),
             tokens_text(turn)]
    cost = cost_text(turn.cost_usd, turn.unpriced_calls)
    if cost != "—":  # no model calls: nothing to say about cost
        parts.append(cost)
    return " · ".join(parts)


def cut_note(shown: str | None, stored: int) -> str:
    """Said after a text the thread cut at TEXT_CHARS characters."""
    if shown is None or stored <= len(shown):
        return ""
    return f" … (first {TEXT_CHARS:,} of {stored:,} characters; Enter opens the execution with all of it)"


class ConversationModel(QAbstractListModel):
    """One row per execution, in start order. DisplayRole is the turn as plain text
    (what a screen reader or a copy gets); the delegate draws it from TurnRole."""

    def __init__(self) -> None:
        super().__init__()
        self._turns: list[ConversationTurn] = []
        zone.setting().changed.connect(self._zone_changed)

    def set_turns(self, turns: Sequence[ConversationTurn]) -> None:
        self.beginResetModel()
        self._turns = list(turns)
        self.endResetModel()

    def turn_at(self, row: int) -> ConversationTurn:
        return self._turns[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._turns)

    def _show_date(self, row: int) -> bool:
        if row == 0:
            return True
        return zone.in_zone(self._turns[row].start_time).date() != zone.in_zone(self._turns[row - 1].start_time).date()

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._turns)):
            return None
        turn = self._turns[index.row()]
        if role == TurnRole:
            return turn
        if role == ShowDateRole:
            return self._show_date(index.row())
        if role == Qt.ItemDataRole.DisplayRole:
            lines = [f"User: {turn.query or '(no query recorded)'}",
                     turn_header(turn, with_date=self._show_date(index.row()))]
            if turn.error_message:
                lines.append(f"Error: {turn.error_message}")
            if turn.response:
                lines.append(turn.response)
            return "\n".join(lines)
        if role == Qt.ItemDataRole.ToolTipRole:
            return "Select to read all of it; Enter or double-click opens the execution"
        return None

    def _zone_changed(self) -> None:
        if self._turns:
            self.dataChanged.emit(self.index(0), self.index(len(self._turns) - 1))
