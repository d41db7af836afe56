"""The window's alert banner: where notifications go when there is no system tray."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QSizePolicy


class AlertBanner(QLabel):
    """The latest alert notification; its link opens the Alerts tab."""

    opened = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("alertBanner")
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.linkActivated.connect(lambda _link: self.opened.emit())
        self.hide()

    def show_notification(self, title: str, body: str, colour: str) -> None:
        c = QColor(colour)
        self.setStyleSheet(f"QLabel#alertBanner {{ background: rgba({c.red()}, {c.green()}, {c.blue()}, 30);"
                           f" border: 1px solid {colour};"
                           " border-radius: 4px; padding: 6px; }")
        self.setText(f"<b>{escape(title)}</b> — {escape(body)} &nbsp; <a href='alerts'>Show alerts</a>")
        self.show()
