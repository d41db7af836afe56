"""Executions list pages lazily; drill-down dialogs show what the analytics layer returns."""

from __future__ import annotations

import uuid

import pytest
from PySide6.QtCore import Qt

from studio_analytics.analytics import execution_detail, list_executions, session_detail, time_range
from studio_analytics.analytics.results import ExecutionFilter
from studio_analytics.cli import run_cli
from studio_analytics.db.engine import create_db_engine
from studio_analytics.gui.dialogs.execution_detail_dialog import ExecutionDetailDialog
from studio_analytics.gui.dialogs.session_detail_dialog import SessionDetailDialog
from studio_analytics.gui.main_window import MainWindow
from studio_analytics.gui.models.execution_list_model import ExecutionListModel


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('drill') / 'demo.sqlite3'}"
    assert run_cli(["demo", "--db", url, "--executions", "900", "--days", "3", "--seed", "21"]) == 0
    return url


@pytest.fixture
def window(qtbot, demo_url: str):
    win = MainWindow(demo_url)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
        pass
    yield win
    win.close()


def _all_rows(win: MainWindow, qtbot) -> list:
    view = win.executions
    qtbot.waitUntil(lambda: view.model.rowCount() > 0, timeout=20_000)
    while not view.model.complete:
        n = view.model.rowCount()
        view.model.fetchMore()
        qtbot.waitUntil(lambda n=n: view.model.rowCount() > n or view.model.complete, timeout=20_000)
    return [view.model.row_at(i) for i in range(view.model.rowCount())]


def test_lazy_list_walks_every_row_once(qtbot, window: MainWindow, demo_url: str) -> None:
    window.show_tab("executions")
    rows = _all_rows(window, qtbot)
    engine = create_db_engine(demo_url, read_only=True)
    with engine.connect() as conn:
        total = 0
        cursor = None
        while True:
            page = list_executions(conn, window.executions.time_range, after=cursor, limit=500)
            total += len(page.rows)
            cursor = page.next_cursor
            if cursor is None:
                break
    engine.dispose()
    assert len(rows) == total == len({r.execution_id for r in rows}) >= 900
    starts = [r.start_time for r in rows]
    assert starts == sorted(starts, reverse=True)


def test_filter_change_drops_stale_pages(qtbot, window: MainWindow) -> None:
    view = window.executions
    window.show_tab("executions")
    view.set_filter(ExecutionFilter(agent_name="WebAgent"))
    view.set_filter(ExecutionFilter(agent_name="SQLAgent", status="success"))  # before the first answer
    qtbot.waitUntil(lambda: view.model.rowCount() > 0, timeout=20_000)
    rows = _all_rows(window, qtbot)
    assert {r.agent_name for r in rows} == {"SQLAgent"} and {r.status for r in rows} == {"success"}


def test_double_click_agent_filters_executions(qtbot, window: MainWindow) -> None:
    window.show_tab("agents")
    agent = window.agents.model.row_at(0).agent_name
    window.agents.table.activated.emit(window.agents.model.index(0, 0))
    assert window.current_tab == "executions" and window.executions.filters.agent_name == agent
    assert window.executions.filters.exact  # that agent, not every agent containing its name
    rows = _all_rows(window, qtbot)
    assert rows and {r.agent_name for r in rows} == {agent}


def test_execution_dialog_shows_detail_and_waterfall(qtbot, window: MainWindow, demo_url: str) -> None:
    engine = create_db_engine(demo_url, read_only=True)
    with engine.connect() as conn:
        rows = list_executions(conn, time_range(days=30), limit=300).rows
        target = max(rows, key=lambda r: r.tool_count)
        expected = execution_detail(conn, target.execution_id)
    engine.dispose()
    dialog = window.open_execution(target.execution_id)
    assert isinstance(dialog, ExecutionDetailDialog)
    with qtbot.waitSignal(dialog.detail_loaded, timeout=20_000) as blocker:
        pass
    assert blocker.args[0] == expected
    # Fully expanded, the waterfall's rows are every span in the analytics layer's order.
    spans = expected.spans
    assert len(spans) > len(expected.tool_calls) > 0
    assert [s.span_id for s in dialog.waterfall.spans] == [s.span_id for s in spans]
    offsets = [(s.start_time - expected.start_time).total_seconds() * 1000 for s in spans]
    assert dialog.waterfall.offsets == pytest.approx(offsets)
    sliver = dialog.waterfall.total_ms * 0.003
    assert dialog.waterfall.widths == pytest.approx([max(s.duration_ms or 0.0, sliver) for s in spans])
    assert dialog.fields["Agent"].text().startswith(expected.agent_name)
    dialog.close()


def test_missing_execution_says_so(qtbot, window: MainWindow) -> None:
    dialog = window.open_execution(uuid.uuid4())
    with qtbot.waitSignal(dialog.detail_loaded, timeout=20_000):
        pass
    assert "not in the database" in dialog.message.text()
    dialog.close()


def test_session_dialog_from_the_sessions_tab(qtbot, window: MainWindow, demo_url: str) -> None:
    with qtbot.waitSignal(window.refresh_finished, timeout=20_000):
        window.show_tab("sessions")
    session_id = window.sessions.model.row_at(0).session_id
    window.sessions.table.activated.emit(window.sessions.model.index(0, 0))
    dialog = window.dialogs[-1]
    assert isinstance(dialog, SessionDetailDialog)
    with qtbot.waitSignal(dialog.detail_loaded, timeout=20_000) as blocker:
        pass
    engine = create_db_engine(demo_url, read_only=True)
    with engine.connect() as conn:
        expected = session_detail(conn, session_id)
    engine.dispose()
    assert blocker.args[0] == expected
    assert dialog.model.rowCount() == len(expected.executions)
    dialog.table.doubleClicked.emit(dialog.model.index(0, 0))
    assert isinstance(window.dialogs[-1], ExecutionDetailDialog)
    for d in list(window.dialogs):
        d.close()


def test_execution_list_model(qtmodeltester, demo_url: str) -> None:
    from studio_analytics.analytics.results import ExecutionPage

    engine = create_db_engine(demo_url, read_only=True)
    with engine.connect() as conn:
        page = list_executions(conn, time_range(days=30), limit=50)
    engine.dispose()
    model = ExecutionListModel()
    model.add_page(ExecutionPage(rows=page.rows, next_cursor=None))
    qtmodeltester.check(model)
    assert model.data(model.index(0, 2), Qt.ItemDataRole.ForegroundRole) is not None


def test_export_of_the_executions_view_streams_every_row(qtbot, window: MainWindow, tmp_path) -> None:
    import csv

    window.show_tab("executions")
    window.executions.set_filter(ExecutionFilter(status="failure"))
    out = tmp_path / "failures.csv"
    with qtbot.waitSignal(window.exporter.export_finished, timeout=30_000) as blocker:
        window.export_current_view(str(out))
    engine = create_db_engine(window.url, read_only=True)
    with engine.connect() as conn:
        expected = list_executions(conn, window.executions.time_range,
                                   filters=ExecutionFilter(status="failure"), limit=100_000).rows
    engine.dispose()
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert blocker.args[1] == len(rows) == len(expected) > 0
    assert {r["execution_id"] for r in rows} == {str(e.execution_id) for e in expected}


def test_export_of_an_aggregated_view_writes_its_rows(qtbot, window: MainWindow, tmp_path) -> None:
    import csv

    window.show_tab("agents")
    out = tmp_path / "agents.csv"
    with qtbot.waitSignal(window.exporter.export_finished, timeout=10_000):
        window.export_current_view(str(out))
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["agent_name"] for r in rows] == [r.agent_name for r in window.last_snapshot.agents.rows]
