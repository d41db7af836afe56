"""The Models tab, the Cost card and the cost and token columns show what the analytics
layer reads from demo data the tracker wrote (model calls, sub-agents, unpriced models),
on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt

from studio_analytics.analytics import agent_usage, list_executions, session_activity, summary_kpis
from studio_analytics.analytics.kpis import MIN_RUNS_TO_COMPARE
from studio_analytics.analytics.models import model_usage
from studio_analytics.db.engine import create_db_engine
from studio_analytics.gui.charts.cost_chart import stack_order
from studio_analytics.gui.main_window import MainWindow
from studio_analytics.gui.models.model_table_model import UNPRICED_COLOUR
from studio_analytics.gui.models.row_table_model import count, usd
from tests.demo_data import demo_fixtures

demo_sqlite, demo_url = demo_fixtures(executions=1_500, days=3, seed=29, pg_executions=700)


def _read(url: str, query: Callable[[Any], Any]) -> Any:
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn:
        out = query(conn)
    engine.dispose()
    return out


def _open(qtbot, url: str, tab: str = "overview") -> MainWindow:
    # 24 hours: the demo's previous day has enough runs for the cards to show changes.
    win = MainWindow(url, range_preset="24h")
    qtbot.addWidget(win)
    win.auto_refresh.setChecked(False)
    win.resize(1280, 820)
    win.show()  # clicks need laid-out widgets
    with qtbot.waitSignal(win.refresh_finished, timeout=30_000) as blocker:
        pass
    assert blocker.args[0].ok, blocker.args[0].message
    if tab != "overview":
        with qtbot.waitSignal(win.refresh_finished, timeout=30_000):
            win.show_tab(tab)
    return win


def _column(model: Any, header: str) -> int:
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    return next(i for i, h in enumerate(headers) if h == header or str(h).startswith(header + " ("))


def _cells(model: Any, header: str, role: int = Qt.ItemDataRole.DisplayRole) -> list[Any]:
    col = _column(model, header)
    return [model.index(r, col).data(role) for r in range(model.rowCount())]


def _cost(cost: float | None, unpriced: int) -> str:
    """What a cost cell must read, spelled out here rather than borrowed from the window."""
    if cost is None:
        return f"unpriced ({unpriced:,} call{'s' if unpriced != 1 else ''})" if unpriced else "—"
    return usd(cost) + (f" + {unpriced:,} unpriced" if unpriced else "")


def test_models_tab_shows_the_rows_and_series_of_model_usage(qtbot, demo_url: str) -> None:
    win = _open(qtbot, demo_url, "models")
    tr = win.last_snapshot.time_range
    expected = _read(demo_url, lambda conn: model_usage(conn, tr))
    assert expected is not None and expected.rows and expected.series is not None
    view = win.models
    assert view.has_model_calls and view.no_calls.isHidden()
    assert [view.model.row_at(i) for i in range(view.model.rowCount())] == list(expected.rows)
    # Every row's cost says what it leaves out; a model without a price is flagged, not $0.
    assert _cells(view.model, "Cost") == [_cost(r.cost_usd, r.unpriced_calls) for r in expected.rows]
    flagged = [c == UNPRICED_COLOUR for c in _cells(view.model, "Model", Qt.ItemDataRole.ForegroundRole)]
    assert flagged == [not r.priced for r in expected.rows]
    assert any(flagged) and not all(flagged)  # the demo has models with and without a price
    for row, text, tip in zip(expected.rows, _cells(view.model, "Price"),
                              _cells(view.model, "Model", Qt.ItemDataRole.ToolTipRole), strict=True):
        if not row.priced:
            assert text == "⚠ no price" and f"{row.unpriced_calls:,} call" in tip
    assert "$" not in "".join(c for c, r in zip(_cells(view.model, "Cost"), expected.rows, strict=True)
                              if not r.priced)
    t = expected.totals
    assert t.unpriced_calls > 0
    assert view.totals.text().startswith(f"<b>{usd(t.cost_usd)}</b> + {t.unpriced_calls:,} unpriced calls")
    assert f"{t.calls:,} model calls" in view.totals.text()
    # The cost chart stacks by model, largest at the bottom; the tokens chart is in and out.
    s = expected.series
    chart = view.cost_chart
    assert chart.names == stack_order(s.by_model) and view.stacked_by == "model"
    assert chart.cumulative[-1] == pytest.approx(np.sum([s.by_model[n] for n in s.by_model], axis=0))
    assert float(chart.cumulative[-1].sum()) > 0
    assert [name for name, _ in view.legend.entries] == chart.names
    x, y = view.tokens_chart.input.getData()
    assert list(x) == list(s.bucket_starts) and list(y) == list(s.input_tokens.astype(float))
    assert list(view.tokens_chart.output.getData()[1]) == list(s.output_tokens.astype(float))
    win.close()


def test_stack_switch_sort_and_export(qtbot, demo_sqlite: str, tmp_path) -> None:
    win = _open(qtbot, demo_sqlite, "models")
    view = win.models
    s = win.last_snapshot.models.series
    by_model = (list(view.cost_chart.names), view.cost_chart.cumulative.copy())
    with qtbot.waitSignal(view.stack_changed, timeout=5_000) as blocker:
        qtbot.mouseClick(view.by_agent, Qt.MouseButton.LeftButton)
    assert blocker.args == ["agent"]
    names, cumulative = view.cost_chart.names, view.cost_chart.cumulative
    assert names == stack_order(s.by_agent) and names != by_model[0]
    assert cumulative[-1] == pytest.approx(np.sum([s.by_agent[n] for n in s.by_agent], axis=0))
    assert cumulative.shape != by_model[1].shape or not np.allclose(cumulative, by_model[1])
    # A header click re-queries in that order.
    with qtbot.waitSignal(win.refresh_finished, timeout=30_000):
        view.model.sort(_column(view.model, "Calls"), Qt.SortOrder.DescendingOrder)
    tr = win.last_snapshot.time_range
    expected = _read(demo_sqlite, lambda conn: model_usage(conn, tr, sort="calls", descending=True))
    assert [view.model.row_at(i) for i in range(view.model.rowCount())] == list(expected.rows)
    assert view.by_agent.isChecked() and view.cost_chart.names == stack_order(s.by_agent)  # the switch stays
    out = tmp_path / "models.csv"
    with qtbot.waitSignal(win.exporter.export_finished, timeout=30_000):
        win.export_current_view(str(out))
    with out.open(newline="", encoding="utf-8") as f:
        exported = list(csv.DictReader(f))
    full = _read(demo_sqlite, lambda conn: model_usage(conn, tr, sort="calls", descending=True, limit=10_000,
                                                       series=False))
    assert [r["model"] for r in exported] == [r.model for r in full.rows]
    unpriced = [r for r in exported if r["priced"] in ("False", "false", "0")]
    assert unpriced and all(r["cost_usd"] == "" for r in unpriced)  # an empty cell, never 0
    win.close()


def test_cost_card_and_cost_columns(qtbot, demo_url: str) -> None:
    win = _open(qtbot, demo_url)
    tr = win.last_snapshot.time_range
    k = _read(demo_url, lambda conn: summary_kpis(conn, tr))
    card = win.overview.cost
    assert k.cost_usd is not None and k.cost_usd.value is not None
    assert card.value.text() == usd(k.cost_usd.value)
    assert k.previous_executions >= MIN_RUNS_TO_COMPARE and k.cost_usd.change is not None
    change = k.cost_usd.change
    expected_change = (f"{1 + change:,.0f}× the previous period" if change > 9
                       else f"{abs(change) * 100:.1f}% vs previous period")
    assert expected_change in card.change.text()
    assert k.unpriced_calls > 0
    assert not card.note.isHidden() and card.note.text() == f"+ {k.unpriced_calls:,} unpriced calls"

    with qtbot.waitSignal(win.refresh_finished, timeout=30_000):
        win.show_tab("agents")
    agents = _read(demo_url, lambda conn: agent_usage(conn, tr)).rows
    model = win.agents.model
    assert [model.row_at(i) for i in range(model.rowCount())] == list(agents)
    assert _cells(model, "Cost") == [_cost(r.cost_usd, r.unpriced_calls) for r in agents]
    assert _cells(model, "Tokens in") == [count(r.input_tokens) for r in agents]
    assert _cells(model, "Tokens out") == [count(r.output_tokens) for r in agents]
    assert any(r.cost_usd for r in agents) and any(r.input_tokens for r in agents)

    with qtbot.waitSignal(win.refresh_finished, timeout=30_000):
        win.show_tab("sessions")
    sessions = _read(demo_url, lambda conn: session_activity(conn, tr)).recent
    model = win.sessions.model
    assert [model.row_at(i) for i in range(len(sessions))] == list(sessions)
    assert _cells(model, "Cost")[:len(sessions)] == [_cost(r.cost_usd, r.unpriced_calls) for r in sessions]
    assert any(r.cost_usd for r in sessions)

    win.show_tab("executions")
    view = win.executions
    qtbot.waitUntil(lambda: view.model.rowCount() > 0, timeout=30_000)
    page = _read(demo_url, lambda conn: list_executions(conn, view.time_range, limit=view.model.rowCount())).rows
    model = view.model
    assert [model.row_at(i) for i in range(len(page))] == list(page)
    assert _cells(model, "Cost")[:len(page)] == [_cost(r.cost_usd, r.unpriced_calls) for r in page]
    assert _cells(model, "Tokens in")[:len(page)] == [count(r.input_tokens) for r in page]
    assert _cells(model, "Tokens out")[:len(page)] == [count(r.output_tokens) for r in page]
    assert any(r.cost_usd for r in page)
    win.close()


def test_model_table_model_passes_qt_model_checks(qtmodeltester, demo_sqlite: str) -> None:
    from studio_analytics.analytics import time_range
    from studio_analytics.analytics.models import MODEL_SORTS
    from studio_analytics.gui.charts.series_colours import SeriesColours
    from studio_analytics.gui.models.model_table_model import ModelTableModel

    usage = _read(demo_sqlite, lambda conn: model_usage(conn, time_range(days=4)))
    model = ModelTableModel(SeriesColours(), MODEL_SORTS)
    model.set_rows(usage.rows)
    qtmodeltester.check(model)
    assert model.rowCount() == len(usage.rows) > 0
