"""Pruning raw rows older than a cutoff, in short transactions, keeping the rollups.

The hourly and daily rollups keep every figure of a pruned period (see
:mod:`studio_analytics.analytics.rollup_sources`), so only raw rows go: executions,
tool usages, model calls and workflows by their own ``start_time``, then sessions
that started before the cutoff and have no execution or model call left.

The cutoff is a UTC midnight: archives hold whole UTC days, and ``db rebuild-rollups``
rebuilds from the day of the oldest raw row on, so a half-pruned day would leave its
remaining rows in an archive file that no longer matches, and its rollups rebuilt
from half the rows.

Each table's rows of a day are listed by primary key in one read; the listed ids are
then deleted in batches, each batch its own transaction. A batch's size adapts so
each transaction stays under :data:`TARGET_BATCH_MS`: a tracker writing at the same
time waits for at most one batch. Rows written meanwhile are never in a listed batch,
so none of them is lost, whatever their start time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from typing import Any

from sqlalchemy import delete, exists, func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from studio_analytics.db.capabilities import has_model_calls
from studio_analytics.db.engine import read_transaction
from studio_analytics.db.models import (
    AgentExecutionMetrics,
    ModelCallMetrics,
    SessionMetrics,
    ToolUsageMetrics,
    WorkflowMetrics,
)
from studio_analytics.db.session_totals import delete_totals_of

#: a batch transaction aims to hold the write lock no longer than this (the issue's bound
#: for a writer's wait is 100 ms; other writers queue for the lock too, so the aim is well
#: below it). SQLite: timed from when the batch has the lock (BEGIN IMMEDIATE)
TARGET_BATCH_MS = 15.0
DEFAULT_BATCH_ROWS = 200
MIN_BATCH_ROWS = 20
FIRST_BATCH_ROWS = 50
MAX_BATCH_ROWS = 5_000
#: SQLite: the prune checkpoints the WAL after this many batches (see _delete_ids)
CHECKPOINT_EVERY = 8
#: SQLite: the pause after each batch, for writers waiting on the lock (see _delete_ids)
PAUSE_MS = 50.0
#: SQLite: how many times in a table's prune a batch may find the lock held past the busy
#: timeout (5 s each) and be tried again before the prune gives up
MAX_LOCK_RETRIES = 12

#: archive(conn, table, day) -> rows written for that table and UTC day
Archiver = Callable[[Connection, str, date], int]
#: on_progress(table, day, rows deleted of that table and day)
Progress = Callable[[str, date, int], None]

#: pruned in this order; sessions last (they go when their executions are gone)
_DAY_TABLES: tuple[Any, ...] = (ModelCallMetrics, ToolUsageMetrics, AgentExecutionMetrics, WorkflowMetrics)
RAW_TABLES: tuple[str, ...] = tuple(m.__tablename__ for m in (*_DAY_TABLES, SessionMetrics))


@dataclass(frozen=True)
class PrunePlan:
    cutoff: datetime
    rows: dict[str, int]
    bytes_estimate: int
    days: list[date]

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@dataclass
class TablePruned:
    rows: int = 0
    seconds: float = 0.0
    batches: int = 0
    longest_batch_ms: float = 0.0
    #: SQLite: batches tried again because another writer held the lock past the busy timeout
    lock_retries: int = 0


@dataclass
class PruneReport:
    cutoff: datetime
    tables: dict[str, TablePruned] = field(default_factory=dict)
    #: days (per table) that were not deleted, and why: an archive that does not match
    problems: list[str] = field(default_factory=list)
    #: days of sessions kept because some of their sessions still have executions
    kept: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables.values())

    @property
    def longest_batch_ms(self) -> float:
        return max((t.longest_batch_ms for t in self.tables.values()), default=0.0)


def day_cutoff(moment: datetime) -> datetime:
    """The UTC midnight at or before ``moment``: prunes take whole UTC days."""
    moment = moment.astimezone(UTC)
    return datetime.combine(moment.date(), day_time(), UTC)


def _check_cutoff(cutoff: datetime) -> datetime:
    if cutoff.tzinfo is None:
        raise ValueError("the cutoff must be timezone-aware")
    cutoff = cutoff.astimezone(UTC)
    if cutoff != day_cutoff(cutoff):
        raise ValueError(f"the cutoff {cutoff.isoformat()} is not a UTC midnight (use day_cutoff())")
    return cutoff


def _models(conn: Connection) -> tuple[Any, ...]:
    """The raw tables this database has (model calls from revision 0003 on)."""
    return tuple(m for m in _DAY_TABLES if m is not ModelCallMetrics or has_model_calls(conn))


def _start(day: date) -> datetime:
    return datetime.combine(day, day_time(), UTC)


def list_prune_days(conn: Connection, *, cutoff: datetime) -> list[date]:
    """The UTC days before ``cutoff`` that hold raw rows (sessions included), oldest first.
    One indexed look-up per table and day found, jumping over empty stretches."""
    cutoff = _check_cutoff(cutoff)
    days: set[date] = set()
    for model in (*_models(conn), SessionMetrics):
        after = None
        while True:
            query = select(func.min(model.start_time)).where(model.start_time < cutoff)
            if after is not None:
                query = query.where(model.start_time >= after)
            first = conn.execute(query).scalar()
            if first is None:
                break
            day = first.astimezone(UTC).date()
            days.add(day)
            after = _start(day + timedelta(days=1))
    return sorted(days)


def plan_prune(conn: Connection, *, cutoff: datetime) -> PrunePlan:
    """What a prune at ``cutoff`` would delete: rows per table (sessions: those with no
    execution or model call left once the rest is gone), an estimate of their bytes, and
    the UTC days involved. Reads only."""
    cutoff = _check_cutoff(cutoff)
    models = _models(conn)
    rows: dict[str, int] = {}
    for model in models:
        rows[model.__tablename__] = int(conn.execute(
            select(func.count()).select_from(model).where(model.start_time < cutoff)).scalar() or 0)
    rows[SessionMetrics.__tablename__] = int(conn.execute(
        select(func.count()).select_from(SessionMetrics).where(*_orphan_session_where(conn, cutoff, planned=True))).scalar() or 0)
    return PrunePlan(cutoff, rows, _bytes_estimate(conn, rows), list_prune_days(conn, cutoff=cutoff))


def _orphan_session_where(conn: Connection, cutoff: datetime, *, planned: bool = False) -> list[Any]:
    """Sessions that started before the cutoff and have no execution (nor model call)
    left. ``planned``: counting before the prune, so only rows from the cutoff on count
    as left."""
    s = SessionMetrics
    where = [s.start_time < cutoff]
    others: list[Any] = [AgentExecutionMetrics]
    if has_model_calls(conn):
        others.append(ModelCallMetrics)
    for model in others:
        same = [model.session_id == s.session_id] + ([model.start_time >= cutoff] if planned else [])
        where.append(~exists().where(*same))
    return where


def _bytes_estimate(conn: Connection, rows: dict[str, int]) -> int:
    """Each table's share of its rows times its size with its indexes (SQLite: ``dbstat``
    when the build has it, else the file's pages shared out by rows; PostgreSQL:
    ``pg_total_relation_size``)."""
    totals = {table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0) for table in rows}
    sizes = table_sizes(conn, list(rows))
    if sizes is None:  # SQLite without dbstat: the whole file, shared by rows
        from studio_analytics.db.migrate import database_size_bytes

        size = database_size_bytes(conn) or 0
        all_rows = sum(totals.values())
        return int(size * sum(rows.values()) / all_rows) if all_rows else 0
    return int(sum(sizes[t] * rows[t] / totals[t] for t in rows if totals[t]))


def table_sizes(conn: Connection, tables: Sequence[str]) -> dict[str, int] | None:
    """Bytes of each table with its indexes; None on a SQLite build without ``dbstat``."""
    if conn.dialect.name == "postgresql":
        return {t: int(conn.execute(text("SELECT pg_total_relation_size(CAST(:t AS regclass))"), {"t": t}).scalar()
                       or 0) for t in tables}
    try:
        found = dict(conn.execute(text(
            "SELECT m.tbl_name, sum(d.pgsize) FROM dbstat d JOIN sqlite_master m ON m.name = d.name "
            "GROUP BY m.tbl_name")).all())
    except Exception:  # noqa: BLE001 - "no such table: dbstat": the build lacks the virtual table
        if conn.in_transaction():
            conn.rollback()
        return None
    return {t: int(found.get(t) or 0) for t in tables}


def prune(engine: Engine, *, cutoff: datetime, archive: Archiver | None = None,
          batch_rows: int = DEFAULT_BATCH_ROWS, on_progress: Progress | None = None,
          target_ms: float = TARGET_BATCH_MS, pause_ms: float = PAUSE_MS) -> PruneReport:
    """Delete the raw rows older than ``cutoff`` (a UTC midnight), day by day, in batches
    that are each their own short transaction. With ``archive``, each table's day is
    archived first and deleted only if the archive holds exactly the rows listed for it;
    a day that does not match stays and is named in :attr:`PruneReport.problems`.
    The rollups are not touched."""
    cutoff = _check_cutoff(cutoff)
    started = time.perf_counter()
    report = PruneReport(cutoff)
    # one batch size per table: their rows and indexes differ in cost
    batchers: dict[str, _Batcher] = {}
    with engine.connect() as reader:
        models = _models(reader)
        days = list_prune_days(reader, cutoff=cutoff)
    for model in (*models, SessionMetrics):
        report.tables[model.__tablename__] = TablePruned()
    for day in days:
        for model in models:
            ids = _day_ids(engine, model, day, cutoff, archive, report)
            if ids:
                _delete_ids(engine, model, ids, report.tables[model.__tablename__],
                            batchers.setdefault(model.__tablename__, _Batcher(batch_rows, target_ms)), pause_ms)
            if on_progress is not None:
                on_progress(model.__tablename__, day, len(ids))
    for day in days:
        ids = _session_ids(engine, day, cutoff, archive, report)
        if ids:
            _delete_ids(engine, SessionMetrics, ids, report.tables[SessionMetrics.__tablename__],
                        batchers.setdefault(SessionMetrics.__tablename__, _Batcher(batch_rows, target_ms)), pause_ms,
                        orphan_only=cutoff)
        if on_progress is not None:
            on_progress(SessionMetrics.__tablename__, day, len(ids))
    report.seconds = time.perf_counter() - started
    return report


def _day_span(day: date, cutoff: datetime) -> tuple[datetime, datetime]:
    return _start(day), min(_start(day + timedelta(days=1)), cutoff)


def _day_ids(engine: Engine, model: Any, day: date, cutoff: datetime, archive: Archiver | None,
             report: PruneReport) -> list[int]:
    """The ids of ``model``'s rows of ``day``, read in one snapshot with their archive (on
    a connection of its own: the archive may set options on the one it is given)."""
    lo, hi = _day_span(day, cutoff)
    with engine.connect() as reader, read_transaction(reader):
        ids = list(reader.execute(select(model.id).where(model.start_time >= lo, model.start_time < hi)
                                  .order_by(model.id)).scalars())
        if not ids or archive is None:
            return ids
        written = archive(reader, model.__tablename__, day)
    if written != len(ids):
        report.problems.append(f"{model.__tablename__} {day}: the archive holds {written:,} rows, the database "
                               f"{len(ids):,}; that day was not deleted")
        return []
    return ids


def _session_ids(engine: Engine, day: date, cutoff: datetime, archive: Archiver | None,
                 report: PruneReport) -> list[int]:
    """The day's sessions with nothing left. With an archive, all of the day's sessions or
    none: an archive file holds a whole day, and is rewritten from what is left."""
    s = SessionMetrics
    lo, hi = _day_span(day, cutoff)
    in_day = (s.start_time >= lo, s.start_time < hi)
    with engine.connect() as reader, read_transaction(reader):
        ids = list(reader.execute(select(s.id).where(*in_day, *_orphan_session_where(reader, cutoff))
                                  .order_by(s.id)).scalars())
        if not ids or archive is None:
            return ids
        total = int(reader.execute(select(func.count()).select_from(s).where(*in_day)).scalar() or 0)
        if total != len(ids):
            report.kept.append(f"{s.__tablename__} {day}: {total - len(ids):,} of its {total:,} sessions go on "
                               "past the cutoff; the day's sessions stay until they are done")
            return []
        written = archive(reader, s.__tablename__, day)
    if written != len(ids):
        report.problems.append(f"{s.__tablename__} {day}: the archive holds {written:,} rows, the database "
                               f"{len(ids):,}; that day was not deleted")
        return []
    return ids


class _Batcher:
    """The next batch size: halved down after a slow transaction, grown after fast ones."""

    def __init__(self, rows: int, target_ms: float = TARGET_BATCH_MS) -> None:
        # the first batch of a table is small: its pages may not be in any cache yet
        self.rows = max(MIN_BATCH_ROWS, min(MAX_BATCH_ROWS, FIRST_BATCH_ROWS, rows))
        self.target_ms = target_ms

    def took(self, ms: float) -> None:
        if ms > self.target_ms:
            self.rows = max(MIN_BATCH_ROWS, int(self.rows * self.target_ms / ms * 0.8))
        elif ms < self.target_ms / 2:
            # grows gently: a batch's time varies with the cache and the rows' width
            self.rows = min(MAX_BATCH_ROWS, int(self.rows * 1.5))


def _delete_ids(engine: Engine, model: Any, ids: list[int], result: TablePruned, batcher: _Batcher,
                pause_ms: float, *, orphan_only: datetime | None = None) -> None:
    done = 0
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # A commit that crosses the WAL's autocheckpoint size copies the WAL back into
            # the file before it returns: a batch would look (and the next one start)
            # hundreds of ms late. The prune checkpoints itself instead, outside its
            # transactions; a PASSIVE checkpoint never blocks a writer.
            autocheckpoint = int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() or 0)
            conn.exec_driver_sql("PRAGMA wal_autocheckpoint = 0")
            conn.commit()
        try:
            while done < len(ids):
                batch = ids[done:done + batcher.rows]
                statement = delete(model).where(model.id.in_(batch))
                if orphan_only is not None:  # a session that got a new execution meanwhile stays
                    statement = statement.where(*_orphan_session_where(conn, orphan_only)[1:])
                try:
                    with conn.begin():
                        if sqlite:
                            # The lock first (waiting in the busy handler), then the clock:
                            # the batch's size adapts to how long it holds the lock, not to
                            # how long it waited for the trackers.
                            conn.exec_driver_sql("BEGIN IMMEDIATE")
                        began = time.perf_counter()
                        if model is SessionMetrics:
                            # their running totals go with them (a session id seen again
                            # later starts afresh, as its row does)
                            delete_totals_of(conn, select(model.session_id).where(statement.whereclause))
                        deleted = conn.execute(statement).rowcount
                except OperationalError as e:
                    # Another writer held the lock past the busy timeout: the batch did
                    # nothing; try it again after a pause, a bounded number of times.
                    if not sqlite or not _is_busy(e) or result.lock_retries >= MAX_LOCK_RETRIES:
                        raise
                    result.lock_retries += 1
                    time.sleep(max(pause_ms, PAUSE_MS) / 1000)
                    continue
                ms = (time.perf_counter() - began) * 1000
                batcher.took(ms)
                done += len(batch)
                result.rows += max(0, deleted or 0)
                result.batches += 1
                result.seconds += ms / 1000
                result.longest_batch_ms = max(result.longest_batch_ms, ms)
                if sqlite:
                    if result.batches % CHECKPOINT_EVERY == 0:
                        _passive_checkpoint(conn, result)
                    # A writer that found the file locked sleeps in SQLite's busy handler
                    # (1, 2, 5, 10, 15, 20, 25, 25, 25 ms, then 50 and 100): a pause as short
                    # as the batch let batches keep taking the lock while it slept, in step
                    # with it, and several trackers took the pauses before it (a writer
                    # waited 431 ms at 100,000 executions with 4 trackers writing). A pause
                    # twice its longest step up to 100 ms lets it in at its next wake-up.
                    time.sleep(pause_ms / 1000)
        finally:
            if sqlite:
                _passive_checkpoint(conn, result)
                conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint = {autocheckpoint}")
                conn.commit()


def _is_busy(error: OperationalError) -> bool:
    text_ = str(error.orig).lower()
    return "locked" in text_ or "busy" in text_


def _passive_checkpoint(conn: Connection, result: TablePruned) -> None:
    began = time.perf_counter()
    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
    conn.commit()
    result.seconds += time.perf_counter() - began


# -- giving the space back ---------------------------------------------------------
@dataclass(frozen=True)
class VacuumResult:
    bytes_before: int | None
    bytes_after: int | None
    seconds: float
    tables: tuple[str, ...]


def vacuum(engine: Engine) -> VacuumResult:
    """SQLite: ``VACUUM`` (rewrites the file without its free pages; it waits for, then
    holds, the write lock for as long as that takes), then a WAL checkpoint so the file
    shrinks now. PostgreSQL: ``VACUUM (ANALYZE)`` of the raw tables, outside a
    transaction (autovacuum does this too; this makes the space reusable at once)."""
    from studio_analytics.db.migrate import database_size_bytes

    started = time.perf_counter()
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        before = database_size_bytes(conn)
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("VACUUM")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            tables: tuple[str, ...] = ()
        else:
            names = [m.__tablename__ for m in (*_models(conn), SessionMetrics)]
            for table in names:
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
            tables = tuple(names)
        after = database_size_bytes(conn)
    return VacuumResult(before, after, time.perf_counter() - started, tables)


__all__ = [
    "DEFAULT_BATCH_ROWS", "RAW_TABLES", "TARGET_BATCH_MS", "Archiver", "PrunePlan",
    "PruneReport", "TablePruned", "VacuumResult", "day_cutoff", "list_prune_days", "plan_prune", "prune",
    "table_sizes", "vacuum",
]
