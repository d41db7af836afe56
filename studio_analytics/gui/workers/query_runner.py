"""QueryRunner: one read-only query in a thread pool, its frozen result sent back by signal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from studio_analytics.db.engine import get_engine, translate_error


class QuerySignals(QObject):
    finished = Signal(int, object)  # generation, result (frozen dataclass)
    failed = Signal(int, object)  # generation, DatabaseError


class QueryRunner(QRunnable):
    """Runs ``query(conn)`` on the URL's read-only engine; never touches a widget."""

    def __init__(self, url: str, generation: int, query: Callable[[Any], Any]) -> None:
        super().__init__()
        self.url = url
        self.generation = generation
        self.query = query
        self.signals = QuerySignals()

    def run(self) -> None:
        try:
            with get_engine(self.url, read_only=True).connect() as conn:
                result = self.query(conn)
        except Exception as e:  # noqa: BLE001 - reported to the GUI as a typed error
            self.signals.failed.emit(self.generation, translate_error(e, self.url))
            return
        self.signals.finished.emit(self.generation, result)


def start_query(pool: QThreadPool, url: str, generation: int, query: Callable[[Any], Any],
                on_done: Callable[[int, Any], None], on_error: Callable[[int, Any], None]) -> QueryRunner:
    runner = QueryRunner(url, generation, query)
    runner.signals.finished.connect(on_done)
    runner.signals.failed.connect(on_error)
    pool.start(runner)
    return runner
