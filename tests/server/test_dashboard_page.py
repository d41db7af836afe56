"""The dashboard page rendered from the real CLI's report/v1 JSON: every figure equals the
payload's, every name is escaped, the page names no other origin, its SVG is well-formed;
an empty range and an Agent Studio database say so instead of drawing empty charts."""

from __future__ import annotations

import contextlib
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlalchemy import text

from studio_analytics.cli import run_cli
from studio_analytics.db.engine import create_db_engine
from studio_analytics.demo.generator import backfill
from studio_analytics.server.dashboard_page import (
    NO_EXECUTIONS,
    NO_MODEL_CALLS,
    content_security_policy,
    render_dashboard,
)
from studio_analytics.server.dashboard_svg import (
    DURATION_STEPS,
    TimeAxis,
    TimeSeries,
    column_chart,
    esc,
    fmt_compact,
    fmt_ms,
    fmt_usd,
    nice_ticks,
    time_ticks,
)
from tests.integration.test_agent_studio_compat import AGENT_STUDIO_DDL, SEED

REPORTS = ("summary", "agents", "tools", "workflows", "errors", "models")
GENERATED = datetime(2026, 12, 2, 14, 5, 9, tzinfo=UTC)
HOSTILE_AGENT = "<script>alert(1)</script>"
HOSTILE_TOOL = '"; DROP TABLE agents; --'
HOSTILE_WORKFLOW = "</svg><img src=x onerror=alert(2)>\x07"


def cli_payloads(url: str, *range_args: str) -> dict[str, dict[str, Any]]:
    """What `studio-analytics report NAME --format json` prints, for each report."""
    payloads = {}
    for name in REPORTS:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert run_cli(["report", name, "--db", url, "--format", "json", *range_args]) == 0
        payloads[name] = json.loads(out.getvalue())
    return payloads


@pytest.fixture(scope="module")
def demo_payloads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'demo.sqlite3'}"
    backfill(url, executions=1500, days=14, seed=19)
    return cli_payloads(url, "--range", "7d")


@pytest.fixture(scope="module")
def hostile_payloads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """A demo database whose names are markup and SQL, as an agent could call itself."""
    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'hostile.sqlite3'}"
    backfill(url, executions=600, days=3, seed=5)
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE agent_execution_metrics SET agent_name = :n WHERE agent_name = 'WebAgent'"),
                     {"n": HOSTILE_AGENT})
        conn.execute(text("UPDATE tool_usage_metrics SET tool_name = :n WHERE tool_name = 'web_search'"),
                     {"n": HOSTILE_TOOL})
        conn.execute(text("UPDATE workflow_metrics SET workflow_type = :n"), {"n": HOSTILE_WORKFLOW})
    engine.dispose()
    assert run_cli(["db", "rebuild-rollups", "--db", url]) == 0  # the figures of whole hours come from rollups
    return cli_payloads(url, "--range", "7d")


@pytest.fixture(scope="module")
def empty_payloads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'empty.sqlite3'}"
    assert run_cli(["db", "upgrade", "--db", url]) == 0
    return cli_payloads(url, "--range", "24h")


class Page(HTMLParser):
    """The parts of the page a test reads: elements by id with their attributes and text,
    table cells, every attribute, the inline style and script, the SVG sources."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.html = html
        self.attrs: list[tuple[str, str, str | None]] = []
        self.by_id: dict[str, dict[str, Any]] = {}
        self.tables: dict[str, list[list[dict[str, str | None]]]] = {}
        self.tags: list[str] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._open: list[tuple[str, str | None]] = []  # (tag, id)
        self._table: str | None = None
        self._raw: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        self.attrs.extend((tag, k, v) for k, v in attrs)
        if a.get("id"):
            self.by_id[a["id"]] = {"attrs": a, "text": ""}
        if tag == "table":
            self._table = a.get("id")
            self.tables[self._table or ""] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag == "td" and self._table is not None:
            self.tables[self._table][-1].append(a)
        if tag in ("script", "style"):
            self._raw = tag
        if tag not in ("meta", "br", "img", "input", "link"):  # void elements have no end tag
            self._open.append((tag, a.get("id")))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend((tag, k, v) for k, v in attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        if tag in ("script", "style"):
            self._raw = None
        while any(t == tag for t, _ in self._open):
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._raw == "script":
            self.scripts.append(data)
        elif self._raw == "style":
            self.styles.append(data)
        for _, ident in self._open:
            if ident:
                self.by_id[ident]["text"] += data + " "

    def text_of(self, ident: str) -> str:
        return " ".join(self.by_id[ident]["text"].split())

    def svgs(self) -> list[str]:
        """Each outermost ``<svg>…</svg>`` (charts nest one for the plot)."""
        found, depth, start = [], 0, 0
        for m in re.finditer(r"<svg\b|</svg>", self.html):
            if m.group() == "<svg":
                depth += 1
                if depth == 1:
                    start = m.start()
            else:
                depth -= 1
                if depth == 0:
                    found.append(self.html[start:m.end()])
        return found


def render(payloads: dict[str, dict[str, Any]], range_key: str = "7d") -> Page:
    return Page(render_dashboard(payloads, range_key=range_key, generated_at=GENERATED))


def num(cell: dict[str, str | None]) -> float | None:
    v = cell["data-v"]
    return None if v == "" else float(v)  # type: ignore[arg-type]


# --- figures ---------------------------------------------------------------------------

def test_kpi_cards_show_the_summary_figures(demo_payloads: dict[str, dict[str, Any]]) -> None:
    page = render(demo_payloads)
    k = demo_payloads["summary"]["data"]["kpis"]
    assert k["total_executions"] > 100  # a demo week, not an empty one

    def card(key: str) -> tuple[float | None, str]:
        return num(page.by_id[f"kpi-{key}"]["attrs"]), page.text_of(f"kpi-{key}")

    value, shown = card("executions")
    assert value == k["total_executions"] and f"{k['total_executions']:,}" in shown
    value, shown = card("success-rate")
    assert value == k["success_rate"]["value"] and f"{k['success_rate']['value'] * 100:.1f}%" in shown
    value, shown = card("failures")
    errors = demo_payloads["errors"]["data"]
    assert value == k["total_failures"] == errors["total_failures"] + errors["total_timeouts"]
    assert f"{errors['total_failures']:,} failed · {errors['total_timeouts']:,} timed out" in shown
    value, shown = card("avg-duration")
    assert value == k["avg_response_time_ms"]["value"] and fmt_ms(value) in shown
    value, shown = card("sessions")
    assert value == k["active_sessions"]["value"] and f"{value:,.0f}" in shown
    value, shown = card("tokens")
    assert value == sum(r["total_tokens"] for r in demo_payloads["agents"]["data"]["rows"]) > 0
    assert value == demo_payloads["models"]["data"]["totals"]["input_tokens"] + \
        demo_payloads["models"]["data"]["totals"]["output_tokens"]
    value, shown = card("cost")
    assert value == k["cost_usd"]["value"] and fmt_usd(value) in shown
    assert f"+ {k['unpriced_calls']:,} unpriced call" in shown
    # the comparison with the previous period, as the window words it
    change = (k["total_executions"] - k["previous_executions"]) / k["previous_executions"]
    assert f"{abs(change) * 100:.1f}% vs prior 7 days" in page.text_of("kpi-executions")
    rate = k["success_rate"]
    change = (rate["value"] - rate["previous"]) / rate["previous"]
    assert f"{'▲' if change > 0 else '▼'} {abs(change) * 100:.1f}%" in page.text_of("kpi-success-rate")


TABLES = {
    "t-agents": ("agents", "rows", "agent_name"),
    "t-tools": ("tools", "rows", "tool_name"),
    "t-workflows": ("workflows", "rows", "workflow_type"),
    "t-errors": ("errors", "groups", "signature"),
    "t-models": ("models", "rows", "model"),
}


@pytest.mark.parametrize("table_id", TABLES)
def test_tables_hold_every_row_of_the_payload(demo_payloads: dict[str, dict[str, Any]], table_id: str) -> None:
    page = render(demo_payloads)
    report, key, name = TABLES[table_id]
    rows = demo_payloads[report]["data"][key]
    assert rows, f"the demo has {report}"
    cells = page.tables[table_id][1:]  # after the header row
    assert len(cells) == len(rows)
    header = [a["data-col"] for tag, k, a in _header_cells(page.html, table_id)]
    for row, tds in zip(rows, cells, strict=True):
        assert tds[0]["data-v"] == row[name]
        for col, td in zip(header, tds, strict=True):
            v = row[col]
            if isinstance(v, bool) or v is None or isinstance(v, str | list):
                continue
            assert num(td) == v, (table_id, col)  # the payload's number, in full


def _header_cells(html: str, table_id: str) -> list[tuple[str, str, dict[str, str]]]:
    table = re.search(rf'<table id="{table_id}">(.*?)</thead>', html, flags=re.S)
    assert table
    return [("th", "data-col", {"data-col": m}) for m in re.findall(r'data-col="([^"]+)"', table.group(1))]


def test_charts_draw_the_payload_figures(demo_payloads: dict[str, dict[str, Any]]) -> None:
    page = render(demo_payloads)
    agents = page.text_of("chart-agents")
    for row in demo_payloads["agents"]["data"]["rows"][:12]:
        assert row["agent_name"] in agents and f"{row['executions']:,} · " in agents
    tools = page.text_of("chart-tools")
    for row in sorted(demo_payloads["tools"]["data"]["rows"], key=lambda r: -r["calls"])[:12]:
        assert row["tool_name"] in tools and f"{row['calls']:,}" in tools
    # each bucket's tooltip carries the series' figures of that bucket
    series = demo_payloads["summary"]["data"]["series"]
    tips = re.findall(r"succeeded or running (\d+), failed (\d+), timed out (\d+)", page.text_of("chart-executions"))
    assert [(int(b), int(c)) for _, b, c in tips] == list(zip(series["failures"], series["timeouts"], strict=True))
    assert [int(a) for a, _, _ in tips] == [
        max(e - f - t, 0) for e, f, t in zip(series["executions"], series["failures"], series["timeouts"], strict=True)]
    assert sum(series["executions"]) > 0
    workflows = page.text_of("chart-workflows")
    assert "runs per 6 h" in workflows  # a week of hourly buckets, summed in sixes
    for name, trend in demo_payloads["workflows"]["data"]["trends"].items():
        assert name in workflows and sum(trend[1]) > 0
    assert "no executions" not in page.html


def test_svg_is_well_formed_with_readable_axes(demo_payloads: dict[str, dict[str, Any]]) -> None:
    page = render(demo_payloads)
    svgs = page.svgs()
    assert len(svgs) == 6  # executions, duration, agents, tools, workflow trends and performance
    for svg in svgs:
        root = ET.fromstring(svg)
        assert root.tag == "svg"
        labels = [t.text or "" for t in root.iter("text")]
        assert all("e+" not in label and "nan" not in label.lower() for label in labels)
    duration = ET.fromstring(svgs[1])
    ticks = [t.text for t in duration.iter("text") if t.get("class") == "tick y"]
    assert ticks and all(re.fullmatch(r"\d+(\.\d)? (ms|s|min|h)", t or "") for t in ticks), ticks


# --- escaping and origins -------------------------------------------------------------

def test_names_render_as_text(hostile_payloads: dict[str, dict[str, Any]]) -> None:
    names = {r["agent_name"] for r in hostile_payloads["agents"]["data"]["rows"]}
    assert HOSTILE_AGENT in names  # the database really holds it
    assert HOSTILE_TOOL in {r["tool_name"] for r in hostile_payloads["tools"]["data"]["rows"]}
    html = render_dashboard(hostile_payloads, range_key="7d", generated_at=GENERATED)
    page = Page(html)
    assert page.tags.count("script") == 1 and "img" not in page.tags  # only the page's own script
    assert HOSTILE_AGENT not in html and esc(HOSTILE_AGENT) in html
    assert HOSTILE_AGENT in page.text_of("chart-agents") and HOSTILE_TOOL in page.text_of("chart-tools")
    agent_cells = [row[0]["data-v"] for row in page.tables["t-agents"][1:]]
    assert HOSTILE_AGENT in agent_cells
    shown = HOSTILE_WORKFLOW.replace("\x07", "\ufffd")  # XML forbids the control character
    assert shown in page.text_of("chart-workflows")
    for svg in page.svgs():
        ET.fromstring(svg)


URL_ATTRS = {"src", "href", "action", "formaction", "poster", "data", "srcset", "xlink:href", "background",
             "manifest", "ping", "cite"}


@pytest.mark.parametrize("fixture", ["demo_payloads", "empty_payloads"])
def test_no_url_of_another_origin(request: pytest.FixtureRequest, fixture: str) -> None:
    page = render(request.getfixturevalue(fixture))
    external = re.compile(r"^\s*(https?:|//|[a-z][a-z0-9+.-]*://)", re.I)
    urls = [(tag, k, v) for tag, k, v in page.attrs if k in URL_ATTRS and v]
    assert urls  # the range links and the JSON links
    assert not [u for u in urls if external.match(u[2] or "")]
    for tag, k, v in page.attrs:
        assert not (k == "style" or k.startswith("on")), f"{tag} has {k}={v!r}: inline style or handler"
    css = "".join(page.styles)
    assert "@import" not in css and "url(" not in css
    assert not re.search(r"https?:|//[a-z]", "".join(page.scripts).replace("// ", ""))
    assert [(t, k, v) for t, k, v in page.attrs if t == "link"] == [("link", "rel", "icon"), ("link", "href", "data:,")]
    assert "iframe" not in page.tags


def test_content_security_policy_allows_exactly_the_inline_parts(demo_payloads: dict[str, dict[str, Any]]) -> None:
    import base64
    import hashlib

    page = render(demo_payloads)
    policy = content_security_policy()
    for part, directive in ((page.styles, "style-src"), (page.scripts, "script-src")):
        digest = base64.b64encode(hashlib.sha256("".join(part).encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in policy
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy


# --- header, empty range, Agent Studio ----------------------------------------------------

def test_range_buttons_mark_the_current_range(demo_payloads: dict[str, dict[str, Any]]) -> None:
    html = render_dashboard(demo_payloads, range_key="30d", generated_at=GENERATED, base_path="/studio/api")
    links = re.findall(r'<a href="\?range=(\w+)"( aria-current="page")?>', html)
    assert links == [("24h", ""), ("7d", ""), ("30d", ' aria-current="page"')]
    assert "updated 14:05:09 UTC" in html
    assert 'href="/studio/api/summary?days=30"' in html and 'href="/studio/api/agents/usage?days=30"' in html


def test_empty_range_says_so(empty_payloads: dict[str, dict[str, Any]]) -> None:
    page = render(empty_payloads, "24h")
    assert page.svgs() == []  # never an empty axis box
    for card in ("chart-executions", "chart-duration", "chart-agents"):
        assert page.text_of(card).endswith(NO_EXECUTIONS)
    assert page.text_of("chart-tools").endswith("no tool calls in this range")
    assert page.text_of("kpi-executions").startswith("Executions 0")
    assert page.text_of("kpi-success-rate").startswith("Success rate —")
    assert page.text_of("kpi-avg-duration").startswith("Avg duration —")
    assert page.text_of("kpi-tokens").startswith("Tokens 0")
    assert "no prior 24 h" in page.text_of("kpi-executions")
    assert not page.tables and 'class="csv"' not in page.html  # no table, nothing to export


@pytest.fixture
def agent_studio_payloads(pg_empty_url: str) -> Iterator[dict[str, dict[str, Any]]]:
    engine = create_db_engine(pg_empty_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(AGENT_STUDIO_DDL)
        conn.exec_driver_sql(SEED)
    engine.dispose()
    yield cli_payloads(pg_empty_url, "--start", "2026-11-19", "--end", "2026-11-21")


@pytest.mark.postgres
def test_agent_studio_database(agent_studio_payloads: dict[str, dict[str, Any]]) -> None:
    assert agent_studio_payloads["models"]["data"] is None
    page = render(agent_studio_payloads, "custom")
    assert NO_MODEL_CALLS in page.text_of("kpi-cost")
    assert NO_MODEL_CALLS in page.html.split('id="t-models"')[0] and "t-models" not in page.tables
    assert num(page.by_id["kpi-executions"]["attrs"]) == 3
    agents = page.tables["t-agents"][1:]
    assert [a[0]["data-v"] for a in agents] == ["CommandAgent"]
    assert "CommandAgent" in page.text_of("chart-agents")
    assert "aria-current" not in page.html.split("<nav")[1].split("</nav>")[0]  # custom: none of the buttons
    assert "start_date=2026-11-19" in page.html
    for svg in page.svgs():
        ET.fromstring(svg)


def test_missing_payload_is_named() -> None:
    with pytest.raises(ValueError, match="needs the report payloads tools, models"):
        render_dashboard({"summary": {}, "agents": {}, "workflows": {}, "errors": {}}, range_key="7d",
                         generated_at=GENERATED)


# --- chart parts -----------------------------------------------------------------------

@pytest.mark.parametrize("value, text", [(0, "0"), (950, "950"), (1500, "1.5k"), (2_000_000, "2M"),
                                         (1e12, "1,000G"), (0.25, "0.25")])
def test_compact_figures(value: float, text: str) -> None:
    assert fmt_compact(value) == text


@pytest.mark.parametrize("value, text", [(4.2, "4.20 ms"), (850, "850 ms"), (1234, "1.2 s"), (60_000, "1 min"),
                                         (150_000, "2.5 min"), (7_200_000, "2 h")])
def test_durations(value: float, text: str) -> None:
    assert fmt_ms(value) == text


def test_ticks_are_round_and_cover_the_top() -> None:
    assert nice_ticks(83) == [0, 25, 50, 75, 100]
    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_ticks(190_000, steps=DURATION_STEPS) == [0, 60_000, 120_000, 180_000, 240_000]
    week = time_ticks(1_795_636_800, 1_795_636_800 + 7 * 86400)
    assert len(week) <= 8 and all(t % 86400 == 0 for t in week)


def test_outer_time_labels_lean_inwards() -> None:
    starts = [1_795_651_200 + i * 3600 for i in range(25)]  # a day from midnight UTC
    svg = column_chart(TimeAxis(starts, 3600), [TimeSeries("runs", [1] * 25, "ok")], title="t",
                       empty_message="none")
    root = ET.fromstring(svg)
    ticks = [t for t in root.iter("text") if t.get("y") == str(16 + 170 + 22 - 4)]
    assert ticks[0].get("text-anchor") == "start" and ticks[0].text == "00:00"
    assert ticks[-1].get("text-anchor") == "end" and ticks[-1].text == "00:00"
