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
