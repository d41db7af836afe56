"""Saved views: the file keeps what was saved, and reopening one sets the window's tab,
range, executions filters and sorts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from PySide6.QtCore import Qt

from studio_analytics.analytics.results import ExecutionFilter
from studio_analytics.config import config_dir
from studio_analytics.gui.main_window import MainWindow
from studio_analytics.gui.saved_views import FILE_NAME, SavedView, SavedViewStore

BRUSHED = ExecutionFilter(agent_name="web", status="failure", has_error=True, min_duration_ms=250.5,
                          started_after=datetime(2026, 11, 30, 8, tzinfo=UTC))


def test_store_round_trip_replace_and_delete(tmp_path) -> None:
    store = SavedViewStore(tmp_path / FILE_NAME)
    assert store.load() == []
    slow = SavedView("slow web", "executions", "custom",
                     (datetime(2026, 11, 29, tzinfo=UTC), datetime(2026, 11, 30, 12, tzinfo=UTC)),
                     BRUSHED, ("duration_ms", True), (("agents", "p95_duration_ms", True),))
    errors = SavedView("errors", "errors", "24h")
    store.save(slow)
    store.save(errors)
    assert store.load() == [slow, errors]
    renamed = SavedView("slow web", "executions", "7d")
    assert store.save(renamed) == [renamed, errors]  # same name: replaced in place
    assert store.delete("slow web") == [errors] == store.load()
    assert oct((tmp_path / FILE_NAME).stat().st_mode & 0o777) == "0o600"


def test_unreadable_file_is_reported_and_never_overwritten(tmp_path) -> None:
    path = tmp_path / FILE_NAME
    path.write_text(json.dumps({"version": 99, "views": []}))
    store = SavedViewStore(path)
    assert store.load() == [] and "version 99" in (store.problem or "")
    with pytest.raises(OSError):
        store.save(SavedView("x", "overview", "7d"))
    assert json.loads(path.read_text())["version"] == 99


def test_save_and_reopen_from_the_menu_with_a_custom_range(qtbot, window_without_data: MainWindow) -> None:
    window = window_without_data
    window.range_box.setCurrentIndex(0)  # 24 hours
    window.show_executions(BRUSHED)
    window.executions.table.sortByColumn(3, Qt.SortOrder.AscendingOrder)  # duration, shortest first
    window.agents.table.sortByColumn(2, Qt.SortOrder.AscendingOrder)
    agent_sort = window._agent_sort
    saved = window.save_current_view("slow web failures")
    assert [a.text() for a in window.menus.view_actions] == ["&1 slow web failures"]
    assert (config_dir() / FILE_NAME).exists()  # in the user's config folder

    window.range_box.setCurrentIndex(2)
    window.executions.set_filter(ExecutionFilter())
    window.executions.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    window.agents.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    window.show_tab("overview")

    window.menus.view_actions[0].trigger()
    assert window.current_tab == "executions" and window.range_preset == "24h"
    assert window.executions.filters == BRUSHED == saved.filters
    assert window.executions.sort == ("duration_ms", False)
    header = window.executions.table.horizontalHeader()
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (3, Qt.SortOrder.AscendingOrder)
    assert window._agent_sort == agent_sort

    # A custom range comes back as the same two moments.
    start, end = datetime(2026, 11, 20, 6, tzinfo=UTC), datetime(2026, 11, 22, 18, tzinfo=UTC)
    view = SavedView("week before", "sessions", "custom", (start, end))
    window.apply_view(view)
    assert window.current_tab == "sessions" and window.custom_range == (start, end)
    assert window.current_time_range().start == start and window.custom_actions[0].isVisible()
    assert window.current_view("again").custom_range == (start, end)
