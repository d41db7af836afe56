"""The tabs show what the analytics layer returns; sorting re-queries; empty databases read well."""

from __future__ import annotations

import numpy as np
import pytest

from studio_analytics.analytics import agent_usage, time_range, time_series, tool_usage
from studio_analytics.cli import run_cli
from studio_analytics.db.engine import create_db_engine
from studio_analytics.gui.main_window import MainWindow
from studio_analytics.gui.models.agent_table_model import AgentTableModel
from studio_analytics.gui.models.tool_table_model import ToolTableModel


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.sqlite3'}"
    assert run_cli(["demo", "--db", url, "--executions", "400", "--days", "5", "--seed", "11"]) == 0
    return url


def _open(qtbot, url: str) -> MainWindow:
    win = MainWindow(url)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
        pass
    return win


def test_overview_charts_hold_the_analytics_numbers(qtbot, demo_url: str) -> None:
    win = _open(qtbot, demo_url)
    snap = win.last_snapshot
    assert snap is not None
    engine = create_db_engine(demo_url, read_only=True)
    with engine.connect() as conn:
        tr = snap.time_range
        series = time_series(conn, tr)
        agents = agent_usage(conn, tr)
        tools = tool_usage(conn, tr)
    engine.dispose()
    x, y = win.overview.executions_chart.executions.getData()
    assert np.array_equal(y, series.executions.astype(float)) and np.array_equal(x, series.bucket_starts)
    assert int(y.sum()) == agents.total_executions > 0
    doughnut = dict(win.overview.agent_doughnut.slices)
    assert sum(doughnut.values()) == agents.total_executions
    assert win.overview.tool_bars.labels[0] == max(tools.rows, key=lambda r: r.calls).tool_name
    assert win.overview.success_rate.value.text().endswith("%")
    model = win.agents.model
    assert [model.row_at(i).agent_name for i in range(model.rowCount())] == [r.agent_name for r in agents.rows]
    win.close()


def test_sorting_a_table_re_runs_the_query(qtbot, demo_url: str) -> None:
    win = _open(qtbot, demo_url)
    col = [c.field for c in AgentTableModel.COLUMNS].index("p95_duration_ms")
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
        win.agents.table.sortByColumn(col, pytest.importorskip("PySide6.QtCore").Qt.SortOrder.AscendingOrder)
    rows = [win.agents.model.row_at(i) for i in range(win.agents.model.rowCount())]
    values = [r.p95_duration_ms for r in rows]
    assert values == sorted(values)
    assert win.last_snapshot is not None and win.last_snapshot.agents.rows == tuple(rows)
    win.close()


def test_empty_database_renders_every_tab(qtbot, sqlite_db_url: str, tmp_path) -> None:
    win = _open(qtbot, sqlite_db_url)
    assert win.banner.isHidden()
    assert win.overview.executions_chart.empty_text.toPlainText() == "No executions in this range"
    assert win.overview.agent_doughnut.slices == []
    assert win.agents.model.rowCount() == 0
    for i in range(win.tabs.count()):
        win.tabs.setCurrentIndex(i)
        assert win.grab().save(str(tmp_path / f"tab{i}.png"))
    win.close()


def test_table_models_pass_the_model_tester(qtmodeltester, demo_url: str) -> None:
    engine = create_db_engine(demo_url, read_only=True)
    with engine.connect() as conn:
        tr = time_range(days=30)
        agents, tools = agent_usage(conn, tr), tool_usage(conn, tr)
    engine.dispose()
    for model, rows in ((AgentTableModel(), agents.rows), (ToolTableModel(), tools.rows)):
        model.set_rows(rows)
        qtmodeltester.check(model)


@pytest.mark.parametrize("tab", ["workflows", "errors", "sessions"])
def test_each_tab_loads_its_own_query(qtbot, demo_url: str, tab: str) -> None:
    from studio_analytics.analytics import error_analysis, session_activity, workflow_performance

    win = _open(qtbot, demo_url)
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
        win.show_tab(tab)
    snap = win.last_snapshot
    assert snap is not None
    engine = create_db_engine(demo_url, read_only=True)
    with engine.connect() as conn:
        if tab == "workflows":
            expected = workflow_performance(conn, snap.time_range).rows
        elif tab == "errors":
            expected = error_analysis(conn, snap.time_range).groups
        else:
            expected = session_activity(conn, snap.time_range).recent
    engine.dispose()
    view = getattr(win, tab)
    shown = tuple(view.model.row_at(i) for i in range(view.model.rowCount()))
    assert shown == expected and len(shown) > 0
    win.close()


def test_new_tables_pass_the_model_tester(qtmodeltester, demo_url: str) -> None:
    from studio_analytics.analytics import error_analysis, session_activity, workflow_performance
    from studio_analytics.gui.models.more_table_models import (
        ErrorTableModel,
        SessionTableModel,
        WorkflowTableModel,
    )

    engine = create_db_engine(demo_url, read_only=True)
    with engine.connect() as conn:
        tr = time_range(days=30)
        data = ((WorkflowTableModel(), workflow_performance(conn, tr).rows),
                (ErrorTableModel(), error_analysis(conn, tr).groups),
                (SessionTableModel(), session_activity(conn, tr).recent))
    engine.dispose()
    for model, rows in data:
        model.set_rows(rows)
        qtmodeltester.check(model)
