"""Queries off the event loop: a bounded thread pool, a deadline per request, and a
cancel that reaches the database.

- At most ``workers`` queries run and ``queue`` more wait; beyond that a request is
  refused at once (:class:`Busy`, answered 503 with ``Retry-After``) instead of piling up.
- A query past its deadline is answered 503 (:class:`QueryTimeout`) and cancelled where
  it runs: SQLite's ``interrupt()``, PostgreSQL's cancel request (a SQLite wait for a lock
  is bounded by its busy timeout, half the deadline, instead). Its thread counts as
  taken until the query has really stopped, so slow queries cannot exhaust the pool
  behind the answers. PostgreSQL's ``statement_timeout`` (a little past the deadline)
  stops it even if the cancel is lost.
- Driver errors become the typed :class:`~studio_analytics.db.errors.DatabaseError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from studio_analytics.db.engine import (
    create_db_engine,
    normalize_url,
    read_transaction,
    sqlite_path,
    translate_error,
)
from studio_analytics.db.errors import DatabaseError

T = TypeVar("T")
DRIVER_ERRORS: tuple[type[BaseException], ...] = (DatabaseError, SQLAlchemyError, sqlite3.Error)
#: The database's own limit, past the request's deadline: the cancel's backstop.
STATEMENT_TIMEOUT_MARGIN_S = 5.0

log = logging.getLogger("studio_analytics.server")


class Busy(Exception):
    """Every query thread is taken and the queue is full."""


class QueryTimeout(Exception):
    """The request's queries did not finish within the deadline."""


class _Cancel:
    """The DBAPI connection a query runs on, so another thread can stop it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dbapi: Any = None
        self.cancelled = False

    def attach(self, conn: Connection) -> None:
        with self._lock:
            self._dbapi = conn.connection.dbapi_connection
            if self.cancelled:
                self._fire()

    def detach(self) -> None:
        with self._lock:
            self._dbapi = None

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            self._fire()

    def _fire(self) -> None:
        dbapi = self._dbapi
        if dbapi is None:
            return
        try:
            if isinstance(dbapi, sqlite3.Connection):
                dbapi.interrupt()
            else:  # psycopg 3: a cancel request on a side connection
                getattr(dbapi, "cancel_safe", dbapi.cancel)()
        except Exception:  # noqa: BLE001 - the statement timeout still stops it
            log.debug("cancelling a query failed", exc_info=True)


class QueryRunner:
    """Runs ``fn(conn)`` in one read transaction on a pooled read-only connection."""

    def __init__(self, url: str, *, workers: int, queue: int, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.capacity = workers + queue
        # SQLite's interrupt() does not end a wait for another process's lock: its busy
        # timeout is half the deadline instead, so a locked file is said before it.
        sqlite = normalize_url(url).get_backend_name() == "sqlite"
        limit = timeout_s if sqlite else timeout_s + STATEMENT_TIMEOUT_MARGIN_S
        self.engine = create_db_engine(url, read_only=True, statement_timeout_s=limit,
                                       pool_size=workers, max_overflow=0, pool_timeout=timeout_s)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="studio-analytics-query")
        self._lock = threading.Lock()
        self._taken = 0
        self._version_conn: sqlite3.Connection | None = None  # SQLite: asks PRAGMA data_version
        self._locked_versions = 0

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def taken(self) -> int:
        with self._lock:
            return self._taken

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """``fn`` on a connection, within the deadline; raises :class:`Busy`,
        :class:`QueryTimeout` or :class:`DatabaseError`."""
        return await self._submit(lambda cancel: self._in_transaction(fn, cancel))

    async def run_plain(self, fn: Callable[[], T]) -> T:
        """``fn()`` in the pool, under the same deadline (for work that opens its own
        connection)."""
        return await self._submit(lambda cancel: fn())

    async def data_version(self) -> str:
        """Changes whenever the data the queries read may have changed. SQLite: ``PRAGMA
        data_version`` on one connection kept for it (it moves when any other connection
        commits), asked on the event loop because it takes microseconds and never waits
        (busy timeout 0; a locked file gives a version of its own, so nothing cached is
        used). PostgreSQL: the current snapshot, in the pool (the same text means the same
        committed transactions, so the same data)."""
        if self.dialect == "sqlite":
            return self._sqlite_version()
        return await self.run(lambda conn: str(conn.exec_driver_sql("SELECT pg_current_snapshot()::text").scalar()))

    def _sqlite_version(self) -> str:
        try:
            if self._version_conn is None:
                path = sqlite_path(normalize_url(self.url))
                self._version_conn = sqlite3.connect(f"file:{path}?mode=ro" if path else ":memory:", uri=True,
                                                     timeout=0, check_same_thread=False)
            return str(self._version_conn.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                self._locked_versions += 1
                return f"locked-{self._locked_versions}"
            self._close_version_conn()
            raise translate_error(e, self.url) from e
        except sqlite3.Error as e:
            self._close_version_conn()
            raise translate_error(e, self.url) from e

    def _close_version_conn(self) -> None:
        if self._version_conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._version_conn.close()
            self._version_conn = None

    async def _submit(self, job: Callable[[_Cancel], T]) -> T:
        with self._lock:
            if self._taken >= self.capacity:
                raise Busy
            self._taken += 1
        cancel = _Cancel()

        def call() -> T:
            try:
                if cancel.cancelled:  # answered already while it waited in the queue
                    raise QueryTimeout
                return job(cancel)
            finally:
                with self._lock:
                    self._taken -= 1

        waiting = asyncio.wrap_future(self._pool.submit(call))
        # Retrieved here whatever happens, so an answer given up on logs nothing.
        waiting.add_done_callback(lambda f: f.cancelled() or f.exception())
        try:
            # shield: a job still queued at the deadline must run (and see it was
            # cancelled) so that its slot is given back.
            return await asyncio.wait_for(asyncio.shield(waiting), self.timeout_s)
        except TimeoutError:
            cancel.cancel()
            raise QueryTimeout from None
        except DRIVER_ERRORS as e:
            if cancel.cancelled:
                raise QueryTimeout from None
            raise translate_error(e, self.url) from e

    def _in_transaction(self, fn: Callable[[Connection], T], cancel: _Cancel) -> T:
        with self.engine.connect() as conn:
            cancel.attach(conn)
            try:
                with read_transaction(conn):
                    return fn(conn)
            finally:
                cancel.detach()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._close_version_conn()
        self.engine.dispose()
