"""A non-modal banner that says what is wrong and how to fix it."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QSizePolicy


class Banner(QLabel):
    def __init__(self) -> None:
        super().__init__()
        self.setWordWrap(True)
        self.setTextInteractionFlags(self.textInteractionFlags())
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.setStyleSheet(
            "QLabel { background: #fdecea; color: #611a15; border: 1px solid #f5c2c0;"
            " border-radius: 4px; padding: 8px; }"
        )
        self.hide()

    def show_problem(self, message: str, hint: str) -> None:
        self.setText(f"<b>{message}</b>" + (f"<br>{hint}" if hint else ""))
        self.show()
