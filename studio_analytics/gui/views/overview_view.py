"""Overview tab: KPI cards, executions/failures and latency over time, agent and tool mix."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QVBoxLayout, QWidget

from studio_analytics.analytics.kpis import MIN_RUNS_TO_COMPARE
from studio_analytics.analytics.results import DashboardSnapshot
from studio_analytics.gui.charts.bar_chart import HorizontalBarChart
from studio_analytics.gui.charts.doughnut_chart import DoughnutChart
from studio_analytics.gui.charts.time_chart import ExecutionsChart, LatencyChart
from studio_analytics.gui.models.row_table_model import ms, usd
from studio_analytics.gui.views.kpi_card import KpiCard


class OverviewView(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.active_sessions = KpiCard("Sessions in range", lambda v: f"{v:,.0f}")
        self.queries_per_hour = KpiCard("Queries per hour", lambda v: f"{v:,.1f}")
        self.response_time = KpiCard("Average response time", ms, higher_is_better=False)
        self.success_rate = KpiCard("Success rate", lambda v: f"{v * 100:.1f}%")
        # More spending is not worse in itself (it follows use): its change is shown uncoloured.
        self.cost = KpiCard("Cost of model calls", usd, higher_is_better=None)
        # What each figure means, where a reader would ask.
        self.active_sessions.setToolTip("Distinct sessions with an execution in the range,\n"
                                        "compared with the previous period of equal length.\n"
                                        f"Changes are shown when that period had at least {MIN_RUNS_TO_COMPARE} runs.")
        self.queries_per_hour.setToolTip("Agent executions started in the range, per hour.")
        self.response_time.setToolTip("Mean execution duration of the range.")
        self.success_rate.setToolTip("Successful executions among finished ones (running ones excluded).")
        self.cost.setToolTip("USD of the range's model calls that have a price (the price table's, or one\n"
                             "recorded with set_cost), against the previous period. A call without a price\n"
                             "(unknown model, or no token count) is counted apart as unpriced, never as $0.")
        cards = QHBoxLayout()
        for card in self.cards:
            cards.addWidget(card)
        self.executions_chart = ExecutionsChart()
        self.latency_chart = LatencyChart()
        self.agent_doughnut = DoughnutChart("Agent usage")
        self.tool_bars = HorizontalBarChart("Tool usage frequency", "calls",
                                            empty_message="No tool calls in this range")
        grid = QGridLayout()
        grid.addWidget(self.executions_chart, 0, 0)
        grid.addWidget(self.latency_chart, 0, 1)
        grid.addWidget(self.agent_doughnut, 1, 0)
        grid.addWidget(self.tool_bars, 1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(cards)
        layout.addLayout(grid, stretch=1)

    @property
    def cards(self) -> tuple[KpiCard, ...]:
        return (self.active_sessions, self.queries_per_hour, self.response_time, self.success_rate, self.cost)

    def clear(self, message: str = "Loading…") -> None:
        """Every figure goes: loading, another database is being opened, or it failed."""
        for card in self.cards:
            card.clear(message)
        for chart in (self.executions_chart, self.latency_chart, self.agent_doughnut, self.tool_bars):
            chart.clear_data(message)

    def show_snapshot(self, snap: DashboardSnapshot) -> None:
        k = snap.kpis
        comparable = k.previous_executions >= MIN_RUNS_TO_COMPARE
        self.active_sessions.set_value(k.active_sessions, comparable=comparable)
        self.queries_per_hour.set_value(k.queries_per_hour, comparable=comparable)
        self.response_time.set_value(k.avg_response_time_ms, comparable=comparable)
        self.success_rate.set_value(k.success_rate, comparable=comparable)
        self._show_cost(snap, comparable)
        if snap.series is None or snap.agents is None or snap.tools is None:
            return  # read for another tab: the charts keep what they show until the overview is back
        self.executions_chart.set_series(snap.series)
        self.latency_chart.set_series(snap.series)
        self.agent_doughnut.set_values([r.agent_name for r in snap.agents.rows], [r.executions for r in snap.agents.rows])
        top = sorted(snap.tools.rows, key=lambda r: -r.calls)[:12]
        self.tool_bars.set_bars([r.tool_name for r in top], [r.calls for r in top])

    def _show_cost(self, snap: DashboardSnapshot, comparable: bool) -> None:
        k = snap.kpis
        if k.cost_usd is None:  # no model-call table: an Agent Studio database, or one not upgraded
            self.cost.clear("no model calls in this database")
            self.cost.change.setToolTip("This database has no model calls (an Agent Studio database or one not upgraded).")
            return
        self.cost.set_value(k.cost_usd, comparable=comparable)
        n = k.unpriced_calls
        if n and k.cost_usd.value is None:  # every call unpriced: an unknown cost, not $0
            self.cost.value.setText("unpriced")
            self.cost.set_note(f"{n:,} call{'s' if n != 1 else ''}, none priced",
                               "No model call of this range has a price (no price for its model, or no token "
                               "count).\nThe Models tab lists them.")
        elif n:
            self.cost.set_note(f"+ {n:,} unpriced call{'s' if n != 1 else ''}",
                               f"{n:,} model call{'s' if n != 1 else ''} of this range "
                               f"{'have' if n != 1 else 'has'} no price (no price for the model, or no token "
                               "count):\nnot in this total, and never counted as $0. The Models tab lists them.")
        else:
            self.cost.set_note("")
