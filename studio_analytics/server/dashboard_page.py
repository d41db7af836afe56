"""The web dashboard (``GET /api/analytics/dashboard``): one self-contained HTML page
built from the ``studio-analytics/report/v1`` payloads the REST endpoints serve.

A pure function of those payloads, so the page shows exactly the CLI's figures: KPI
cards, charts drawn here as inline SVG (:mod:`dashboard_svg`), and tables whose cells
carry their raw value (``data-v``) for the CSV export. Style and script are package
files inlined into the page; it refers to no URL of another origin, so it works offline
and :data:`CONTENT_SECURITY_POLICY` can forbid everything else.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from studio_analytics.analytics.kpis import MIN_RUNS_TO_COMPARE
from studio_analytics.server.dashboard_svg import (
    DURATION_STEPS,
    BarSeries,
    TimeAxis,
    TimeSeries,
    bar_chart,
    column_chart,
    empty_chart,
    esc,
    fmt_compact,
    fmt_count,
    fmt_ms,
    fmt_pct,
    fmt_usd,
    line_chart,
)
from studio_analytics.server.dashboard_tables import (
    AGENT_COLUMNS,
    ERROR_COLUMNS,
    MODEL_COLUMNS,
    TOOL_COLUMNS,
    WORKFLOW_TABLE_COLUMNS,
    or_dash,
    raw_value,
    table_card,
    time_text,
)

RANGES = ("24h", "7d", "30d")
RANGE_DAYS = {"24h": 1, "7d": 7, "30d": 30}
PERIOD_WORDS = {"24h": "prior 24 h", "7d": "prior 7 days", "30d": "prior 30 days"}
BUCKET_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
NO_EXECUTIONS = "no executions in this range"
NO_MODEL_CALLS = "no model calls in this database"
#: bars a chart shows; the tables below the charts list every row of the payload
CHART_ROWS = 12
#: columns a workflow chart aims at: hourly runs of a week are re-binned to a few hours
WORKFLOW_COLUMNS = 42
WORKFLOW_SERIES = 6
REQUIRED = ("summary", "agents", "tools", "workflows", "errors", "models")


@cache
def _asset(name: str) -> str:
    return resources.files("studio_analytics.server").joinpath("dashboard_assets", name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


@cache
def content_security_policy() -> str:
    """The header value the page can be served with: its own inline style and script
    (by hash), requests to its own origin, nothing from anywhere else."""
    return (f"default-src 'none'; style-src {_csp_hash(_asset('dashboard.css'))}; "
            f"script-src {_csp_hash(_asset('dashboard.js'))}; connect-src 'self'; img-src 'self' data:; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


# --- KPI cards -----------------------------------------------------------------------

def _change(value: float | None, previous: float | None, *, comparable: bool, better: bool | None,
            period: str) -> str:
    """The card's comparison line, as the window words it."""
    if not comparable and previous not in (None, 0):
        return '<p class="change">too few runs to compare</p>'
    if value is None or previous in (None, 0) or not comparable:
        return f'<p class="change">{"no " + esc(period) if previous in (None, 0) else "&#160;"}</p>'
    change = (value - previous) / abs(previous)  # type: ignore[operator]
    arrow = "▲" if change > 0 else "▼" if change < 0 else "■"
    css = "neutral" if better is None or change == 0 else "good" if (change > 0) == better else "bad"
    text = (f"{arrow} {1 + change:,.0f}× the {period}" if change > 9
            else f"{arrow} {abs(change) * 100:.1f}% vs {period}")
    return f'<p class="change {css}" title="{esc(period)}: {esc(previous)}">{esc(text)}</p>'


def _card(key: str, title: str, value: float | None, shown: str, *, change: str = "", note: str = "") -> str:
    note_html = f'<p class="note">{esc(note)}</p>' if note else ""
    return (f'<div class="kpi" id="kpi-{key}" data-v="{esc(raw_value(value))}"><h2>{esc(title)}</h2>'
            f'<p class="value">{esc(shown)}</p>{change}{note_html}</div>')


def _kpis(payloads: Mapping[str, Mapping[str, Any]], period: str) -> str:
    k = payloads["summary"]["data"]["kpis"]
    comparable = k["previous_executions"] >= MIN_RUNS_TO_COMPARE

    def cmp(v: float | None, p: float | None, better: bool | None) -> str:
        return _change(v, p, comparable=comparable, better=better, period=period)

    errors = payloads["errors"]["data"]
    agents = payloads["agents"]["data"]
    rate, avg, sessions = k["success_rate"], k["avg_response_time_ms"], k["active_sessions"]
    tokens = sum(r.get("total_tokens") or 0 for r in agents["rows"])
    token_in = sum(r.get("input_tokens") or 0 for r in agents["rows"])
    token_out = sum(r.get("output_tokens") or 0 for r in agents["rows"])
    token_note = f"input {fmt_compact(token_in)} · output {fmt_compact(token_out)}" if token_in or token_out else ""
    if agents["total_rows"] > len(agents["rows"]):
        token_note = f"the {len(agents['rows'])} busiest of {agents['total_rows']:,} agents"
    cards = [
        _card("executions", "Executions", k["total_executions"], fmt_count(k["total_executions"]),
              change=cmp(k["total_executions"], k["previous_executions"], None)),
        _card("success-rate", "Success rate", rate["value"], or_dash(fmt_pct)(rate["value"]),
              change=cmp(rate["value"], rate["previous"], True)),
        _card("failures", "Failures", k["total_failures"], fmt_count(k["total_failures"]),
              note=(f"{errors['total_failures']:,} failed · {errors['total_timeouts']:,} timed out"
                    if k["total_failures"] else "")),
        _card("avg-duration", "Avg duration", avg["value"], or_dash(fmt_ms)(avg["value"]),
              change=cmp(avg["value"], avg["previous"], False)),
        _card("sessions", "Active sessions", sessions["value"], or_dash(fmt_count)(sessions["value"]),
              change=cmp(sessions["value"], sessions["previous"], True)),
        _card("tokens", "Tokens", tokens, fmt_compact(tokens), note=token_note),
        _cost_card(payloads, k, cmp),
    ]
    return '<section class="kpis">' + "".join(cards) + "</section>"


def _cost_card(payloads: Mapping[str, Mapping[str, Any]], k: Mapping[str, Any],
               cmp: Callable[[float | None, float | None, bool | None], str]) -> str:
    cost = k.get("cost_usd")
    if cost is None or payloads["models"]["data"] is None:  # an Agent Studio database
        return _card("cost", "Cost", None, "—", note=NO_MODEL_CALLS)
    n = k.get("unpriced_calls") or 0
    if cost["value"] is None and n:  # every call unpriced: an unknown cost, never $0
        return _card("cost", "Cost", None, "unpriced", note=f"{n:,} call{'s' if n != 1 else ''}, none priced")
    note = f"+ {n:,} unpriced call{'s' if n != 1 else ''}" if n else ""
    # more spending is not worse in itself (it follows use): its change is not coloured
    return _card("cost", "Cost", cost["value"], or_dash(fmt_usd)(cost["value"]),
                 change=cmp(cost["value"], cost["previous"], None), note=note)


# --- charts --------------------------------------------------------------------------

def _legend(items: Sequence[tuple[str, str]]) -> str:
    return ('<ul class="legend">' + "".join(f'<li><span class="sw {css}"></span>{esc(name)}</li>'
                                            for name, css in items) + "</ul>")


def _chart_card(title: str, sub: str, legend: Sequence[tuple[str, str]], chart: str, *, card_id: str) -> str:
    has_chart = not chart.startswith('<p class="chart-empty"')
    return (f'<section class="card" id="{card_id}"><h2>{esc(title)}</h2><p class="sub">{esc(sub)}</p>'
            + (_legend(legend) if legend and has_chart else "") + chart + "</section>")


def _axis(series: Mapping[str, Any]) -> TimeAxis:
    return TimeAxis(series["bucket_starts"], BUCKET_SECONDS.get(series.get("bucket", "hour"), 3600))


def _executions_chart(summary: Mapping[str, Any], bucket: str) -> str:
    s = summary["data"]["series"]
    ex, fail, tout = s["executions"], s["failures"], s["timeouts"]
    rest = [max(e - f - t, 0) for e, f, t in zip(ex, fail, tout, strict=True)]
    series = [TimeSeries("succeeded or running", rest, "ok"), TimeSeries("failed", fail, "fail"),
              TimeSeries("timed out", tout, "slow")]
    chart = column_chart(_axis(s), series, title="Executions over time", empty_message=NO_EXECUTIONS)
    return _chart_card("Executions over time", f"per {bucket} (UTC)",
                       [(x.name, x.css) for x in series], chart, card_id="chart-executions")


def _duration_chart(summary: Mapping[str, Any], bucket: str) -> str:
    s = summary["data"]["series"]
    series = [TimeSeries("average", s["avg_duration_ms"], "c0"), TimeSeries("p95", s["p95_duration_ms"], "c1")]
    chart = line_chart(_axis(s), series, title="Execution duration over time", fmt=fmt_ms,
                       empty_message=NO_EXECUTIONS, steps=DURATION_STEPS)
    return _chart_card("Execution duration", f"average and p95 per {bucket}",
                       [(x.name, x.css) for x in series], chart, card_id="chart-duration")


def _agents_chart(agents: Mapping[str, Any]) -> str:
    rows = agents["data"]["rows"][:CHART_ROWS]
    series = [
        BarSeries("succeeded", [r["successes"] for r in rows], "ok"),
        BarSeries("failed", [r["failures"] for r in rows], "fail"),
        BarSeries("timed out", [r["timeouts"] for r in rows], "slow"),
        BarSeries("running", [max(r["executions"] - r["successes"] - r["failures"] - r["timeouts"], 0)
                              for r in rows], "other"),
    ]
    chart = bar_chart([r["agent_name"] for r in rows], series, title="Executions per agent",
                      note=lambda i: "" if rows[i]["success_rate"] is None else f"{fmt_pct(rows[i]['success_rate'])} ok",
                      empty_message=NO_EXECUTIONS)
    total = agents["data"]["total_rows"]
    sub = "executions per agent" + (f" — the {len(rows)} busiest of {total:,}" if total > len(rows) else "")
    return _chart_card("Agent usage", sub, [(s.name, s.css) for s in series], chart, card_id="chart-agents")


def _tools_chart(tools: Mapping[str, Any]) -> str:
    rows = sorted(tools["data"]["rows"], key=lambda r: -r["calls"])[:CHART_ROWS]
    series = [
        BarSeries("succeeded", [r["successes"] for r in rows], "ok"),
        BarSeries("errors", [r["failures"] for r in rows], "fail"),
        BarSeries("other", [max(r["calls"] - r["successes"] - r["failures"], 0) for r in rows], "other"),
    ]
    chart = bar_chart([r["tool_name"] for r in rows], series, title="Calls per tool",
                      note=lambda i: f"{rows[i]['failures']:,} errors" if rows[i]["failures"] else "",
                      empty_message="no tool calls in this range")
    total = tools["data"]["total_rows"]
    sub = "calls per tool" + (f" — the {len(rows)} most used of {total:,}" if total > len(rows) else "")
    return _chart_card("Tool frequency", sub, [(s.name, s.css) for s in series], chart, card_id="chart-tools")


def _workflow_chart(workflows: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    """Runs of the busiest workflow types over time, stacked. A week of hourly buckets
    holds a few runs a type: consecutive buckets are summed into wider columns (runs are
    counts, so a sum is exact), and the subtitle says how wide."""
    data = workflows["data"]
    rows = data["rows"][:WORKFLOW_SERIES]
    trends = data.get("trends") or {}
    s = summary["data"]["series"]
    size = BUCKET_SECONDS.get(s.get("bucket", "hour"), 3600)
    names = [r["workflow_type"] for r in rows if r["workflow_type"] in trends]
    if not names:
        return _chart_card("Workflow trends", "runs over time", [], empty_chart("no workflow runs in this range"),
                           card_id="chart-workflows")
    starts = trends[names[0]][0]
    group = _group_size(len(starts), size)
    binned = [starts[i] for i in range(0, len(starts), group)]
    series = []
    for i, name in enumerate(names):
        runs = trends[name][1]
        series.append(TimeSeries(name, [sum(runs[j:j + group]) for j in range(0, len(runs), group)], f"c{i}"))
    axis = TimeAxis(binned, size * group, end=float(starts[-1]) + size)
    chart = column_chart(axis, series, title="Workflow runs over time",
                         empty_message="no workflow runs in this range")
    width = _duration_words(size * group)
    more = f" — the {len(names)} busiest of {data['total_rows']:,} types" if data["total_rows"] > len(names) else ""
    return _chart_card("Workflow trends", f"runs per {width}{more}", [(x.name, x.css) for x in series], chart,
                       card_id="chart-workflows")


def _group_size(n: int, size: int) -> int:
    """Buckets summed per column: whole hours (1, 2, 3, 4, 6, 12, 24) or days (1, 7)."""
    steps = (1, 2, 3, 4, 6, 12, 24) if size < 86400 else (1, 7)
    return next((g for g in steps if n / g <= WORKFLOW_COLUMNS), steps[-1])


def _duration_words(seconds: int) -> str:
    if seconds % 86400 == 0:
        days = seconds // 86400
        return "day" if days == 1 else f"{days} days"
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "hour" if hours == 1 else f"{hours} h"
    return f"{seconds // 60} min"


def _workflow_performance_chart(workflows: Mapping[str, Any]) -> str:
    """How each workflow type performs: runs, how many succeeded, their average duration."""
    rows = workflows["data"]["rows"][:CHART_ROWS]
    series = [BarSeries("succeeded", [r["successes"] for r in rows], "ok"),
              BarSeries("failed or unfinished", [r["runs"] - r["successes"] for r in rows], "fail")]

    def note(i: int) -> str:
        r = rows[i]
        parts = ([] if r["success_rate"] is None else [f"{fmt_pct(r['success_rate'])} ok"]) + (
            [] if r["avg_duration_ms"] is None else [f"avg {fmt_ms(r['avg_duration_ms'])}"])
        return " · ".join(parts)

    chart = bar_chart([r["workflow_type"] for r in rows], series, title="Runs per workflow", note=note,
                      empty_message="no workflow runs in this range")
    return _chart_card("Workflow performance", "runs per workflow type", [(s.name, s.css) for s in series], chart,
                       card_id="chart-workflow-performance")


# --- the page ------------------------------------------------------------------------

def _range_nav(range_key: str) -> str:
    links = []
    for key in RANGES:
        current = ' aria-current="page"' if key == range_key else ""
        links.append(f'<a href="?{urlencode({"range": key})}"{current}>{key}</a>')
    return '<nav class="ranges" aria-label="time range">' + "".join(links) + "</nav>"


def _range_line(rng: Mapping[str, Any]) -> str:
    buckets = {"minute": "minute", "hour": "hourly", "day": "daily"}.get(rng["bucket"], rng["bucket"])
    return (f'<p class="range-line">{esc(time_text(rng["start"]))} – {esc(time_text(rng["end"]))} UTC'
            f' · {esc(buckets)} buckets</p>')


def _json_links(base_path: str, rng: Mapping[str, Any], range_key: str) -> str:
    """Where a script gets the same figures: the REST endpoints of this range."""
    query = ({"days": RANGE_DAYS[range_key]} if range_key in RANGE_DAYS
             else {"start_date": rng["start"], "end_date": rng["end"]})
    base = base_path.rstrip("/")
    paths = (("summary", "summary"), ("agents", "agents/usage"), ("tools", "tools/usage"),
             ("workflows", "workflows/performance"), ("errors", "errors/summary"))
    links = " · ".join(f'<a href="{esc(base)}/{p}?{esc(urlencode(query))}">{esc(name)}</a>' for name, p in paths)
    return f"<footer>The same figures as JSON: {links}. Times are UTC.</footer>"


def _check(payloads: Mapping[str, Any]) -> None:
    missing = [k for k in REQUIRED if k not in payloads]
    if missing:
        raise ValueError(f"render_dashboard needs the report payloads {', '.join(missing)}")


def render_dashboard(payloads: Mapping[str, dict], *, range_key: str, generated_at: datetime,
                     base_path: str = "/api/analytics") -> str:
    """The whole page: ``payloads`` are the report/v1 dicts of "summary", "agents",
    "tools", "workflows", "errors" and "models" (whose ``data`` is None on an Agent
    Studio database); ``range_key`` is "24h", "7d", "30d" or "custom"."""
    _check(payloads)
    rng = payloads["summary"]["range"]
    bucket = rng["bucket"]
    period = PERIOD_WORDS.get(range_key, "prior period")
    workflows = payloads["workflows"]
    wf_charts = _workflow_performance_chart(workflows)
    if workflows["data"].get("trends"):
        wf_charts = _workflow_chart(workflows, payloads["summary"]) + wf_charts
    models = payloads["models"]["data"]
    errors = payloads["errors"]["data"]
    error_sub = ("" if not errors["groups"] else
                 f"{errors['total_failures']:,} failures and {errors['total_timeouts']:,} timeouts, "
                 f"error rate {or_dash(fmt_pct)(errors['error_rate'])}; similar messages grouped")
    suffix = range_key if range_key in RANGES else "custom"
    tables = [
        table_card("t-errors", "Top errors", ERROR_COLUMNS, errors["groups"], file_name=f"errors-{suffix}.csv",
               sub=error_sub, empty="no errors in this range"),
        table_card("t-agents", "Agents", AGENT_COLUMNS, payloads["agents"]["data"]["rows"],
               file_name=f"agents-{suffix}.csv", empty=NO_EXECUTIONS),
        table_card("t-tools", "Tools", TOOL_COLUMNS, payloads["tools"]["data"]["rows"],
               file_name=f"tools-{suffix}.csv", empty="no tool calls in this range"),
        table_card("t-workflows", "Workflows", WORKFLOW_TABLE_COLUMNS, workflows["data"]["rows"],
               file_name=f"workflows-{suffix}.csv", empty="no workflow runs in this range"),
        (table_card("t-models", "Models and cost", MODEL_COLUMNS, models["rows"], file_name=f"models-{suffix}.csv",
                empty="no model calls in this range") if models is not None else
         f'<section class="card wide"><h2>Models and cost</h2><p class="empty-table">{NO_MODEL_CALLS}</p></section>'),
    ]
    content = (
        f'<header class="top"><h1>Studio analytics</h1>{_range_nav(range_key)}'
        f'<span class="stamp" id="updated" data-v="{esc(generated_at.isoformat())}">'
        f'updated {esc(generated_at.strftime("%H:%M:%S"))} UTC</span></header>'
        + _range_line(rng) + _kpis(payloads, period)
        + '<div class="grid">' + _executions_chart(payloads["summary"], bucket)
        + _duration_chart(payloads["summary"], bucket) + _agents_chart(payloads["agents"])
        + _tools_chart(payloads["tools"]) + wf_charts + "</div>"
        + '<div class="grid tables">' + "".join(tables) + "</div>"
        + _json_links(base_path, rng, range_key)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        '<link rel="icon" href="data:,">'  # no favicon request (it would be a 404 in every log)
        f"<title>Studio analytics — {esc(range_key)}</title><style>{_asset('dashboard.css')}</style></head>"
        '<body><div class="page"><p id="refresh-status" role="status"></p>'
        f'<main id="dash-content">{content}</main></div>'
        f"<script>{_asset('dashboard.js')}</script></body></html>\n"
    )
