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


#: The signals of every query still running or whose answer is not delivered yet. A
#: caller may drop its runner when it no longer wants the answer (a newer generation);
#: the QObject that the pool thread emits from must outlive that emit and its delivery,
#: or the emit touches a deleted object (a crash seen when filters changed quickly).
_in_flight: dict[int, QuerySignals] = {}


def start_query(pool: QThreadPool, url: str, generation: int, query: Callable[[Any], Any],
                on_done: Callable[[int, Any], None], on_error: Callable[[int, Any], None]) -> QueryRunner:
    runner = QueryRunner(url, generation, query)
    signals = runner.signals
    key = id(signals)  # the closure holds the key, not the object: no cycle through Qt
    _in_flight[key] = signals

    def release(_generation: int, _value: Any) -> None:
        _in_flight.pop(key, None)  # on the GUI thread, once the answer has arrived

    signals.finished.connect(on_done)
    signals.failed.connect(on_error)
    signals.finished.connect(release)  # after the caller's handler: connections run in order
    signals.failed.connect(release)
    pool.start(runner)
    return runner
