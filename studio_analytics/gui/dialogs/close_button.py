"""A Close button for a dialog that shows rather than asks (execution, session).

Esc closes any QDialog already; the button is for the mouse, and says so plainly.
"""

from __future__ import annotations

from PySide6.QtWidgets import QBoxLayout, QDialog, QDialogButtonBox


def add_close_button(dialog: QDialog, layout: QBoxLayout) -> QDialogButtonBox:
    """Put a Close button box at the end of ``layout``; it rejects ``dialog`` (as Esc does)."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.setObjectName("closeButtons")
    buttons.rejected.connect(dialog.reject)
    layout.addWidget(buttons)
    return buttons
