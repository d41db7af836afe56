"""The Latency tab draws the distribution and percentiles the analytics return, and the
selector re-runs the query for the chosen agent, tool or model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from studio_analytics.analytics.latency import latency_report
from studio_analytics.cli import run_cli
from studio_analytics.db.engine import create_db_engine
from studio_analytics.gui.main_window import TABS, MainWindow


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('latency') / 'demo.sqlite3'}"
    assert run_cli(["demo", "--db", url, "--executions", "200", "--days", "3", "--seed", "16"]) == 0
    return url


def _check_drawn(win: MainWindow, url: str, kind: str, name: str | None) -> None:
    view = win.latency
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn:
        expected = latency_report(conn, view.time_range, kind=kind, name=name)  # type: ignore[arg-type]
    engine.dispose()
    d, p = expected.distribution, expected.distribution.percentiles
    assert d.total > 0 and p.approximate
    opts = view.histogram.bars.opts
    assert np.allclose(opts["x0"], np.log10(d.lower_ms)) and np.allclose(opts["x1"], np.log10(d.upper_ms))
    assert np.array_equal(np.asarray(opts["height"]), d.counts.astype(float))
    for label, value in (("p50", p.p50_ms), ("p95", p.p95_ms), ("p99", p.p99_ms)):
        line = view.histogram.lines[label]
        assert line.isVisible() and math.isclose(line.value(), math.log10(value))
        assert line.label.format.startswith(f"{label} ≈ ")
    x, y = view.series.curves["p95"].getData()
    s = expected.series
    scale = s.p95_ms[~np.isnan(s.p95_ms)].max() / np.nanmax(y)  # the chart's unit
    assert np.array_equal(x, s.bucket_starts) and np.allclose(y * scale, s.p95_ms, equal_nan=True)
    assert "≈" in view.summary.text() and f"{d.total:,}" in view.summary.text()


def test_latency_tab_shows_the_distribution_and_the_selector_re_queries(qtbot, demo_url: str) -> None:
    win = MainWindow(demo_url)
    qtbot.addWidget(win)
    win.auto_refresh.setChecked(False)
    with qtbot.waitSignal(win.refresh_finished, timeout=20_000):
        pass
    assert TABS.index("latency") == TABS.index("errors") + 1 and win.tabs.tabText(TABS.index("latency")) == "Latency"
    with qtbot.waitSignal(win.latency.report_shown, timeout=20_000) as shown:
        win.show_tab("latency")
    report = shown.args[0]
    assert (report.distribution.kind, report.distribution.name) == ("agent", None)
    _check_drawn(win, demo_url, "agent", None)
    # The selector offers every kind with its busiest names; choosing one re-runs the query.
    selector = win.latency.selector
    offered = [selector.itemData(i) for i in range(selector.count())]
    tool = report.names.tools[0]
    assert ("tool", None) in offered and ("tool", tool) in offered and ("model", None) in offered
    with qtbot.waitSignal(win.latency.report_shown, timeout=20_000) as shown:
        assert win.latency.select("tool", tool)
    assert (shown.args[0].distribution.kind, shown.args[0].distribution.name) == ("tool", tool)
    assert win.latency.selection == ("tool", tool)
    _check_drawn(win, demo_url, "tool", tool)
    win.close()
