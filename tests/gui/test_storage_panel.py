"""The Database tab as a storage panel: the worker reads the storage report when the tab
is shown (never on the GUI thread) and keeps it for minutes; the table, the growth chart,
the projection and the retention setting show that report."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from PySide6.QtCore import Qt

from studio_analytics import config
from studio_analytics.analytics import storage
from studio_analytics.analytics.storage import read_storage
from studio_analytics.db.engine import create_db_engine, read_transaction
from studio_analytics.gui.main_window import MainWindow
from studio_analytics.gui.models.storage_table_model import StorageTableModel
from studio_analytics.gui.views.database_view import projection_text, raw_rows_text
from studio_analytics.retention_settings import RETENTION_FILENAME, RetentionSettings
from tests.demo_data import demo_fixtures

demo_sqlite, _ = demo_fixtures(executions=300, days=16, seed=23, pg_executions=0)


@pytest.fixture
def window(qtbot, demo_sqlite: str, monkeypatch: pytest.MonkeyPatch):
    folder = config.config_dir(create=True)
    (folder / RETENTION_FILENAME).write_text('older_than = "30d"\n', encoding="utf-8")
    threads: list[threading.Thread] = []
    real = storage.read_storage

    def recorded(conn: Any, **kwargs: Any) -> storage.StorageReport:
        threads.append(threading.current_thread())
        return real(conn, **kwargs)

    # Not a stand-in for the database: the real read, noting which thread ran it.
    monkeypatch.setattr("studio_analytics.gui.workers.poll_worker.read_storage", recorded)
    win = MainWindow(demo_sqlite)
    win.storage_threads = threads  # type: ignore[attr-defined]
    qtbot.addWidget(win)
    win.auto_refresh.setChecked(False)
    win.resize(1024, 700)
    win.show()
    yield win
    win.close()


def test_panel_shows_the_workers_report_and_keeps_it(qtbot, window: MainWindow, demo_sqlite: str) -> None:
    view = window.database
    # The overview's first refresh (it may have arrived already): no storage read for it.
    qtbot.waitUntil(lambda: window.last_health is not None, timeout=30_000)
    assert view.report is None and window.storage_threads == []  # type: ignore[attr-defined]
    window.show_tab("database")
    qtbot.waitUntil(lambda: view.report is not None, timeout=30_000)
    report = view.report
    assert report is not None
    assert window.storage_threads and all(  # type: ignore[attr-defined]
        t is not threading.main_thread() for t in window.storage_threads)  # type: ignore[attr-defined]

    engine = create_db_engine(demo_sqlite, read_only=True)
    with engine.connect() as conn, read_transaction(conn):
        expected = read_storage(conn, now=report.taken_at, retention=report.retention)
    assert report.tables == expected.tables and report.growth == expected.growth

    model = view.storage_model
    assert model.rowCount() == len(report.tables) > 20
    first = model.row_at(0)
    assert first.kind == "raw" and model.index(0, StorageTableModel.COL_TABLE).data() == first.name
    assert model.index(0, StorageTableModel.COL_ROWS).data() == f"{first.rows:,}"
    tip = model.index(0, StorageTableModel.COL_INDEXES).data(Qt.ItemDataRole.ToolTipRole)
    assert first.indexes and all(i.name in tip for i in first.indexes)
    view.table.setFocus()
    view.table.setCurrentIndex(model.index(0, 0))  # what the arrow keys do
    assert view.index_label.text().startswith(f"Indexes of {first.name}: {first.indexes[0].name} ")
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(6)] == [
        "Table", "Rows", "Size", "Indexes", "Oldest raw row", "Newest"]

    assert view.chart.days == [g.day for g in report.growth] and any(view.chart.values)
    assert view.chart.bars.opts["height"] is not None and len(view.chart.bars.opts["height"]) == 14
    assert "in 30 days" in view.projection_label.text() and "in 90 days" in view.projection_label.text()
    assert "level off" in view.projection_label.text()  # the 30d retention setting
    assert view.retention_label.text().startswith("raw rows older than 30d are pruned")
    assert "at most every 5 minutes" in view.read_label.text()
    assert "hourly rollups cover" in view.raw_rows_label.text()

    # Another full refresh minutes apart at most: the same report, not read again.
    reads = len(window.storage_threads)  # type: ignore[attr-defined]
    window.poller.worker.change_detection = False  # a full read, as if the file had changed
    with qtbot.waitSignal(window.refresh_finished, timeout=30_000):
        window.refresh()
    assert len(window.storage_threads) == reads and view.report is report  # type: ignore[attr-defined]
    # The retention setting is read each time: an edit shows at the next refresh.
    (config.config_dir() / RETENTION_FILENAME).write_text('older_than = "2w"\n', encoding="utf-8")
    with qtbot.waitSignal(window.refresh_finished, timeout=30_000):
        window.refresh()
    assert len(window.storage_threads) == reads  # type: ignore[attr-defined]
    assert view.retention_label.text().startswith("raw rows older than 2w are pruned")
    assert view.report is not None and view.report.tables is report.tables


def test_storage_model_passes_the_model_tester(qtmodeltester, demo_sqlite: str) -> None:
    engine = create_db_engine(demo_sqlite, read_only=True)
    with engine.connect() as conn, read_transaction(conn):
        report = read_storage(conn)
    model = StorageTableModel()
    model.set_tables(report.tables)
    qtmodeltester.check(model)


def test_projection_without_growth_and_without_retention(demo_sqlite: str) -> None:
    engine = create_db_engine(demo_sqlite, read_only=True)
    with engine.connect() as conn, read_transaction(conn):
        report = read_storage(conn, retention=RetentionSettings(None, None, None, "none"))
    text = projection_text(report)
    assert "in 30 days" in text and "level off" not in text
    pruned = replace(report, pruned_before=datetime(2026, 8, 1, tzinfo=UTC))
    assert raw_rows_text(pruned).startswith("raw rows pruned before 2026-08-01 (UTC); figures before it come "
                                            "from the hourly rollups; the hourly rollups cover ")
    quiet = replace(report, bytes_per_day=None, projected_30d=None, projected_90d=None, rate_days=0)
    assert projection_text(quiet) == "Nothing was written in the last 14 whole days: no projection."
