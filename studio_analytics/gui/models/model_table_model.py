"""Models tab table: one row per model (ModelUsageRow); models without a price are flagged."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from studio_analytics.analytics.results import ModelUsageRow
from studio_analytics.gui.charts.series_colours import SeriesColours
from studio_analytics.gui.models.row_table_model import (
    Column,
    Index,
    RowTableModel,
    count,
    pct,
    row_cost,
    usd,
    when,
)

UNPRICED_COLOUR = QColor("#ef6c00")


def _providers(v: tuple[str, ...]) -> str:
    return ", ".join(p for p in v if p) or "—"


def _per_1k(row: ModelUsageRow) -> str:
    if row.cost_per_1k_calls is None:
        return "unpriced" if row.unpriced_calls else "—"
    return usd(row.cost_per_1k_calls)


def _price(row: ModelUsageRow) -> str:
    return "priced" if row.priced else "⚠ no price"


def unpriced_tooltip(row: ModelUsageRow) -> str:
    if not row.unpriced_calls:
        return ""
    what = (f"{row.unpriced_calls:,} call{'s' if row.unpriced_calls != 1 else ''} "
            f"({row.unpriced_input_tokens:,} tokens in, {row.unpriced_output_tokens:,} out)")
    if not row.priced:
        return (f"{row.model} has no price in the price table: its {what} are unpriced —\n"
                "left out of every cost shown, never counted as $0.")
    return f"{what} of {row.model} have no cost (no token count was recorded): left out of its cost."


def model_columns(sortable: Collection[str]) -> tuple[Column, ...]:
    """The columns; a header click re-queries, so only fields in ``sortable`` sort."""
    def col(header: str, field: str, fmt: Any = str, **kw: Any) -> Column:
        return Column(header, field, fmt, sortable=field in sortable, **kw)

    # Cost first after the name: at 1024 px the table shows what a model costs without scrolling.
    return (
        col("Model", "model", numeric=False),
        Column("Price", "priced", row_fmt=_price, numeric=False, sortable=False),
        col("Calls", "calls", count),
        col("Cost", "cost_usd", row_fmt=row_cost),
        col("Cost / 1k calls", "cost_per_1k_calls", row_fmt=_per_1k),
        col("Tokens in", "input_tokens", count),
        col("Tokens out", "output_tokens", count),
        col("Failures", "failures", count),
        col("Failure rate", "failure_rate", pct),
        col("p50", "p50_duration_ms", duration=True, percentile=True),
        col("p95", "p95_duration_ms", duration=True, percentile=True),
        col("TTFT p50", "p50_ttft_ms", duration=True, percentile=True),
        Column("Provider", "providers", _providers, numeric=False, sortable=False),
        col("Last used", "last_used", when, timed=True),
    )


class ModelTableModel(RowTableModel):
    """Rows as the query sorted them; a model's colour is the one its band has in the
    cost chart, and a model without a price reads in orange with the reason as tooltip."""

    def __init__(self, colours: SeriesColours, sortable: Collection[str]) -> None:
        super().__init__()
        self.COLUMNS = model_columns(sortable)
        self.colours = colours

    def row_at(self, row: int) -> ModelUsageRow:
        return self._rows[row]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        row: ModelUsageRow = self._rows[index.row()]
        field = self.COLUMNS[index.column()].field
        if role == Qt.ItemDataRole.DecorationRole and field == "model":
            return QColor(self.colours.colour(row.model))
        if role == Qt.ItemDataRole.ForegroundRole and field in ("model", "cost_usd", "cost_per_1k_calls", "priced"):
            # A model without a price stands out; a priced model's few calls without a token
            # count are said in its cost cell ("+ 3 unpriced") and its tooltip.
            return UNPRICED_COLOUR if not row.priced else None
        if role == Qt.ItemDataRole.ToolTipRole and field in ("model", "cost_usd", "cost_per_1k_calls", "priced"):
            return unpriced_tooltip(row) or None
        return super().data(index, role)
