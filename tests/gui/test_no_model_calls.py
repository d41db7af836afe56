"""A database without model calls — Agent Studio's own (PostgreSQL), or ours before
revision 0003 (SQLite) — shows "no model calls" where cost would be, never an error or an
empty chart, and its executions' traces are one level deep."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import text

from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.migrate import alembic_config
from studio_analytics.db.rollups import rebuild_rollups
from studio_analytics.gui.dialogs.execution_detail_dialog import ExecutionDetailDialog
from studio_analytics.gui.main_window import MainWindow
from studio_analytics.gui.views.models_view import NO_MODEL_CALLS
from tests.integration.test_agent_studio_compat import AGENT_ID, AGENT_STUDIO_DDL

EXECUTION = uuid.UUID("aaaaaaaa-0000-4000-8000-000000000001")
TOOLS = ("web_search", "fetch_url", "summarize")


def _recent(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).replace(tzinfo=None).isoformat(sep=" ")


def _seed_sql(ids: str) -> list[str]:
    """One execution with three tool calls an hour ago, and a second execution; ``ids``
    is how the dialect spells a UUID ("hex" for our SQLite, "str" for PostgreSQL)."""
    def u(v: uuid.UUID) -> str:
        return v.hex if ids == "hex" else str(v)

    agent_id = "" if ids == "hex" else f"'{AGENT_ID}', "
    agent_col = "" if ids == "hex" else "agent_id, "
    other = uuid.UUID("aaaaaaaa-0000-4000-8000-000000000002")
    rows = [
        f"INSERT INTO agent_execution_metrics (execution_id, {agent_col}agent_name, start_time, end_time, duration_ms, "
        f"status, query, response, tool_count, retry_count, api_calls_count, tokens_used, session_id, user_id) VALUES "
        f"('{u(EXECUTION)}', {agent_id}'CommandAgent', '{_recent(60)}', '{_recent(59)}', 60000, 'success', "
        f"'weather?', 'sunny', 3, 0, 1, 120, 'sess-1', 'user-1'), "
        f"('{u(other)}', {agent_id}'CommandAgent', '{_recent(30)}', '{_recent(29.5)}', 30000, 'failed', "
        f"'fail?', NULL, 0, 1, 0, NULL, 'sess-1', 'user-1')",
    ]
    for i, tool in enumerate(TOOLS):
        rows.append(
            "INSERT INTO tool_usage_metrics (usage_id, tool_name, execution_id, start_time, end_time, duration_ms, "
            f"status, external_api_called, api_status_code) VALUES ('{u(uuid.uuid4())}', '{tool}', '{u(EXECUTION)}', "
            f"'{_recent(60 - 0.2 * (i + 1))}', '{_recent(60 - 0.2 * (i + 1) - 0.1)}', 6000, 'success', "
            f"{'NULL' if i else repr('google_search')}, {'NULL' if i else 200})")
    return rows


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def old_db(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "sqlite":
        from alembic import command

        url = request.getfixturevalue("sqlite_file_url")
        engine = create_db_engine(url)
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0002")  # ours, before model calls
            for statement in _seed_sql("hex"):
                conn.execute(text(statement))
            rebuild_rollups(conn)  # as the tracker would have
    else:
        url = request.getfixturevalue("pg_empty_url")
        engine = create_db_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(AGENT_STUDIO_DDL)
            conn.execute(text(f"INSERT INTO agents VALUES ('{AGENT_ID}', 'CommandAgent')"))
            for statement in _seed_sql("str"):
                conn.execute(text(statement))
    engine.dispose()
    yield url


def test_no_model_calls_state_and_a_one_level_trace(qtbot, old_db: str) -> None:
    win = MainWindow(old_db, range_preset="24h")
    qtbot.addWidget(win)
    win.auto_refresh.setChecked(False)
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000) as blocker:
        pass
    assert blocker.args[0].ok, blocker.args[0].message
    assert win.last_snapshot.kpis.total_executions == 2
    card = win.overview.cost
    assert card.value.text() == "—" and card.change.text() == "no model calls in this database"
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000) as blocker:
        win.show_tab("models")
    assert blocker.args[0].ok and win.banner.isHidden()
    view = win.models
    assert not view.has_model_calls and view.pages.currentWidget() is view.no_calls
    assert view.no_calls.text().startswith(NO_MODEL_CALLS)
    assert view.model.rowCount() == 0
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
        win.show_tab("agents")
    agents = win.agents.model
    cost = next(c for c in range(agents.columnCount()) if agents.headerData(c, Qt.Orientation.Horizontal) == "Cost")
    assert agents.rowCount() == 1 and agents.index(0, cost).data() == "—"

    dialog = win.open_execution(EXECUTION)
    assert isinstance(dialog, ExecutionDetailDialog)
    with qtbot.waitSignal(dialog.detail_loaded, timeout=20_000) as blocker:
        pass
    detail = blocker.args[0]
    assert detail is not None and dialog.fields["Cost"].text() == "—"
    model = dialog.trace.model
    assert model.rowCount() == 1  # the execution
    root = model.index(0, 0)
    assert root.data() == "CommandAgent" and model.rowCount(root) == len(TOOLS)
    assert [model.index(i, 0, root).data() for i in range(len(TOOLS))] == list(TOOLS)
    assert all(model.rowCount(model.index(i, 0, root)) == 0 for i in range(len(TOOLS)))
    assert len(dialog.trace.waterfall.spans) == 1 + len(TOOLS)
    assert "2 levels" in dialog.trace_label.text() and "0 model calls" in dialog.trace_label.text()
    dialog.trace.tree.setCurrentIndex(model.index(0, 0, root))
    assert dialog.span_detail.fields["External API"].text() == "google_search"
    win.close()
