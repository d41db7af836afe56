"""The Users tab: the table and heatmap show what the analytics layer returns, headers
re-sort in the database, a selected user gets their own map, Enter and double-click open
the user's executions, and the export holds every user."""

from __future__ import annotations

import csv
from datetime import UTC
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from studio_analytics.analytics.heatmap import usage_heatmap
from studio_analytics.analytics.users import USER_SORTS, UserActivityRow, user_activity
from studio_analytics.db.engine import create_db_engine
from studio_analytics.gui import zone
from studio_analytics.gui.main_window import MainWindow
from studio_analytics.gui.models.user_table_model import UserTableModel
from tests.demo_data import demo_fixtures

demo_sqlite, _ = demo_fixtures(executions=400, days=3, seed=41, pg_executions=0)


def _read(url: str, query: Any) -> Any:
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn:
        out = query(conn)
    engine.dispose()
    return out


@pytest.fixture
def window(qtbot, demo_sqlite: str):
    win = MainWindow(demo_sqlite)
    qtbot.addWidget(win)
    win.auto_refresh.setChecked(False)
    win.resize(1280, 820)
    win.show()
    with qtbot.waitSignal(win.refresh_finished, timeout=30_000):
        win.show_tab("users")  # before the first answer: the overview's is dropped
    assert win.last_snapshot is not None and win.last_snapshot.users is not None
    yield win
    win.close()


def _column(field: str) -> int:
    return next(i for i, c in enumerate(UserTableModel.COLUMNS) if c.field == field)


def test_table_heatmap_selected_user_and_drill_down(qtbot, window: MainWindow, demo_sqlite: str) -> None:
    snap = window.last_snapshot
    assert snap is not None and snap.users is not None and snap.heatmap is not None
    view = window.users
    rows = [view.model.row_at(i) for i in range(view.model.rowCount())]
    expected = _read(demo_sqlite, lambda c: user_activity(c, snap.time_range))
    assert rows == list(expected.rows) and len(rows) == expected.total_rows > 5
    assert view.summary_label.text().startswith(f"{expected.total_rows} users")
    # the image is the snapshot's grid, hours across and weekdays down
    assert np.array_equal(view.chart.image.image.T, np.asarray(snap.heatmap.executions))
    assert snap.heatmap.total_executions == sum(r.executions for r in rows)
    view.chart.show_box.setCurrentText("Failures")
    assert np.array_equal(view.chart.image.image.T, np.asarray(snap.heatmap.failures))
    assert view.chart.colour_bar.levels() == (0, max(1, int(np.max(snap.heatmap.failures))))
    # pointing at the busiest cell says its count
    weekday, hour = np.unravel_index(np.argmax(snap.heatmap.executions), (7, 24))
    scene_pos = view.chart.plot.getPlotItem().vb.mapViewToScene(QPointF(hour + 0.5, weekday + 0.5))
    view.chart.plot.scene().sigMouseMoved.emit(scene_pos)
    n = snap.heatmap.executions[weekday][hour]
    assert f"{n:,} execution" in view.chart.hover_label.text()
    assert view.chart.hover_label.text() == view.chart.cell_text(int(weekday), int(hour))
    view.chart.show_box.setCurrentText("Executions")
    _selected_user_heatmap_then_all_users(qtbot, window, demo_sqlite)
    _enter_and_double_click_open_the_users_executions(qtbot, window)


def test_header_sorts_in_the_database_and_export_writes_every_user(qtbot, window: MainWindow, tmp_path) -> None:
    view = window.users
    with qtbot.waitSignal(window.refresh_finished, timeout=30_000):
        view.table.sortByColumn(_column("p95_duration_ms"), Qt.SortOrder.AscendingOrder)
    p95 = [view.model.row_at(i).p95_duration_ms for i in range(view.model.rowCount())]
    known = [v for v in p95 if v is not None]
    assert known == sorted(known) and p95[:len(known)] == known
    with qtbot.waitSignal(window.refresh_finished, timeout=30_000):
        view.table.sortByColumn(_column("user_id"), Qt.SortOrder.DescendingOrder)
    users = [view.model.row_at(i).user_id for i in range(view.model.rowCount())]
    assert users == sorted(users, reverse=True)
    # the export: every user, in the table's order
    path = tmp_path / "users.csv"
    with qtbot.waitSignal(window.exporter.export_finished, timeout=20_000):
        window.export_current_view(str(path))
    with path.open(newline="") as f:
        assert [r["user_id"] for r in csv.DictReader(f)] == users


def _selected_user_heatmap_then_all_users(qtbot, window: MainWindow, demo_sqlite: str) -> None:
    view = window.users
    snap = window.last_snapshot
    user = view.model.row_at(1).user_id
    with qtbot.waitSignal(view.heatmap_shown, timeout=20_000) as blocker:
        view.table.selectRow(1)
    mine = blocker.args[0]
    tz = UTC if zone.showing_utc() else None
    expected = _read(demo_sqlite, lambda c: usage_heatmap(c, snap.time_range, user_id=user, tz=tz))
    assert mine == expected and mine.total_executions == view.model.row_at(1).executions
    assert np.array_equal(view.chart.image.image.T, np.asarray(expected.executions))
    assert user in view.chart.plot.getPlotItem().titleLabel.text and view.all_button.isEnabled()
    with qtbot.waitSignal(view.heatmap_shown, timeout=5_000) as blocker:
        qtbot.mouseClick(view.all_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] is snap.heatmap and view.selected_user() is None


def _enter_and_double_click_open_the_users_executions(qtbot, window: MainWindow) -> None:
    view = window.users
    user = view.model.row_at(2).user_id
    view.table.setFocus()
    view.table.setCurrentIndex(view.model.index(2, 0))
    qtbot.keyClick(view.table, Qt.Key.Key_Return)
    assert window.current_tab == "executions" and window.executions.filters.user_id == user
    window.show_tab("users")
    other = view.model.row_at(0).user_id
    rect = view.table.visualRect(view.model.index(0, 0))
    # a real double-click is a press and release, then the double-click event
    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.current_tab == "executions" and window.executions.filters.user_id == other


def test_every_column_sorts_and_cost_is_never_zero_when_unpriced() -> None:
    assert {c.field for c in UserTableModel.COLUMNS} <= set(USER_SORTS)
    model = UserTableModel()
    model.set_rows([UserActivityRow(user_id="u", sessions=1, executions=2, failures=0, failure_rate=0.0,
                                    p95_duration_ms=None, tokens=0, last_seen=None, cost_usd=None, unpriced_calls=3)])
    assert model.index(0, _column("cost_usd")).data() == "unpriced (3 calls)"
    assert model.index(0, _column("p95_duration_ms")).data() == "—"
