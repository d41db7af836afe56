"""One unit per duration column: the header names it, cells hold bare numbers, right-aligned,
the raw milliseconds stay the sort value; percentiles from histograms read "≈"."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import Qt

from studio_analytics.analytics.results import AgentUsageRow, PageCursor, SessionPage, SessionRow
from studio_analytics.gui.models.agent_table_model import AgentTableModel
from studio_analytics.gui.models.duration_units import APPROXIMATE_TIP, duration_text, unit_for
from studio_analytics.gui.models.more_table_models import SessionTableModel

NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)
H = Qt.Orientation.Horizontal


def _agent(name: str, p95: float | None, *, approximate: bool = False) -> AgentUsageRow:
    return AgentUsageRow(agent_name=name, executions=3, successes=3, failures=0, timeouts=0, success_rate=1.0,
                         avg_duration_ms=250.0, p50_duration_ms=120.0, p95_duration_ms=p95, p99_duration_ms=p95,
                         total_tool_calls=0, total_tokens=0, last_used=NOW, approximate=approximate)


def _session(sid: str, duration: float) -> SessionRow:
    return SessionRow(session_id=sid, user_id=None, start_time=NOW, end_time=None, duration_ms=duration,
                      total_queries=1, successful_queries=1, failed_queries=0, unique_agents_count=1,
                      average_response_time_ms=duration, total_tokens_used=0, is_active=False, row_id=1)


def _col(model, field: str) -> int:
    return [c.field for c in model.COLUMNS].index(field)


def test_unit_follows_the_largest_value() -> None:
    assert unit_for([318.0, 9_999.0]).symbol == "ms"
    assert unit_for([318.0, 18_660.0]).symbol == "s"
    assert unit_for([4.2, None]).symbol == "ms" and unit_for([4.2]).number(4.2) == "4.20"
    assert unit_for([7_200_000.0]).symbol == "min"
    assert duration_text(18_660.0) == "18.66 s" and duration_text(318.0) == "318 ms"


def test_one_unit_per_column_and_the_header_says_it(qtbot) -> None:
    model = AgentTableModel()
    p95 = _col(model, "p95_duration_ms")
    avg = _col(model, "avg_duration_ms")
    model.set_rows([_agent("a", 318.0), _agent("b", 18_660.0), _agent("c", None)])
    assert model.headerData(p95, H) == "p95 (s)"
    assert [model.index(r, p95).data() for r in range(3)] == ["0.32", "18.66", "—"]
    assert model.headerData(avg, H) == "Avg (ms)" and model.index(0, avg).data() == "250"
    assert model.index(0, p95).data(Qt.ItemDataRole.TextAlignmentRole) & Qt.AlignmentFlag.AlignRight
    assert model.index(1, p95).data(Qt.ItemDataRole.ToolTipRole) == "18.66 s"
    # Sorting goes by the number: the raw milliseconds, and the header click asks the query.
    assert [model.index(r, p95).data(Qt.ItemDataRole.UserRole) for r in range(2)] == [318.0, 18_660.0]
    with qtbot.waitSignal(model.sort_requested) as blocker:
        model.sort(p95, Qt.SortOrder.DescendingOrder)
    assert blocker.args == ["p95_duration_ms", True]
    with qtbot.waitSignal(model.headerDataChanged):
        model.set_rows([_agent("a", 318.0)])
    assert model.headerData(p95, H) == "p95 (ms)" and model.index(0, p95).data() == "318"


def test_percentiles_from_histograms_read_approximate(qtbot) -> None:
    model = AgentTableModel()
    p95, avg = _col(model, "p95_duration_ms"), _col(model, "avg_duration_ms")
    model.set_rows([_agent("a", 318.0, approximate=True)])
    assert model.headerData(p95, H) == "p95 ≈ (ms)"
    assert model.headerData(p95, H, Qt.ItemDataRole.ToolTipRole) == APPROXIMATE_TIP and "4.4 %" in APPROXIMATE_TIP
    assert model.headerData(avg, H) == "Avg (ms)"  # a mean from sums is exact
    model.set_rows([_agent("a", 318.0)])
    assert model.headerData(p95, H) == "p95 (ms)" and model.headerData(p95, H, Qt.ItemDataRole.ToolTipRole) is None


def test_paged_rows_change_the_unit_when_a_page_needs_it(qtbot) -> None:
    model = SessionTableModel()
    col = _col(model, "duration_ms")
    model.add_page(SessionPage(rows=(_session("s1", 900.0),), next_cursor=PageCursor(sort_value=NOW, row_id=1)))
    assert model.headerData(col, H) == "Duration (ms)" and model.index(0, col).data() == "900"
    with qtbot.waitSignals([model.headerDataChanged, model.dataChanged]):
        model.add_page(SessionPage(rows=(_session("s2", 45_000.0),), next_cursor=None))
    assert model.headerData(col, H) == "Duration (s)"
    assert [model.index(r, col).data() for r in range(2)] == ["0.90", "45.00"]
