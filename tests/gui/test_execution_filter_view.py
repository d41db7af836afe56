"""The Executions list's filters in the window: typed names match case-insensitively,
the "More filters" row applies, every filter (drill-downs included) is a chip that
Delete removes, completion is bounded, columns can be chosen and keep their widths,
the export keeps the view's order, and Shift+drag on a time chart filters to a span."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QSettings, Qt, QThreadPool
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from studio_analytics.analytics.errors import error_signature
from studio_analytics.analytics.results import ExecutionFilter
from studio_analytics.analytics.timerange import time_range
from studio_analytics.cli import run_cli
from studio_analytics.db.engine import create_db_engine
from studio_analytics.gui.main_window import MainWindow
from studio_analytics.gui.views.executions_view import ExecutionsView

RANGE = time_range(days=3)


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('filters') / 'demo.sqlite3'}"
    assert run_cli(["demo", "--db", url, "--executions", "200", "--days", "2", "--seed", "16"]) == 0
    return url


@pytest.fixture(autouse=True)
def settings(tmp_path: Path) -> Iterator[None]:
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    QSettings().clear()
    yield
    QSettings().clear()


@pytest.fixture
def view(qtbot, demo_url: str) -> Iterator[ExecutionsView]:
    pool = QThreadPool()
    v = ExecutionsView(pool)
    qtbot.addWidget(v)
    v.resize(1024, 600)
    v.show()
    with qtbot.waitSignal(v.pages_loaded, timeout=20_000):
        v.set_time_range(RANGE)
        v.set_database(demo_url)
    yield v
    pool.waitForDone(10_000)


def _loaded(v: ExecutionsView) -> list:
    return [v.model.row_at(i) for i in range(v.model.rowCount())]


def _reload(qtbot, v: ExecutionsView, action) -> list:
    with qtbot.waitSignal(v.pages_loaded, timeout=20_000):
        action()
    return _loaded(v)


def test_typed_names_and_more_filters_apply(qtbot, view: ExecutionsView) -> None:
    def type_agent() -> None:
        view.agent.setText("wEb")
        QTest.keyClick(view.agent, Qt.Key.Key_Return)

    rows = _reload(qtbot, view, type_agent)
    assert rows and {r.agent_name for r in rows} == {"WebAgent"}
    assert view.chips.labels() == ["agent: wEb"]

    bar = view.filter_bar
    QTest.mouseClick(bar.more, Qt.MouseButton.LeftButton)
    assert bar.second.isVisible()
    bar.min_duration.setText("12 s")
    rows = _reload(qtbot, view, lambda: QTest.keyClick(bar.min_duration, Qt.Key.Key_Return))
    assert rows and all(r.agent_name == "WebAgent" and r.duration_ms >= 12_000 for r in rows)
    assert view.filters.min_duration_ms == 12_000 and "duration ≥ 12.00 s" in view.chips.labels()

    before = view.filters
    bar.min_cost.setText("cheap")  # not a number: nothing applied, the input says why
    view.apply_filters()
    assert view.filters == before and "could not convert" in bar.min_cost.toolTip()


def test_drill_downs_are_chips_and_delete_removes_one(qtbot, view: ExecutionsView, demo_url: str) -> None:
    engine = create_db_engine(demo_url, read_only=True)
    with engine.connect() as conn:
        message, workflow = conn.exec_driver_sql(
            "SELECT e.error_message, w.correlation_id FROM agent_execution_metrics e, agent_execution_metrics w "
            "WHERE e.error_message IS NOT NULL AND w.correlation_id IS NOT NULL LIMIT 1").one()
    engine.dispose()
    signature = error_signature(message)
    rows = _reload(qtbot, view, lambda: view.set_filter(ExecutionFilter(status="failure", error_signature=signature,
                                                                         correlation_id=workflow)))
    labels = view.chips.labels()
    assert labels[0] == "status: failure"
    assert any(label.startswith("workflow: " + workflow[:8]) for label in labels)
    assert any(label.startswith("error: " + signature[:8]) for label in labels)

    # Remove the workflow and the error group by keys: the list reloads without them.
    view.set_filter(ExecutionFilter(status="failure", correlation_id=workflow))
    chip = next(c for c in view.chips.chips if c.chip.fields == ("correlation_id",))
    chip.setFocus()
    rows = _reload(qtbot, view, lambda: QTest.keyClick(chip, Qt.Key.Key_Delete))
    assert view.filters == ExecutionFilter(status="failure")
    assert view.chips.labels() == ["status: failure"]
    assert rows and {r.status for r in rows} == {"failure"}
    assert any(r.correlation_id != workflow for r in rows)
    rows = _reload(qtbot, view, lambda: view.chips.chips[0].click())
    assert view.filters == ExecutionFilter() and not view.chips.isVisible()
    assert len({r.status for r in rows}) > 1


def test_a_drill_down_means_the_whole_name_until_a_name_is_typed(qtbot, view: ExecutionsView) -> None:
    """A row's agent is that agent ("agent = WebAgent"); typing into the agent box makes
    it a part of a name again, the other drill-down names following."""
    rows = _reload(qtbot, view, lambda: view.set_filter(ExecutionFilter(agent_name="webagent", exact=True)))
    assert rows and {r.agent_name for r in rows} == {"WebAgent"}
    assert view.chips.labels() == ["agent = webagent"]
    rows = _reload(qtbot, view, lambda: view.set_filter(ExecutionFilter(agent_name="web", exact=True)))
    assert rows == []  # no agent is called "web"

    def type_agent() -> None:
        view.agent.setText("wEb")
        QTest.keyClick(view.agent, Qt.Key.Key_Return)

    rows = _reload(qtbot, view, type_agent)
    assert not view.filters.exact and view.chips.labels() == ["agent: wEb"]
    assert rows and {r.agent_name for r in rows} == {"WebAgent"}


def test_completion_is_bounded_and_case_insensitive(qtbot, view: ExecutionsView) -> None:
    completer = view.filter_bar.completers["agent"]
    view.agent.setText("AGENT")
    with qtbot.waitSignal(completer.names_loaded, timeout=10_000) as blocker:
        completer.load()
    names = blocker.args[0]
    assert len(names) > 3 and all("agent" in n.lower() for n in names)
    completer.limit = 3
    with qtbot.waitSignal(completer.names_loaded, timeout=10_000) as blocker:
        completer.load()
    assert blocker.args[0] == names[:3] and completer.names.stringList() == names[:3]


def test_columns_chosen_and_widths_kept_across_reloads_and_restarts(qtbot, view: ExecutionsView,
                                                                   demo_url: str) -> None:
    header = view.table.horizontalHeader()
    fields = [c.field for c in view.model.COLUMNS]
    agent, tokens, query = fields.index("agent_name"), fields.index("tokens_used"), fields.index("query_preview")
    assert header.isSectionHidden(query)  # optional, hidden until chosen
    header.resizeSection(agent, 231)
    menu = view.column_chooser.menu()
    next(a for a in menu.actions() if a.text() == "Tokens").trigger()
    next(a for a in menu.actions() if a.text() == "Query").trigger()
    assert header.isSectionHidden(tokens) and not header.isSectionHidden(query)
    assert view.model.data(view.model.index(0, query))  # the query preview is there

    _reload(qtbot, view, lambda: view.set_filter(ExecutionFilter(status="success")))
    assert header.sectionSize(agent) == 231 and header.isSectionHidden(tokens)

    view.column_chooser.save()  # the resize's delayed save, now
    again = ExecutionsView(QThreadPool())
    qtbot.addWidget(again)
    restored = again.table.horizontalHeader()
    assert restored.sectionSize(agent) == 231
    assert restored.isSectionHidden(tokens) and not restored.isSectionHidden(query)


def test_export_order_is_the_views(qtbot, view: ExecutionsView, demo_url: str, tmp_path: Path) -> None:
    from studio_analytics.gui.dialogs.export_dialog import ExportController

    _reload(qtbot, view, lambda: view.set_filter(ExecutionFilter(agent_name="sql")))
    header = view.table.horizontalHeader()
    duration = [c.field for c in view.model.COLUMNS].index("duration_ms")
    rows = _reload(qtbot, view, lambda: header.setSortIndicator(duration, Qt.SortOrder.AscendingOrder))
    while not view.model.complete:
        rows = _reload(qtbot, view, view.model.fetchMore)
    assert view.sort == ("duration_ms", False) and len(rows) > 1
    controller = ExportController(view.pool, view)
    out = tmp_path / "x.csv"
    with qtbot.waitSignal(controller.export_finished, timeout=20_000):
        controller.stream_executions(demo_url, view.time_range, view.filters, str(out), sort=view.sort)
    with out.open(newline="", encoding="utf-8") as f:
        assert [r["execution_id"] for r in csv.DictReader(f)] == [str(r.execution_id) for r in rows]


def shift_drag(viewport: QWidget, a: QPoint, b: QPoint, during: Callable[[], bool]) -> None:
    """Press, move in steps and release the left button with Shift held (QTest's
    mouseMove carries neither buttons nor modifiers); ``during`` must hold mid-drag."""
    shift, left = Qt.KeyboardModifier.ShiftModifier, Qt.MouseButton.LeftButton
    previous = pg.getConfigOption("mouseRateLimit")
    pg.setConfigOptions(mouseRateLimit=0)  # every move delivered, however close together
    try:
        steps = [(QEvent.Type.MouseButtonPress, a, left)]
        steps += [(QEvent.Type.MouseMove, a + (b - a) * (i / 8), left) for i in range(1, 9)]
        for kind, pos, buttons in steps:
            QApplication.sendEvent(viewport, QMouseEvent(kind, QPointF(pos), QPointF(viewport.mapToGlobal(pos)),
                                                         left, buttons, shift))
        assert during()
        QApplication.sendEvent(viewport, QMouseEvent(QEvent.Type.MouseButtonRelease, QPointF(b),
                                                     QPointF(viewport.mapToGlobal(b)), left,
                                                     Qt.MouseButton.NoButton, shift))
    finally:
        pg.setConfigOptions(mouseRateLimit=previous)


def test_shift_drag_on_a_time_chart_filters_the_executions_to_the_span(qtbot, demo_url: str) -> None:
    win = MainWindow(demo_url)
    qtbot.addWidget(win)
    win.resize(1280, 820)
    win.show()
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
        pass
    chart = win.overview.executions_chart
    vb = chart.getPlotItem().vb
    # The series' times on the x axis (auto-ranged when the chart is next painted).
    qtbot.waitUntil(lambda: vb.viewRange()[0][0] > 1e9, timeout=10_000)
    box = vb.mapRectToScene(vb.boundingRect()).toRect()
    y = box.center().y()
    # Across the last fifth of the range (the demo's two days are at its end).
    a, b = chart.mapFromScene(QPoint(box.left() + box.width() * 3 // 4, y)), chart.mapFromScene(
        QPoint(box.left() + box.width() * 19 // 20, y))
    with qtbot.waitSignal(chart.span_selected, timeout=5_000) as blocker:
        shift_drag(chart.viewport(), a, b, during=lambda: chart.brush_box.brush_region.isVisible())
    start, end = blocker.args
    assert timedelta(minutes=1) < end - start
    assert win.current_tab == "executions"
    view = win.executions
    assert (view.filters.started_after, view.filters.started_before) == (start, end)
    assert any(label.startswith("started ") for label in view.chips.labels())
    qtbot.waitUntil(lambda: view.model.rowCount() > 0, timeout=20_000)
    assert all(start <= r.start_time < end for r in _loaded(view))
    win.close()
