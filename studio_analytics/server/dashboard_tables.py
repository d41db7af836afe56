"""The dashboard's tables: one card per table with every row of its payload, each cell
carrying its raw value (``data-v``) for the page's CSV export."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from studio_analytics.server.dashboard_svg import esc, fmt_count, fmt_ms, fmt_pct, fmt_usd


def raw_value(value: Any) -> str:
    """A cell's value as the CSV writes it: numbers in full, lists joined, NULL empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "; ".join(raw_value(v) if not isinstance(v, list | tuple) else f"{v[0]} ({v[1]})" for v in value)
    return str(value)


def time_text(iso: str | None) -> str:
    if not iso:
        return "—"
    d = datetime.fromisoformat(iso)
    return f"{d.strftime('%b')} {d.day} {d.strftime('%H:%M')}"


def or_dash(fmt: Callable[[float], str]) -> Callable[[Any], str]:
    return lambda v: "—" if v is None else fmt(v)


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    header: str
    kind: str  # count, ms, pct, usd, float, text, time, list
    long: bool = False  # free text that may wrap (messages, lists); short text stays on one line

    def shown(self, value: Any) -> str:
        if self.kind == "text":
            return "—" if value in (None, "") else str(value)
        if self.kind == "list":
            return raw_value(value) or "—"
        if self.kind == "time":
            return time_text(value)
        fmt = {"count": fmt_count, "ms": fmt_ms, "pct": fmt_pct, "usd": fmt_usd,
               "float": lambda v: f"{v:,.2f}"}[self.kind]
        return or_dash(fmt)(value)

    @property
    def numeric(self) -> bool:
        return self.kind in ("count", "ms", "pct", "usd", "float")


AGENT_COLUMNS = (
    Column("agent_name", "Agent", "text"), Column("executions", "Executions", "count"),
    Column("successes", "Successes", "count"), Column("failures", "Failures", "count"),
    Column("timeouts", "Timeouts", "count"), Column("success_rate", "Success rate", "pct"),
    Column("avg_duration_ms", "Avg duration", "ms"), Column("p95_duration_ms", "p95 duration", "ms"),
    Column("total_tool_calls", "Tool calls", "count"), Column("total_tokens", "Tokens", "count"),
    Column("cost_usd", "Cost", "usd"), Column("last_used", "Last used (UTC)", "time"),
)
TOOL_COLUMNS = (
    Column("tool_name", "Tool", "text"), Column("calls", "Calls", "count"), Column("successes", "Successes", "count"),
    Column("failures", "Errors", "count"), Column("success_rate", "Success rate", "pct"),
    Column("avg_duration_ms", "Avg duration", "ms"), Column("p95_duration_ms", "p95 duration", "ms"),
    Column("external_apis", "External APIs", "list", long=True), Column("api_error_rate", "API error rate", "pct"),
    Column("top_agents", "Top agents (calls)", "list", long=True), Column("last_used", "Last used (UTC)", "time"),
)
WORKFLOW_TABLE_COLUMNS = (
    Column("workflow_type", "Workflow", "text"), Column("runs", "Runs", "count"),
    Column("successes", "Successes", "count"), Column("success_rate", "Success rate", "pct"),
    Column("avg_duration_ms", "Avg duration", "ms"), Column("p95_duration_ms", "p95 duration", "ms"),
    Column("avg_agent_count", "Avg agents", "float"), Column("total_tool_calls", "Tool calls", "count"),
    Column("total_tokens", "Tokens", "count"), Column("avg_satisfaction", "Satisfaction", "float"),
    Column("avg_completion_rate", "Completion", "pct"),
)
ERROR_COLUMNS = (
    Column("signature", "Error", "text", long=True), Column("count", "Count", "count"), Column("share", "Share", "pct"),
    Column("status", "Status", "text"), Column("top_agent", "Agent", "text"), Column("top_tool", "Tool", "text"),
    Column("first_seen", "First seen (UTC)", "time"), Column("last_seen", "Last seen (UTC)", "time"),
    Column("example", "Example", "text", long=True),
)
MODEL_COLUMNS = (
    Column("model", "Model", "text"), Column("providers", "Provider", "list"), Column("calls", "Calls", "count"),
    Column("failures", "Failures", "count"), Column("p50_duration_ms", "p50 duration", "ms"),
    Column("p95_duration_ms", "p95 duration", "ms"), Column("p50_ttft_ms", "p50 first token", "ms"),
    Column("input_tokens", "Input tokens", "count"), Column("output_tokens", "Output tokens", "count"),
    Column("cost_usd", "Cost", "usd"), Column("cost_per_1k_calls", "Cost / 1k calls", "usd"),
    Column("unpriced_calls", "Unpriced calls", "count"),
)


def table_card(table_id: str, title: str, columns: Sequence[Column], rows: Sequence[Mapping[str, Any]], *,
           file_name: str, sub: str = "", empty: str) -> str:
    """A card with a table of every row, and its CSV button (the script reads the cells'
    ``data-v``; ``data-t="s"`` marks text, which gets the formula guard)."""
    head = (f'<div class="table-head"><h2>{esc(title)}</h2>'
            + (f'<button type="button" class="csv" data-table="{table_id}" data-file="{esc(file_name)}" '
               f'title="download this table as CSV" aria-label="{esc(title)} as CSV">CSV</button>'
               if rows else "") + "</div>")
    sub_html = f'<p class="sub">{esc(sub)}</p>' if sub else ""
    if not rows:
        return f'<section class="card wide">{head}{sub_html}<p class="empty-table">{esc(empty)}</p></section>'
    ths = "".join(f'<th data-col="{esc(c.key)}" class="{"n" if c.numeric else ""}">{esc(c.header)}</th>'
                  for c in columns)
    body = []
    for row in rows:
        tds = []
        for c in columns:
            v = row.get(c.key)
            kind = "" if c.numeric else ' data-t="s"'
            css = "n" if c.numeric else "t long" if c.long else "t"
            tds.append(f'<td class="{css}" data-v="{esc(raw_value(v))}"{kind}>{esc(c.shown(v))}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    return (f'<section class="card wide">{head}{sub_html}<div class="scroll" id="scroll-{table_id}">'
            f'<table id="{table_id}"><thead><tr>{ths}</tr></thead><tbody>{"".join(body)}</tbody></table>'
            "</div></section>")
