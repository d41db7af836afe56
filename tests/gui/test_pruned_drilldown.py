"""The Executions list over a range reaching before the oldest raw row (a real prune with
its Parquet archive, rollups kept) says the rows were pruned and where they were archived —
from the tab itself, from an agent's drill-down, and instead of the empty list's text for
a span wholly before the prune."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from studio_analytics import config
from studio_analytics.archive.parquet_archive import day_archiver
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.retention import prune
from studio_analytics.demo.generator import backfill
from studio_analytics.gui.main_window import MainWindow
from studio_analytics.gui.views.executions_view import EMPTY_TEXT

NOW = datetime.now(UTC)
CUTOFF = datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC) - timedelta(days=3)


@pytest.fixture(scope="module")
def pruned(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("pruned")
    url = f"sqlite:///{folder / 'pruned.sqlite3'}"
    backfill(url, executions=300, days=8, seed=18)
    engine = create_db_engine(url)
    report = prune(engine, cutoff=CUTOFF, archive=day_archiver(folder / "agent-archive"))
    engine.dispose()
    assert report.rows and not report.problems
    return url, folder / "agent-archive"


@pytest.fixture(scope="module")
def pruned_url(pruned: tuple[str, Path]) -> str:
    return pruned[0]


@pytest.fixture
def archive(isolated_home: str, pruned: tuple[str, Path]) -> Path:
    folder = pruned[1]
    config.config_dir(create=True).joinpath("retention.toml").write_text(
        f'older_than = "3d"\narchive = "{folder}"\n', encoding="utf-8")
    return folder


@pytest.fixture
def window(qtbot, pruned_url: str, archive: Path):
    win = MainWindow(pruned_url, range_preset="30d")
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
        pass
    yield win
    win.close()


def _line(archive: Path) -> str:
    return (f"Raw rows pruned before {CUTOFF:%Y-%m-%d} (UTC) — archived in {archive} "
            f"(restore with `studio-analytics db restore {archive} --from …`)")


def test_executions_tab_says_rows_before_the_prune_are_archived(qtbot, window: MainWindow, archive: Path) -> None:
    window.show_tab("executions")
    view = window.executions
    qtbot.waitUntil(lambda: not view.pruned_label.isHidden(), timeout=20_000)
    assert view.pruned_label.text() == _line(archive)
    assert view.model.rowCount() > 0 and view.empty.isHidden()  # the raw rows after it still listed
    assert min(view.model.row_at(i).start_time for i in range(view.model.rowCount())) >= CUTOFF


def test_span_wholly_before_the_prune_replaces_the_empty_text(qtbot, window: MainWindow, archive: Path) -> None:
    window.show_tab("executions")
    view = window.executions
    view.show_span(CUTOFF - timedelta(days=3), CUTOFF - timedelta(days=1))  # a span brushed on a chart
    qtbot.waitUntil(lambda: not view.empty.isHidden(), timeout=20_000)
    assert view.model.rowCount() == 0 and view.empty.text() == _line(archive)
    assert view.pruned_label.isHidden()
    view.show_span(CUTOFF + timedelta(hours=1), NOW)  # after it: nothing about the prune
    qtbot.waitUntil(lambda: view.model.rowCount() > 0, timeout=20_000)
    assert view.pruned_label.isHidden() and view.empty.text() == EMPTY_TEXT


def test_agent_drill_down_into_the_pruned_range(qtbot, window: MainWindow, archive: Path) -> None:
    window.show_tab("agents")
    qtbot.waitUntil(lambda: window.agents.model.rowCount() > 0, timeout=20_000)
    agent = window.agents.model.row_at(0).agent_name
    window.agents.table.activated.emit(window.agents.model.index(0, 0))
    view = window.executions
    assert window.current_tab == "executions" and view.filters.agent_name == agent
    qtbot.waitUntil(lambda: not view.pruned_label.isHidden() or not view.empty.isHidden(), timeout=20_000)
    shown = view.pruned_label.text() if not view.pruned_label.isHidden() else view.empty.text()
    assert shown == _line(archive)
