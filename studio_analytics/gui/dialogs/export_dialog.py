"""CSV export of the view on screen: its full result, with progress and cancel.

The save dialog carries one option, "Escape formulas (for spreadsheets)", on by default:
text cells a spreadsheet would run as formulas get a leading ``'`` (see
:mod:`studio_analytics.export.csv_export`). Files are written private and atomically.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtWidgets import QCheckBox, QFileDialog, QGridLayout, QProgressDialog, QWidget

from studio_analytics.analytics import agent_usage, error_analysis, tool_usage, workflow_performance
from studio_analytics.analytics.models import model_usage
from studio_analytics.analytics.results import (
    DashboardSnapshot,
    ExecutionFilter,
    TimeRange,
    TimeSeries,
)
from studio_analytics.db.engine import get_engine, translate_error
from studio_analytics.export.csv_export import ExportCancelled, stream_table_csv, write_rows_csv


@dataclass(frozen=True, slots=True)
class SeriesRow:
    bucket_start: datetime
    executions: int
    failures: int
    timeouts: int
    avg_duration_ms: float | None
    p95_duration_ms: float | None


def series_rows(s: TimeSeries) -> list[SeriesRow]:
    def num(v: float) -> float | None:
        return None if v != v else float(v)  # NaN -> empty cell

    return [
        SeriesRow(datetime.fromtimestamp(float(b), UTC), int(e), int(f), int(t), num(a), num(p))
        for b, e, f, t, a, p in zip(s.bucket_starts, s.executions, s.failures, s.timeouts,
                                    s.avg_duration_ms, s.p95_duration_ms, strict=True)
    ]


@dataclass(frozen=True, slots=True)
class OverviewRow:
    """One figure of the Overview tab in one long table that spreadsheets open as it is:
    ``section`` is kpi, series, agents or tools; ``time`` is set for series rows only."""

    section: str
    name: str
    metric: str
    value: float | None
    time: datetime | None = None


def overview_rows(snap: DashboardSnapshot) -> list[OverviewRow]:
    """Everything the Overview shows: the KPI cards (value and previous period), the time
    series, and the agent and tool distributions as the snapshot holds them."""
    k = snap.kpis
    rows = [OverviewRow("kpi", name, metric, value) for name, kpi in (
        ("sessions_in_range", k.active_sessions), ("queries_per_hour", k.queries_per_hour),
        ("avg_response_time_ms", k.avg_response_time_ms), ("success_rate", k.success_rate),
        *((("cost_usd", k.cost_usd),) if k.cost_usd is not None else ()),
    ) for metric, value in (("value", kpi.value), ("previous", kpi.previous))]
    rows += [OverviewRow("kpi", "executions", "value", k.total_executions),
             OverviewRow("kpi", "failures", "value", k.total_failures),
             OverviewRow("kpi", "executions", "previous", k.previous_executions)]
    if k.cost_usd is not None:
        rows.append(OverviewRow("kpi", "unpriced_calls", "value", k.unpriced_calls))
    if snap.series is not None:
        for point in series_rows(snap.series):
            rows += [OverviewRow("series", "all agents", metric, getattr(point, metric), point.bucket_start)
                     for metric in ("executions", "failures", "timeouts", "avg_duration_ms", "p95_duration_ms")]
    if snap.agents is not None:
        rows += [OverviewRow("agents", r.agent_name, "executions", r.executions) for r in snap.agents.rows]
    if snap.tools is not None:
        rows += [OverviewRow("tools", r.tool_name, "calls", r.calls) for r in snap.tools.rows]
    return rows


class ExportFileDialog(QFileDialog):
    """The save-as dialog with the export's formula option under the file name.

    Qt's own dialog, not the platform's: a native dialog cannot hold extra widgets.
    """

    def __init__(self, parent: QWidget | None, suggested_name: str) -> None:
        super().__init__(parent, "Export CSV", suggested_name, "CSV files (*.csv)")
        self.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        self.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        self.setDefaultSuffix("csv")
        self.escape_formulas = QCheckBox("Escape formulas (for spreadsheets)")
        self.escape_formulas.setObjectName("escapeFormulas")
        self.escape_formulas.setChecked(True)
        self.escape_formulas.setToolTip("Put ' before text starting with = + - @, a tab or a carriage return, so a "
                                        "spreadsheet shows it instead of running it. Turn off for programs that "
                                        "read the file.")
        layout = self.layout()
        if isinstance(layout, QGridLayout):  # Qt's dialog: a grid; the option spans a new last row
            layout.addWidget(self.escape_formulas, layout.rowCount(), 0, 1, layout.columnCount())
        elif layout is not None:
            layout.addWidget(self.escape_formulas)

    def chosen(self) -> tuple[str, bool] | None:
        """Run the dialog: the path and whether to escape formulas, or None if cancelled."""
        if not self.exec() or not self.selectedFiles():
            return None
        return self.selectedFiles()[0], self.escape_formulas.isChecked()


#: How many rows each aggregated tab's query returns for the screen (its ``limit`` default).
DISPLAY_CAPS: dict[str, int] = {
    "agents": agent_usage.__kwdefaults__["limit"], "tools": tool_usage.__kwdefaults__["limit"],
    "workflows": workflow_performance.__kwdefaults__["limit"], "errors": error_analysis.__kwdefaults__["limit"],
    "models": model_usage.__kwdefaults__["limit"],
}
#: An export's limit: every group the range holds (a group per agent, tool, workflow type or error).
EXPORT_LIMIT = 1_000_000


def full_result_query(tab: str, tr: TimeRange, sort: tuple[str, bool] | None) -> Callable[[Any], Sequence[Any]]:
    """The query of an aggregated tab without its display cap, for the export worker."""
    def run(conn: Any) -> Sequence[Any]:
        if tab == "agents":
            field, desc = sort or ("executions", True)
            return agent_usage(conn, tr, sort=field, descending=desc, limit=EXPORT_LIMIT).rows
        if tab == "tools":
            field, desc = sort or ("calls", True)
            return tool_usage(conn, tr, sort=field, descending=desc, limit=EXPORT_LIMIT).rows
        if tab == "workflows":
            field, desc = sort or ("runs", True)
            return workflow_performance(conn, tr, sort=field, descending=desc, limit=EXPORT_LIMIT).rows
        if tab == "models":
            field, desc = sort or ("cost_usd", True)
            usage = model_usage(conn, tr, sort=field, descending=desc, limit=EXPORT_LIMIT, series=False)
            return () if usage is None else usage.rows  # no model calls in this database: an empty file
        field, desc = sort or ("count", True)
        return error_analysis(conn, tr, sort=field, descending=desc, limit=EXPORT_LIMIT).groups

    return run


def file_error_message(path: str, error: OSError) -> str:
    return f"Could not write {path}: {error.strerror or error}"


class ExportSignals(QObject):
    progressed = Signal(int, int)
    export_finished = Signal(str, int)
    export_failed = Signal(str)


class StreamExportRunner(QRunnable):
    """Streams every row of a table in the range (executions: matching the filters);
    checks ``cancelled`` between batches."""

    def __init__(self, url: str, tr: TimeRange, filters: ExecutionFilter | None, path: str, *,
                 escape_formulas: bool = True, table: str = "executions",
                 sort: tuple[str, bool] | None = None) -> None:
        super().__init__()
        self.url, self.tr, self.filters, self.path, self.table = url, tr, filters, path, table
        self.sort = sort
        self.escape_formulas = escape_formulas
        self.cancelled = threading.Event()
        self.signals = ExportSignals()

    def run(self) -> None:
        def progress(done: int, total: int | None) -> bool:
            self.signals.progressed.emit(done, total or 0)
            return not self.cancelled.is_set()

        try:
            with get_engine(self.url, read_only=True).connect() as conn:
                n = stream_table_csv(conn, self.table, self.tr, self.path, filters=self.filters, progress=progress,
                                     escape_formulas=self.escape_formulas, sort=self.sort)
        except ExportCancelled as e:
            self.signals.export_failed.emit(str(e))
            return
        except Exception as e:  # noqa: BLE001 - reported in the window, never raised
            self.signals.export_failed.emit(failure_message(e, self.path, self.url))
            return
        self.signals.export_finished.emit(self.path, n)


def failure_message(error: Exception, path: str, url: str) -> str:
    """What the window says about a failed export: a file error names the file and its
    cause (a full disk is not a "database error"); anything else is the database's."""
    if isinstance(error, OSError):
        return file_error_message(path, error)
    return translate_error(error, url).message


class QueryExportRunner(QRunnable):
    """Runs an aggregate query for its full result (no display cap) and writes its rows:
    a table on screen may stop at its top 100, its export does not."""

    def __init__(self, url: str, query: Callable[[Any], Sequence[Any]], path: str, *,
                 escape_formulas: bool = True) -> None:
        super().__init__()
        self.url, self.query, self.path, self.escape_formulas = url, query, path, escape_formulas
        self.signals = ExportSignals()

    def run(self) -> None:
        try:
            with get_engine(self.url, read_only=True).connect() as conn:
                rows = self.query(conn)
            n = write_rows_csv(self.path, rows, escape_formulas=self.escape_formulas)
        except Exception as e:  # noqa: BLE001 - reported in the window, never raised
            self.signals.export_failed.emit(failure_message(e, self.path, self.url))
            return
        self.signals.export_finished.emit(self.path, n)


class ExportController(QObject):
    """Runs one export: rows already in memory are written at once; the executions list,
    which may hold millions of rows, streams from the database in the pool."""

    export_finished = Signal(str, int)
    export_failed = Signal(str)

    def __init__(self, pool: QThreadPool, parent: QWidget) -> None:
        super().__init__(parent)
        self.pool = pool
        self.parent_widget = parent
        self.runner: StreamExportRunner | None = None
        self.query_runner: QueryExportRunner | None = None
        self.progress: QProgressDialog | None = None

    def write_rows(self, path: str, rows: Sequence[Any], *, escape_formulas: bool = True) -> None:
        try:
            n = write_rows_csv(path, rows, escape_formulas=escape_formulas)
        except OSError as e:
            self.export_failed.emit(file_error_message(path, e))
            return
        self.export_finished.emit(path, n)

    def stream_executions(self, url: str, tr: TimeRange, filters: ExecutionFilter, path: str, *,
                          escape_formulas: bool = True,
                          sort: tuple[str, bool] = ("start_time", True)) -> StreamExportRunner:
        """The Executions list's rows in its order (``sort``: the view's; newest first by default)."""
        return self.stream_table(url, "executions", tr, path, filters=filters, escape_formulas=escape_formulas,
                                 sort=sort)

    def export_query(self, url: str, query: Callable[[Any], Sequence[Any]], path: str, *,
                     escape_formulas: bool = True) -> QueryExportRunner:
        runner = QueryExportRunner(url, query, path, escape_formulas=escape_formulas)
        runner.signals.export_finished.connect(self.export_finished)
        runner.signals.export_failed.connect(self.export_failed)
        self.query_runner = runner
        self.pool.start(runner)
        return runner

    def stream_table(self, url: str, table: str, tr: TimeRange, path: str, *, filters: ExecutionFilter | None = None,
                     escape_formulas: bool = True, sort: tuple[str, bool] | None = None) -> StreamExportRunner:
        runner = StreamExportRunner(url, tr, filters, path, escape_formulas=escape_formulas, table=table, sort=sort)
        dialog = QProgressDialog(f"Exporting {table} to {Path(path).name}…", "Cancel", 0, 0, self.parent_widget)
        dialog.setMinimumDuration(300)
        dialog.canceled.connect(runner.cancelled.set)
        runner.signals.progressed.connect(lambda done, total: (dialog.setMaximum(total), dialog.setValue(done)))
        runner.signals.export_finished.connect(lambda p, n: (dialog.reset(), self.export_finished.emit(p, n)))
        runner.signals.export_failed.connect(lambda m: (dialog.reset(), self.export_failed.emit(m)))
        self.runner, self.progress = runner, dialog
        self.pool.start(runner)
        return runner
