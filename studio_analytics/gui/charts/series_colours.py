"""One colour per series name, kept while the window runs, and a legend beside a chart.

The Models tab's stacked cost chart and its table show the same colour for a model, and
a model keeps its colour when the range changes or another model overtakes it; so does an
agent in the Overview's doughnut. A name's first colour comes from a hash of the name, so
it is mostly the same from one run to the next too.
"""

from __future__ import annotations

import html
import zlib
from collections import Counter
from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

PALETTE = ("#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#00acc1", "#e53935", "#6d4c41", "#3949ab",
           "#c0ca33", "#d81b60", "#00897b", "#fdd835")
OTHER = "#9e9e9e"  # "other": everything below the largest series


class SeriesColours:
    """Gives each name a palette colour and keeps it; "other" is always grey.

    A new name gets the colour its hash points at unless another name has it already;
    then the least used colour, searching from there."""

    def __init__(self) -> None:
        self._given: dict[str, str] = {}

    def colour(self, name: str) -> str:
        if name == "other":
            return OTHER
        if name not in self._given:
            start = zlib.crc32(name.encode("utf-8")) % len(PALETTE)
            used = Counter(self._given.values())
            order = PALETTE[start:] + PALETTE[:start]
            self._given[name] = min(order, key=lambda c: used[c])  # min keeps the first of equals
        return self._given[name]

    def distinct(self, names: Sequence[str]) -> list[str]:
        """Colours of ``names`` shown together: each name keeps the colour it was given,
        unless more names than the palette holds have been seen and one shown earlier in
        ``names`` has it already; then it gets (and keeps) a colour none of them has."""
        shown: list[str] = []
        for name in names:
            colour = self.colour(name)
            if name != "other" and colour in shown:
                free = [c for c in PALETTE if c not in shown]
                if free:
                    colour = self._given[name] = free[0]
            shown.append(colour)
        return shown


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
