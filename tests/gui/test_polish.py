"""Polish seen at 1280x820, 1024x700 and QT_SCALE_FACTOR=2 (issue #16): column fit, sort
arrows, stable agent colours, tool labels that fit, clamped geometry, the connection
dialog, the execution dialog's API count, payloads and Close button, the Overview export."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QCoreApplication, QPoint, QPointF, QSettings, Qt, QThreadPool
from PySide6.QtGui import QGuiApplication, QImage, QStandardItemModel
from PySide6.QtWidgets import QDialogButtonBox, QMainWindow, QTableView
from sqlalchemy import text

from studio_analytics.analytics import error_analysis, time_range
from studio_analytics.db.engine import create_db_engine
from studio_analytics.gui.app import clamp_to_screen, restore_geometry
from studio_analytics.gui.charts.bar_chart import HorizontalBarChart
from studio_analytics.gui.charts.doughnut_chart import DoughnutChart
from studio_analytics.gui.charts.series_colours import OTHER, PALETTE, SeriesColours
from studio_analytics.gui.charts.time_chart import ErrorRateChart
from studio_analytics.gui.dialogs.connection_dialog import ConnectionDialog
from studio_analytics.gui.dialogs.execution_detail_dialog import ExecutionDetailDialog
from studio_analytics.gui.main_window import MainWindow
from studio_analytics.gui.models.more_table_models import ErrorTableModel
from studio_analytics.gui.sort_arrow_style import SortArrowStyle
from studio_analytics.gui.views.span_detail import PREVIEW_CHARS, PayloadView, payload_text
from studio_analytics.gui.views.usage_view import UsageView
from tests.demo_data import demo_fixtures

demo_sqlite, _ = demo_fixtures(executions=300, days=2, seed=16, pg_executions=0)


def _errors(url: str):
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn:
        groups = error_analysis(conn, time_range(days=3)).groups
    engine.dispose()
    return groups


# 1 — the Errors table's last columns stay in view; the message elides and says itself on hover.
def test_error_table_keeps_last_seen_in_view(qtbot, demo_sqlite: str) -> None:
    groups = _errors(demo_sqlite)
    assert groups
    view = UsageView(ErrorTableModel(), ErrorRateChart())
    qtbot.addWidget(view)
    view.resize(1000, 600)  # the tab's width in a 1024 px window
    view.show()
    view.show_rows(groups)
    header = view.table.horizontalHeader()
    last = view.model.columnCount() - 1
    qtbot.waitUntil(lambda: header.sectionSize(last) >= view.table.sizeHintForColumn(last)
                    and header.sectionViewportPosition(last) + header.sectionSize(last)
                    <= view.table.viewport().width())
    assert header.sectionSize(0) < view.table.sizeHintForColumn(0)  # the long messages elide
    assert header.sectionSize(last) >= view.table.sizeHintForColumn(last)  # "Last seen" whole
    assert view.model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole) == groups[0].signature

    # Wider (a 1280 px window): the message column takes the room the figures leave,
    # up to the table's right edge — no blank band beside an elided message.
    view.resize(1260, 600)

    def filled() -> bool:
        # Up to the edge, less the room kept for a vertical scroll bar not shown yet.
        bar = view.table.verticalScrollBar()
        edge = view.table.viewport().width() - (0 if bar.isVisible() else bar.sizeHint().width())
        right = header.sectionViewportPosition(last) + header.sectionSize(last)
        return abs(edge - right) <= 1

    qtbot.waitUntil(filled)
    assert header.sectionSize(0) > header.sectionSize(1)


# 2 — sort arrows: a descending sort is Qt's DescendingOrder and is drawn pointing down.
def _arrow_points_down(image: QImage, left: int, right: int) -> bool:
    """Dark pixels per row inside [left, right): a ▼ is widest at its top."""
    widths = []
    for y in range(image.height()):
        dark = sum(1 for x in range(left, right) if image.pixelColor(x, y).lightness() < 110)
        if dark:
            widths.append(dark)
    assert len(widths) >= 2, "no arrow drawn"
    return widths[0] > widths[-1]


def test_descending_sort_shows_a_downward_arrow(qtbot) -> None:
    model = QStandardItemModel(2, 2)
    model.setHorizontalHeaderLabels(["Count", "Name"])
    table = QTableView()
    qtbot.addWidget(table)
    table.setModel(model)
    table.setSortingEnabled(True)
    header = table.horizontalHeader()
    style = SortArrowStyle("fusion")
    header.setStyle(style)
    header.resizeSection(0, 160)
    table.resize(400, 120)
    table.show()
    right = header.sectionSize(0)
    for order, down in ((Qt.SortOrder.DescendingOrder, True), (Qt.SortOrder.AscendingOrder, False)):
        header.setSortIndicator(0, order)
        assert header.sortIndicatorOrder() == order
        image = header.grab().toImage()
        assert _arrow_points_down(image, right - 30, right) is down, order


def test_tables_open_sorted_descending_and_a_click_asks_ascending(qtbot) -> None:
    view = UsageView(ErrorTableModel(), ErrorRateChart())
    qtbot.addWidget(view)
    view.show()
    header = view.table.horizontalHeader()
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (1, Qt.SortOrder.DescendingOrder)
    middle = QPoint(header.sectionViewportPosition(1) + header.sectionSize(1) // 2, header.height() // 2)
    with qtbot.waitSignal(view.model.sort_requested) as asked:
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=middle)
    assert asked.args == ["count", False] and header.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder


# 3 — an agent keeps its colour whatever its rank; "other" is grey.
def test_doughnut_colour_follows_the_agent_not_its_rank(qtbot) -> None:
    chart = DoughnutChart("Agent usage", max_slices=4)
    qtbot.addWidget(chart)
    chart.set_values(["Web", "SQL", "Code", "Mail", "Chat"], [50, 40, 30, 20, 10])
    first = dict(zip([n for n, _ in chart.slices], chart.slice_colours, strict=True))
    assert first["other"] == OTHER and len(set(first.values())) == len(first)
    chart.set_values(["Web", "SQL", "Code", "Mail", "Chat"], [10, 20, 30, 40, 50])  # another range
    second = dict(zip([n for n, _ in chart.slices], chart.slice_colours, strict=True))
    assert [n for n, _ in chart.slices][0] == "Chat"
    for name in set(first) & set(second):
        assert first[name] == second[name], name


def test_visible_slices_never_share_a_colour() -> None:
    colours = SeriesColours()
    names = [f"agent{i}" for i in range(len(PALETTE) + 3)]
    given = {name: colours.colour(name) for name in names}
    assert len(set(given.values())) == len(PALETTE)  # every colour used before any twice
    again = SeriesColours()
    assert all(again.colour(name) == given[name] for name in names)  # the same in the next run
    a, b = next((a, b) for a in names for b in names if a < b and given[a] == given[b])
    third = next(n for n in names if given[n] != given[a])
    shown = colours.distinct([a, b, third])
    assert len(set(shown)) == 3 and shown[0] == given[a]
    assert colours.distinct([b]) == [shown[1]]  # and b keeps the colour it was given


# 4 — tool names: as many as fit, elided, the whole name on hover.
def test_bar_labels_fit_and_elide(qtbot) -> None:
    chart = HorizontalBarChart("Tool usage frequency", "calls")
    qtbot.addWidget(chart)
    chart.resize(420, 240)
    chart.show()
    long_name = "search_the_internal_knowledge_base_for_matching_documents"
    labels = [long_name] + [f"tool_{i}" for i in range(29)]
    chart.set_bars(labels, list(range(30, 0, -1)))
    vb = chart.getPlotItem().vb
    qtbot.waitUntil(lambda: vb.height() > 0 and chart.label_step() > 1)
    line = chart.fontMetrics().height()
    rows_per_label = vb.height() / len(labels) * chart.label_step()
    assert rows_per_label >= line  # no two names overlap
    assert len(chart.shown_ticks) < len(labels)
    name = chart.shown_ticks[0][1]
    assert name.endswith("…") and chart.fontMetrics().horizontalAdvance(name) <= max(80, chart.width() / 3)
    chart._hovered(vb.mapViewToScene(QPointF(1, 0)))
    assert chart.toolTip() == f"{long_name}: 30 calls"
    chart.set_bars(labels[1:4], [3, 2, 1])  # few bars: every one named
    assert [t for _, t in chart.shown_ticks] == labels[1:4]


# 5 — a window saved larger than the screen opens inside it.
def test_remembered_geometry_is_clamped_to_the_screen(qtbot) -> None:
    big = QMainWindow()
    qtbot.addWidget(big)
    big.setGeometry(40, 40, 2560, 1640)
    saved = big.saveGeometry()
    window = QMainWindow()
    qtbot.addWidget(window)
    restore_geometry(window, saved)
    available = QGuiApplication.primaryScreen().availableGeometry()
    assert available.width() < 2560 and available.height() < 1640  # the offscreen screen
    assert available.contains(window.frameGeometry())
    window.show()
    clamp_to_screen(window)  # as run_gui does once the frame is known
    assert available.contains(window.frameGeometry())


# 6 — the connection dialog: room for a path, and each tab its own result.
@pytest.fixture
def connection_dialog(qtbot, sqlite_file_url: str, tmp_path) -> Iterator[ConnectionDialog]:
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    pool = QThreadPool()
    dialog = ConnectionDialog(sqlite_file_url, pool)
    qtbot.addWidget(dialog)
    dialog.show()
    yield dialog
    pool.waitForDone(5_000)


def test_connection_dialog_is_wide_enough_for_a_path(connection_dialog: ConnectionDialog) -> None:
    dialog = connection_dialog
    assert dialog.width() >= dialog.fontMetrics().horizontalAdvance("x") * 84
    narrow = dialog.sqlite_path.width()
    dialog.resize(dialog.width() + 300, dialog.height())
    QCoreApplication.processEvents()
    assert dialog.sqlite_path.width() >= narrow + 250


def test_connection_error_stays_on_its_tab(qtbot, connection_dialog: ConnectionDialog, tmp_path) -> None:
    dialog = connection_dialog
    dialog.sqlite_path.setText(str(tmp_path / "absent.sqlite3"))
    with qtbot.waitSignal(dialog.tested, timeout=20_000) as missing:
        dialog.test_connection()
    sqlite_result, pg_result, _ = dialog.results
    assert not missing.args[0] and sqlite_result.text().replace("\u200b", "") == missing.args[1] and sqlite_result.isVisible()
    dialog.kinds.setCurrentIndex(1)
    assert dialog.result is pg_result and pg_result.text() == "" and sqlite_result.text() == ""
    dialog.kinds.setCurrentIndex(0)
    with qtbot.waitSignal(dialog.tested, timeout=20_000):
        dialog.test_connection()
    assert sqlite_result.text()
    qtbot.keyClicks(dialog.sqlite_path, "x")  # an edit: the result no longer describes the field
    assert sqlite_result.text() == ""
    dialog.test_connection()
    dialog.kinds.setCurrentIndex(2)  # switched away while testing: the answer is dropped
    qtbot.waitUntil(lambda: dialog.pool.activeThreadCount() == 0, timeout=20_000)
    QCoreApplication.processEvents()
    assert all(label.text() == "" for label in dialog.results)


# 7, 8, 9 — the execution dialog.
@pytest.fixture(scope="module")
def execution_id(demo_sqlite: str) -> uuid.UUID:
    engine = create_db_engine(demo_sqlite, read_only=True)
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT e.execution_id FROM agent_execution_metrics e JOIN tool_usage_metrics t "
            "ON t.execution_id = e.execution_id WHERE e.api_calls_count > 0 AND t.input_data IS NOT NULL "
            "ORDER BY e.start_time LIMIT 1")).one()
    engine.dispose()
    return row[0] if isinstance(row[0], uuid.UUID) else uuid.UUID(str(row[0]))


@pytest.fixture
def execution_dialog(qtbot, demo_sqlite: str, execution_id: uuid.UUID) -> Iterator[ExecutionDetailDialog]:
    pool = QThreadPool()
    dialog = ExecutionDetailDialog(demo_sqlite, execution_id, pool)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.detail_loaded, timeout=20_000) as loaded:
        dialog.show()
    assert loaded.args[0] is not None
    yield dialog
    pool.waitForDone(5_000)


def test_api_calls_say_whose_count_they_are(execution_dialog: ExecutionDetailDialog) -> None:
    detail = execution_dialog.detail
    assert detail is not None
    with_api = sum(1 for c in detail.tool_calls if c.external_api_called)
    shown = execution_dialog.fields["API calls"].text()
    assert shown == f"{detail.api_calls_count:,} counted by the agent · {with_api:,} in tool calls"
    assert "several" in execution_dialog.field_names["API calls"].toolTip()


def test_selecting_a_tool_span_shows_its_input_and_output(qtbot, execution_dialog: ExecutionDetailDialog) -> None:
    trace = execution_dialog.trace
    tool_row = next(i for i, node in enumerate(trace.rows) if trace.model.spans[node].kind == "tool")
    trace.select_row(tool_row)
    span = trace.model.spans[trace.rows[tool_row]]
    panel = execution_dialog.span_detail
    assert span.input is not None and panel.span is span
    assert panel.input_text.toPlainText() == payload_text(span.input)
    assert panel.output_text.toPlainText() == payload_text(span.output)


def test_payload_is_plain_text_cut_with_show_all_and_copied_whole(qtbot) -> None:
    view = PayloadView("Output")
    qtbot.addWidget(view)
    view.show()
    markup = "<b>not bold</b>" + "x" * PREVIEW_CHARS
    view.set_text(markup)
    assert view.text.toPlainText() == markup[:PREVIEW_CHARS] and view.show_all_button.isVisible()
    qtbot.mouseClick(view.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == markup
    qtbot.mouseClick(view.show_all_button, Qt.MouseButton.LeftButton)
    assert view.text.toPlainText() == markup and not view.show_all_button.isVisible()
    view.set_text("short")
    assert not view.show_all_button.isVisible() and view.text.toPlainText() == "short"


def test_execution_dialog_closes_by_button_and_by_escape(qtbot, execution_dialog: ExecutionDetailDialog) -> None:
    close = execution_dialog.close_buttons.button(QDialogButtonBox.StandardButton.Close)
    assert close is not None and close.isVisible()
    with qtbot.waitSignal(execution_dialog.rejected):
        qtbot.mouseClick(close, Qt.MouseButton.LeftButton)
    assert not execution_dialog.isVisible()
    execution_dialog.show()
    with qtbot.waitSignal(execution_dialog.rejected):
        qtbot.keyClick(execution_dialog, Qt.Key.Key_Escape)


# 10 — the Overview export holds the KPIs and both distributions, as the snapshot does.
def test_overview_export_has_kpis_and_distributions(qtbot, demo_sqlite: str, tmp_path) -> None:
    win = MainWindow(demo_sqlite)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
        pass
    snap = win.last_snapshot
    assert snap is not None and snap.agents is not None and snap.tools is not None and snap.series is not None
    path = tmp_path / "overview.csv"
    with qtbot.waitSignal(win.exporter.export_finished):
        win.export_current_view(str(path))
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    win.close()
    assert list(rows[0]) == ["section", "name", "metric", "value", "time"]

    def values(section: str, metric: str) -> dict[str, float]:
        return {r["name"]: float(r["value"]) for r in rows if r["section"] == section and r["metric"] == metric}

    k = snap.kpis
    kpis = values("kpi", "value")
    assert kpis["executions"] == k.total_executions and kpis["failures"] == k.total_failures
    assert kpis["sessions_in_range"] == k.active_sessions.value
    assert kpis["success_rate"] == pytest.approx(k.success_rate.value)
    assert values("agents", "executions") == {r.agent_name: r.executions for r in snap.agents.rows}
    assert values("tools", "calls") == {r.tool_name: r.calls for r in snap.tools.rows}
    series = [r for r in rows if r["section"] == "series" and r["metric"] == "executions"]
    assert len(series) == len(snap.series.bucket_starts) and all(r["time"] for r in series)
    assert sum(float(r["value"]) for r in series) == int(snap.series.executions.sum())
