"""Latency tab: the duration histogram of all agents, one agent, a tool or a model, with
its p50/p95/p99, and those percentiles over time.

The window's refresh hands the view its range (:meth:`LatencyView.load`); the view runs
the query for the chosen selection in the pool (``query_runner.start_query``), tagged with
a generation so an older answer (another range, selection or database) is dropped.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QThreadPool, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from studio_analytics.analytics.latency import LatencyReport, latency_report
from studio_analytics.analytics.results import TimeRange
from studio_analytics.gui.charts.latency_histogram_chart import (
    LatencyHistogramChart,
    percentile_label,
)
from studio_analytics.gui.charts.latency_percentile_chart import LatencyPercentileChart
from studio_analytics.gui.workers.query_runner import start_query

Selection = tuple[str, str | None]  # (kind, name or None for all of that kind)
ALL: dict[str, str] = {"agent": "All agents", "tool": "All tools", "model": "All model calls"}
NOUNS: dict[str, str] = {"agent": "executions", "tool": "tool calls", "model": "model calls"}


class LatencyView(QWidget):
    report_shown = Signal(object)  # the LatencyReport now on screen

    def __init__(self, pool: QThreadPool) -> None:
        super().__init__()
        self.pool = pool
        self.url = ""
        self.time_range: TimeRange | None = None
        self.report: LatencyReport | None = None
        self._generation = 0
        self._runners: list[Any] = []
        self.selector = QComboBox()
        self.selector.setObjectName("latencySelector")
        self.selector.setMinimumContentsLength(24)
        self.selector.setToolTip("Whose durations: all agents, one agent, a tool or a model (the busiest ones)")
        self._fill_selector(([], [], []))
        self.selector.currentIndexChanged.connect(lambda _i: self._query())
        label = QLabel("Sh&ow:")
        label.setBuddy(self.selector)
        self.summary = QLabel()
        self.summary.setObjectName("latencySummary")
        top = QHBoxLayout()
        top.addWidget(label)
        top.addWidget(self.selector)
        top.addSpacing(12)
        top.addWidget(self.summary, stretch=1)
        self.histogram = LatencyHistogramChart()
        self.series = LatencyPercentileChart()
        splitter = QSplitter()
        splitter.addWidget(self.histogram)
        splitter.addWidget(self.series)
        splitter.setSizes([500, 500])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, stretch=1)

    @property
    def selection(self) -> Selection:
        data = self.selector.currentData()
        return ("agent", None) if data is None else data

    def select(self, kind: str, name: str | None = None) -> bool:
        """Choose a selection offered by the selector; False when it is not there."""
        for i in range(self.selector.count()):
            if self.selector.itemData(i) == (kind, name):
                self.selector.setCurrentIndex(i)
                return True
        return False

    def set_database(self, url: str) -> None:
        self.url = url
        self._generation += 1
        self.report = None
        self.clear()

    def clear(self, message: str = "Loading…") -> None:
        self.histogram.clear_data(message)
        self.series.clear_data(message)
        self.summary.setText("")

    def load(self, tr: TimeRange) -> None:
        """The window's refresh: the current selection over ``tr``."""
        self.time_range = tr
        self._query()

    def _query(self) -> None:
        tr, (kind, name) = self.time_range, self.selection
        if tr is None or not self.url:
            return
        self._generation += 1
        self._runners = [r for r in self._runners if r.generation == self._generation]
        self._runners.append(start_query(
            self.pool, self.url, self._generation,
            lambda conn: latency_report(conn, tr, kind=kind, name=name),  # type: ignore[arg-type]
            self._loaded, self._failed,
        ))

    def _loaded(self, generation: int, report: LatencyReport) -> None:
        if generation != self._generation:
            return  # an older range, selection or database
        self.report = report
        names = report.names
        self.selector.blockSignals(True)  # refilling is no new choice
        self._fill_selector((names.agents, names.tools, names.models))
        self.selector.blockSignals(False)
        d = report.distribution
        what = NOUNS[d.kind]
        self.histogram.set_distribution(d, f"No timed {what} in this range")
        self.series.set_series(report.series)
        p = d.percentiles
        if d.total:
            parts = [percentile_label(n, v, p.approximate) for n, v in (("p50", p.p50_ms), ("p95", p.p95_ms),
                                                                         ("p99", p.p99_ms))]
            parts.append(f"{d.total:,} {what}")
            if p.approximate:
                parts.append(f"≈: within ±{p.error * 100:.1f} % (from the hourly histograms)")
            self.summary.setText(" · ".join(parts))
        else:
            self.summary.setText(f"No timed {what} in this range")
        self.report_shown.emit(report)

    def _failed(self, generation: int, error: Any) -> None:
        if generation == self._generation:
            self.clear("Could not read latencies")
            self.summary.setText(f"Could not read latencies: {error.message}")

    def _fill_selector(self, names: tuple[Any, Any, Any]) -> None:
        """All of each kind, then its busiest names; the current choice stays chosen
        (and stays offered when it is no longer among the busiest)."""
        current = self.selector.currentData()
        self.selector.clear()
        for kind, kind_names in zip(("agent", "tool", "model"), names, strict=True):
            self.selector.addItem(ALL[kind], (kind, None))
            for name in kind_names:
                self.selector.addItem(f"    {kind}: {name}", (kind, name))
        if current is not None and not self.select(*current):
            self.selector.addItem(f"    {current[0]}: {current[1]}", current)
            self.selector.setCurrentIndex(self.selector.count() - 1)
