"""The execution dialog's trace tree: every span of a deep execution (sub-agents, tool
calls, model calls) under its parent, beside a waterfall row for row, with the selected
span's detail — from a trace the real tracker wrote, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, QPoint, QPointF, Qt, QThreadPool

from studio_analytics import tracker
from studio_analytics.analytics import execution_detail
from studio_analytics.analytics.results import ExecutionDetail
from studio_analytics.db.engine import create_db_engine
from studio_analytics.demo.generator import VirtualClock
from studio_analytics.gui.charts.waterfall_chart import MODEL_COLOUR
from studio_analytics.gui.dialogs.execution_detail_dialog import ExecutionDetailDialog
from studio_analytics.gui.models.row_table_model import usd


def _model_call(clock: VirtualClock, model: str, ms: float, tokens: tuple[int, int] | None,
                fail: bool = False) -> None:
    try:
        with tracker.track_model_call(model=model, provider="openai", input=[{"role": "user", "content": "hi"}]) as c:
            clock.advance_ms(ms * 0.3)
            c.first_token()
            clock.advance_ms(ms * 0.7)
            if tokens:
                c.record_usage(input_tokens=tokens[0], output_tokens=tokens[1])
            if fail:
                raise RuntimeError("RateLimitError: 429 Too Many Requests")
            c.set_response({"content": f"answer of {model}"})
    except RuntimeError:
        pass


def _write_trace(url: str, spool: Path) -> uuid.UUID:
    """Planner → delegate tool → Research agent → delegate tool → Summary agent → model
    calls: six levels, with a model that has no price and a failed call."""
    clock = VirtualClock(time.time_ns() - 3_600 * 10**9)
    tracker.configure(db_url=url, spool_path=str(spool), clock=clock, flush_interval_s=0.05)
    try:
        with tracker.track_session(session_id="trace-1", user_id="alice"):
            with tracker.track_agent_execution(agent_name="Planner", query="plan a trip") as root:
                _model_call(clock, "gpt-4o-mini", 800, (1_200, 90))
                with tracker.track_tool_usage(tool_name="delegate_to_research", input_data={"task": "find"}):
                    clock.advance_ms(20)
                    with tracker.track_agent_execution(agent_name="Research", query="find"):
                        _model_call(clock, "in-house-ft-v2", 400, (300, 40))  # no price: unpriced
                        with tracker.track_tool_usage(tool_name="web_search") as search:
                            clock.advance_ms(300)
                            search.record_api_call("google_search", 200, 280.0)
                        with tracker.track_tool_usage(tool_name="delegate_to_summary"):
                            with tracker.track_agent_execution(agent_name="Summary"):
                                _model_call(clock, "gpt-4o", 1_500, (2_000, 300))
                                _model_call(clock, "gpt-4o-mini", 200, None, fail=True)
                        clock.advance_ms(50)
                _model_call(clock, "gpt-4o", 900, (3_000, 200))
        assert tracker.flush(10)
    finally:
        tracker.shutdown(5)
    return root


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def trace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, ExecutionDetail]]:
    url = request.getfixturevalue("sqlite_file_url" if request.param == "sqlite" else "pg_empty_url")
    root = _write_trace(url, tmp_path / "spool.sqlite3")
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn:
        detail = execution_detail(conn, root)
    engine.dispose()
    assert detail is not None
    yield url, detail


@pytest.fixture
def dialog(qtbot, trace: tuple[str, ExecutionDetail]) -> Iterator[ExecutionDetailDialog]:
    url, detail = trace
    pool = QThreadPool()
    d = ExecutionDetailDialog(url, detail.execution_id, pool)
    qtbot.addWidget(d)
    d.show()
    with qtbot.waitSignal(d.detail_loaded, timeout=20_000) as blocker:
        pass
    assert blocker.args[0] == detail
    qtbot.waitUntil(lambda: d.trace.waterfall.getPlotItem().vb.sceneBoundingRect().height() > 0)
    yield d
    d.close()
    pool.waitForDone(5_000)


def _walk(model: Any, parent: QModelIndex = QModelIndex()) -> Iterator[QModelIndex]:  # noqa: B008
    for row in range(model.rowCount(parent)):
        index = model.index(row, 0, parent)
        yield index
        yield from _walk(model, index)


def _ancestors(index: QModelIndex) -> int:
    n = 0
    while index.parent().isValid():
        index, n = index.parent(), n + 1
    return n


def test_every_span_hangs_under_its_parent(dialog: ExecutionDetailDialog, trace) -> None:
    _url, detail = trace
    spans = detail.spans
    assert max(s.depth for s in spans) >= 4 and not detail.spans_truncated
    assert {s.kind for s in spans} == {"execution", "tool", "model"}
    model = dialog.trace.model
    shown = list(_walk(model))
    assert [model.spans[i.internalId()].span_id for i in shown] == [s.span_id for s in spans]
    for index, span in zip(shown, spans, strict=True):
        parent = index.parent()
        if span.depth == 0:
            assert not parent.isValid()
        else:
            assert model.spans[parent.internalId()].span_id == span.parent_id
        assert _ancestors(index) == span.depth
        assert index.data() == span.name
    assert "6 levels" in dialog.trace_label.text() and f"{len(spans)} spans" in dialog.trace_label.text()


def test_model_calls_have_their_own_colour(dialog: ExecutionDetailDialog) -> None:
    waterfall = dialog.trace.waterfall
    brushes = waterfall.bars.opts["brushes"]
    assert len(brushes) == len(waterfall.spans)
    for span, brush in zip(waterfall.spans, brushes, strict=True):
        assert (brush.color().name() == MODEL_COLOUR) == (span.kind == "model")
    failed = [i for i, s in enumerate(waterfall.spans) if s.status == "failure"]
    assert failed and all(waterfall.bars.opts["pens"][i].color().name() == "#e53935" for i in failed)


def test_selecting_a_row_fills_the_panel_and_bands_its_bar(qtbot, dialog: ExecutionDetailDialog) -> None:
    trace_view, panel = dialog.trace, dialog.span_detail
    spans = trace_view.model.spans
    gpt4o = next(i for i, s in enumerate(spans) if s.name == "gpt-4o" and s.depth >= 4)
    trace_view.tree.setCurrentIndex(trace_view.model.index_of(gpt4o))
    s = spans[gpt4o]
    row = trace_view.rows.index(gpt4o)
    assert trace_view.waterfall.selected_row == row
    assert trace_view.waterfall.highlight.opts["x0"] == [trace_view.waterfall.offsets[row]]
    assert panel.fields["Span"].text() == "gpt-4o" and panel.fields["Kind"].text() == f"model (depth {s.depth})"
    assert panel.fields["Tokens in"].text() == "2,000" and panel.fields["Tokens out"].text() == "300"
    assert s.cost_usd is not None and panel.fields["Cost"].text().startswith(usd(s.cost_usd))
    assert panel.fields["Provider"].text() == "openai"
    assert panel.fields["Time to first token"].text() != "—"
    assert panel.fields["Parent"].text() == "agent Summary"
    assert "answer of gpt-4o" in panel.output_text.toPlainText()
    assert panel.form.isRowVisible(panel.fields["Cost"]) and not panel.form.isRowVisible(panel.fields["External API"])
    # The arrow keys move in the tree; the band follows.
    trace_view.tree.setFocus()
    qtbot.keyClick(trace_view.tree, Qt.Key.Key_Down)
    assert trace_view.selected_node() == trace_view.rows[row + 1]
    assert trace_view.waterfall.selected_row == row + 1
    assert panel.span is spans[trace_view.rows[row + 1]]
    # A model without a price: unpriced, never $0.
    unpriced = next(i for i, sp in enumerate(spans) if sp.name == "in-house-ft-v2")
    trace_view.tree.setCurrentIndex(trace_view.model.index_of(unpriced))
    assert panel.fields["Cost"].text() == "unpriced (no price for this model)"
    assert trace_view.model.index_of(unpriced, 4).data() == "unpriced"


def test_click_on_a_bar_selects_its_row_and_rows_line_up(qtbot, dialog: ExecutionDetailDialog) -> None:
    trace_view = dialog.trace
    waterfall = trace_view.waterfall
    vb = waterfall.getPlotItem().vb
    search = next(i for i, r in enumerate(trace_view.rows) if trace_view.model.spans[r].name == "web_search")
    centre = QPointF(waterfall.offsets[search] + waterfall.widths[search] / 2, search)
    pos = waterfall.mapFromScene(vb.mapViewToScene(centre))
    qtbot.mouseClick(waterfall.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert trace_view.selected_node() == trace_view.rows[search]
    assert dialog.span_detail.fields["External API"].text() == "google_search"
    # Each bar is level with its tree row on screen.
    for row, node in enumerate(trace_view.rows):
        rect = trace_view.tree.visualRect(trace_view.model.index_of(node))
        tree_y = trace_view.tree.viewport().mapToGlobal(QPoint(0, rect.center().y())).y()
        bar = waterfall.mapFromScene(vb.mapViewToScene(QPointF(0, row)))
        bar_y = waterfall.viewport().mapToGlobal(bar).y()
        assert abs(bar_y - tree_y) <= 2, (row, bar_y, tree_y)


def test_collapsing_a_branch_drops_its_rows_from_the_waterfall(qtbot, dialog: ExecutionDetailDialog) -> None:
    trace_view = dialog.trace
    spans = trace_view.model.spans
    delegate = next(i for i, s in enumerate(spans) if s.name == "delegate_to_research")
    inside = {i for i, s in enumerate(spans) if s.depth > spans[delegate].depth and i > delegate
              and i < next(j for j in range(delegate + 1, len(spans)) if spans[j].depth <= spans[delegate].depth)}
    assert len(inside) >= 6
    trace_view.tree.collapse(trace_view.model.index_of(delegate))
    assert trace_view.rows == [i for i in range(len(spans)) if i not in inside]
    assert [s.span_id for s in trace_view.waterfall.spans] == [spans[i].span_id for i in trace_view.rows]
    trace_view.tree.expand(trace_view.model.index_of(delegate))
    assert len(trace_view.waterfall.spans) == len(spans)


def test_trace_tree_model_passes_qt_model_checks(qtmodeltester, trace) -> None:
    from studio_analytics.gui.models.trace_tree_model import TraceTreeModel

    _url, detail = trace
    model = TraceTreeModel()
    model.set_spans(detail.spans)
    qtmodeltester.check(model)
    assert model.rowCount() == 1 and model.rowCount(model.index(0, 0)) >= 2
