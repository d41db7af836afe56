"""The Sessions tab holds every session of the range, a keyset page at a time, says how
much is loaded, and exports all of them; capped tables say so."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from studio_analytics.analytics import session_activity, time_range
from studio_analytics.analytics.sessions import SESSION_SORTS, count_sessions, list_sessions
from studio_analytics.db.engine import create_db_engine
from studio_analytics.gui.main_window import MainWindow
from tests.demo_data import demo_fixtures

demo_sqlite, demo_url = demo_fixtures(executions=2_500, days=3, seed=13, pg_executions=1_500)


@pytest.fixture
def window(qtbot, demo_sqlite: str):
    win = MainWindow(demo_sqlite)
    qtbot.addWidget(win)
    win.auto_refresh.setChecked(False)
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
        pass
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
        win.show_tab("sessions")
    yield win
    win.close()


def _total(url: str, tr) -> int:
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn:
        n = count_sessions(conn, tr)
    engine.dispose()
    return n


def _load_all(qtbot, model) -> None:
    while model.canFetchMore():
        n = model.rowCount()
        model.fetchMore()
        qtbot.waitUntil(lambda n=n: model.rowCount() > n or model.complete, timeout=20_000)


@pytest.mark.parametrize("sort", sorted(SESSION_SORTS))
def test_keyset_pages_walk_every_session_once(demo_url: str, sort: str) -> None:
    engine = create_db_engine(demo_url, read_only=True)
    with engine.connect() as conn:
        tr = time_range(days=7)
        total = count_sessions(conn, tr)
        for descending in (True, False):
            ids, cursor = [], None
            first = list_sessions(conn, tr, sort=sort, descending=descending, limit=200)
            # The window's first page comes with its refresh: the same rows in the same order.
            assert first.rows == session_activity(conn, tr, sort=sort, descending=descending).recent
            while True:
                page = list_sessions(conn, tr, sort=sort, descending=descending, after=cursor, limit=77)
                ids += [r.session_id for r in page.rows]
                cursor = page.next_cursor
                if cursor is None:
                    break
            assert len(ids) == len(set(ids)) == total > 200
    engine.dispose()


def test_the_tab_pages_past_200_and_says_how_many(qtbot, window: MainWindow, demo_sqlite: str) -> None:
    view = window.sessions
    total = _total(demo_sqlite, window.last_snapshot.time_range)
    assert total > 200 and view.model.rowCount() == 200
    assert view.loaded_label.text().startswith(f"Showing 200 of {total:,} sessions")
    _load_all(qtbot, view.model)
    rows = [view.model.row_at(i) for i in range(view.model.rowCount())]
    assert len(rows) == len({r.session_id for r in rows}) == total
    starts = [r.start_time for r in rows]
    assert starts == sorted(starts, reverse=True)
    assert view.loaded_label.text() == f"{total:,} sessions"


def test_a_sort_change_drops_the_page_on_its_way(qtbot, window: MainWindow, demo_sqlite: str) -> None:
    view = window.sessions
    view.model.fetchMore()  # page two of the start_time order is on its way...
    with qtbot.waitSignal(window.refresh_finished, timeout=20_000):
        view.table.sortByColumn(3, Qt.SortOrder.AscendingOrder)  # ...when the user sorts by duration
    _load_all(qtbot, view.model)
    rows = [view.model.row_at(i) for i in range(view.model.rowCount())]
    assert len(rows) == len({r.session_id for r in rows}) == _total(demo_sqlite, view.time_range)
    durations = [-1.0 if r.duration_ms is None else r.duration_ms for r in rows]
    assert durations == sorted(durations)


def test_export_writes_every_session_of_the_range(qtbot, window: MainWindow, demo_sqlite: str,
                                                  tmp_path: Path) -> None:
    out = tmp_path / "sessions.csv"
    with qtbot.waitSignal(window.exporter.export_finished, timeout=30_000) as blocker:
        window.export_current_view(str(out))
    with out.open(newline="", encoding="utf-8") as f:
        ids = [r["session_id"] for r in csv.DictReader(f)]
    total = _total(demo_sqlite, window.sessions.latest_range)
    assert blocker.args[1] == len(ids) == len(set(ids)) == total > 200


def test_a_capped_table_says_so(qtbot, window: MainWindow, tmp_path: Path) -> None:
    window.agents.cap = 2  # the demo's handful of agents reach a cap of 2
    with qtbot.waitSignal(window.refresh_finished, timeout=20_000):
        window.show_tab("agents")
    shown = window.agents.model.rowCount()
    assert shown > 2 and not window.agents.cap_label.isHidden()
    assert "stops at 2" in window.agents.cap_label.text()
    out = tmp_path / "agents.csv"
    with qtbot.waitSignal(window.exporter.export_finished, timeout=20_000) as blocker:
        window.export_current_view(str(out))
    assert blocker.args[1] == shown  # every agent the range holds
