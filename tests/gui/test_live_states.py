"""The window never shows a wrong state: moved files, switches, loading, tiny samples, live polling."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import AgentExecutionMetrics
from studio_analytics.db.rollups import rebuild_rollups
from studio_analytics.gui.main_window import MainWindow
from studio_analytics.gui.workers.poll_worker import PollRequest, PollResult, PollWorker


def _add(url: str, n: int, *, days_ago: float = 0.0, agent: str = "A") -> None:
    """Raw rows, then the rollups rebuilt: as the tracker's writer would leave them."""
    at = datetime.now(UTC) - timedelta(days=days_ago, seconds=5)
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(AgentExecutionMetrics), [
            dict(execution_id=uuid.uuid4(), agent_name=agent, start_time=at, end_time=at, duration_ms=10.0,
                 status="success", tool_count=0, retry_count=0, api_calls_count=0) for _ in range(n)])
        rebuild_rollups(conn)
    engine.dispose()


def _open(qtbot, url: str, **kwargs: object) -> MainWindow:
    win = MainWindow(url, **kwargs)  # type: ignore[arg-type]
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
        pass
    return win


def _axes_visible(chart: object) -> bool:
    item = chart.getPlotItem()  # type: ignore[attr-defined]
    return item.getAxis("bottom").isVisible() and item.getAxis("left").isVisible()


def test_a_renamed_file_is_noticed(qtbot, sqlite_db_url: str) -> None:
    _add(sqlite_db_url, 3)
    path = Path(sqlite_db_url.removeprefix("sqlite:///"))
    win = _open(qtbot, sqlite_db_url, refresh_ms=3_600_000)
    assert win.banner.isHidden() and win.last_health is not None and win.last_health.ok
    path.rename(path.with_name("elsewhere.sqlite3"))
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000) as blocker:
        win.refresh()
    assert not blocker.args[0].ok
    assert "moved or deleted" in win.banner.text() and str(path) in win.banner.text()
    assert "disconnected" in win.statusBar().currentMessage()
    win.close()


def test_status_bar_counts_the_range_like_the_figures(qtbot, sqlite_db_url: str) -> None:
    _add(sqlite_db_url, 4, days_ago=20)  # outside both the range and its previous period
    _add(sqlite_db_url, 3)
    win = _open(qtbot, sqlite_db_url)
    snap = win.last_snapshot
    assert snap is not None and snap.kpis.total_executions == 3
    assert win.last_health is not None and win.last_health.row_counts["agent_execution_metrics"] == 3
    assert "3 executions in range" in win.statusBar().currentMessage()
    win.close()


def test_switching_to_a_failing_database_clears_the_figures(qtbot, sqlite_db_url: str, tmp_path: Path) -> None:
    _add(sqlite_db_url, 30)
    win = _open(qtbot, sqlite_db_url)
    assert win.overview.agent_doughnut.slices and win.overview.queries_per_hour.value.text() != "—"
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database" * 500)
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000) as blocker:
        win.set_database(f"sqlite:///{junk}")
        # Before the new database answers, nothing of the old one is on screen.
        assert win.overview.agent_doughnut.slices == []
        assert win.overview.queries_per_hour.value.text() == "—"
        assert win.overview.executions_chart.empty_text.toPlainText() == "Loading…"
        assert win.agents.model.rowCount() == 0
    assert not blocker.args[0].ok and not win.banner.isHidden()
    assert win.overview.agent_doughnut.slices == [] and win.agents.model.rowCount() == 0
    assert win.overview.executions_chart.empty_text.toPlainText() == "No data"  # not "Loading…" forever
    assert win.windowTitle() == "studio-analytics — junk.sqlite3"
    message = win.statusBar().currentMessage()
    assert "disconnected" in message and "refreshed" not in message
    win.close()


def test_loading_then_empty_charts_draw_no_axes(qtbot, sqlite_db_url: str) -> None:
    win = MainWindow(sqlite_db_url)
    qtbot.addWidget(win)
    assert win.windowTitle() == "studio-analytics — metrics.sqlite3"
    assert win.overview.executions_chart.empty_text.toPlainText() == "Loading…"
    assert win.overview.agent_doughnut.message == "Loading…"
    assert win.overview.success_rate.change.text() == "Loading…"
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
        pass
    chart = win.overview.executions_chart
    assert chart.empty_text.toPlainText() == "No executions in this range"
    assert win.overview.agent_doughnut.message == "No executions in this range"
    assert not _axes_visible(chart) and not _axes_visible(win.overview.tool_bars)
    win.close()


def test_tiny_previous_period_shows_no_change(qtbot, sqlite_db_url: str) -> None:
    _add(sqlite_db_url, 5, days_ago=8)  # the previous week: almost empty
    _add(sqlite_db_url, 60)
    win = _open(qtbot, sqlite_db_url)
    assert win.last_snapshot is not None and win.last_snapshot.kpis.previous_executions == 5
    assert win.overview.queries_per_hour.change.text() == "too few runs to compare"
    assert "×" not in win.overview.queries_per_hour.change.text()
    assert win.overview.active_sessions.title.text() == "Sessions in range"
    assert _axes_visible(win.overview.executions_chart)
    assert win.interval.minimum() <= 2
    win.close()


def test_unchanged_sqlite_file_skips_the_queries(sqlite_db_url: str) -> None:
    _add(sqlite_db_url, 2)
    worker = PollWorker()
    results: list[PollResult] = []
    worker.refreshed.connect(results.append)
    for generation in (1, 2):
        worker.poll(PollRequest(generation, sqlite_db_url))
    first, second = results
    assert not first.unchanged and first.snapshot is not None
    assert second.unchanged and second.generation == 2 and second.snapshot is first.snapshot
    _add(sqlite_db_url, 1)  # another connection commits: data_version moves
    worker.poll(PollRequest(3, sqlite_db_url))
    assert not results[-1].unchanged and results[-1].snapshot.kpis.total_executions == 3
    worker.poll(PollRequest(4, sqlite_db_url, range_preset="24h"))  # another question: a real read
    assert not results[-1].unchanged
    worker.change_detection = False
    worker.poll(PollRequest(5, sqlite_db_url, range_preset="24h"))
    assert not results[-1].unchanged
    worker.close()
