"""The window's CSV export: the "Escape formulas" option (on by default) reaches the
file, on both export paths; file errors are reported as file errors."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QWidget
from sqlalchemy import insert

from studio_analytics.analytics import time_range
from studio_analytics.analytics.results import ExecutionFilter
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import AgentExecutionMetrics
from studio_analytics.gui.dialogs.export_dialog import ExportController, ExportFileDialog
from studio_analytics.gui.main_window import MainWindow

EVIL = '=HYPERLINK("http://evil","click")'


@pytest.fixture
def evil_url(sqlite_db_url: str) -> str:
    engine = create_db_engine(sqlite_db_url)
    with engine.begin() as conn:
        conn.execute(insert(AgentExecutionMetrics), [
            dict(execution_id=uuid.uuid4(), agent_name=EVIL, start_time=datetime.now(UTC) - timedelta(minutes=i + 1),
                 duration_ms=-1.5, status="success", tool_count=0, retry_count=0, api_calls_count=0, query="@me")
            for i in range(3)
        ])
    engine.dispose()
    return sqlite_db_url


@pytest.fixture
def controller(qtbot) -> Iterator[ExportController]:
    parent = QWidget()
    qtbot.addWidget(parent)
    pool = QThreadPool()
    yield ExportController(pool, parent)
    pool.waitForDone(10_000)  # no export thread outlives the test


def _column(path: Path, name: str) -> list[str]:
    with path.open(newline="", encoding="utf-8") as f:
        return [r[name] for r in csv.DictReader(f)]


def test_dialog_offers_formula_escaping_on_by_default(qtbot) -> None:
    dialog = ExportFileDialog(None, "agents.csv")
    qtbot.addWidget(dialog)
    box = dialog.escape_formulas
    assert box.text() == "Escape formulas (for spreadsheets)" and box.isChecked()
    assert dialog.isAncestorOf(box)


@pytest.mark.parametrize("escape", [True, False])
def test_streamed_executions_follow_the_option(qtbot, controller: ExportController, evil_url: str, tmp_path: Path,
                                               escape: bool) -> None:
    out = tmp_path / "executions.csv"
    with qtbot.waitSignal(controller.export_finished, timeout=20_000):
        controller.stream_executions(evil_url, time_range(days=1), ExecutionFilter(), str(out), escape_formulas=escape)
    assert _column(out, "agent_name") == [("'" + EVIL) if escape else EVIL] * 3
    assert _column(out, "query") == ["'@me" if escape else "@me"] * 3
    assert _column(out, "duration_ms") == ["-1.5"] * 3  # a number, never prefixed


def test_window_export_uses_the_dialogs_choice(qtbot, evil_url: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    win = MainWindow(evil_url)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
        pass
    win.show_tab("agents")
    # the tab's rows arrive from the worker; under load that is after the first refresh
    qtbot.waitUntil(lambda: win.agents.model.rowCount() > 0, timeout=20_000)
    out = tmp_path / "agents.csv"
    with qtbot.waitSignal(win.exporter.export_finished, timeout=10_000):
        win.export_current_view(str(out))  # no dialog: the safe default
    assert _column(out, "agent_name") == ["'" + EVIL]

    def accept_unchecked(dialog: ExportFileDialog) -> int:
        dialog.selectFile(str(out))
        dialog.escape_formulas.setChecked(False)  # what a user unticking the box does
        return 1

    monkeypatch.setattr(ExportFileDialog, "exec", accept_unchecked)
    with qtbot.waitSignal(win.exporter.export_finished, timeout=10_000):
        win.export_current_view()
    assert _column(out, "agent_name") == [EVIL]
    win.close()


def test_a_missing_folder_is_a_file_error(qtbot, controller: ExportController, evil_url: str, tmp_path: Path) -> None:
    out = tmp_path / "missing" / "executions.csv"
    with qtbot.waitSignal(controller.export_failed, timeout=20_000) as blocker:
        controller.stream_executions(evil_url, time_range(days=1), ExecutionFilter(), str(out))
    assert blocker.args == [f"Could not write {out}: No such file or directory"]
