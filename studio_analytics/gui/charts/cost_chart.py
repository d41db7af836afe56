"""Cost over time stacked by series (model or agent), and tokens in/out over time.

Items are created once and updated with ``setData``: the stacked chart keeps a growing
list of bands (a top curve and the fill down to the band below) and hands them to the
series of each refresh, largest at the bottom, "other" on top.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg

from studio_analytics.gui.charts.series_colours import SeriesColours
from studio_analytics.gui.charts.time_chart import _Chart

INPUT_COLOUR, OUTPUT_COLOUR = "#1e88e5", "#fb8c00"


def stack_order(series: Mapping[str, np.ndarray]) -> list[str]:
    """Largest total first (the bottom band), "other" last whatever its size."""
    return sorted(series, key=lambda name: (name == "other", -float(np.nansum(series[name])), name))


class UsdAxis(pg.AxisItem):
    """Dollar ticks ("$0.25"), never an SI prefix ("x0.001") that reads as a different unit."""

    def __init__(self, orientation: str) -> None:
        super().__init__(orientation)
        self.enableAutoSIPrefix(False)

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        places = 2 if spacing >= 0.01 else min(6, max(2, -int(np.floor(np.log10(spacing)))))
        return [f"${v:,.{places}f}" for v in values]


class StackedCostChart(_Chart):
    """Cost per bucket, one filled band per series stacked on the ones below."""

    def __init__(self, colours: SeriesColours) -> None:
        super().__init__("Cost over time (priced calls)", "cost per bucket")
        self.setAxisItems({"left": UsdAxis("left")})
        self.setLabel("left", "cost per bucket")
        self.getAxis("left").setWidth(self.fontMetrics().horizontalAdvance("$0.0000") + 24)
        self.colours = colours
        # A transparent pen, not None: without a pen pyqtgraph leaves the curve empty, and the
        # bottom band would have nothing to fill down to.
        self.baseline = self.plot([], [], pen=pg.mkPen(0, 0, 0, 0))
        self.tops: list[pg.PlotDataItem] = []
        self.fills: list[pg.FillBetweenItem] = []
        #: names of the bands now drawn, bottom first, and their colours
        self.names: list[str] = []
        self.band_colours: list[str] = []
        self.x: np.ndarray = np.zeros(0)
        self.cumulative: np.ndarray = np.zeros((0, 0))

    def _band(self, i: int) -> tuple[pg.PlotDataItem, pg.FillBetweenItem]:
        while len(self.tops) <= i:
            below = self.tops[-1] if self.tops else self.baseline
            top = self.plot([], [])
            fill = pg.FillBetweenItem(below, top)
            self.addItem(fill, ignoreBounds=True)  # its curves give the bounds; an empty path would add (0, 0)
            self.tops.append(top)
            self.fills.append(fill)
        return self.tops[i], self.fills[i]

    def set_stacks(self, x: np.ndarray, series: Mapping[str, np.ndarray], empty_message: str) -> None:
        names = stack_order(series)
        values = np.array([np.nan_to_num(np.asarray(series[n], dtype=float)) for n in names]).reshape(len(names), len(x))
        self.x, self.names = np.asarray(x, dtype=float), names
        self.cumulative = np.cumsum(values, axis=0)
        self.band_colours = [self.colours.colour(n) for n in names]
        self.baseline.setData(self.x, np.zeros(len(self.x)))
        for i in range(len(names)):
            top, fill = self._band(i)
            colour = pg.mkColor(self.band_colours[i])
            top.setPen(pg.mkPen(colour, width=1.5))
            top.setData(self.x, self.cumulative[i])
            fill.setBrush(pg.mkBrush(colour.red(), colour.green(), colour.blue(), 110))
            fill.show()
        for top, fill in zip(self.tops[len(names):], self.fills[len(names):], strict=True):
            top.setData([], [])
            fill.hide()
        empty = not names or float(self.cumulative[-1].sum()) == 0.0
        self._show_empty(empty, self.x, empty_message)

    def clear_data(self, message: str = "Loading…") -> None:
        self.names, self.band_colours = [], []
        for fill in self.fills:
            fill.hide()
        super().clear_data(message)


class TokensChart(_Chart):
    """Input and output tokens of the model calls per bucket."""

    def __init__(self) -> None:
        super().__init__("Tokens over time", "tokens per bucket")
        # Unnamed: the legend is beside the chart (SeriesLegend), not over the curves.
        self.input = self.plot([], [], pen=pg.mkPen(INPUT_COLOUR, width=2), fillLevel=0, brush=(30, 136, 229, 40))
        self.output = self.plot([], [], pen=pg.mkPen(OUTPUT_COLOUR, width=2), fillLevel=0, brush=(251, 140, 0, 40))
        # Token counts reach millions: room for them (an SI prefix would say "x1e+06").
        self.getAxis("left").enableAutoSIPrefix(False)
        self.getAxis("left").setWidth(self.fontMetrics().horizontalAdvance("00000000") + 24)

    def set_tokens(self, x: np.ndarray, input_tokens: np.ndarray, output_tokens: np.ndarray,
                   empty_message: str) -> None:
        self.input.setData(x, np.asarray(input_tokens, dtype=float))
        self.output.setData(x, np.asarray(output_tokens, dtype=float))
        self._show_empty(int(np.sum(input_tokens)) + int(np.sum(output_tokens)) == 0, x, empty_message)
