"""PollWorker: runs the database queries in its own thread and sends frozen results."""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, QThread, Signal, Slot

from studio_analytics.analytics import database_health
from studio_analytics.analytics.results import Health
from studio_analytics.db.engine import get_engine, safe_url, translate_error

log = logging.getLogger(__name__)


class PollWorker(QObject):
    """Lives in a QThread; every request carries a generation so stale replies can be dropped."""

    health_ready = Signal(int, object, float)  # generation, Health, query seconds

    @Slot(int, str)
    def poll(self, generation: int, url: str) -> None:
        started = time.perf_counter()
        try:
            health = database_health(get_engine(url, read_only=True), url)
        except Exception as e:  # noqa: BLE001 - engine creation itself can fail (missing file)
            err = translate_error(e, url)
            health = Health(
                ok=False, dialect="", url=safe_url(url), schema_kind="unknown", schema_revision=None,
                row_counts={}, database_size_bytes=None, newest_row_time=None,
                message=err.message, hint=err.hint,
            )
        self.health_ready.emit(generation, health, time.perf_counter() - started)


class PollThread(QObject):
    """Owns the worker's QThread: started once, stopped and joined on quit."""

    poll_requested = Signal(int, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("PollWorkerThread")
        self.worker = PollWorker()
        self.worker.moveToThread(self.thread)
        self.poll_requested.connect(self.worker.poll)
        self.thread.finished.connect(self.worker.deleteLater)
        self.thread.start()

    def stop(self, timeout_ms: int = 5000) -> bool:
        if not self.thread.isRunning():
            return True
        self.thread.quit()
        return self.thread.wait(timeout_ms)
