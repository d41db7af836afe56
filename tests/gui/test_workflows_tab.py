"""The Workflows tab: per-type trends with whole-number ticks on the runs axis, the
legend off the plots, Enter / double-click on a type opening its executions, and
headers that say what Satisfaction and Completion measure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QImage, QPainter
from sqlalchemy import insert

from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.migrate import upgrade_database
from studio_analytics.db.models import AgentExecutionMetrics, WorkflowMetrics
from studio_analytics.db.rollups import rebuild_rollups
from studio_analytics.gui.charts.date_axis import GAP_PX, UncrowdedDateAxisItem
from studio_analytics.gui.main_window import MainWindow

#: (type, how many workflows, executions each): types that are not part of each other's name
PLAN = (("research", 3, 2), ("support", 2, 1))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, set[uuid.UUID]]]:
    """A SQLite file and, per workflow type, the ids of its workflows' executions."""
    url = f"sqlite:///{tmp_path_factory.mktemp('workflows') / 'metrics.sqlite3'}"
    engine = create_db_engine(url)
    upgrade_database(engine)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    workflows, executions = [], []
    expected: dict[str, set[uuid.UUID]] = {}
    for wtype, n, per in PLAN:
        for w in range(n):
            wid, start = uuid.uuid4(), hour + timedelta(minutes=5 + w)  # all in one hour: runs 3 there
            workflows.append(dict(
                workflow_id=wid, workflow_type=wtype, start_time=start, duration_ms=2_000.0 * (w + 1),
                status="success" if w else "failure", agent_count=per, total_tool_calls=0, total_api_calls=0,
                user_satisfaction_score=4.0 if w else None, task_completion_rate=0.5 + 0.1 * w))
            for _ in range(per):
                eid = uuid.uuid4()
                expected.setdefault(wtype, set()).add(eid)
                executions.append(dict(execution_id=eid, agent_name="A", start_time=start, duration_ms=500.0,
                                       status="success", correlation_id=str(wid)))
    executions.append(dict(execution_id=uuid.uuid4(), agent_name="A", start_time=hour, duration_ms=1.0,
                           status="success", correlation_id=None))  # in no workflow
    with engine.begin() as conn:
        conn.execute(insert(WorkflowMetrics), workflows)
        conn.execute(insert(AgentExecutionMetrics), executions)
        rebuild_rollups(conn)
    engine.dispose()
    return url, expected


@pytest.fixture
def window(qtbot, data):
    win = MainWindow(data[0])
    qtbot.addWidget(win)
    win.resize(1024, 700)
    win.show()
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
        pass
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
        win.show_tab("workflows")
    qtbot.waitUntil(lambda: win.workflows.model.rowCount() == len(PLAN), timeout=20_000)
    yield win
    win.close()


def _global_rect(widget) -> QRect:
    return QRect(widget.mapToGlobal(QPoint(0, 0)), widget.size())


def test_trends_ticks_legend_and_headers(qtbot, window: MainWindow) -> None:
    chart = window.workflows.chart
    snap = window.last_snapshot
    assert chart.shown_types == ["research", "support"]  # by runs
    for wtype in chart.shown_types:
        trend = snap.workflows.trends[wtype]
        x, y = chart.curves[("runs", wtype, "")].getData()
        assert np.array_equal(y, trend.runs.astype(float)) and np.array_equal(x, trend.bucket_starts)
        _, rate = chart.curves[("rate", wtype, "")].getData()
        np.testing.assert_array_equal(rate, trend.success_rate * 100)
        _, p95 = chart.curves[("duration", wtype, "p95")].getData()
        np.testing.assert_array_equal(p95, trend.p95_duration_ms / 1000)
    assert snap.workflows.trends["research"].runs.max() == 3
    # Whole numbers only on the runs axis, whatever its height.
    axis = chart.runs_plot.getAxis("left")
    low, high = chart.runs_plot.getPlotItem().vb.viewRange()[1]
    for size in (60, 150, 400):
        values = [v for _, level in axis.tickValues(low, high, size) for v in level]
        assert values and all(float(v).is_integer() for v in values)
        assert all("." not in s for s in axis.tickStrings(values, 1.0, 1.0))
    # The legend is a row of its own: it covers no plot's data area.
    assert chart.legend.entries == [(t, chart.colours.colour(t)) for t in chart.shown_types]
    legend = _global_rect(chart.legend)
    assert legend.height() > 0
    for plot in chart.plots:
        assert plot.getPlotItem().legend is None
        vb = plot.getPlotItem().vb
        area = plot.mapFromScene(vb.sceneBoundingRect()).boundingRect()
        data_area = QRect(plot.mapToGlobal(area.topLeft()), area.size())
        assert data_area.height() > 50 and not data_area.intersects(legend)
    # The headers say what Satisfaction and Completion measure; the cells, of how many runs.
    model = window.workflows.model
    headers = {model.headerData(c, Qt.Orientation.Horizontal): c for c in range(model.columnCount())}
    tip = model.headerData(headers["Satisfaction"], Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert "satisfaction score" in tip and "left out" in tip
    tip = model.headerData(headers["Completion"], Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert "completion rate" in tip and "left out" in tip
    row = [model.row_at(r).workflow_type for r in range(model.rowCount())].index("research")
    # research: 3 runs, the first without a satisfaction score, all with a completion rate
    assert model.index(row, headers["Satisfaction"]).data(Qt.ItemDataRole.ToolTipRole) == \
        "mean of the 2 scored runs (of 3)"
    assert model.index(row, headers["Completion"]).data(Qt.ItemDataRole.ToolTipRole) == \
        "mean of the 3 runs with a completion rate (of 3)"


def test_enter_on_a_type_lists_its_executions(qtbot, window: MainWindow, data) -> None:
    table, model = window.workflows.table, window.workflows.model
    for wtype, *_ in PLAN:
        window.show_tab("workflows")
        row = [model.row_at(r).workflow_type for r in range(model.rowCount())].index(wtype)
        table.setFocus()
        table.setCurrentIndex(model.index(row, 0))
        qtbot.keyClick(table, Qt.Key.Key_Return)
        assert window.current_tab == "executions"
        view = window.executions
        qtbot.waitUntil(lambda view=view, wtype=wtype: view.model.rowCount() == len(data[1][wtype]) and {
            view.model.row_at(i).execution_id for i in range(view.model.rowCount())} == data[1][wtype],
            timeout=20_000)


def _label_rects(qtbot, axis: pg.AxisItem, start: float, end: float) -> list:
    plot = pg.PlotWidget(axisItems={"bottom": axis})
    qtbot.addWidget(plot)
    plot.resize(330, 150)  # a third of the tab at 1024 px and QT_SCALE_FACTOR=2
    plot.show()
    plot.setXRange(start, end, padding=0)
    qtbot.waitUntil(lambda: axis.width() > 300, timeout=5_000)
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    _, _, texts = axis.generateDrawSpecs(painter)
    painter.end()
    return [rect for rect, *_ in texts]


def test_time_labels_never_overlap(qtbot) -> None:
    """30 days ending on 3 December in a narrow plot: pyqtgraph's own axis prints "Dec"
    and "03" against each other; ours leaves the day out."""
    start, end = datetime(2026, 11, 3, tzinfo=UTC).timestamp(), datetime(2026, 12, 4, 6, tzinfo=UTC).timestamp()

    def overlaps(rects: list) -> bool:  # touching, or closer than GAP_PX
        padded = [r.adjusted(-GAP_PX / 2 + 0.01, 0, GAP_PX / 2 - 0.01, 0) for r in rects]
        return any(a.intersects(b) for i, a in enumerate(padded) for b in padded[i + 1:])

    assert overlaps(_label_rects(qtbot, pg.DateAxisItem(utcOffset=0), start, end))
    rects = _label_rects(qtbot, UncrowdedDateAxisItem(utcOffset=0), start, end)
    assert len(rects) >= 4 and not overlaps(rects)
