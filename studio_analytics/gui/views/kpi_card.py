"""KpiCard: one figure, and how it changed against the previous period."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout

from studio_analytics.analytics.results import KpiValue

GOOD, BAD, NEUTRAL = "#2e7d32", "#c62828", "palette(mid)"


class KpiCard(QFrame):
    def __init__(self, title: str, formatter: Callable[[float], str], *, higher_is_better: bool | None = True) -> None:
        """``higher_is_better`` None: a change is neither good nor bad (cost follows use)."""
        super().__init__()
        self.setObjectName("KpiCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.formatter = formatter
        self.higher_is_better = higher_is_better
        self.title = QLabel(title)
        self.value = QLabel("—")
        font = self.value.font()
        font.setPointSizeF(font.pointSizeF() * 1.9)
        font.setBold(True)
        self.value.setFont(font)
        self.change = QLabel(" ")
        #: what the figure leaves out ("+ 37 unpriced calls"); hidden when there is nothing to say
        self.note = QLabel()
        self.note.setObjectName("kpiNote")
        self.note.hide()
        layout = QVBoxLayout(self)
        for w in (self.title, self.value, self.change, self.note):
            layout.addWidget(w)
        layout.addStretch(1)  # top-aligned: a card with a note lines up with those without
        self.clear()

    def set_note(self, text: str, tooltip: str = "") -> None:
        self.note.setText(text)
        self.note.setToolTip(tooltip)
        self.note.setVisible(bool(text))

    def clear(self, message: str = "Loading…") -> None:
        """No figure (loading, another database, a failure): never the previous database's."""
        self.value.setText("—")
        self.change.setText(message)
        self.change.setStyleSheet(f"color: {NEUTRAL};")
        self.set_note("")

    def set_value(self, kpi: KpiValue, *, comparable: bool = True) -> None:
        """``comparable``: the previous period had enough runs for a change to mean
        something (see analytics.kpis.MIN_RUNS_TO_COMPARE); otherwise none is shown."""
        self.value.setText("—" if kpi.value is None else self.formatter(kpi.value))
        change = kpi.change
        if not comparable and kpi.previous not in (None, 0):
            self.change.setText("too few runs to compare")
            self.change.setToolTip("The previous period had too few executions for a change to mean anything.")
            self.change.setStyleSheet(f"color: {NEUTRAL};")
            return
        self.change.setToolTip("")
        if change is None or not comparable:
            self.change.setText("no previous period" if kpi.previous in (None, 0) else " ")
            self.change.setStyleSheet(f"color: {NEUTRAL};")
            return
        arrow = "▲" if change > 0 else "▼" if change < 0 else "■"
        good = self.higher_is_better is None or (change > 0) == self.higher_is_better or change == 0
        if change > 9:  # "+24900%" reads as noise; a multiple reads as what it is
            self.change.setText(f"{arrow} {1 + change:,.0f}× the previous period")
        else:
            self.change.setText(f"{arrow} {abs(change) * 100:.1f}% vs previous period")
        # A change that is neither good nor bad still reads as a figure, not as a faint "none".
        colour = "palette(text)" if self.higher_is_better is None else GOOD if good else BAD
        self.change.setStyleSheet(f"color: {colour};")
