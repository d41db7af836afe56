"""A date axis whose labels never overlap.

pyqtgraph thins a level of tick labels only by how much of the axis its text fills, so
in a narrow plot a month's label ("Dec") and a nearby day's ("03") can print on top of
each other. Here a label that would touch one already placed (the coarser levels are
placed first) is left out; its tick line stays."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg

#: pixels kept free between two labels
GAP_PX = 4.0


class UncrowdedDateAxisItem(pg.DateAxisItem):
    def generateDrawSpecs(self, p: Any) -> Any:
        specs = super().generateDrawSpecs(p)
        if specs is None:
            return None
        axis_spec, tick_specs, text_specs = specs
        kept: list[Any] = []
        for spec in text_specs:
            rect = spec[0].adjusted(-GAP_PX / 2, 0, GAP_PX / 2, 0)
            if not any(rect.intersects(other[0]) for other in kept):
                kept.append(spec)
        return axis_spec, tick_specs, kept
