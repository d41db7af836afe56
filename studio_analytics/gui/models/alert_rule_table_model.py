"""The rules of the Alerts dialog: on/off (a check box), id, severity and what each watches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal

from studio_analytics.alerts.rules import Rule
from studio_analytics.gui.models.row_table_model import Index


class AlertRuleTableModel(QAbstractTableModel):
    """Checking the first column asks to enable or disable the rule (``enabled_toggled``);
    the model changes only when the rules are read again."""

    enabled_toggled = Signal(str, bool)  # rule id, enabled
    HEADERS = ("On", "Rule", "Severity", "Watches")

    def __init__(self) -> None:
        super().__init__()
        self._rules: list[Rule] = []
        self._silenced: dict[str, str] = {}  # rule id -> "until 18:00"

    def set_rules(self, rules: Sequence[Rule], silenced: dict[str, str] | None = None) -> None:
        self.beginResetModel()
        self._rules = list(rules)
        self._silenced = dict(silenced or {})
        self.endResetModel()

    def set_silenced(self, silenced: dict[str, str]) -> None:
        if silenced != self._silenced:
            self._silenced = dict(silenced)
            if self._rules:
                self.dataChanged.emit(self.index(0, 1), self.index(len(self._rules) - 1, 1))

    def rule_at(self, row: int) -> Rule:
        return self._rules[row]

    def row_of(self, rule_id: str) -> int | None:
        return next((i for i, r in enumerate(self._rules) if r.id == rule_id), None)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rules)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        return base | Qt.ItemFlag.ItemIsUserCheckable if index.column() == 0 else base

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rules)):
            return None
        rule = self._rules[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.CheckStateRole and column == 0:
            return Qt.CheckState.Checked if rule.enabled else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 1:
                silenced = self._silenced.get(rule.id)
                return rule.id + (f" (silenced {silenced})" if silenced else "")
            if column == 2:
                return rule.severity.value
            if column == 3:
                return rule.describe()
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{rule.title}\n{rule.describe()}" + (f"\nline {rule.line} of the rules file" if rule.line else "")
        return None

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role == Qt.ItemDataRole.CheckStateRole and index.column() == 0 and index.isValid():
            checked = Qt.CheckState(value) == Qt.CheckState.Checked if not isinstance(value, bool) else value
            self.enabled_toggled.emit(self._rules[index.row()].id, checked)
            return True
        return False
