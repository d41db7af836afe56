"""The session dialog reads as a conversation: each execution's query, then the agent's
answer with agent, start, duration, status, tokens and cost; Enter opens the execution;
the timeline keeps a 1 ms run visible in an hour's session."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import Qt, QThreadPool
from sqlalchemy import insert

from studio_analytics.analytics.conversation import TEXT_CHARS, session_conversation
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.migrate import upgrade_database
from studio_analytics.db.models import AgentExecutionMetrics, ModelCallMetrics, SessionMetrics
from studio_analytics.gui import zone
from studio_analytics.gui.dialogs.session_detail_dialog import MIN_BAR_PX, SessionDetailDialog

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SESSION = "sess-conversation"
IDS = [uuid.UUID(int=i + 1) for i in range(3)]
LONG_QUERY = " ".join(f"word{i}" for i in range(1_500))  # longer than TEXT_CHARS


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('conversation') / 'metrics.sqlite3'}"
    engine = create_db_engine(url)
    upgrade_database(engine)
    executions = [
        dict(execution_id=IDS[0], agent_name="PlannerAgent", start_time=T0, duration_ms=1_200.0, status="success",
             query="plan a trip to Lisbon", response="Day 1: Alfama.\nDay 2: Belém.", tokens_used=300),
        # a 1 ms run in an hour's session: far under a pixel unless widened
        dict(execution_id=IDS[1], agent_name="WebAgent", start_time=T0 + timedelta(minutes=10), duration_ms=1.0,
             status="error", query="search flights", response=None, error_message="HTTPError: 503 Service Unavailable",
             tokens_used=50),
        dict(execution_id=IDS[2], agent_name="WriterAgent", start_time=T0 + timedelta(minutes=59), duration_ms=60_000.0,
             status="success", query=LONG_QUERY, response="A summary.", tokens_used=700),
    ]
    calls = [
        dict(call_id=uuid.uuid4(), execution_id=IDS[0], model="gpt-x", operation="chat", start_time=T0, status="success",
             input_tokens=150, output_tokens=60, cost_usd=0.002, session_id=SESSION),
        dict(call_id=uuid.uuid4(), execution_id=IDS[0], model="gpt-x", operation="chat", start_time=T0, status="success",
             input_tokens=50, output_tokens=40, cost_usd=0.001, session_id=SESSION),
        dict(call_id=uuid.uuid4(), execution_id=IDS[1], model="no-price", operation="chat",
             start_time=T0 + timedelta(minutes=10), status="failure", input_tokens=50, output_tokens=0, cost_usd=None,
             session_id=SESSION),
    ]
    with engine.begin() as conn:
        conn.execute(insert(SessionMetrics), [dict(
            session_id=SESSION, start_time=T0, end_time=T0 + timedelta(hours=1), duration_ms=3_600_000.0,
            user_id="ana", total_queries=3, successful_queries=2, failed_queries=1, unique_agents_count=3,
            agents_used=["PlannerAgent", "WebAgent", "WriterAgent"], total_tokens_used=1_050, is_active=False)])
        # executemany takes its columns from the first row: every row names all of them
        conn.execute(insert(AgentExecutionMetrics),
                     [dict({"error_message": None}, **e, session_id=SESSION, user_id="ana") for e in executions])
        conn.execute(insert(ModelCallMetrics), calls)
    engine.dispose()
    return url


@pytest.fixture
def dialog(qtbot, url: str):
    was_utc = zone.showing_utc()
    zone.setting().set_utc(True)  # the times below are written in UTC
    d = SessionDetailDialog(url, SESSION, QThreadPool.globalInstance())
    qtbot.addWidget(d)
    d.resize(1024, 700)
    with qtbot.waitSignal(d.detail_loaded, timeout=20_000) as blocker:
        d.show()
    assert blocker.args[0] is not None
    yield d
    zone.setting().set_utc(was_utc)


def test_thread_reads_query_then_response_in_order(dialog: SessionDetailDialog) -> None:
    model = dialog.conversation_model
    texts = [model.index(i).data() for i in range(model.rowCount())]
    assert len(texts) == 3
    first, failed, long = texts
    assert first.startswith("User: plan a trip to Lisbon\n")
    assert "PlannerAgent · 2026-11-30 09:00:00 · 1,200 ms · ✓ success · 300 tokens (200 in · 100 out) · $0.0030" \
        in first  # the first turn has its date; the cost is of both model calls
    assert first.endswith("Day 1: Alfama.\nDay 2: Belém.")
    assert failed.startswith("User: search flights\n")
    assert "WebAgent · 09:10:00 · 1.00 ms · ✗ failure · 50 tokens (50 in · 0 out) · unpriced (1 call)" in failed
    assert "Error: HTTPError: 503 Service Unavailable" in failed
    assert "WriterAgent · 09:59:00 · 60.00 s · ✓ success · 700 tokens" in long and "$" not in long.split("\n")[1]
    # the stored query was longer than the thread reads: cut, and said so
    turn = model.turn_at(2)
    assert turn.query == LONG_QUERY[:TEXT_CHARS] and turn.query_chars == len(LONG_QUERY)
    assert dialog.tabs.tabText(0) == "Conversation (3)" and dialog.more_label.isHidden()


def test_selected_turn_expands(qtbot, dialog: SessionDetailDialog) -> None:
    view, model = dialog.conversation_view, dialog.conversation_model
    long = model.index(2)
    collapsed = view.visualRect(long).height()
    view.setCurrentIndex(long)
    qtbot.waitUntil(lambda: view.visualRect(long).height() > 3 * collapsed, timeout=5_000)
    view.setCurrentIndex(model.index(0))  # selecting another folds it again
    qtbot.waitUntil(lambda: view.visualRect(long).height() == collapsed, timeout=5_000)


def test_enter_opens_the_execution(qtbot, dialog: SessionDetailDialog) -> None:
    view = dialog.conversation_view
    view.setFocus()
    view.setCurrentIndex(dialog.conversation_model.index(1))
    with qtbot.waitSignal(dialog.execution_requested, timeout=5_000) as blocker:
        qtbot.keyClick(view, Qt.Key.Key_Return)
    assert blocker.args == [IDS[1]]
    assert dialog.isVisible()  # Enter opened the execution, it did not close the dialog
    dialog.tabs.setCurrentIndex(2)
    dialog.table.setFocus()
    dialog.table.setCurrentIndex(dialog.model.index(2, 0))
    with qtbot.waitSignal(dialog.execution_requested, timeout=5_000) as blocker:
        qtbot.keyClick(dialog.table, Qt.Key.Key_Enter)
    assert blocker.args == [IDS[2]] and dialog.isVisible()
    # the table has room: every row of this session shows, not three cramped ones
    assert dialog.table.rowAt(dialog.table.viewport().height() - 1) in (-1, 2)


def test_a_1ms_run_keeps_a_visible_bar(qtbot, dialog: SessionDetailDialog) -> None:
    dialog.tabs.setCurrentIndex(1)
    vb = dialog.timeline.getPlotItem().vb

    def pixels(i: int) -> float:
        return dialog.bars.opts["width"][i] / vb.viewPixelSize()[0]

    qtbot.waitUntil(lambda: pixels(1) >= MIN_BAR_PX * 0.99, timeout=5_000)
    assert dialog.bars.opts["width"][2] == pytest.approx(60.0)  # a long run keeps its own length
    assert pixels(1) < MIN_BAR_PX * 1.5
    # zoomed in, the minimum follows the new scale
    start = T0.timestamp()
    vb.setXRange(start + 590, start + 610, padding=0)
    qtbot.waitUntil(lambda: MIN_BAR_PX * 0.99 <= pixels(1) < MIN_BAR_PX * 1.5, timeout=5_000)


def test_conversation_is_capped_and_counts_the_rest(url: str) -> None:
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn:
        capped = session_conversation(conn, SESSION, limit=2)
        missing = session_conversation(conn, "no-such-session")
    engine.dispose()
    assert [t.execution_id for t in capped.turns] == IDS[:2] and capped.total_turns == 3 and capped.more == 1
    assert missing.turns == () and missing.more == 0
