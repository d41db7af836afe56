"""Regression: PySide6 6.12.0 on Python 3.11 drops a reference to None on every void
call and aborts after a few thousand ("Fatal Python error: none_dealloc"). pyproject
pins that combination away; this makes ~20,000 void calls in a child interpreter and
checks it survives (a crash there cannot take the test run down with it)."""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import sys
from PySide6.QtCore import QObject, QPoint
from PySide6.QtWidgets import QApplication, QLabel
app = QApplication.instance() or QApplication([])
label = QLabel()
obj = QObject()
p = QPoint()
before = sys.getrefcount(None)
for i in range(5000):
    label.setText("x")       # void
    label.setMinimumWidth(i % 50)  # void
    obj.setObjectName("o")   # void
    p.setX(i)                # void
print("ok", sys.getrefcount(None) - before)
"""


def test_twenty_thousand_void_qt_calls_survive() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("ok")
