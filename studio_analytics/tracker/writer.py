"""BatchWriter: the background thread between the hot path and the database.

It wakes when a batch is full or every ``flush_interval_s``, turns queued span records
into rows (ids, timestamps, bounded/redacted text — work kept off the agent's thread),
and writes each batch in one transaction, bounded in time (``write_timeout_s``); with
SQLite, written by a child process, it prepares the next batch while the child writes
the last one (:meth:`BatchWriter._drain_overlapped`). When
the database is away (unreachable, hung, locked, recreated, missing tables, read-only,
full) the batch goes to the local spool and the writer backs off; the spool is replayed
a slice at a time between live batches, oldest first, so live rows keep flowing while
a backlog drains.

What happens to a row, always one of: written; kept in the spool (replayed later, by
this process or the next); set aside as a dead letter (the database rejected it alone,
on a healthy schema — kept in the spool's ``dead_letters`` table); or counted in
``stats().dropped`` (the queue was full, the spool could not take it, or the exit
deadline passed). SQLAlchemy is imported in this thread, never on the agent's.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from studio_analytics.db.errors import DatabaseError
from studio_analytics.db.rows import Batch, Row
from studio_analytics.tracker.records import merge_batches, prepare_batch
from studio_analytics.tracker.settings import TrackerConfig
from studio_analytics.tracker.spool import Spool

log = logging.getLogger("studio_analytics.tracker")
#: Retries back off from 0.5 s, doubling to this: a database back from an outage is
#: written to again within seconds.
_MAX_BACKOFF_S = 10.0
#: The longest one slice of spool replay runs before live rows get their turn.
_REPLAY_SLICE_S = 0.25
#: Share of the exit timeout spent waiting for the writer; the rest saves what is left.
_EXIT_FLUSH_SHARE = 0.6
#: While the child process writes a batch, how often the writer looks for more rows to
#: prepare for the next one.
_ANSWER_POLL_S = 0.005

ReportError = Callable[..., None]


def _log_error(what: str, *, exc_info: bool = True) -> None:
    log.warning("studio-analytics tracker: error while %s", what, exc_info=exc_info)


class BatchWriter:
    def __init__(self, cfg: TrackerConfig, report_error: ReportError = _log_error) -> None:
        self.cfg = cfg
        self._report = report_error
        self._max_queue = cfg.max_queue
        self._batch_size = cfg.batch_size
        self._taken = 0
        self._refused = 0  # rows dropped at the door (queue full, closed): never enqueued
        self.pid = os.getpid()
        self._queue: deque[tuple[str, Any]] = deque()
        self._wake = threading.Event()
        self._state = threading.Condition()
        self._inflight = 0
        self._inflight_items: list[tuple[str, Any]] = []
        self._inflight_claimed = False  # shutdown() saved the in-flight batch itself
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._closed = False
        self._sink: Any = None  # DatabaseSink, imported in the writer thread
        self._spool = Spool(cfg.db_url, cfg.spool_path)
        self._down_until = 0.0
        self._backoff = 0.5
        self._replay_wanted = True  # a previous process may have left batches behind
        self._spool_has_rows = True  # until a replay finds the spool empty for us
        self._replay_cursor = 0
        self._undeleted: set[int] = set()  # replayed batches whose delete must be retried
        self._own_spooled: dict[int, int] = {}  # spool id -> rows, of batches this writer spooled
        self._said_replaced = False
        self.counters: dict[str, int] = dict.fromkeys(
            ("written", "spooled", "replayed", "dropped", "rejected", "errors", "dead_lettered"), 0
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
            self._refused += 1
            return
        queue.append((kind, row))
        if self._thread is None:
            self._start()
        elif len(queue) == self._batch_size:
            self._wake.set()

    def offer(self, items: list[tuple[str, Any]]) -> bool:
        """Queue all of these ``(kind, record)`` items, or none when the queue has no room
        for all of them: an ingestion endpoint then answers "retry later" instead of
        taking spans it would have to drop. Nothing is counted as dropped here."""
        queue = self._queue
        if self._closed or len(queue) + len(items) > self._max_queue:
            return False
        queue.extend(items)
        if self._thread is None:
            self._start()
        elif len(queue) >= self._batch_size:
            self._wake.set()
        return True

    def room(self) -> int:
        """How many more items the queue takes now."""
        return 0 if self._closed else max(0, self._max_queue - len(self._queue))

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

    def flush(self, timeout: float = 5.0, *, replay: bool = True) -> bool:
        """Wait until everything queued so far is written or spooled; with ``replay``,
        also until the spool has been retried (and emptied, if the database is back)."""
        if self._thread is None:
            self._start()
        deadline = time.monotonic() + timeout
        self._down_until = 0.0
        self._replay_wanted = replay or self._replay_wanted
        with self._state:
            self._wake.set()
            while self._queue or self._inflight or (replay and self._replay_wanted):
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None or not self._thread.is_alive():
                    return not self._queue and not self._inflight
                self._wake.set()
                self._state.wait(min(left, 0.05))
        return True

    def shutdown(self, timeout: float = 2.0) -> None:
        """Flush for part of ``timeout``, save what is left in the spool in the rest,
        count anything that could not be saved by then as lost, and say so once."""
        if self._closed:
            return
        deadline = time.monotonic() + max(0.0, timeout)
        if self._thread is not None:
            self.flush(timeout * _EXIT_FLUSH_SHARE, replay=False)
        self._closed = True
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(min(0.05, max(0.0, deadline - time.monotonic())))
        with self._state:
            # The batch the writer took and has not finished with would die with the
            # thread at interpreter exit: save it here (a replay skips ids the
            # database already has, should the thread's write still commit).
            leftover = []
            if self._inflight and not self._inflight_claimed:
                self._inflight_claimed = True
                leftover = list(self._inflight_items)
        leftover += self._take(len(self._queue), inflight=False)
        if leftover:
            self._save_at_exit(leftover, deadline)
        self._say_at_exit(deadline)

    def _save_at_exit(self, items: list[tuple[str, Any]], deadline: float) -> None:
        size = max(1, min(self._batch_size, 500))  # small steps: the deadline is checked between them
        for start in range(0, len(items), size):
            chunk = items[start:start + size]
            if time.monotonic() >= deadline:
                self.counters["dropped"] += len(items) - start
                return
            batch = self._prepare(chunk)
            with contextlib.suppress(Exception):  # put() below says what is wrong
                self._spool.set_busy_timeout(int((deadline - time.monotonic()) * 1000))
            self._to_spool(batch)

    def _say_at_exit(self, deadline: float) -> None:
        kept = 0
        if self._own_spooled:
            try:
                self._spool.set_busy_timeout(int((deadline - time.monotonic()) * 1000))
                kept = sum(self._spool.present(sorted(self._own_spooled)).values())
            except Exception:  # noqa: BLE001 - cannot look: what this writer put there is still there
                kept = sum(self._own_spooled.values())
        lost = self.counters["dropped"]
        dead = self.counters["dead_lettered"]
        if not (kept or lost or dead):
            return
        # What this process produced and is neither in the spool, nor lost, nor set
        # aside, is in the database (written live, or replayed by someone).
        written = max(0, self.enqueued_count() + self._refused - kept - lost - dead)
        extra = f", {dead:,} set aside as dead letters" if dead else ""
        log.warning("studio-analytics: at exit %s rows were written, %s kept in the spool %s, %s lost%s",
                    f"{written:,}", f"{kept:,}", self._spool.path, f"{lost:,}", extra)

    def _error(self, what: str, *, exc_info: bool = True) -> None:
        self.counters["errors"] += 1
        self._report(what, exc_info=exc_info)

    # -- writer thread --------------------------------------------------------------
    def _run(self) -> None:
        with contextlib.suppress(Exception):
            self._spool_has_rows = self._spool.has_pending()
        with contextlib.suppress(Exception):  # the first write will say what is wrong
            prestart = getattr(self._sink_ready(), "prestart", None)
            if prestart is not None:
                prestart()
        try:
            self._loop()
        finally:
            if self._sink is not None:
                self._sink.close()

    def _loop(self) -> None:
        more = False
        while True:
            if not more:
                self._wake.wait(self.cfg.flush_interval_s)
            self._wake.clear()
            more = False
            try:
                self._drain()
                if self._replay_due():
                    more = self._replay_slice()
            except Exception:  # noqa: BLE001 - the thread must survive anything
                self._error("writing metrics")
            finally:
                with self._state:
                    self._state.notify_all()
            if self._stopping and not self._queue:
                return

    def _replay_due(self) -> bool:
        return (self._replay_wanted or self._spool_has_rows) and time.monotonic() >= self._down_until

    def _take(self, n: int, *, inflight: bool = True, more: bool = False) -> list[tuple[str, Any]]:
        """Up to ``n`` queued items. ``inflight``: the writer thread takes them to write
        (until it is done with them, ``shutdown()`` saves them itself rather than wait);
        ``more``: besides those it holds already (the next batch, taken while the child
        process writes the last one)."""
        with self._state:
            if inflight and self._closed:
                return []  # shutdown() takes what is left
            items = []
            queue = self._queue
            for _ in range(min(n, len(queue))):
                items.append(queue.popleft())
            if inflight:
                if more:
                    self._inflight_items = self._inflight_items + items  # shutdown() may hold the old list
                    self._inflight += len(items)
                else:
                    self._inflight = len(items)
                    self._inflight_items = items
                    self._inflight_claimed = False
            self._taken += len(items)
            return items

    def _release(self, n: int | None = None) -> None:
        """Done with the first ``n`` in-flight items (all of them: None)."""
        with self._state:
            self._inflight_items = [] if n is None else self._inflight_items[n:]
            self._inflight = len(self._inflight_items)
            self._state.notify_all()

    def _claimed(self) -> bool:
        with self._state:
            return self._inflight_claimed

    def _drain(self) -> None:
        sink = self._sink_ready()
        if getattr(sink, "background_writes", False):
            self._drain_overlapped(sink)
            return
        while self._queue and not self._closed:
            items = self._take(self._batch_size)
            if not items:
                return
            try:
                batch = self._prepare(items)
                if self._claimed():
                    return  # shutdown() saved these rows already
                self._write(batch)
            finally:
                self._release()

    def _drain_overlapped(self, sink: Any) -> None:
        """The loop of :meth:`_drain` for a sink that writes in a child process: the next
        batch is taken and prepared while the child writes the last one, so the two
        processes work at the same time instead of taking turns. The next batch is sent
        only once the last one's outcome is known and dealt with, so what follows a
        failure (spooling, session events and fix-ups queued behind spooled batches, the
        backoff) is what the serial loop does."""
        writing: Batch | None = None  # sent, answer not collected yet
        started = 0.0
        try:
            batch, taken = self._next_batch(None, extend=False)
            while taken:
                if self._claimed():
                    return  # shutdown() saved these rows already
                started_at = self._begin(sink, batch) if batch else None
                if started_at is not None:
                    writing, started = batch, started_at
                # While the child writes, what arrives meanwhile becomes the next batch.
                batch, more = self._next_batch(sink if writing is not None else None, extend=True)
                if writing is not None:
                    done, writing = writing, None
                    self._end(sink, done, started)
                self._release(taken)
                taken = more
        finally:
            if writing is not None:  # an error of ours between sending and collecting
                with contextlib.suppress(Exception):
                    self._end(sink, writing, started)
            self._release()

    def _next_batch(self, writing: Any, *, extend: bool) -> tuple[Batch, int]:
        """Take and prepare up to a batch of queued items; with ``writing`` (the sink
        writing the last batch) also what arrives until it has answered. ``extend``: the
        writer holds in-flight items already. Returns the batch and how many items were
        taken."""
        size = self._batch_size
        parts: list[Batch] = []
        taken = 0
        while True:
            if taken < size and self._queue and not self._closed:
                items = self._take(size - taken, more=extend or taken > 0)
                if items:
                    taken += len(items)
                    parts.append(self._prepare(items))
                    if writing is None or writing.answered(0.0):
                        break
                    continue
            if writing is None or writing.answered(_ANSWER_POLL_S if taken < size else 1.0):
                break
        if len(parts) == 1:
            return parts[0], taken
        return merge_batches(parts), taken

    def _begin(self, sink: Any, batch: Batch) -> float | None:
        """Send ``batch`` to the child; the time it was sent, or None when it was dealt
        with at once (spooled, failed)."""
        if not self._may_write(batch):
            return None
        started = time.perf_counter()
        try:
            sink.send(batch)
        except Exception as e:  # noqa: BLE001
            self._write_failed(e, batch)
            return None
        return started

    def _end(self, sink: Any, batch: Batch, started: float) -> None:
        """Collect the child's answer for ``batch`` and deal with it as :meth:`_write`."""
        try:
            sink.result()
        except Exception as e:  # noqa: BLE001
            self._write_failed(e, batch)
            return
        self._written(batch, started)

    def _sink_ready(self) -> Any:
        if self._sink is None:
            if self.cfg.db_url.startswith("sqlite"):
                # A fault in a SQLite file's shared memory is a SIGBUS: in a child
                # process it costs a retry, in this one it would kill the agent.
                from studio_analytics.tracker.sink_process import ProcessSink as Sink
            else:
                from studio_analytics.tracker.sink import DatabaseSink as Sink
            self._sink = Sink(self.cfg.db_url, timeout_s=self.cfg.write_timeout_s)
        return self._sink

    def _write(self, batch: Batch) -> None:
        if not self._may_write(batch):
            return
        started = time.perf_counter()
        try:
            self._sink_ready().write(batch)
        except Exception as e:  # noqa: BLE001
            self._write_failed(e, batch)
            return
        self._written(batch, started)

    def _may_write(self, batch: Batch) -> bool:
        """Whether ``batch`` goes to the database now; what may not is spooled."""
        if time.monotonic() < self._down_until:
            self._to_spool(batch)
            return False
        if self._spool_has_rows and ("session" in batch or "fixup" in batch):
            # Session enter/exit events apply in the order they happened, and fix-ups
            # after the rows they correct: while older batches wait in the spool, these
            # queue up behind them. Every other row is order-free (aggregates are
            # recomputed from the rows themselves).
            self._to_spool({kind: batch.pop(kind) for kind in ("session", "fixup") if kind in batch})
            if not batch:
                return False
        return True

    def _write_failed(self, error: Exception, batch: Batch) -> None:
        if not self._retry_replaced_file(error, batch):
            self._on_failure(error, batch)

    def _written(self, batch: Batch, started: float) -> None:
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        self.counters["written"] += _count(batch) - self._keep_set_aside()
        self._backoff = 0.5

    def _keep_set_aside(self) -> int:
        """Rows the last write could not store in this database (model calls for an Agent
        Studio database) are kept as dead letters; returns how many."""
        aside = getattr(self._sink, "set_aside", None)
        if not aside:
            return 0
        self._sink.set_aside = []
        for kind, row, reason in aside:
            self._dead_letter(kind, row, reason)
        return len(aside)

    def _retry_replaced_file(self, error: Exception, batch: Batch) -> bool:
        """A SQLite file deleted or replaced under the writer: say so once, open the
        file at the path again (creating it) and write there."""
        from studio_analytics.tracker.sink import FileReplacedError

        sink = self._sink
        if not isinstance(error, FileReplacedError) and not (sink is not None and sink.file_replaced()):
            return False
        if not self._said_replaced:
            self._said_replaced = True
            log.warning("studio-analytics: the database file %s was deleted or replaced; writing to a new file "
                        "at that path", sink.db_url if sink is not None else self.cfg.db_url)
        self.counters["errors"] += 1
        sink.reopen()
        started = time.perf_counter()
        try:
            sink.write(batch, replay=True)
        except Exception as e:  # noqa: BLE001
            self._on_failure(e, batch)
            return True
        self._written(batch, started)
        return True

    def _on_failure(self, error: Exception, batch: Batch) -> None:
        from studio_analytics.db.failures import is_row_error

        if is_row_error(error):
            self._isolate(batch, counter="written")
            return
        self._database_away(error)
        self._to_spool(batch)

    def _database_away(self, error: Exception) -> None:
        """Not the rows' fault: check the schema again before the next try, back off."""
        if isinstance(error, DatabaseError):
            err = error
        else:  # raised by an in-process sink, which has loaded SQLAlchemy already
            from studio_analytics.db.engine import translate_error

            err = translate_error(error, self.cfg.db_url)
        self.last_error = str(err)
        if self._sink is not None:
            # Connections that lived through the fault are suspect (cut, hung): the
            # next try opens fresh ones and checks the schema again.
            self._sink.reset()
        # flush() no longer waits for a replay that cannot happen before the backoff.
        self._replay_wanted = False
        self._down_until = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, _MAX_BACKOFF_S)
        self._spool_has_rows = True
        self._error(f"writing to the database ({err.message}); rows kept in the spool", exc_info=False)

    def _isolate(self, batch: Batch, *, counter: str, spooled: bool = False) -> bool:
        """One bad row must not hold back the others: halve the failing batch until
        each bad row fails alone; that row is set aside as a dead letter. On a failure
        that is not a row's, the rest is kept (spooled, unless it came from there:
        ``spooled``). Returns whether every row was dealt with."""
        from studio_analytics.db.failures import first_line, is_row_error

        parts = [[(kind, row) for kind, rows in batch.items() for row in rows]]
        while parts:
            part = parts.pop()
            sub = _group(part)
            try:
                self._sink_ready().write(sub, replay=True)
            except Exception as e:  # noqa: BLE001
                if not is_row_error(e):
                    self._database_away(e)
                    if not spooled:
                        for rest in [part, *parts]:
                            self._to_spool(_group(rest))
                    return False
                if len(part) > 1:
                    mid = len(part) // 2
                    parts += [part[mid:], part[:mid]]  # first half next: rows keep their order
                    continue
                self._dead_letter(part[0][0], part[0][1], first_line(e))
                continue
            self.counters[counter] += len(part) - self._keep_set_aside()
        return True

    def _dead_letter(self, kind: str, row: Row, error: str) -> None:
        self.counters["rejected"] += 1
        try:
            self._spool.put_dead_letter(kind, row, error)
            self.counters["dead_lettered"] += 1
        except Exception:  # noqa: BLE001
            self.counters["dropped"] += 1
        self._error(f"the database rejected one {kind} row ({error}); it is kept as a dead letter",
                    exc_info=False)

    def _to_spool(self, batch: Batch) -> None:
        n = _count(batch)
        if not n or (self._inflight_claimed and threading.current_thread() is self._thread):
            return  # nothing, or the in-flight batch shutdown() has saved already
        try:
            stored, spool_id = self._spool.put(batch)
        except Exception:  # noqa: BLE001
            self.counters["dropped"] += n
            self._error(f"spooling {n} rows (they are lost)")
            return
        self.counters["spooled"] += stored
        self._spool_has_rows = True
        if spool_id and len(self._own_spooled) < 1_000_000:
            self._own_spooled[spool_id] = stored

    def _replay_slice(self) -> bool:
        """Replay spooled batches for at most ``_REPLAY_SLICE_S``; True if more wait."""
        from studio_analytics.db.failures import is_row_error

        slice_end = time.monotonic() + _REPLAY_SLICE_S
        self._retry_deletes()
        try:
            pending = self._spool.oldest(limit=50, after=self._replay_cursor, skip=frozenset(self._undeleted))
        except Exception:  # noqa: BLE001 - the spool itself is unreadable now
            self._error("reading the spool")
            self._replay_wanted = False
            self._down_until = time.monotonic() + self._backoff
            return False
        if not pending:
            if self._replay_cursor:
                self._replay_cursor = 0  # once more from the start: batches spooled meanwhile
                return True
            self._replay_wanted = False
            self._spool_has_rows = False
            return False
        for group in _merged(pending, max(self._batch_size, 2_000)):
            if self._queue and time.monotonic() >= slice_end:
                return True
            ids, batch = group
            try:
                self._sink_ready().write(batch, replay=True)
                self.counters["replayed"] += _count(batch) - self._keep_set_aside()
            except Exception as e:  # noqa: BLE001
                if not is_row_error(e):
                    self._database_away(e)
                    return False
                if not self._isolate(batch, counter="replayed", spooled=True):
                    return False
            for spool_id in ids:
                self._forget(spool_id)
            self._backoff = 0.5
        return True

    def _forget(self, spool_id: int) -> None:
        self._replay_cursor = max(self._replay_cursor, spool_id)
        self._own_spooled.pop(spool_id, None)
        try:
            self._spool.delete(spool_id)
        except Exception:  # noqa: BLE001 - a full disk, a locked spool: retried next slice
            if len(self._undeleted) < 100_000:
                self._undeleted.add(spool_id)

    def _retry_deletes(self) -> None:
        for spool_id in sorted(self._undeleted):
            try:
                self._spool.delete(spool_id)
            except Exception:  # noqa: BLE001
                return
            self._undeleted.discard(spool_id)

    def spool_pending(self) -> int:
        return self._spool.pending_rows(skip=frozenset(self._undeleted))

    # -- records -> rows ------------------------------------------------------------
    def _prepare(self, items: list[tuple[str, Any]]) -> Batch:
        batch, failed = prepare_batch(items, self.cfg)
        if failed:
            self.counters["dropped"] += failed
            self._error(f"preparing {failed} rows (they are lost)")
        return batch


def _count(batch: Batch) -> int:
    return sum(len(rows) for rows in batch.values())


def _merged(pending: list[tuple[int, Batch]], rows: int) -> list[tuple[list[int], Batch]]:
    """Consecutive spooled batches joined into batches of about ``rows`` rows (one
    transaction each, in their order): outages spool many small batches."""
    groups: list[tuple[list[int], Batch]] = []
    for spool_id, batch in pending:
        if not groups or _count(groups[-1][1]) + _count(batch) > rows:
            groups.append(([], {}))
        ids, merged = groups[-1]
        ids.append(spool_id)
        for kind, kind_rows in batch.items():
            merged.setdefault(kind, []).extend(kind_rows)
    return groups


def _group(items: list[tuple[str, Row]]) -> Batch:
    batch: Batch = {}
    for kind, row in items:
        batch.setdefault(kind, []).append(row)
    return batch
