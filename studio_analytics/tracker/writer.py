"""BatchWriter: the background thread between the hot path and the database.

It wakes when a batch is full or every ``flush_interval_s``, turns queued span records
into rows (ids, timestamps, bounded/redacted text — work kept off the agent's thread),
and writes each batch in one transaction. When the database is away (unreachable,
locked, failing) the batch goes to the local spool and the writer backs off; once a
write succeeds again the spool is replayed, oldest batch first.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from typing import Any

from studio_analytics.db.engine import translate_error
from studio_analytics.db.errors import DatabaseError, SchemaMissingError
from studio_analytics.db.rows import Batch
from studio_analytics.tracker import runtime
from studio_analytics.tracker.records import prepare_batch
from studio_analytics.tracker.settings import TrackerConfig
from studio_analytics.tracker.sink import DatabaseSink
from studio_analytics.tracker.spool import Spool

log = logging.getLogger("studio_analytics.tracker")
_MAX_BACKOFF_S = 30.0


class BatchWriter:
    def __init__(self, cfg: TrackerConfig) -> None:
        self.cfg = cfg
        self._max_queue = cfg.max_queue
        self._batch_size = cfg.batch_size
        self._taken = 0
        self.pid = os.getpid()
        self._queue: deque[tuple[str, Any]] = deque()
        self._wake = threading.Event()
        self._state = threading.Condition()
        self._inflight = 0
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._closed = False
        self._sink: DatabaseSink | None = None
        self._spool = Spool(cfg.db_url, cfg.spool_path)
        self._down_until = 0.0
        self._backoff = 0.5
        self._replay_wanted = True  # a previous process may have left batches behind
        self.counters: dict[str, int] = dict.fromkeys(
            ("written", "spooled", "replayed", "dropped", "rejected", "errors"), 0
        )
        self.latencies_ms: deque[float] = deque(maxlen=512)
        self.last_error: str | None = None

    # -- hot path -------------------------------------------------------------------
    def enqueue(self, kind: str, row: Any) -> None:
        # "enqueued" is not counted here: it is what was taken plus what is queued
        # (see enqueued_count), one dict update less on the agent's thread.
        queue = self._queue
        if len(queue) >= self._max_queue or self._closed:
            self.counters["dropped"] += 1
            return
        queue.append((kind, row))
        if self._thread is None:
            self._start()
        elif len(queue) == self._batch_size:
            self._wake.set()

    def enqueued_count(self) -> int:
        return self._taken + len(self._queue)

    # -- lifecycle ------------------------------------------------------------------
    def _start(self) -> None:
        with self._state:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="studio-analytics-writer", daemon=True)
            self._thread.start()
        atexit.register(self._at_exit)

    def replay_left_behind(self) -> None:
        """Start the thread now if the spool holds batches for this database: rows an
        earlier process could not write go in without waiting for this one's first span."""
        if not self._closed and self._spool.has_pending():
            self._start()
            self._wake.set()

    def abandon_after_fork(self) -> None:
        """In a forked child: this copy's thread does not exist; its queue is the parent's."""
        self._closed = True
        self._queue.clear()

    def _at_exit(self) -> None:
        if os.getpid() == self.pid:
            self.shutdown(self.cfg.exit_timeout_s)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far is written or spooled; also retry the spool."""
        if self._thread is None:
            self._start()
        deadline = time.monotonic() + timeout
        self._down_until = 0.0
        self._replay_wanted = True
        with self._state:
            self._wake.set()
            while self._queue or self._inflight or self._replay_wanted:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None or not self._thread.is_alive():
                    return not self._queue and not self._inflight
                self._wake.set()
                self._state.wait(min(left, 0.05))
        return True

    def shutdown(self, timeout: float = 2.0) -> None:
        """Flush for at most ``timeout`` seconds, spool what is left, stop the thread."""
        if self._closed:
            return
        flushed = self.flush(timeout) if self._thread is not None else not self._queue
        self._closed = True
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(max(0.1, timeout / 4))
        leftover = self._take(len(self._queue))
        if leftover:
            try:
                n = self._spool.put(self._prepare(leftover))
                self.counters["spooled"] += n
                log.warning("studio-analytics: %d rows not written at exit were kept in the spool %s",
                            n, self._spool.path)
            except Exception:  # noqa: BLE001
                self.counters["dropped"] += len(leftover)
                log.error("studio-analytics: %d rows could not be saved at exit", len(leftover))
        elif not flushed:
            log.warning("studio-analytics: exit flush timed out after %.1fs", timeout)
        if self._sink is not None:
            self._sink.close()

    # -- writer thread --------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._wake.wait(self.cfg.flush_interval_s)
            self._wake.clear()
            try:
                self._drain()
                if self._replay_wanted or (self._spool_pending_hint() and time.monotonic() >= self._down_until):
                    self._replay()
            except Exception:  # noqa: BLE001 - the thread must survive anything
                runtime.internal_error("writing metrics")
            finally:
                with self._state:
                    self._state.notify_all()
            if self._stopping and not self._queue:
                return

    def _take(self, n: int) -> list[tuple[str, Any]]:
        with self._state:
            items = []
            queue = self._queue
            for _ in range(min(n, len(queue))):
                items.append(queue.popleft())
            self._inflight = len(items)
            self._taken += len(items)
            return items

    def _drain(self) -> None:
        while self._queue:
            items = self._take(self.cfg.batch_size)
            try:
                self._write(self._prepare(items), len(items))
            finally:
                with self._state:
                    self._inflight = 0
                    self._state.notify_all()

    def _sink_ready(self) -> DatabaseSink:
        if self._sink is None:
            self._sink = DatabaseSink(self.cfg.db_url)
        return self._sink

    def _write(self, batch: Batch, n: int) -> None:
        if time.monotonic() < self._down_until:
            self._to_spool(batch)
            return
        started = time.perf_counter()
        try:
            self._sink_ready().write(batch)
        except Exception as e:  # noqa: BLE001
            self._on_failure(e, batch)
            return
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        self.counters["written"] += n
        self._backoff = 0.5
        self._replay_wanted = self._replay_wanted or self._spool_pending_hint()

    def _on_failure(self, error: Exception, batch: Batch) -> None:
        err = translate_error(error, self.cfg.db_url)
        self.last_error = str(err)
        self.counters["errors"] += 1
        if type(err) is DatabaseError and not isinstance(err, SchemaMissingError) and _is_data_error(error):
            self._write_row_by_row(batch)
            return
        self._to_spool(batch)
        self._down_until = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, _MAX_BACKOFF_S)
        runtime.internal_error(f"writing to the database ({err.message}); batch kept in the spool")

    def _write_row_by_row(self, batch: Batch) -> None:
        # One bad row (say, a value the server rejects) must not hold back the others.
        for kind, rows in batch.items():
            for row in rows:
                try:
                    self._sink_ready().write({kind: [row]})
                    self.counters["written"] += 1
                except Exception as e:  # noqa: BLE001
                    if _is_data_error(e):
                        self.counters["rejected"] += 1
                        runtime.internal_error(f"the database rejected a {kind} row")
                    else:
                        self._to_spool({kind: [row]})

    def _to_spool(self, batch: Batch) -> None:
        try:
            self.counters["spooled"] += self._spool.put(batch)
        except Exception:  # noqa: BLE001
            n = sum(len(r) for r in batch.values())
            self.counters["dropped"] += n
            runtime.internal_error(f"spooling {n} rows")

    def _spool_pending_hint(self) -> bool:
        return self.counters["spooled"] > 0 or self._replay_wanted

    def _replay(self) -> None:
        try:
            pending = self._spool.oldest(limit=50)
            while pending:
                for row_id, batch in pending:
                    self._sink_ready().write(batch, replay=True)
                    self._spool.delete(row_id)
                    self.counters["replayed"] += sum(len(r) for r in batch.values())
                pending = self._spool.oldest(limit=50)
            self._replay_wanted = False
            self.counters["spooled"] = 0 if self._spool.pending_rows() == 0 else self.counters["spooled"]
            self._backoff = 0.5
        except Exception as e:  # noqa: BLE001
            err = translate_error(e, self.cfg.db_url)
            self.last_error = str(err)
            self._down_until = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, _MAX_BACKOFF_S)
            self._replay_wanted = False
            runtime.internal_error(f"replaying the spool ({err.message})")

    # -- records -> rows ------------------------------------------------------------
    def _prepare(self, items: list[tuple[str, Any]]) -> Batch:
        batch, failed = prepare_batch(items, self.cfg)
        if failed:
            self.counters["rejected"] += failed
            runtime.internal_error(f"preparing {failed} rows")
        return batch


def _is_data_error(error: BaseException) -> bool:
    from sqlalchemy import exc

    return isinstance(error, exc.IntegrityError | exc.DataError | exc.ProgrammingError)
