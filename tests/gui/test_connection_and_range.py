"""Connection dialog (test, remember without password) and the custom time range."""

from __future__ import annotations

import socket
from datetime import timedelta

from PySide6.QtCore import QDateTime, QSettings, QThreadPool

from studio_analytics.cli import run_cli
from studio_analytics.gui.dialogs.connection_dialog import (
    ConnectionDialog,
    recent_connections,
    remember_connection,
)
from studio_analytics.gui.main_window import MainWindow


def _isolated_settings(tmp_path) -> None:
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    QSettings().clear()


def test_test_connection_success_and_failures(qtbot, sqlite_db_url: str, tmp_path) -> None:
    _isolated_settings(tmp_path)
    pool = QThreadPool()
    dialog = ConnectionDialog(sqlite_db_url, pool)
    qtbot.addWidget(dialog)
    assert dialog.selected_url() == sqlite_db_url
    with qtbot.waitSignal(dialog.tested, timeout=20_000) as ok:
        dialog.test_connection()
    assert ok.args[0] is True and "studio schema" in ok.args[1]
    dialog.sqlite_path.setText(str(tmp_path / "absent.sqlite3"))
    with qtbot.waitSignal(dialog.tested, timeout=20_000) as missing:
        dialog.test_connection()
    assert missing.args[0] is False and "not found" in missing.args[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dialog.kinds.setCurrentIndex(1)
    dialog.host.setText("127.0.0.1")
    dialog.port.setValue(port)
    dialog.database.setText("metrics")
    dialog.user.setText("viewer")
    dialog.password.setText("hunter2")
    with qtbot.waitSignal(dialog.tested, timeout=20_000) as down:
        dialog.test_connection()
    assert down.args[0] is False and "Cannot reach" in down.args[1] and "hunter2" not in down.args[1]
    pool.waitForDone(5_000)


def test_recent_connections_never_keep_passwords(tmp_path) -> None:
    _isolated_settings(tmp_path)
    remember_connection("postgresql://viewer:hunter2@db.example:5432/metrics")
    remember_connection("sqlite:////data/m.sqlite3")
    remember_connection("postgresql://viewer:other@db.example:5432/metrics")
    assert recent_connections() == ["postgresql://viewer@db.example:5432/metrics", "sqlite:////data/m.sqlite3"]
    settings_file = (tmp_path / "settings").rglob("*.ini")
    assert all("hunter2" not in p.read_text() and "other" not in p.read_text() for p in settings_file)


def test_custom_range_and_switching_database(qtbot, tmp_path, sqlite_db_url: str) -> None:
    demo = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    assert run_cli(["demo", "--db", demo, "--executions", "200", "--days", "2", "--seed", "2"]) == 0
    win = MainWindow(sqlite_db_url)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
        pass
    assert win.last_snapshot is not None and win.last_snapshot.kpis.total_executions == 0
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
        win.set_database(demo)
    total = win.last_snapshot.kpis.total_executions
    assert total >= 200
    now = QDateTime.currentDateTime()
    # The last 24 of the demo's 48 hours: some executions, never all, at any time of day
    # (a shorter window can fall in the demo's quiet night hours).
    win.custom_start.setDateTime(now.addSecs(-24 * 3600))
    win.custom_end.setDateTime(now.addSecs(60))
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
        win.range_box.setCurrentIndex(3)
    tr = win.last_snapshot.time_range
    assert tr.label == "custom" and timedelta(hours=23.9) < tr.end - tr.start < timedelta(hours=24.1)
    assert 0 < win.last_snapshot.kpis.total_executions < total
    assert win.executions.time_range == win.current_time_range() or win.executions.time_range.label == "custom"
    win.close()
