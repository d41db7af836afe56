"""Fixtures shared by the window's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from studio_analytics.gui.main_window import MainWindow


@pytest.fixture
def window_without_data(qtbot, tmp_path) -> Iterator[MainWindow]:
    """A window on a database file that does not exist: for what is the window's own
    state (history, saved views); a missing file answers at once."""
    win = MainWindow(f"sqlite:///{tmp_path / 'missing.sqlite3'}")
    qtbot.addWidget(win)
    yield win
    win.close()
