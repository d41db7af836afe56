"""Models tab: what model calls cost and used, over time and per model.

Above: the range's totals, said with what they leave out ("$12.40 + 37 unpriced
calls"). Then cost over time stacked by model or by agent (a switch; both stacks come
with one refresh, so switching runs no query) beside tokens in/out over time, and the
per-model table. A database without model calls (Agent Studio's, or ours before
revision 0003) shows that, not empty charts.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QRadioButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from studio_analytics.analytics.results import CostTotals, ModelUsage
from studio_analytics.gui.charts.cost_chart import (
    INPUT_COLOUR,
    OUTPUT_COLOUR,
    StackedCostChart,
    TokensChart,
)
from studio_analytics.gui.charts.series_colours import SeriesColours, SeriesLegend
from studio_analytics.gui.models.model_table_model import ModelTableModel
from studio_analytics.gui.models.row_table_model import count, usd

NO_MODEL_CALLS = "This database has no model calls (an Agent Studio database or one not upgraded)"
NO_CALLS_IN_RANGE = "No model calls in this range"


def compact(n: int) -> str:
    """Token counts at a glance: 1.2M, 45.3k, 812."""
    for size, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if abs(n) >= size:
            return f"{n / size:.1f}{suffix}"
    return f"{n:,}"


def totals_text(t: CostTotals) -> str:
    """One line: the cost and what it leaves out, calls, tokens."""
    if not t.calls:
        return NO_CALLS_IN_RANGE
    plural = "s" if t.unpriced_calls != 1 else ""
    if t.priced_calls:
        cost = f"<b>{usd(t.cost_usd)}</b>" + (f" + {t.unpriced_calls:,} unpriced call{plural}" if t.unpriced_calls
                                              else "")
    else:
        cost = f"<b>unpriced</b> (none of the {t.calls:,} calls has a price)"
    parts = [cost, f"{t.calls:,} model calls ({count(t.failures)} failed)",
             f"{compact(t.input_tokens)} tokens in · {compact(t.output_tokens)} out"]
    if t.unpriced_calls:
        parts.append(f"unpriced: {compact(t.unpriced_input_tokens)} in · {compact(t.unpriced_output_tokens)} out")
    return " · ".join(parts)


class ModelsView(QWidget):
    stack_changed = Signal(str)  # "model" or "agent", after the chart was redrawn

    def __init__(self, sortable: Collection[str], default_sort: str = "cost_usd") -> None:
        super().__init__()
        self.colours = SeriesColours()
        self.usage: ModelUsage | None = None
        #: rows the tab's query returns at most; reaching it is said above the table
        self.cap: int | None = None
        self.totals = QLabel("Loading…")
        self.totals.setObjectName("modelTotals")
        self.totals.setTextFormat(Qt.TextFormat.RichText)
        self.totals.setWordWrap(True)
        self.totals.setToolTip("Cost is the sum over the model calls that have a price. A call without one (no\n"
                               "price for its model, or no token count) is counted as unpriced, never as $0.")

        self.by_model = QRadioButton("by model")
        self.by_agent = QRadioButton("by agent")
        self.by_model.setChecked(True)
        self.stack_group = QButtonGroup(self)
        for button in (self.by_model, self.by_agent):
            self.stack_group.addButton(button)
        self.by_model.toggled.connect(lambda _on: self._draw_cost())
        switch = QHBoxLayout()
        switch.addWidget(QLabel("Stack cost"))
        switch.addWidget(self.by_model)
        switch.addWidget(self.by_agent)
        switch.addStretch(1)
        self.cost_chart = StackedCostChart(self.colours)
        self.legend = SeriesLegend()
        cost_box = QWidget()
        cost_layout = QVBoxLayout(cost_box)
        cost_layout.setContentsMargins(0, 0, 0, 0)
        cost_layout.addLayout(switch)
        cost_layout.addWidget(self.cost_chart, stretch=1)
        cost_layout.addWidget(self.legend)
        self.tokens_chart = TokensChart()
        self.tokens_legend = tokens_legend = SeriesLegend()
        tokens_legend.set_entries([("tokens in", INPUT_COLOUR), ("tokens out", OUTPUT_COLOUR)])
        tokens_box = QWidget()
        tokens_layout = QVBoxLayout(tokens_box)
        tokens_layout.setContentsMargins(0, 0, 0, 0)
        tokens_layout.addWidget(self.tokens_chart, stretch=1)
        tokens_layout.addWidget(tokens_legend)
        charts = QSplitter(Qt.Orientation.Horizontal)
        charts.addWidget(cost_box)
        charts.addWidget(tokens_box)
        charts.setSizes([600, 400])

        self.model = ModelTableModel(self.colours, sortable)
        self.cap_label = QLabel()
        self.cap_label.setObjectName("capNotice")
        self.cap_label.hide()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        fields = [c.field for c in self.model.COLUMNS]
        if default_sort in fields:
            self.table.horizontalHeader().setSortIndicator(fields.index(default_sort), Qt.SortOrder.DescendingOrder)
        lower = QWidget()
        box = QVBoxLayout(lower)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.cap_label)
        box.addWidget(self.table, stretch=1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(charts)
        splitter.addWidget(lower)
        splitter.setSizes([340, 360])
        figures = QWidget()
        figures_layout = QVBoxLayout(figures)
        figures_layout.setContentsMargins(0, 0, 0, 0)
        figures_layout.addWidget(self.totals)
        figures_layout.addWidget(splitter, stretch=1)

        self.no_calls = QLabel(f"{NO_MODEL_CALLS}.\n\nModel calls are recorded by the tracker's track_model_call "
                               "into databases of revision 0003 or later (studio-analytics db upgrade).")
        self.no_calls.setObjectName("noModelCalls")
        self.no_calls.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.no_calls.setWordWrap(True)
        self.pages = QStackedWidget()
        self.pages.addWidget(figures)
        self.pages.addWidget(self.no_calls)
        QVBoxLayout(self).addWidget(self.pages)

    @property
    def stacked_by(self) -> str:
        return "model" if self.by_model.isChecked() else "agent"

    @property
    def has_model_calls(self) -> bool:
        """False while the "no model calls" page is shown."""
        return self.pages.currentWidget() is not self.no_calls

    def clear_data(self, message: str = "Loading…") -> None:
        """No figures (loading, another database, a failure): never the previous database's."""
        self.usage = None
        self.pages.setCurrentIndex(0)
        self.totals.setText(message)
        self.model.set_rows(())
        self.cap_label.hide()
        self.legend.set_entries(())
        self.tokens_legend.hide()
        self.cost_chart.clear_data(message)
        self.tokens_chart.clear_data(message)

    def show_usage(self, usage: ModelUsage | None) -> None:
        """A refresh's model usage; None: the database has no model calls."""
        self.usage = usage
        if usage is None:
            self.pages.setCurrentWidget(self.no_calls)
            self.model.set_rows(())
            return
        self.pages.setCurrentIndex(0)
        self.totals.setText(totals_text(usage.totals))
        rows = usage.rows
        self.model.set_rows(rows)
        capped = self.cap is not None and len(rows) >= self.cap and usage.total_rows > len(rows)
        self.cap_label.setText(f"Showing {len(rows):,} of {usage.total_rows:,} models in this order; "
                               "Export CSV writes all of them" if capped else "")
        self.cap_label.setVisible(capped)
        s = usage.series
        self.tokens_legend.setVisible(usage.totals.calls > 0)  # no legend beside "No model calls"
        if s is None:
            self.tokens_chart.clear_data(NO_CALLS_IN_RANGE)
        else:
            self.tokens_chart.set_tokens(s.bucket_starts, s.input_tokens, s.output_tokens, NO_CALLS_IN_RANGE)
        self._draw_cost()

    def _draw_cost(self) -> None:
        usage = self.usage
        if usage is None or usage.series is None:
            return
        s = usage.series
        stacks = s.by_model if self.stacked_by == "model" else s.by_agent
        t = usage.totals
        if not t.calls:
            empty = NO_CALLS_IN_RANGE
        elif not t.priced_calls:
            empty = f"None of the {t.calls:,} model calls of this range has a price"
        else:
            empty = "No cost in this range"
        self.cost_chart.set_stacks(s.bucket_starts, stacks, empty)
        unpriced = int(np.sum(s.unpriced_calls))
        self.cost_chart.setTitle("Cost over time (priced calls)" if not unpriced else
                                 f"Cost over time (priced calls; {unpriced:,} unpriced not included)")
        # Largest first (the bottom band), "other" last.
        entries = list(zip(self.cost_chart.names, self.cost_chart.band_colours, strict=True))
        self.legend.set_entries(entries if t.priced_calls else ())
        self.stack_changed.emit(self.stacked_by)
