"""Toolbar inputs that change only when the user means it.

Scrolling over the range box or the interval box, or pressing an arrow key while one
of them held a focus nobody could see, used to switch the range to "Custom…" and the
interval to 29 s. Guarded inputs take focus only by Tab or a click (never by the wheel),
ignore the wheel unless focused, show their focus, and the range box opens its list on
an arrow key instead of stepping to the next entry.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QAbstractSpinBox, QCheckBox, QComboBox, QWidget

STEPPING_KEYS = frozenset({Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown,
                           Qt.Key.Key_Home, Qt.Key.Key_End})
#: A focused toolbar input says so where the platform style shows nothing (a closed combo
#: box, a check box in Fusion); spin boxes keep the style's own focus frame. The check
#: box's frame is always there, transparent, so focus moves nothing.
FOCUS_STYLES = {
    QComboBox: "QComboBox:focus { border: 2px solid palette(highlight); border-radius: 3px; }",
    QCheckBox: "QCheckBox { border: 2px solid transparent; border-radius: 3px; padding: 0 2px; }"
               "QCheckBox:focus { border-color: palette(highlight); }",
}


def show_focus(widget: QWidget) -> None:
    for kind, style in FOCUS_STYLES.items():
        if isinstance(widget, kind):
            widget.setStyleSheet(style)


class InputGuard(QObject):
    """Event filter for value-changing inputs: see the module's docstring."""

    def guard(self, widget: QWidget) -> None:
        widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        widget.installEventFilter(self)
        show_focus(widget)
        if isinstance(widget, QAbstractSpinBox):
            # Typed digits apply on Enter or leaving the box, not at "3" of "300".
            widget.setKeyboardTracking(False)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget) and not watched.hasFocus():
            event.ignore()  # the view under the toolbar, if any, scrolls instead
            return True
        if (event.type() == QEvent.Type.KeyPress and isinstance(watched, QComboBox)
                and isinstance(event, QKeyEvent) and event.key() in STEPPING_KEYS
                and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier):
            watched.showPopup()  # choose in the list, confirm with Enter
            return True
        return False
