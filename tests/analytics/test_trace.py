"""The execution drill-down as a trace tree: spans at any depth come back with the right
parents and depths, depth first with siblings by start time — for trees written by
nested ``with`` blocks, by asyncio tasks and by threads with a copied context, for rows
written before revision 0003, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text

from studio_analytics import tracker
from studio_analytics.analytics import execution_detail
from studio_analytics.analytics.results import ExecutionDetail, TraceSpan
from studio_analytics.analytics.trace import execution_spans
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import AgentExecutionMetrics, ModelCallMetrics, ToolUsageMetrics
from tests.analytics.model_data import without_revision_0003
from tests.tracker.conftest import configure_fast

#: span id -> expected parent id, filled while the spans run
Expected = dict[uuid.UUID, uuid.UUID | None]


@pytest.fixture
def tracked(db_url: str, tmp_path: Path) -> Iterator[str]:
    configure_fast(db_url, tmp_path / "spool.sqlite3")
    yield db_url
    tracker.shutdown(5)


def _detail(url: str, execution_id: uuid.UUID) -> ExecutionDetail:
    assert tracker.flush(20)
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn:
        detail = execution_detail(conn, execution_id)
    engine.dispose()
    assert detail is not None
    return detail


def _depths(expected: Expected, root: uuid.UUID) -> dict[uuid.UUID, int]:
    out = {root: 0}
    while len(out) < len(expected):
        for span, parent in expected.items():
            if span not in out and parent in out:
                out[span] = out[parent] + 1
    return out


def _check_tree(detail: ExecutionDetail, expected: Expected, root: uuid.UUID) -> None:
    spans = detail.spans
    assert spans[0].span_id == root and spans[0].depth == 0 and spans[0].kind == "execution"
    assert {s.span_id: s.parent_id for s in spans} == expected
    depths = _depths(expected, root)
    assert {s.span_id: s.depth for s in spans} == depths
    assert max(depths.values()) >= 4
    _check_depth_first(spans)
    assert not detail.spans_truncated


def _check_depth_first(spans: tuple[TraceSpan, ...]) -> None:
    """Each span follows its parent's subtree in order; siblings ascend by start time."""
    children: dict[Any, list[TraceSpan]] = {}
    for s in spans[1:]:
        children.setdefault(s.parent_id, []).append(s)
    for siblings in children.values():
        starts = [s.start_time for s in siblings]
        assert starts == sorted(starts)
    walk: list[TraceSpan] = []

    def visit(span: TraceSpan) -> None:
        walk.append(span)
        for child in children.get(span.span_id, ()):
            visit(child)

    visit(spans[0])
    assert [s.span_id for s in walk] == [s.span_id for s in spans]


def _model(expected: Expected, parent: uuid.UUID, model: str = "gpt-4o-mini") -> None:
    with tracker.track_model_call(model=model, provider="openai") as m:
        m.record_usage(input_tokens=100, output_tokens=10)
    expected[m] = parent


def test_nested_with_blocks(tracked: str) -> None:
    expected: Expected = {}
    with tracker.track_session(session_id="tree-1", user_id="alice"):
        with tracker.track_agent_execution(agent_name="Root") as root:
            expected[root] = None
            _model(expected, root)
            with tracker.track_tool_usage(tool_name="delegate") as t1:
                expected[t1] = root
                with tracker.track_agent_execution(agent_name="Mid") as mid:
                    expected[mid] = t1
                    with tracker.track_tool_usage(tool_name="search") as t2:
                        expected[t2] = mid
                        _model(expected, t2, "gpt-4o")  # a model call inside a tool
                        with tracker.track_agent_execution(agent_name="Leaf") as leaf:
                            expected[leaf] = t2
                            with tracker.track_model_call(model="local-llama-3") as m:
                                expected[m] = leaf
                                with tracker.track_tool_usage(tool_name="function_call") as t3:
                                    expected[t3] = m  # a tool the model called
                    _model(expected, mid)
            _model(expected, root)
    detail = _detail(tracked, root)
    _check_tree(detail, expected, root)
    assert detail.trace_id == root and detail.parent_id is None
    assert [c.tool_name for c in detail.tool_calls] == ["delegate"]  # its own tool calls, as before
    by_id = {s.span_id: s for s in detail.spans}
    assert by_id[mid].kind == "execution" and by_id[mid].name == "Mid"
    assert by_id[m].kind == "model" and by_id[m].cost_usd is None  # no price: unpriced, not $0
    assert by_id[t3].depth == 6
    # opened on the sub-agent: its own tree, depth from it, its caller as parent
    sub = _detail(tracked, mid)
    assert sub.parent_id == t1 and sub.trace_id == root
    below = {k: v for k, v in expected.items() if k in {s.span_id for s in sub.spans}}
    assert sub.spans[0].span_id == mid and sub.spans[0].parent_id == t1
    assert {s.span_id: s.depth for s in sub.spans} == {k: d - 2 for k, d in _depths(expected, root).items()
                                                       if k in below}


def test_asyncio_tasks_gathered_inside_a_tool(tracked: str) -> None:
    expected: Expected = {}

    async def worker(i: int, caller: uuid.UUID) -> None:
        async with tracker.track_agent_execution(agent_name=f"Worker{i}") as ex:
            expected[ex] = caller
            async with tracker.track_model_call(model="gpt-4o-mini") as m:
                await asyncio.sleep(0)  # let the other tasks interleave
                m.record_usage(input_tokens=10 * i + 1, output_tokens=1)
            expected[m] = ex
            async with tracker.track_tool_usage(tool_name="lookup") as t:
                expected[t] = ex
                async with tracker.track_agent_execution(agent_name="Deep") as deep:
                    expected[deep] = t
                    await asyncio.sleep(0)
                    async with tracker.track_model_call(model="gpt-4o") as mm:
                        await asyncio.sleep(0)
                    expected[mm] = deep

    async def main() -> uuid.UUID:
        async with tracker.track_agent_execution(agent_name="Orchestrator") as root:
            expected[root] = None
            async with tracker.track_tool_usage(tool_name="fan_out") as tool:
                expected[tool] = root
                await asyncio.gather(*(worker(i, tool) for i in range(4)))
        return root

    root = asyncio.run(main())
    _check_tree(_detail(tracked, root), expected, root)


def test_threads_started_with_a_copied_context(tracked: str) -> None:
    expected: Expected = {}
    lock = threading.Lock()

    def work(i: int, caller: uuid.UUID) -> None:
        with tracker.track_agent_execution(agent_name=f"Thread{i}") as ex:
            with tracker.track_tool_usage(tool_name="fetch") as t:
                with tracker.track_model_call(model="gpt-4o-mini") as m:
                    m.record_usage(input_tokens=5, output_tokens=5)
        with lock:
            expected.update({ex: caller, t: ex, m: t})

    with tracker.track_agent_execution(agent_name="Boss") as root:
        expected[root] = None
        with tracker.track_tool_usage(tool_name="parallel") as tool:
            expected[tool] = root
            threads = [threading.Thread(target=contextvars.copy_context().run, args=(work, i, tool))
                       for i in range(4)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
    _check_tree(_detail(tracked, root), expected, root)


def test_truncated_tree_keeps_the_shallowest_spans(tracked: str) -> None:
    with tracker.track_agent_execution(agent_name="Chatty") as root:
        for _ in range(30):
            with tracker.track_model_call(model="gpt-4o-mini"):
                pass
        with tracker.track_tool_usage(tool_name="delegate"):
            with tracker.track_agent_execution(agent_name="Sub"):
                for _ in range(10):
                    with tracker.track_model_call(model="gpt-4o"):
                        pass
    detail = _detail(tracked, root)
    assert len(detail.spans) == 1 + 31 + 1 + 10 and not detail.spans_truncated
    engine = create_db_engine(tracked, read_only=True)
    with engine.connect() as conn:
        spans, truncated = execution_spans(conn, root, cap=20)
        whole, cut = execution_spans(conn, root, cap=len(detail.spans))
    engine.dispose()
    assert truncated and len(spans) == 20 and not cut and whole == detail.spans
    assert all(s.depth == 1 for s in spans[1:])  # depth 1 has 31 spans: nothing deeper fits
    kept = {s.span_id for s in spans}
    assert all(s.parent_id in kept for s in spans[1:])
    _check_depth_first(spans)


def test_rows_written_before_the_span_tree(db_url: str) -> None:
    """Before 0003 rows had no parent id: a tool (or model call) with the execution's id
    and no parent hangs below it; a sub-agent's execution without a parent is a root."""
    root, other = uuid.uuid4(), uuid.uuid4()
    t0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        conn.execute(insert(AgentExecutionMetrics), [
            dict(execution_id=ex, agent_name=name, start_time=t0, end_time=t0 + timedelta(seconds=3), duration_ms=3e3,
                 status="success", tool_count=2, retry_count=0, api_calls_count=0)
            for ex, name in ((root, "Old"), (other, "Unrelated"))])
        tools = [uuid.uuid4() for _ in range(3)]
        conn.execute(insert(ToolUsageMetrics), [
            dict(usage_id=u, tool_name=f"tool{i}", execution_id=root if i < 2 else other,
                 start_time=t0 + timedelta(seconds=2 - i), duration_ms=10.0, status="success")
            for i, u in enumerate(tools)])
        call = uuid.uuid4()
        conn.execute(insert(ModelCallMetrics), [dict(
            call_id=call, execution_id=root, agent_name="Old", model="gpt-4o-mini", operation="chat",
            start_time=t0 + timedelta(seconds=1, milliseconds=500), duration_ms=20.0, status="success",
            input_tokens=3, output_tokens=4, cost_usd=0.5)])
        assert conn.execute(select(ToolUsageMetrics.parent_id)).scalars().all() == [None] * 3
    engine.dispose()
    detail = execution_detail_of(db_url, root)
    assert [(s.name, s.depth, s.parent_id) for s in detail.spans] == [
        ("Old", 0, None), ("tool1", 1, root), ("gpt-4o-mini", 1, root), ("tool0", 1, root)]
    assert detail.cost_usd == 0.5 and detail.unpriced_calls == 0


def test_parent_ids_that_form_a_cycle_end(db_url: str) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    t0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        conn.execute(insert(AgentExecutionMetrics), [
            dict(execution_id=me, parent_id=parent, agent_name=name, start_time=t0, status="success", tool_count=0,
                 retry_count=0, api_calls_count=0)
            for me, parent, name in ((a, b, "A"), (b, a, "B"))])
    engine.dispose()
    detail = execution_detail_of(db_url, a)
    assert [(s.name, s.depth) for s in detail.spans] == [("A", 0), ("B", 1)]


def test_a_database_without_the_span_tree(sqlite_db_url: str) -> None:
    url = without_revision_0003(sqlite_db_url)
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO agent_execution_metrics (execution_id, agent_name, start_time, status, tool_count, "
            "retry_count, api_calls_count) VALUES ('0192f0000000700080000000000000aa', 'Legacy', "
            "'2026-11-20 10:00:00.000000', 'success', 2, 0, 0)"))
        for i in range(2):
            conn.execute(text(
                "INSERT INTO tool_usage_metrics (usage_id, tool_name, execution_id, start_time, status) VALUES "
                f"('0192f0000000700080000000000000b{i}', 'tool{i}', '0192f0000000700080000000000000aa', "
                f"'2026-11-20 10:00:0{i}.000000', 'success')"))
    engine.dispose()
    detail = execution_detail_of(url, uuid.UUID("0192f000-0000-7000-8000-0000000000aa"))
    assert [(s.kind, s.name, s.depth) for s in detail.spans] == [
        ("execution", "Legacy", 0), ("tool", "tool0", 1), ("tool", "tool1", 1)]
    assert detail.parent_id is None and detail.cost_usd is None and len(detail.tool_calls) == 2


def execution_detail_of(url: str, execution_id: uuid.UUID) -> ExecutionDetail:
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn:
        detail = execution_detail(conn, execution_id)
    engine.dispose()
    assert detail is not None
    return detail
