"""pyqtgraph charts, following the application's palette (light or dark)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QGuiApplication


def follow_palette() -> None:
    """Chart background and text take the window's colours, so dark mode works."""
    app = QGuiApplication.instance()
    if app is None:
        return
    palette = QGuiApplication.palette()
    pg.setConfigOptions(
        background=palette.base().color(), foreground=palette.windowText().color(), antialias=True,
    )


def show_message(plot: pg.PlotWidget, text_item: pg.TextItem, text: str) -> None:
    """No data (loading, empty, failed): a centred text and no axes, grid or legend, so
    an empty chart never shows ticks of a made-up range ("00.250 00.500")."""
    item = plot.getPlotItem()
    for name in ("left", "bottom"):
        item.hideAxis(name)
    item.showGrid(x=False, y=False)
    if item.legend is not None:
        item.legend.hide()
    item.vb.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
    text_item.setText(text)
    text_item.setPos(0.5, 0.5)


def show_axes(plot: pg.PlotWidget, text_item: pg.TextItem, *, grid: bool = True) -> None:
    """Data again: axes (and grid, legend) back, the message gone."""
    item = plot.getPlotItem()
    for name in ("left", "bottom"):
        item.showAxis(name)
    if grid:
        item.showGrid(x=True, y=True, alpha=0.2)
    if item.legend is not None:
        item.legend.show()
    text_item.setText("")
