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
