"""One colour per series name, kept while the window runs, and a legend beside a chart.

The Models tab's stacked cost chart and its table show the same colour for a model, and
a model keeps its colour when the range changes or another model overtakes it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

PALETTE = ("#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#00acc1", "#e53935", "#6d4c41", "#3949ab",
           "#c0ca33", "#d81b60", "#00897b", "#fdd835")
OTHER = "#9e9e9e"  # "other": everything below the largest series


class SeriesColours:
    """Hands out palette colours in order of first use; "other" is always grey."""

    def __init__(self) -> None:
        self._given: dict[str, str] = {}

    def colour(self, name: str) -> str:
        if name == "other":
            return OTHER
        if name not in self._given:
            self._given[name] = PALETTE[len(self._given) % len(PALETTE)]
        return self._given[name]


class SeriesLegend(QLabel):
    """A wrapping row of colour swatches and names, outside the plot: a legend inside
    it would cover the stacked areas."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("seriesLegend")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.entries: list[tuple[str, str]] = []

    def set_entries(self, entries: Sequence[tuple[str, str]]) -> None:
        """``(name, colour)`` pairs, in the order they should read."""
        self.entries = list(entries)
        # Lines break between entries, never inside a name ("claude-3-5-" / "haiku"):
        # non-breaking spaces and hyphens (U+2011) within an entry.
        self.setText("&nbsp;&nbsp; ".join(
            f'<span style="color:{colour}">■</span>&nbsp;'
            + html.escape(name).replace(" ", "&nbsp;").replace("-", "\u2011")
            for name, colour in self.entries))
