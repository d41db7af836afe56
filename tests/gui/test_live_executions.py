"""The Executions list is live: a refresh moves the range to now and prepends what is
new without moving the user; its count and export follow; any time is two actions away."""

from __future__ import annotations

import csv
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from studio_analytics import tracker
from studio_analytics.analytics import list_executions
from studio_analytics.analytics.executions import cursor_at, list_oldest_executions
from studio_analytics.db.engine import create_db_engine
from studio_analytics.demo.generator import backfill
from studio_analytics.gui.main_window import MainWindow


@pytest.fixture
def demo_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    backfill(url, executions=700, days=1, seed=4)
    return url


@pytest.fixture
def window(qtbot, demo_url: str):
    win = MainWindow(demo_url, range_preset="24h")
    qtbot.addWidget(win)
    win.auto_refresh.setChecked(False)  # the test says when to refresh
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
        win.show_tab("executions")
    qtbot.waitUntil(lambda: win.executions.model.rowCount() >= 200, timeout=20_000)
    yield win
    win.close()


def _track(url: str, n: int) -> list[uuid.UUID]:
    tracker.configure(db_url=url)
    ids = []
    for i in range(n):
        with tracker.track_agent_execution(agent_name="LiveAgent", query=f"live {i}") as execution_id:
            ids.append(uuid.UUID(str(execution_id)))
    assert tracker.flush(20)
    tracker.shutdown(5)
    return ids


def _ids(view, rows: range) -> list[uuid.UUID]:
    return [view.model.row_at(i).execution_id for i in rows]


def _first_visible(view) -> uuid.UUID:
    return view.model.row_at(view.table.rowAt(0)).execution_id


def test_refresh_prepends_new_rows_and_keeps_the_users_place(qtbot, window: MainWindow, demo_url: str,
                                                             tmp_path: Path) -> None:
    view = window.executions
    view.table.scrollTo(view.model.index(60, 0), view.table.ScrollHint.PositionAtTop)
    view.table.selectRow(70)
    qtbot.waitUntil(lambda: view.table.rowAt(0) > 0)
    top, selected = _first_visible(view), view.model.row_at(70).execution_id
    before = view.model.rowCount()
    new = _track(demo_url, 12)

    window.refresh()  # what F5 and the auto-refresh timer do
    qtbot.waitUntil(lambda: view.model.row_at(0).execution_id in new, timeout=20_000)
    assert set(_ids(view, range(12))) == set(new)
    assert view.model.rowCount() == before + 12
    starts = [view.model.row_at(i).start_time for i in range(view.model.rowCount())]
    assert starts == sorted(starts, reverse=True)
    rows = view.table.selectionModel().selectedRows()
    assert [view.model.row_at(i.row()).execution_id for i in rows] == [selected]
    assert _first_visible(view) == top
    assert view.new_button.isVisible() and view.new_button.text() == "↑ 12 new"

    # The count follows the moved range (the status bar's is the same range's).
    engine = create_db_engine(demo_url, read_only=True)
    with engine.connect() as conn:
        total = 0
        page = list_executions(conn, view.time_range, limit=100_000)
        total = len(page.rows)
    engine.dispose()
    qtbot.waitUntil(lambda: view.count_label.text() == f"{total:,} executions match", timeout=20_000)

    # The export streams the refreshed range: the new rows are in it.
    out = tmp_path / "executions.csv"
    with qtbot.waitSignal(window.exporter.export_finished, timeout=30_000) as blocker:
        window.export_current_view(str(out))
    with out.open(newline="", encoding="utf-8") as f:
        exported = {r["execution_id"] for r in csv.DictReader(f)}
    assert {str(i) for i in new} <= exported and blocker.args[1] == total

    view.new_button.click()  # jumps to the top and the indicator goes
    assert view.table.rowAt(0) == 0 and view.new_button.isHidden()


def test_at_the_top_new_rows_just_appear(qtbot, window: MainWindow, demo_url: str) -> None:
    view = window.executions
    new = _track(demo_url, 3)
    window.refresh()
    qtbot.waitUntil(lambda: view.model.row_at(0).execution_id in new, timeout=20_000)
    assert view.table.rowAt(0) == 0 and view.new_button.isHidden()


def test_filtered_count_and_go_to_time(qtbot, window: MainWindow, demo_url: str) -> None:
    view = window.executions
    view.status.setCurrentIndex(2)  # failures
    qtbot.waitUntil(lambda: view.count is not None and view.count.matching < view.count.range_total, timeout=20_000)
    engine = create_db_engine(demo_url, read_only=True)
    with engine.connect() as conn:
        failures = list_executions(conn, view.time_range, filters=view.filters, limit=100_000).rows
        assert view.count_label.text() == f"{len(failures):,} executions match"
        view.set_filter(type(view.filters)())
        when = view.time_range.end - timedelta(hours=9, minutes=13)
        expected = list_executions(conn, view.time_range, after=cursor_at(when), limit=200).rows
        oldest = list_oldest_executions(conn, view.time_range, limit=200).rows
    engine.dispose()

    window.show_tab("overview")
    window.jump_executions_to(when)  # what a click on the per-hour chart does
    assert window.current_tab == "executions"
    qtbot.waitUntil(lambda: view.model.rowCount() >= len(expected), timeout=20_000)
    assert _ids(view, range(len(expected))) == [r.execution_id for r in expected]
    assert view.model.row_at(0).start_time <= when and view.anchor_label.isVisible()

    view.table.setFocus()
    qtbot.keyClick(view.table, Qt.Key.Key_End)
    qtbot.waitUntil(lambda: view.model.rowCount() == len(oldest) and view.model.complete, timeout=20_000)
    assert _ids(view, range(len(oldest))) == [r.execution_id for r in oldest]
    assert view.table.selectionModel().selectedRows()[0].row() == len(oldest) - 1

    qtbot.keyClick(view.table, Qt.Key.Key_Home)
    qtbot.waitUntil(lambda: view.model.rowCount() > 0 and view.anchor is None, timeout=20_000)
    qtbot.waitUntil(lambda: view.model.rowCount() >= 200, timeout=20_000)
    newest = max(view.model.row_at(i).start_time for i in range(view.model.rowCount()))
    assert view.model.row_at(0).start_time == newest and view.anchor_label.isHidden()

    # Ctrl+G puts the cursor in the time box: type a time, Enter, Enter.
    qtbot.keyClick(view, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(view.goto_time.hasFocus, timeout=5_000)


def test_other_sorts_say_what_arrived_and_reload_on_click(qtbot, window: MainWindow, demo_url: str) -> None:
    view = window.executions
    view.table.sortByColumn(3, Qt.SortOrder.AscendingOrder)  # by duration: new rows may sort anywhere
    qtbot.waitUntil(lambda: view.sort == ("duration_ms", False) and view.model.rowCount() >= 200, timeout=20_000)
    qtbot.waitUntil(lambda: view.count is not None, timeout=20_000)
    view.table.selectRow(5)  # the user is working on the list: it must not jump under them
    selected = view.model.row_at(5).execution_id
    new = _track(demo_url, 4)
    window.refresh()
    qtbot.waitUntil(view.new_button.isVisible, timeout=20_000)
    assert view.model.row_at(5).execution_id == selected  # not reloaded yet
    view.new_button.click()
    qtbot.waitUntil(lambda: view.model.rowCount() >= 200, timeout=20_000)
    while not view.model.complete:
        n = view.model.rowCount()
        view.model.fetchMore()
        qtbot.waitUntil(lambda n=n: view.model.rowCount() > n or view.model.complete, timeout=20_000)
    assert set(new) <= set(_ids(view, range(view.model.rowCount())))
    assert view.sort == ("duration_ms", False) and view.new_button.isHidden()


def test_a_click_on_the_executions_chart_lists_that_moment(qtbot, window: MainWindow) -> None:
    """Clicking the Overview's executions chart opens the Executions list at the moment
    under the mouse."""
    from PySide6.QtCore import QPointF

    window.show_tab("overview")
    chart = window.overview.executions_chart
    qtbot.waitUntil(lambda: chart.isVisible() and chart.executions.getData()[0] is not None
                    and len(chart.executions.getData()[0]) > 2, timeout=20_000)
    x = chart.executions.getData()[0]
    target = float(x[len(x) // 2])
    vb = chart.getPlotItem().vb

    def place() -> QPointF:
        return vb.mapViewToScene(QPointF(target, vb.viewRange()[1][0] + 0.5))

    # The tab was hidden until now: wait until the chart is laid out and shows that moment.
    qtbot.waitUntil(lambda: vb.viewRange()[0][0] < target < vb.viewRange()[0][1]
                    and vb.sceneBoundingRect().contains(place()), timeout=10_000)
    # Through a real mouse click at the place the chart draws that moment.
    point = chart.mapFromScene(place())
    with qtbot.waitSignal(chart.time_clicked, timeout=5_000) as clicked:
        qtbot.mouseClick(chart.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert abs(clicked.args[0].timestamp() - target) < (x[1] - x[0])
    assert window.current_tab == "executions"
    view = window.executions
    qtbot.waitUntil(lambda: view.model.rowCount() > 0 and view.anchor_label.isVisible(), timeout=20_000)
    assert view.model.row_at(0).start_time <= clicked.args[0]
