"""CSV export of the view on screen: its full result, with progress and cancel."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from studio_analytics.analytics.results import ExecutionFilter, TimeRange, TimeSeries
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


class ExportSignals(QObject):
    progressed = Signal(int, int)
    export_finished = Signal(str, int)
    export_failed = Signal(str)


class StreamExportRunner(QRunnable):
    """Streams every execution matching the filters; checks ``cancelled`` between batches."""

    def __init__(self, url: str, tr: TimeRange, filters: ExecutionFilter, path: str) -> None:
        super().__init__()
        self.url, self.tr, self.filters, self.path = url, tr, filters, path
        self.cancelled = threading.Event()
        self.signals = ExportSignals()

    def run(self) -> None:
        def progress(done: int, total: int | None) -> bool:
            self.signals.progressed.emit(done, total or 0)
            return not self.cancelled.is_set()

        try:
            with get_engine(self.url, read_only=True).connect() as conn:
                n = stream_table_csv(conn, "executions", self.tr, self.path, filters=self.filters, progress=progress)
        except ExportCancelled as e:
            self.signals.export_failed.emit(str(e))
            return
        except Exception as e:  # noqa: BLE001
            self.signals.export_failed.emit(translate_error(e, self.url).message)
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
        self.progress: QProgressDialog | None = None

    def write_rows(self, path: str, rows: Sequence[Any]) -> None:
        try:
            n = write_rows_csv(path, rows)
        except OSError as e:
            self.export_failed.emit(f"Could not write {path}: {e.strerror}")
            return
        self.export_finished.emit(path, n)

    def stream_executions(self, url: str, tr: TimeRange, filters: ExecutionFilter, path: str) -> StreamExportRunner:
        runner = StreamExportRunner(url, tr, filters, path)
        dialog = QProgressDialog(f"Exporting executions to {Path(path).name}…", "Cancel", 0, 0, self.parent_widget)
        dialog.setMinimumDuration(300)
        dialog.canceled.connect(runner.cancelled.set)
        runner.signals.progressed.connect(lambda done, total: (dialog.setMaximum(total), dialog.setValue(done)))
        runner.signals.export_finished.connect(lambda p, n: (dialog.reset(), self.export_finished.emit(p, n)))
        runner.signals.export_failed.connect(lambda m: (dialog.reset(), self.export_failed.emit(m)))
        self.runner, self.progress = runner, dialog
        self.pool.start(runner)
        return runner
