"""The window polls in the background, shows the database state, and survives bad input."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtCore import QThread
from PySide6.QtGui import QImage
from sqlalchemy import insert

from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.migrate import upgrade_database
from studio_analytics.db.models import AgentExecutionMetrics
from studio_analytics.gui.main_window import MainWindow


def _add_executions(url: str, n: int) -> None:
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(AgentExecutionMetrics), [
            dict(execution_id=uuid.uuid4(), agent_name="A", start_time=datetime.now(UTC), status="success",
                 tool_count=0, retry_count=0, api_calls_count=0) for _ in range(n)
        ])
    engine.dispose()


def test_shows_row_counts_from_a_worker_thread(qtbot, sqlite_db_url: str) -> None:
    _add_executions(sqlite_db_url, 3)
    win = MainWindow(sqlite_db_url)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.refresh_finished, timeout=10_000) as blocker:
        pass
    health = blocker.args[0]
    assert health.ok and health.row_counts["agent_execution_metrics"] == 3
    # (the Database tab's own table is the storage panel's: tests/gui/test_storage_panel.py)
    assert win.database.schema_label.text().startswith("studio")
    assert win.banner.isHidden()
    assert win.poller.thread is not QThread.currentThread()
    win.close()
    assert not win.poller.thread.isRunning()


def test_banner_on_missing_file_then_recovers(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "later.sqlite3"
    url = f"sqlite:///{path}"
    win = MainWindow(url, refresh_ms=200)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.refresh_finished, timeout=10_000) as blocker:
        pass
    assert not blocker.args[0].ok
    assert "not found" in win.banner.text()
    assert not path.exists()  # the read-only window never creates it
    upgrade_database(create_db_engine(url))
    qtbot.waitUntil(lambda: win.banner.isHidden(), timeout=15_000)
    assert win.last_health is not None and win.last_health.schema_kind == "studio"
    win.close()


def test_database_without_tables_says_how_to_fix(qtbot, tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    win = MainWindow(f"sqlite:///{path}")
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.refresh_finished, timeout=10_000):
        pass
    assert "db upgrade" in win.banner.text()
    win.close()


def test_screenshot_subprocess_is_not_blank(sqlite_db_url: str, tmp_path: Path) -> None:
    _add_executions(sqlite_db_url, 5)
    out = tmp_path / "shot.png"
    exe = Path(sys.executable).with_name("studio-analytics")
    proc = subprocess.run(
        [str(exe), "--db", sqlite_db_url, "--screenshot", str(out), "--size", "900x600"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    image = QImage(str(out))
    assert (image.width(), image.height()) == (900, 600)
    colours = {image.pixel(x, y) for x in range(0, 900, 7) for y in range(0, 600, 7)}
    assert len(colours) > 5
    # The picture shows the users' data: private, and no temporary file left beside it.
    assert out.stat().st_mode & 0o077 == 0
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".shot.png")] == []
