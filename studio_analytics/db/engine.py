"""One engine factory for every URL the application accepts.

SQLite gets WAL, ``synchronous=NORMAL``, a busy timeout and foreign keys in a
``connect`` listener; the monitoring window opens it with ``mode=ro`` so it can never
write. PostgreSQL goes through psycopg 3; read-only engines run every transaction
``READ ONLY``. Engines are cached per (URL, read-only) pair.

``translate_error`` turns driver exceptions into the typed errors of
:mod:`studio_analytics.db.errors`.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, exc, make_url
from sqlalchemy.engine import URL, Connection, Engine

from studio_analytics.db.errors import (
    AuthenticationError,
    DatabaseError,
    DatabaseLockedError,
    DatabaseNotFoundError,
    NotADatabaseError,
    ReadOnlyError,
    ServerUnreachableError,
    UnsupportedURLError,
)
from studio_analytics.db.failures import first_line
from studio_analytics.private_files import create_private_file, ensure_private_dir

SQLITE_CACHE_KIB = 32 * 1024  # pages are allocated as used, up to this
SQLITE_WAL_CHECKPOINT_BYTES = 40 * 1024 * 1024
SQLITE_BUSY_TIMEOUT_MS = 5_000
PG_CONNECT_TIMEOUT_S = 5
#: TCP keepalive probes find a dead peer (a partition, a frozen host) within about
#: idle + interval x count seconds; unacknowledged data gives up after the user timeout.
PG_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 3, "keepalives_count": 3,
                 "tcp_user_timeout": 20_000}

_cache: dict[tuple[str, bool], Engine] = {}
_cache_lock = threading.Lock()


def normalize_url(url: str | URL) -> URL:
    """Parse a URL and pin PostgreSQL to the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError as e:
        raise UnsupportedURLError(f"Not a database URL: {url!s}", hint="use sqlite:///PATH or postgresql://USER@HOST/DB") from e
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite")
    raise UnsupportedURLError(
        f"Unsupported database {backend!r}",
        hint="studio-analytics reads SQLite files and PostgreSQL servers",
        url=safe_url(parsed),
    )


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return "<invalid url>"


def sqlite_path(url: URL) -> Path | None:
    db = url.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


def create_db_engine(url: str | URL, *, read_only: bool = False, statement_timeout_s: float | None = None,
                     **kwargs: Any) -> Engine:
    """A new engine for ``url`` (use :func:`get_engine` for the cached one).

    A read-only SQLite engine requires the file to exist; it raises
    :class:`DatabaseNotFoundError` otherwise instead of creating an empty file. A new
    SQLite file is created private (0600). ``statement_timeout_s`` bounds every
    statement and lock wait on PostgreSQL (the server cancels it) and the connect.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        busy_ms = SQLITE_BUSY_TIMEOUT_MS
        if statement_timeout_s is not None:
            # Waiting for another process's lock takes at most half the deadline.
            busy_ms = max(50, min(busy_ms, int(statement_timeout_s * 500)))
        return _sqlite_engine(parsed, read_only=read_only, busy_timeout_ms=busy_ms, **kwargs)
    return _postgres_engine(parsed, read_only=read_only, statement_timeout_s=statement_timeout_s, **kwargs)


def get_engine(url: str | URL, *, read_only: bool = False) -> Engine:
    key = (normalize_url(url).render_as_string(hide_password=False), read_only)
    with _cache_lock:
        engine = _cache.get(key)
        if engine is None:
            engine = create_db_engine(key[0], read_only=read_only)
            _cache[key] = engine
        return engine


def dispose_engines() -> None:
    with _cache_lock:
        for engine in _cache.values():
            engine.dispose()
        _cache.clear()


def dispose_engine(url: str | URL, *, read_only: bool = False) -> None:
    """Close and forget the cached engine of one URL (a SQLite file that was moved:
    its pooled connections still read the old file through their open handles)."""
    key = (normalize_url(url).render_as_string(hide_password=False), read_only)
    with _cache_lock:
        engine = _cache.pop(key, None)
    if engine is not None:
        engine.dispose()


@contextmanager
def read_transaction(conn: Connection) -> Iterator[Connection]:
    """One consistent read: every SELECT inside sees the same committed state.

    PostgreSQL: REPEATABLE READ, READ ONLY (READ COMMITTED gives each statement its own
    snapshot). SQLite: an explicit BEGIN, because pysqlite opens no transaction for
    SELECTs, so each would read its own WAL snapshot. Always ends in a rollback: it
    never writes."""
    if conn.in_transaction():
        conn.rollback()
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN")
    else:
        conn.execution_options(isolation_level="REPEATABLE READ")
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
    try:
        yield conn
    finally:
        conn.rollback()


def _sqlite_engine(url: URL, *, read_only: bool, busy_timeout_ms: int, **kwargs: Any) -> Engine:
    path = sqlite_path(url)
    connect_args: dict[str, Any] = {"timeout": busy_timeout_ms / 1000}
    if path is not None:
        if read_only:
            if not path.exists():
                raise DatabaseNotFoundError(
                    f"SQLite file not found: {path}",
                    hint="check the path, or run `studio-analytics db upgrade` to create it",
                    url=str(url),
                )
            # The uri form is the only way to ask sqlite3 for mode=ro.
            url = url.set(database=f"file:{path.resolve().as_posix()}?mode=ro", query={"uri": "true"})
        else:
            ensure_private_dir(path.parent)
            create_private_file(path)
    connect_args["check_same_thread"] = False
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _set_pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
            cur.execute("PRAGMA foreign_keys = ON")
            # A batch insert touches the hot pages of seven indexes on executions; the
            # default 2 MB cache is small for that once the file grows.
            cur.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
            # Reads the header: a file that is not a database fails here, on connect,
            # instead of on some later query.
            cur.execute("PRAGMA schema_version")
            _ensure_math_functions(dbapi_conn)
            if read_only:
                cur.execute("PRAGMA query_only = ON")
            else:
                # WAL lets the window read while trackers write; NORMAL is durable
                # across application crashes, which is what metrics need.
                cur.execute("PRAGMA journal_mode = WAL")
                cur.execute("PRAGMA synchronous = NORMAL")
                # Checkpoint every ~40 MB of WAL rather than every 1,000 pages: the hot
                # index pages every batch rewrites are copied back to the database file
                # less often. The WAL file is truncated back to that size after each.
                page_size = int(cur.execute("PRAGMA page_size").fetchone()[0])
                cur.execute(f"PRAGMA wal_autocheckpoint = {max(1000, SQLITE_WAL_CHECKPOINT_BYTES // page_size)}")
                cur.execute(f"PRAGMA journal_size_limit = {SQLITE_WAL_CHECKPOINT_BYTES}")
        finally:
            cur.close()

    return engine


def _ensure_math_functions(dbapi_conn: sqlite3.Connection) -> None:
    """SQLite builds without SQLITE_ENABLE_MATH_FUNCTIONS get the two the rollups use."""
    try:
        dbapi_conn.execute("SELECT log2(2.0), floor(1.5)")
    except sqlite3.OperationalError:
        dbapi_conn.create_function("log2", 1, _log2, deterministic=True)
        dbapi_conn.create_function("floor", 1, _floor, deterministic=True)


def _log2(value: float | None) -> float | None:
    return None if value is None or value <= 0 else math.log2(value)


def _floor(value: float | None) -> float | None:
    return None if value is None else float(math.floor(value))


def _postgres_engine(url: URL, *, read_only: bool, statement_timeout_s: float | None = None,
                     **kwargs: Any) -> Engine:
    # One time zone for naive Agent Studio timestamps and our timestamptz alike.
    options = "-c timezone=UTC" + (" -c default_transaction_read_only=on" if read_only else "")
    connect_timeout = PG_CONNECT_TIMEOUT_S
    if statement_timeout_s is not None:
        ms = max(1, int(statement_timeout_s * 1000))
        options += (f" -c statement_timeout={ms} -c lock_timeout={ms}"
                    f" -c idle_in_transaction_session_timeout={max(ms * 6, 60_000)}")
        connect_timeout = max(2, min(PG_CONNECT_TIMEOUT_S, int(math.ceil(statement_timeout_s))))
    connect_args: dict[str, Any] = {
        "connect_timeout": connect_timeout,
        "application_name": "studio-analytics",
        "options": options,
        **PG_KEEPALIVES,
    }
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, connect_args=connect_args, **kwargs)


def translate_error(error: BaseException, url: str | URL = "") -> DatabaseError:
    """Map a driver/SQLAlchemy exception to one of our typed errors."""
    if isinstance(error, DatabaseError):
        return error
    shown = safe_url(url) if url else ""
    orig = getattr(error, "orig", None) or error
    text = str(orig).lower()
    sqlstate = getattr(orig, "sqlstate", None)
    if (
        sqlstate in ("28P01", "28000")
        or "password authentication failed" in text
        or ("role" in text and "does not exist" in text)
        or "no password supplied" in text
        or "no pg_hba.conf entry" in text
    ):
        return AuthenticationError(
            "The PostgreSQL server refused the credentials",
            hint="check the user and password in the URL (or ~/.pgpass)",
            url=shown,
        )
    if sqlstate == "3D000" or ("database" in text and "does not exist" in text):
        return DatabaseNotFoundError(
            "The PostgreSQL database does not exist",
            hint="create it (createdb NAME) and run `studio-analytics db upgrade`",
            url=shown,
        )
    if sqlstate == "25006" or "read-only" in text or "readonly" in text or "attempt to write" in text:
        return ReadOnlyError("The database is open read-only", hint="the monitoring window never writes", url=shown)
    if "connection refused" in text or "could not connect" in text or "timeout expired" in text or (
        "connection" in text and ("failed" in text or "closed" in text or "terminat" in text)
    ) or "name or service not known" in text or "could not translate host" in text:
        return ServerUnreachableError(
            "Cannot reach the database server",
            hint="is PostgreSQL running and listening at that host and port?",
            url=shown,
        )
    if "file is not a database" in text or "database disk image is malformed" in text:
        return NotADatabaseError(
            "The file is not a SQLite database, or it is corrupt",
            hint="point --db at a studio-analytics SQLite file",
            url=shown,
        )
    if "database is locked" in text or "database table is locked" in text:
        return DatabaseLockedError(
            "The SQLite file is locked by another process",
            hint="another program holds a write lock; it will be retried",
            url=shown,
        )
    if "unable to open database file" in text:
        return DatabaseNotFoundError(
            "Cannot open the SQLite file",
            hint="check that the file and its folder exist and are readable",
            url=shown,
        )
    if "disk is full" in text or "no space left" in text or "disk i/o error" in text:
        return DatabaseError("The disk holding the database is full or failing",
                             hint="free space on that disk; rows wait in the spool meanwhile", url=shown)
    return DatabaseError(f"Database error: {first_line(error)}", url=shown)
