"""PollWorker: runs the database queries in its own thread and sends frozen results."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import QObject, QThread, Signal, Slot

from studio_analytics.analytics import dashboard_snapshot, database_health, time_range
from studio_analytics.analytics.results import DashboardSnapshot, Health, TimeRange
from studio_analytics.db.engine import get_engine, safe_url, translate_error

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PollRequest:
    generation: int
    url: str
    range_preset: str = "7d"
    agent_sort: tuple[str, bool] = ("executions", True)
    tool_sort: tuple[str, bool] = ("calls", True)
    tab: str = "overview"
    custom_range: tuple[datetime, datetime] | None = None  # overrides range_preset
    sorts: tuple[tuple[str, str, bool], ...] = ()  # (tab, field, descending)


@dataclass(frozen=True, slots=True)
class PollResult:
    generation: int
    health: Health
    snapshot: DashboardSnapshot | None
    seconds: float


def request_range(request: PollRequest) -> TimeRange:
    if request.custom_range is not None:
        return time_range(start_date=request.custom_range[0], end_date=request.custom_range[1])
    return time_range(preset=request.range_preset)


class PollWorker(QObject):
    """Lives in a QThread; every request carries a generation so stale replies can be dropped."""

    refreshed = Signal(object)  # PollResult

    @Slot(object)
    def poll(self, request: PollRequest) -> None:
        started = time.perf_counter()
        snapshot = None
        try:
            engine = get_engine(request.url, read_only=True)
            health = database_health(engine, request.url)
            if health.ok:
                with engine.connect() as conn:
                    snapshot = dashboard_snapshot(
                        conn, request_range(request), generation=request.generation,
                        agent_sort=request.agent_sort, tool_sort=request.tool_sort,
                        tabs=frozenset({request.tab}), sorts={t: (f, d) for t, f, d in request.sorts},
                    )
        except Exception as e:  # noqa: BLE001 - every failure becomes a banner, never a crash
            err = translate_error(e, request.url)
            health = Health(
                ok=False, dialect="", url=safe_url(request.url), schema_kind="unknown", schema_revision=None,
                row_counts={}, database_size_bytes=None, newest_row_time=None,
                message=err.message, hint=err.hint,
            )
        self.refreshed.emit(PollResult(request.generation, health, snapshot, time.perf_counter() - started))


class PollThread(QObject):
    """Owns the worker's QThread: started once, stopped and joined on quit."""

    poll_requested = Signal(object)  # PollRequest

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("PollWorkerThread")
        self.worker = PollWorker()
        self.worker.moveToThread(self.thread)
        self.poll_requested.connect(self.worker.poll)
        self.thread.finished.connect(self.worker.deleteLater)
        self.thread.start()

    def stop(self, timeout_ms: int = 10_000) -> bool:
        if not self.thread.isRunning():
            return True
        self.thread.quit()
        return self.thread.wait(timeout_ms)
