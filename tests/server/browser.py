"""Debian's Chromium, headless, driven by selenium and chromedriver against the real
``studio-analytics serve`` process; used by tests/server/test_dashboard_browser.py.

Also the command that makes the README's picture of the dashboard (a demo database over
7 days at 1280×900)::

    .venv/bin/python -m tests.server.browser docs/screenshots/dashboard.png
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SERVE_STARTUP_S = 60.0
T = TypeVar("T")


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None. In CI (``CI`` set) they never skip:
    `make system-deps` installs the browser there, so a missing one is a failure."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        return None
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is not installed (Debian: apt-get install chromium chromium-driver; `make system-deps`)"
    return None


def wait_for(predicate: Callable[[], T], *, timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll until ``predicate()`` is truthy, or fail saying what did not happen in time."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - the page may be between two states; retried
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s" + (f" (last error: {last})" if last else ""))
        time.sleep(interval)  # a polling step with a deadline, not a synchronisation sleep


class ServeProcess:
    """``studio-analytics serve --port 0`` as a subprocess; its address comes from the
    first line it prints on stderr."""

    def __init__(self, db_url: str, *extra: str, env: dict[str, str] | None = None) -> None:
        exe = Path(sys.executable).with_name("studio-analytics")
        self.proc = subprocess.Popen(
            [str(exe), "serve", "--db", db_url, "--port", "0", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.origin = self._address()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            self.lines.put(line)

    def _address(self) -> str:
        deadline = time.monotonic() + SERVE_STARTUP_S
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if line.startswith("studio-analytics serve: http://"):
                url = line.split()[2]
                return url.split("/api/")[0]
        self.stop()
        raise AssertionError("studio-analytics serve did not start: " + "".join(self.log)[-2000:])

    def url(self, path: str) -> str:
        return self.origin + path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


@contextmanager
def serve(db_url: str, *extra: str) -> Iterator[ServeProcess]:
    server = ServeProcess(db_url, *extra)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def chromium(download_dir: Path, *, width: int = 1280, height: int = 900, dark: bool = False) -> Iterator[Any]:
    """A headless Chromium whose downloads land in ``download_dir`` and whose network
    requests are logged (:func:`requested_urls`)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                "--no-first-run", "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--lang=en-US", "--force-device-scale-factor=1",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    options.add_experimental_option("prefs", {
        "download.default_directory": str(download_dir), "download.prompt_for_download": False,
    })
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
        # the page's viewport exactly (a window size would include the browser's frame)
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
        if dark:
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                                   {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        yield driver
    finally:
        driver.quit()


def requested_urls(driver: Any) -> list[str]:
    """Every URL the browser asked for since the last call (the DevTools Network events)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def page_errors(driver: Any) -> list[str]:
    """Errors the page logged since the last call: script errors, policy violations,
    failed loads."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def clipped_texts(driver: Any) -> list[str]:
    """Chart labels that stick out of their chart: none may be cut at any width."""
    return driver.execute_script("""
        const out = [];
        document.querySelectorAll('svg.chart').forEach(svg => {
          const box = svg.getBoundingClientRect();
          svg.querySelectorAll('text').forEach(t => {
            const r = t.getBoundingClientRect();
            if (r.width === 0) return;  // hidden (a minor time label on a phone)
            if (r.left < box.left - 1 || r.right > box.right + 1) out.push(t.textContent);
          });
        });
        return out;""")


def overlapping_texts(driver: Any) -> list[str]:
    """Time-axis labels of one chart that overlap each other."""
    return driver.execute_script("""
        const out = [];
        document.querySelectorAll('svg.chart.time').forEach(svg => {
          const rs = [...svg.querySelectorAll(':scope > text.tick')].map(t => [t.textContent, t.getBoundingClientRect()])
            .filter(([, r]) => r.width > 0 && r.bottom > svg.getBoundingClientRect().bottom - 20);
          for (let i = 1; i < rs.length; i++) if (rs[i][1].left < rs[i - 1][1].right) out.push(rs[i][0]);
        });
        return out;""")


def screenshot_demo(target: Path, *, width: int = 1280, height: int = 900, range_key: str = "7d") -> None:
    """A demo database served and photographed: the README's picture."""
    from studio_analytics.demo.generator import backfill

    with tempfile.TemporaryDirectory(prefix="dashboard-shot-") as tmp:
        os.environ.setdefault("STUDIO_ANALYTICS_HOME", tmp)
        url = f"sqlite:///{Path(tmp) / 'demo.sqlite3'}"
        backfill(url, executions=5000, days=14, seed=7)
        with serve(url) as server, chromium(Path(tmp), width=width, height=height) as driver:
            driver.get(server.url(f"/api/analytics/dashboard?range={range_key}"))
            wait_for(lambda: driver.find_element("id", "kpi-executions").text, timeout=30, what="the dashboard")
            target.parent.mkdir(parents=True, exist_ok=True)
            shot = Path(tmp) / "shot.png"
            driver.save_screenshot(str(shot))
            shutil.copyfile(shot, target)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m tests.server.browser OUT.png [WIDTHxHEIGHT] [24h|7d|30d]")
    size = sys.argv[2] if len(sys.argv) > 2 else "1280x900"
    w, h = (int(x) for x in size.split("x"))
    screenshot_demo(Path(sys.argv[1]), width=w, height=h, range_key=sys.argv[3] if len(sys.argv) > 3 else "7d")
