"""The dashboard in a real browser: Debian's headless Chromium (selenium, chromedriver)
against the real ``studio-analytics serve`` process on a demo database.

Figures as the CLI prints them, the range buttons, the refresh that swaps new data in
place (and what it does when the server is gone or the sign-in has expired), the CSV
download, no label cut or overlapping at a desktop and a phone width, and no request to
any other origin."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from studio_analytics.cli import run_cli
from studio_analytics.db.engine import create_db_engine
from studio_analytics.demo.generator import backfill
from tests.server.browser import (
    ServeProcess,
    chromium,
    chromium_missing,
    clipped_texts,
    overlapping_texts,
    page_errors,
    requested_urls,
    serve,
    wait_for,
)

pytestmark = [
    pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or ""),
    pytest.mark.slow,  # a browser, a server and a demo database: tens of seconds
]

#: an agent's name a spreadsheet would run, with markup in it
FORMULA_AGENT = "=1+2 <b>bold</b>"
DASHBOARD = "/api/analytics/dashboard"
TOKEN = "browser-test-token-1234567890"


def cli_report(url: str, name: str, *args: str) -> Any:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert run_cli(["report", name, "--db", url, "--format", "json", *args]) == 0
    return json.loads(out.getvalue())["data"]


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """14 days of demo history: a 30-day range holds all of it whenever it is read."""
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'demo.sqlite3'}"
    backfill(url, executions=1500, days=14, seed=23)
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE agent_execution_metrics SET agent_name = :n WHERE agent_name = 'WebAgent'"),
                     {"n": FORMULA_AGENT})
    engine.dispose()
    assert run_cli(["db", "rebuild-rollups", "--db", url]) == 0
    return url


@pytest.fixture(scope="module")
def server(db_url: str) -> Iterator[ServeProcess]:
    with serve(db_url) as s:
        yield s


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads: Path) -> Iterator[Any]:
    with chromium(downloads) as driver:
        yield driver


def kpi(driver: Any, key: str) -> str:
    return driver.find_element("css selector", f"#kpi-{key} .value").text


def assert_same_origin(driver: Any, server: ServeProcess) -> list[str]:
    """Every request since the last check went to the server itself (or a blob: of the
    page, the CSV download)."""
    urls = requested_urls(driver)
    foreign = [u for u in urls if not (u.startswith(server.origin + "/") or u.startswith(("blob:", "data:")))]
    assert not foreign, f"requests to another origin: {foreign}"
    return urls


def open_dashboard(driver: Any, server: ServeProcess, query: str) -> None:
    driver.get(server.url(f"{DASHBOARD}?{query}"))
    wait_for(lambda: kpi(driver, "executions"), timeout=30, what="the dashboard's figures")


def test_figures_are_the_clis_and_fit(browser: Any, server: ServeProcess, db_url: str) -> None:
    open_dashboard(browser, server, "range=30d")
    summary = cli_report(db_url, "summary", "--range", "30d")["kpis"]
    assert kpi(browser, "executions") == f"{summary['total_executions']:,}"
    assert kpi(browser, "failures") == f"{summary['total_failures']:,}"
    assert kpi(browser, "success-rate") == f"{summary['success_rate']['value'] * 100:.1f}%"
    agents = browser.find_element("id", "chart-agents").text
    assert FORMULA_AGENT in agents  # shown as text: the markup is not markup
    assert browser.execute_script("return document.querySelectorAll('b').length") == 0
    assert browser.find_element("css selector", 'nav.ranges a[aria-current="page"]').text == "30d"
    assert clipped_texts(browser) == []
    assert overlapping_texts(browser) == []
    urls = assert_same_origin(browser, server)
    assert any(DASHBOARD in u for u in urls)  # the log did see the page's own request
    assert page_errors(browser) == []


def test_range_buttons_switch_the_figures(browser: Any, server: ServeProcess) -> None:
    open_dashboard(browser, server, "range=7d")
    week = kpi(browser, "executions")
    browser.find_element("link text", "24h").click()
    wait_for(lambda: "range=24h" in browser.current_url and kpi(browser, "executions") != week, timeout=30,
             what="the 24h figures after clicking 24h")
    day = int(kpi(browser, "executions").replace(",", ""))
    assert 0 < day < int(week.replace(",", ""))
    assert browser.find_element("css selector", 'nav.ranges a[aria-current="page"]').text == "24h"
    assert "hourly buckets" in browser.find_element("css selector", ".range-line").text
    assert clipped_texts(browser) == [] and overlapping_texts(browser) == []
    assert_same_origin(browser, server)
    assert page_errors(browser) == []


def test_csv_download_is_the_table(browser: Any, server: ServeProcess, downloads: Path, db_url: str) -> None:
    open_dashboard(browser, server, "range=30d")
    browser.find_element("css selector", 'button.csv[data-table="t-agents"]').click()
    target = downloads / "agents-30d.csv"
    wait_for(lambda: target.exists() and not list(downloads.glob("*.crdownload")), timeout=30,
             what="agents-30d.csv in the download folder")
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    header = browser.execute_script(
        "return [...document.querySelectorAll('#t-agents thead th')].map(th => th.dataset.col)")
    assert rows[0] == header and header[:2] == ["agent_name", "executions"]
    expected = cli_report(db_url, "agents", "--range", "30d")["rows"]
    assert [r[0] for r in rows[1:]] == [
        "'" + r["agent_name"] if r["agent_name"].startswith("=") else r["agent_name"] for r in expected]
    assert "'" + FORMULA_AGENT in [r[0] for r in rows[1:]]  # a spreadsheet shows it, never runs it
    col = header.index("success_rate")
    assert [(int(r[1]), float(r[col])) for r in rows[1:]] == [(r["executions"], r["success_rate"]) for r in expected]
    assert_same_origin(browser, server)


def test_phone_width_wraps_without_cutting(server: ServeProcess, tmp_path: Path) -> None:
    with chromium(tmp_path, width=390, height=844) as phone:
        open_dashboard(phone, server, "range=7d")
        assert phone.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        assert clipped_texts(phone) == []
        assert overlapping_texts(phone) == []
        # the KPI cards sit two a row, the charts one a row
        lefts = phone.execute_script(
            "return [...document.querySelectorAll('.kpi')].map(k => Math.round(k.getBoundingClientRect().left))")
        assert len(set(lefts)) == 2
        assert_same_origin(phone, server)


def test_refresh_swaps_new_data_in_place(browser: Any, server: ServeProcess, db_url: str) -> None:
    open_dashboard(browser, server, "range=30d&refresh=1")
    # the range links keep the refresh setting; the 24h page refreshes every second too
    browser.find_element("link text", "24h").click()
    wait_for(lambda: "range=24h&refresh=1" in browser.current_url and kpi(browser, "executions"), timeout=30,
             what="the 24h page")
    before = int(kpi(browser, "executions").replace(",", ""))
    browser.execute_script("window.scrollTo(0, 400); window.__notReloaded = true;")
    backfill(db_url, executions=60, days=0.05, seed=99)  # new runs of the last hour
    wait_for(lambda: int(kpi(browser, "executions").replace(",", "")) > before, timeout=40,
             what="the new executions on the page")
    assert browser.execute_script("return window.__notReloaded === true")  # swapped in place, not reloaded
    assert browser.execute_script("return window.scrollY") == 400
    assert browser.find_element("id", "refresh-status").text == ""
    assert_same_origin(browser, server)
    assert page_errors(browser) == []


def _dashboard_fetches(driver: Any, server: ServeProcess) -> int:
    return sum(DASHBOARD in u for u in assert_same_origin(driver, server))


def test_hidden_tab_does_not_poll(browser: Any, server: ServeProcess) -> None:
    open_dashboard(browser, server, "range=24h&refresh=1")
    wait_for(lambda: _dashboard_fetches(browser, server), timeout=30, what="a refresh while visible")
    # what Chromium does for a background tab: document.hidden and a visibilitychange event
    browser.execute_script("Object.defineProperty(document, 'hidden', {value: true, configurable: true});"
                           "document.dispatchEvent(new Event('visibilitychange'));")
    _dashboard_fetches(browser, server)  # drop a request that may have been on its way
    seen: list[int] = []
    with contextlib.suppress(AssertionError):  # watch the network for 3 s (three refresh periods)
        wait_for(lambda: seen.append(_dashboard_fetches(browser, server)) or sum(seen), timeout=3,
                 what="a request while hidden")
    assert sum(seen) == 0, "the hidden tab kept polling"
    stamp = browser.find_element("id", "updated").get_attribute("data-v")
    browser.execute_script("Object.defineProperty(document, 'hidden', {value: false, configurable: true});"
                           "document.dispatchEvent(new Event('visibilitychange'));")
    wait_for(lambda: _dashboard_fetches(browser, server), timeout=10, what="a refresh once shown again")
    assert browser.find_element("id", "updated").get_attribute("data-v") >= stamp


def test_refresh_failure_keeps_the_figures(db_url: str, tmp_path: Path) -> None:
    with serve(db_url) as own, chromium(tmp_path) as driver:
        open_dashboard(driver, own, "range=7d&refresh=1")
        shown = kpi(driver, "executions")
        own.stop()
        wait_for(lambda: driver.find_element("id", "refresh-status").text == "refresh failed — retrying",
                 timeout=30, what="the refresh failure notice")
        assert kpi(driver, "executions") == shown  # the last figures stay


def test_expired_sign_in_goes_to_the_login_page(db_url: str, tmp_path: Path) -> None:
    with serve(db_url, "--token", TOKEN) as own, chromium(tmp_path) as driver:
        driver.get(own.url(f"{DASHBOARD}?range=7d"))
        field = wait_for(lambda: driver.find_element("css selector", "input[name=token]"), timeout=30,
                         what="the sign-in page")
        field.send_keys(TOKEN)
        driver.find_element("css selector", "button[type=submit]").click()
        wait_for(lambda: kpi(driver, "executions"), timeout=30, what="the dashboard after signing in")
        open_dashboard(driver, own, "range=7d&refresh=1")
        driver.delete_all_cookies()  # the session ends: the next refresh gets 401
        wait_for(lambda: driver.find_elements("css selector", "input[name=token]"), timeout=30,
                 what="the sign-in page after the 401")
        assert_same_origin(driver, own)
