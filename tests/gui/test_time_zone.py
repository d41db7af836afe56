"""Every time the window shows says its zone: chart axes and table columns alike."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt

from studio_analytics.gui.charts.time_chart import ExecutionsChart
from studio_analytics.gui.models.agent_table_model import AgentTableModel
from studio_analytics.gui.models.execution_list_model import ExecutionListModel
from studio_analytics.gui.models.more_table_models import SessionTableModel
from studio_analytics.gui.models.tool_table_model import ToolTableModel


def test_time_columns_and_axes_name_the_zone(qtbot) -> None:
    zone = datetime.now().astimezone().strftime("%Z") or datetime.now().astimezone().strftime("UTC%z")
    for model in (ExecutionListModel(), SessionTableModel(), AgentTableModel(), ToolTableModel()):
        headers = [model.headerData(c, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole)
                   for c in range(model.columnCount())]
        timed = [h for h in headers if h.startswith(("Started", "Last used"))]
        assert timed and all(h.endswith(f"({zone})") for h in timed), headers
    chart = ExecutionsChart()
    qtbot.addWidget(chart)
    assert chart.getAxis("bottom").labelText == f"time ({zone})"


def test_switching_to_utc_changes_every_time_shown(qtbot, tmp_path, monkeypatch) -> None:
    """One zone everywhere, switchable: with the computer in India (UTC+05:30), the UTC
    box turns tables, headers, chart axes and the time inputs to UTC, keeping the
    moments the inputs hold."""
    import time
    from datetime import UTC

    from studio_analytics.demo.generator import backfill
    from studio_analytics.gui import zone
    from studio_analytics.gui.main_window import MainWindow

    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        url = f"sqlite:///{tmp_path / 'zone.sqlite3'}"
        backfill(url, executions=200, days=1, seed=2)
        win = MainWindow(url, range_preset="24h")
        qtbot.addWidget(win)
        win.auto_refresh.setChecked(False)
        with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
            win.show_tab("executions")
        model = win.executions.model
        qtbot.waitUntil(lambda: model.rowCount() > 0, timeout=20_000)
        first = model.row_at(0).start_time
        shown = lambda: model.data(model.index(0, 0))  # noqa: E731 - the Started cell
        assert shown() == first.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        moment = zone.from_input(win.executions.goto_time.dateTime().toPython())

        win.utc_box.click()  # as a user does (the box is in the toolbar)
        assert zone.showing_utc()
        assert shown() == first.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") != first.astimezone().strftime(
            "%Y-%m-%d %H:%M:%S")
        assert model.headerData(0, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole) == "Started (UTC)"
        assert win.overview.executions_chart.getAxis("bottom").labelText == "time (UTC)"
        assert win.overview.executions_chart.getAxis("bottom").utcOffset == 0
        assert zone.from_input(win.executions.goto_time.dateTime().toPython()) == moment
        win.utc_box.click()
        assert shown() == first.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        win.close()
    finally:
        zone.setting().set_utc(False)
        monkeypatch.delenv("TZ")
        time.tzset()
