"""Every active filter of the Executions list as a small removable button ("chip").

A drill-down's filter (an agent, an error group, a workflow's executions, a brushed
span) is as visible as a typed one, and goes the same way: click the chip, or focus it
and press Delete or Backspace.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from studio_analytics.analytics.results import NAME_FIELDS, ExecutionFilter
from studio_analytics.gui.models.row_table_model import count, ms, usd
from studio_analytics.gui.zone import in_zone

#: Characters of a value a chip shows; the tooltip has all of it.
CHIP_TEXT = 32


@dataclass(frozen=True, slots=True)
class Chip:
    label: str  # what the chip says
    fields: tuple[str, ...]  # the ExecutionFilter fields removing it clears
    detail: str = ""  # the whole value, for the tooltip


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= CHIP_TEXT else text[: CHIP_TEXT - 1] + "…"


def _when(start: datetime | None, end: datetime | None) -> str:
    a, b = (in_zone(t) if t is not None else None for t in (start, end))
    if a is not None and b is not None:
        same_day = a.date() == b.date()
        return f"{a:%m-%d %H:%M:%S} – {b:%H:%M:%S}" if same_day else f"{a:%m-%d %H:%M} – {b:%m-%d %H:%M}"
    if a is not None:
        return f"after {a:%m-%d %H:%M:%S}"
    return f"before {b:%m-%d %H:%M:%S}" if b is not None else ""


def filter_chips(f: ExecutionFilter) -> list[Chip]:
    """The chips of a filter, in the order the filter bar shows its inputs."""
    chips: list[Chip] = []
    for name, label in (("text", "text"), ("agent_name", "agent"), ("tool_name", "tool"),
                        ("session_id", "session"), ("user_id", "user"), ("status", "status"), ("model", "model"),
                        ("workflow", "workflow")):
        value = getattr(f, name)
        if value and f.exact and name in NAME_FIELDS:  # a drill-down's whole name
            chips.append(Chip(f"{label} = {_short(str(value))}", (name,), f"{label} is {value}"))
        elif value:
            chips.append(Chip(f"{label}: {_short(str(value))}", (name,), str(value)))
    if f.correlation_id:
        chips.append(Chip(f"workflow: {_short(f.correlation_id)}", ("correlation_id",),
                          f"The executions of workflow {f.correlation_id}"))
    if f.error_signature:
        chips.append(Chip(f"error: {_short(f.error_signature)}", ("error_signature",),
                          f"The executions of the error group {f.error_signature}"))
    if f.min_duration_ms is not None:
        chips.append(Chip(f"duration ≥ {ms(f.min_duration_ms)}", ("min_duration_ms",)))
    if f.max_duration_ms is not None:
        chips.append(Chip(f"duration ≤ {ms(f.max_duration_ms)}", ("max_duration_ms",)))
    if f.min_tokens is not None:
        chips.append(Chip(f"tokens ≥ {count(f.min_tokens)}", ("min_tokens",)))
    if f.min_cost_usd is not None:
        chips.append(Chip(f"cost ≥ {usd(f.min_cost_usd)}", ("min_cost_usd",)))
    if f.has_error is not None:
        chips.append(Chip("with an error" if f.has_error else "without an error", ("has_error",)))
    if f.started_after is not None or f.started_before is not None:
        chips.append(Chip(f"started {_when(f.started_after, f.started_before)}", ("started_after", "started_before"),
                          "A span brushed on a time chart"))
    return chips


def without(f: ExecutionFilter, chip: Chip) -> ExecutionFilter:
    return replace(f, **dict.fromkeys(chip.fields))


class FilterChip(QPushButton):
    """One chip: a click, Delete or Backspace removes it."""

    remove_requested = Signal()

    def __init__(self, chip: Chip) -> None:
        super().__init__(f"{chip.label}  ✕")
        self.chip = chip
        self.setObjectName("filterChip")
        self.setFlat(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        tip = f"{chip.detail}\n" if chip.detail and chip.detail != chip.label else ""
        self.setToolTip(f"{tip}Click, or press Delete, to remove this filter")
        self.setAccessibleName(f"Remove filter {chip.label}")
        self.setStyleSheet("QPushButton#filterChip { border: 1px solid palette(mid); border-radius: 9px;"
                           " padding: 1px 8px; background: palette(alternate-base); }"
                           " QPushButton#filterChip:focus { border: 2px solid palette(highlight); }")
        self.clicked.connect(self.remove_requested)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.remove_requested.emit()
        else:
            super().keyPressEvent(event)


class FilterChipsBar(QWidget):
    """A row of chips for the filter shown; hidden when nothing filters the list."""

    filter_reduced = Signal(object)  # the ExecutionFilter without the removed chip's fields

    def __init__(self) -> None:
        super().__init__()
        self.filters = ExecutionFilter()
        self.chips: list[FilterChip] = []
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self._layout.addWidget(QLabel("Filters:"))
        self._layout.addStretch(1)
        self.hide()

    def set_filter(self, f: ExecutionFilter) -> None:
        self.filters = f
        refocus = next((i for i, c in enumerate(self.chips) if c.hasFocus()), None)
        for chip in self.chips:
            self._layout.removeWidget(chip)
            chip.deleteLater()
        self.chips = []
        for i, chip in enumerate(filter_chips(f)):
            button = FilterChip(chip)
            button.remove_requested.connect(lambda c=chip: self.filter_reduced.emit(without(self.filters, c)))
            self._layout.insertWidget(1 + i, button)
            self.chips.append(button)
        self.setVisible(bool(self.chips))
        if refocus is not None and self.chips:
            # Delete on a focused chip: the next one (or the last) takes the focus, so a
            # row of chips can be cleared by pressing Delete repeatedly.
            self.chips[min(refocus, len(self.chips) - 1)].setFocus(Qt.FocusReason.OtherFocusReason)

    def labels(self) -> list[str]:
        return [c.chip.label for c in self.chips]
