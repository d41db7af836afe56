"""Desktop notifications of alert transitions: the system tray's balloon, or — where
there is no tray (offscreen, some desktops) — the window's alert banner.

Only transitions the alert book marked ``notified`` are shown: inside a rule's cooldown
or while it is silenced the book says False, and nothing appears.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QSystemTrayIcon

from studio_analytics.alerts.transitions import Transition, TransitionKind

SEVERITY_COLOURS = {"critical": "#d32f2f", "warning": "#ef6c00", "info": "#1e88e5", "resolved": "#2e7d32"}
#: More transitions than this at once make one summary notification, not a flood.
MAX_SEPARATE = 3


def dot_icon(colour: str, size: int = 16) -> QIcon:
    """A filled circle: the Alerts tab's badge and the notifications' icon."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(colour))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(2, 2, size - 4, size - 4)
    painter.end()
    return QIcon(pixmap)


def notification_text(t: Transition) -> tuple[str, str]:
    """Title and body of one transition's notification."""
    who = f" — {t.member}" if t.member else ""
    if t.kind is TransitionKind.FIRED:
        return f"Alert ({t.severity}): {t.rule_title}{who}", t.reason
    return f"Resolved: {t.rule_title}{who}", t.reason


class AlertNotifier(QObject):
    """Shows each notified transition once; keeps the ones shown (``shown``)."""

    notification_shown = Signal(object)  # Transition
    clicked = Signal()  # the tray's message or icon: the window should show its alerts

    def __init__(self, icon: QIcon, fallback: Callable[[str, str, str], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        #: ``fallback(title, body, colour)`` when there is no system tray
        self.fallback = fallback
        self.shown: list[Transition] = []
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(icon, self)
            self.tray.setToolTip("studio-analytics alerts")
            self.tray.messageClicked.connect(self.clicked)
            self.tray.activated.connect(lambda _reason: self.clicked.emit())
            self.tray.show()

    def notify(self, transitions: Sequence[Transition]) -> list[Transition]:
        """Show the notified ones; returns them."""
        told = [t for t in transitions if t.notified]
        if not told:
            return []
        if len(told) > MAX_SEPARATE:
            fired = sum(t.kind is TransitionKind.FIRED for t in told)
            title = f"{fired} alerts fired, {len(told) - fired} resolved"
            body = "\n".join(notification_text(t)[0] for t in told[:8])
            critical = any(t.severity == "critical" and t.kind is TransitionKind.FIRED for t in told)
            self._show(title, body, "critical" if critical else "warning")
        else:
            for t in told:
                self._show(*notification_text(t), t.severity if t.kind is TransitionKind.FIRED else "resolved")
        for t in told:
            self.shown.append(t)
            self.notification_shown.emit(t)
        return told

    def _show(self, title: str, body: str, severity: str) -> None:
        if self.tray is not None and self.tray.supportsMessages():
            icon = (QSystemTrayIcon.MessageIcon.Critical if severity == "critical"
                    else QSystemTrayIcon.MessageIcon.Warning if severity == "warning"
                    else QSystemTrayIcon.MessageIcon.Information)
            self.tray.showMessage(title, body, icon, 15_000)
            return
        self.fallback(title, body, SEVERITY_COLOURS.get(severity, "#757575"))

    def close(self) -> None:
        if self.tray is not None:
            self.tray.hide()
