"""PollWorker: runs the database queries in its own thread and sends frozen results.

Every figure of one refresh comes from one read transaction (see
:func:`~studio_analytics.db.engine.read_transaction`). On SQLite the worker keeps one
connection open between polls, for two reasons: ``PRAGMA data_version`` only changes
for commits made by *other* connections since this one last looked, which makes "has
anything changed?" one cheap statement; and the file identity (device, inode) recorded
when it was opened tells a file that was moved or deleted under the window, which the
open handle would otherwise keep reading as if nothing happened.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from studio_analytics.analytics import time_range
from studio_analytics.analytics.health import failed_health
from studio_analytics.analytics.results import DashboardSnapshot, Health, TimeRange
from studio_analytics.analytics.snapshot import read_dashboard
from studio_analytics.analytics.storage import StorageReport, read_storage
from studio_analytics.db.engine import (
    dispose_engine,
    get_engine,
    normalize_url,
    read_transaction,
    sqlite_path,
    translate_error,
)
from studio_analytics.gui.workers.alert_watch import AlertsSnapshot, AlertWatch
from studio_analytics.retention_settings import load_retention

log = logging.getLogger(__name__)

#: Longest a refresh may be answered from the previous one when nothing changed: a
#: relative range ("last 24 hours") moves with the clock, so buckets and the ends of
#: the range need a real query now and then even on a database nobody writes to.
UNCHANGED_MAX_AGE_S = 60.0
#: The Database tab's storage figures walk every page of the file (SQLite's dbstat) and
#: count whole tables: read when the tab is shown, then at most this often.
STORAGE_MAX_AGE_S = 300.0


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
    utc: bool = True  # the zone the usage heatmap is in: UTC, else this computer's


@dataclass(frozen=True, slots=True)
class PollResult:
    generation: int
    health: Health
    snapshot: DashboardSnapshot | None
    seconds: float
    #: True: the database had not changed, health and snapshot are the previous ones
    unchanged: bool = False
    #: the Database tab's sizes and growth (only when that tab asked; possibly minutes old)
    storage: StorageReport | None = None
    #: why the storage figures could not be read ("" when they were, or were not asked for)
    storage_problem: str = ""


def request_range(request: PollRequest) -> TimeRange:
    if request.custom_range is not None:
        return time_range(start_date=request.custom_range[0], end_date=request.custom_range[1])
    return time_range(preset=request.range_preset)


@dataclass(slots=True)
class _OpenFile:
    """The long-lived connection to one SQLite file and what it was opened on."""

    url: str
    path: Path
    identity: tuple[int, int]  # (st_dev, st_ino) when opened
    conn: Connection


@dataclass(frozen=True, slots=True)
class _Previous:
    request: PollRequest  # with generation 0: what was asked, not when
    change_key: tuple[Any, ...]
    at: float  # time.monotonic() of the full refresh
    health: Health
    snapshot: DashboardSnapshot | None


class PollWorker(QObject):
    """Lives in a QThread; every request carries a generation so stale replies can be dropped."""

    refreshed = Signal(object)  # PollResult
    #: after a refresh that evaluated the alert rules (or a silence changed): AlertsSnapshot,
    #: emitted before ``refreshed`` so the window shows both from the same read
    alerts_evaluated = Signal(object)

    def __init__(self, alerts: AlertWatch | None = None) -> None:
        super().__init__()
        #: skip a SQLite refresh's queries when the file has not changed (benchmarks turn it off)
        self.change_detection = True
        #: evaluate the alert rules after each refresh (benchmarks of the refresh turn it off)
        self.alerts_enabled = True
        self.alerts = alerts or AlertWatch()
        self._alerts: AlertsSnapshot | None = None  # evaluated during this poll, to send
        self._alerts_sent = False
        self._file: _OpenFile | None = None
        self._moved: tuple[str, Path] | None = None  # a file we had open that is gone
        self._previous: _Previous | None = None
        #: ((url, SQLite file identity), time.monotonic() when read, report): reused for STORAGE_MAX_AGE_S
        self._storage: tuple[tuple[str, Any], float, StorageReport] | None = None
        self._storage_out: tuple[StorageReport | None, str] = (None, "")

    @Slot(object)
    def poll(self, request: PollRequest) -> None:
        started = time.perf_counter()
        self.alerts.use_database(request.url)
        try:
            health, snapshot, unchanged = self._poll(request)
        except Exception as e:  # noqa: BLE001 - every failure becomes a banner, never a crash
            self.close()
            err = translate_error(e, request.url)
            health, snapshot, unchanged = failed_health(request.url, err.message, err.hint), None, False
        self._send_alerts(health)
        (storage, problem), self._storage_out = self._storage_out, (None, "")
        self.refreshed.emit(PollResult(request.generation, health, snapshot, time.perf_counter() - started,
                                       unchanged, storage, problem))

    def _send_alerts(self, health: Health) -> None:
        alerts, self._alerts = self._alerts, None
        if alerts is None and not health.ok and self.alerts_enabled and not self._alerts_sent:
            # The history and what was firing, even while the database does not answer.
            alerts = self.alerts.fail("the database did not answer: the rules were not evaluated")
        if alerts is not None:
            self._alerts_sent = True
            self.alerts_evaluated.emit(alerts)

    def _evaluate_alerts(self, conn: Connection) -> None:
        """Inside the refresh's read transaction: the alerts judge the rows the figures show."""
        if self.alerts_enabled:
            self._alerts = self.alerts.evaluate(conn)

    @Slot(str, object)
    def silence(self, rule_id: str, until: datetime) -> None:
        """Silence a rule until ``until`` (the window asks; the book and its file are ours)."""
        self.alerts_evaluated.emit(self.alerts.silence(rule_id, until))

    @Slot(str)
    def unsilence(self, rule_id: str) -> None:
        self.alerts_evaluated.emit(self.alerts.unsilence(rule_id))

    @Slot()
    def close(self) -> None:
        """Close the kept connection (on the worker's thread, which opened it)."""
        if self._file is not None:
            try:
                self._file.conn.close()
            except Exception:  # noqa: BLE001 - closing a connection to a vanished file
                log.debug("closing the SQLite connection failed", exc_info=True)
            self._file = None
        self._previous = None

    def _poll(self, request: PollRequest) -> tuple[Health, DashboardSnapshot | None, bool]:
        url = normalize_url(request.url)
        # sqlite_path reads any URL's database name: a PostgreSQL database is no file.
        path = sqlite_path(url) if url.get_backend_name() == "sqlite" else None
        if path is None:  # PostgreSQL: a pooled connection per poll
            self.close()
            with get_engine(request.url, read_only=True).connect() as conn:
                return (*self._read(conn, request), False)
        moved = self._check_file(request.url, path)
        if moved is not None:
            return moved, None, False
        if self._file is None:
            self._file = self._open(request.url, path, get_engine(request.url, read_only=True))
        conn = self._file.conn
        key = self._change_key(conn)
        signature = dataclasses.replace(request, generation=0)
        prev = self._previous
        if (self.change_detection and prev is not None and prev.request == signature
                and prev.change_key == key and time.monotonic() - prev.at < UNCHANGED_MAX_AGE_S):
            if self.alerts_enabled and self.alerts.due():  # the rules file changed, or the clock moved on
                with read_transaction(conn):
                    self._evaluate_alerts(conn)
            return prev.health, prev.snapshot, True
        at = time.monotonic()
        health, snapshot = self._read(conn, request)
        self._previous = _Previous(signature, key, at, health, snapshot) if health.ok else None
        return health, snapshot, False

    def _read(self, conn: Connection, request: PollRequest) -> tuple[Health, DashboardSnapshot | None]:
        with read_transaction(conn):
            health, snapshot = read_dashboard(
                conn, request.url, request_range(request), generation=request.generation,
                agent_sort=request.agent_sort, tool_sort=request.tool_sort, tabs=frozenset({request.tab}),
                sorts={t: (f, d) for t, f, d in request.sorts}, heatmap_tz=UTC if request.utc else None,
            )
            if health.ok:
                self._evaluate_alerts(conn)
                if request.tab == "database":
                    self._read_storage(conn, request.url)
            return health, snapshot

    def _read_storage(self, conn: Connection, url: str) -> None:
        """Last in the refresh's read transaction (a failure here spoils nothing before it):
        the storage report, or the one read less than STORAGE_MAX_AGE_S ago."""
        # The same database, and for SQLite the same file (another file put in its place is read anew).
        key = (url, self._file.identity if self._file is not None else None)
        settings = load_retention()  # a small file, read each time (here, not on the GUI thread)
        kept = self._storage
        if kept is not None and kept[0] == key and time.monotonic() - kept[1] < STORAGE_MAX_AGE_S:
            report = kept[2] if kept[2].retention == settings else dataclasses.replace(kept[2], retention=settings)
            self._storage = (key, kept[1], report)
            self._storage_out = (report, "")
            return
        try:
            report = read_storage(conn, retention=settings)
        except Exception as e:  # noqa: BLE001 - the tab says so; the dashboard's figures stand
            log.warning("reading the storage figures failed", exc_info=True)
            self._storage_out = (None, translate_error(e, url).message)
            return
        self._storage = (key, time.monotonic(), report)
        self._storage_out = (report, "")

    def _check_file(self, url: str, path: Path) -> Health | None:
        """A failure when the file we read was moved or deleted; None when it is still ours
        (or a new file took its place: then the old engine goes and the new file is opened)."""
        try:
            st = os.stat(path)
        except OSError:
            st = None
        if self._file is not None and self._file.url != url:
            self.close()  # another database now
        if self._moved is not None and self._moved[0] != url:
            self._moved = None
        if st is None:
            if self._file is not None:
                self._moved = (url, path)
                self.close()
                # Its pooled connections hold the old file open: they would go on reading it.
                dispose_engine(url, read_only=True)
            if self._moved is not None:
                return failed_health(url, f"The database file was moved or deleted: {path}",
                                     "put it back, or choose the database again (Database…)", "sqlite")
            return None  # never opened: the engine says "not found"
        if self._file is not None and (st.st_dev, st.st_ino) != self._file.identity:
            self.close()
            dispose_engine(url, read_only=True)
        self._moved = None
        return None

    @staticmethod
    def _open(url: str, path: Path, engine: Engine) -> _OpenFile:
        st = os.stat(path)
        return _OpenFile(url, path, (st.st_dev, st.st_ino), engine.connect())

    @staticmethod
    def _change_key(conn: Connection) -> tuple[Any, ...]:
        """What changes when another connection commits: data_version (for this
        connection), and the newest execution (one index lookup) as a second witness."""
        try:
            version = conn.execute(text("PRAGMA data_version")).scalar()
            newest = conn.exec_driver_sql("SELECT max(start_time) FROM agent_execution_metrics").scalar()
        except Exception:  # noqa: BLE001 - no tables yet: the full read reports what is wrong
            version = newest = object()  # never equal: always refresh
        finally:
            conn.rollback()  # end the implicit transaction so the next read sees new commits
        return (version, newest)


class PollThread(QObject):
    """Owns the worker's QThread: started once, stopped and joined on quit."""

    poll_requested = Signal(object)  # PollRequest
    close_requested = Signal()
    silence_requested = Signal(str, object)  # rule id, until (datetime, UTC)
    unsilence_requested = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("PollWorkerThread")
        self.worker = PollWorker()
        self.worker.moveToThread(self.thread)
        self.poll_requested.connect(self.worker.poll)
        self.close_requested.connect(self.worker.close)
        self.silence_requested.connect(self.worker.silence)
        self.unsilence_requested.connect(self.worker.unsilence)
        self.thread.finished.connect(self.worker.deleteLater)
        self.thread.start()

    def stop(self, timeout_ms: int = 10_000) -> bool:
        if not self.thread.isRunning():
            return True
        self.close_requested.emit()  # queued before quit: runs on the worker's thread first
        self.thread.quit()
        return self.thread.wait(timeout_ms)
