"""Storage: how big each table and index is, how many rows it holds, how old they are,
whether raw rows were pruned, and how fast the database grows.

Sizes come from the database itself, aggregated in SQL: SQLite's ``dbstat`` virtual table
(one row per b-tree with ``aggregate = 1``), PostgreSQL's ``pg_total_relation_size`` /
``pg_relation_size`` / ``pg_indexes_size``. A SQLite built without ``dbstat`` gives the
file's page count only: sizes per table are then unknown, and said so.

Growth is rows per UTC day over the last whole days, from the hourly rollups where they
exist (a prune keeps them, so a pruned day still counts what was written), times each
table's bytes per row. The rollup and dbstat reads walk every page of a large file: the
window reads this at most every few minutes, not on each refresh.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, literal_column, select, text
from sqlalchemy.engine import Connection

from studio_analytics.db.capabilities import has_model_calls, tables_present
from studio_analytics.db.migrate import database_size_bytes
from studio_analytics.db.models import (
    AgentExecutionMetrics,
    ModelCallMetrics,
    SessionMetrics,
    ToolUsageMetrics,
    WorkflowMetrics,
)
from studio_analytics.db.rollup_models import (
    FIGURE_ROLLUP_MODELS,
    FIGURE_ROLLUP_TABLES,
    MODEL_ROLLUP_MODELS,
    ROLLUP_MODELS,
    ROLLUP_TABLES,
    AgentHourlyRollup,
    ModelHourlyRollup,
    ToolHourlyRollup,
    WorkflowHourlyRollup,
)
from studio_analytics.db.rollups import epoch_bucket_sql

if TYPE_CHECKING:
    from studio_analytics.retention_settings import RetentionSettings

DAY_S = 86_400
HOUR_S = 3_600
#: whole UTC days the growth is averaged over
GROWTH_DAYS = 14
#: PostgreSQL tables with more rows than this (by the planner's estimate) are not counted
#: exactly: a count(*) of millions of rows reads the whole table
EXACT_COUNT_LIMIT = 100_000
NO_DBSTAT = "sizes per table unavailable (SQLite without dbstat)"

#: raw table -> (its hourly rollup, the rollup's row count for it)
_ROLLED_UP: dict[str, tuple[Any, Any]] = {
    AgentExecutionMetrics.__tablename__: (AgentHourlyRollup, AgentHourlyRollup.executions),
    ToolUsageMetrics.__tablename__: (ToolHourlyRollup, ToolHourlyRollup.calls),
    WorkflowMetrics.__tablename__: (WorkflowHourlyRollup, WorkflowHourlyRollup.runs),
    ModelCallMetrics.__tablename__: (ModelHourlyRollup, ModelHourlyRollup.calls),
}


@dataclass(frozen=True, slots=True)
class IndexSize:
    name: str
    bytes: int


@dataclass(frozen=True, slots=True)
class TableStorage:
    """One table. ``kind``: "raw" (metrics rows), "rollup", or "other" (bookkeeping)."""

    name: str
    kind: str
    rows: int
    #: True: ``rows`` is PostgreSQL's planner estimate (pg_class.reltuples), not a count
    rows_estimated: bool
    #: the table's own pages (PostgreSQL: with its TOAST); None without dbstat
    table_bytes: int | None
    index_bytes: int | None
    indexes: tuple[IndexSize, ...]
    #: raw: the oldest and newest start_time; rollup: the first and last period (hour or day) start
    oldest: datetime | None
    newest: datetime | None
    #: raw tables with a rollup: rollup hours older than the oldest raw row exist, i.e.
    #: raw rows before this moment were pruned (None: nothing was)
    pruned_before: datetime | None = None

    @property
    def total_bytes(self) -> int | None:
        if self.table_bytes is None:
            return None
        return self.table_bytes + (self.index_bytes or 0)

    @property
    def bytes_per_row(self) -> float | None:
        total = self.total_bytes
        return None if total is None or self.rows <= 0 else total / self.rows


@dataclass(frozen=True, slots=True)
class DayGrowth:
    """One UTC day: rows written per table, and what they take on disk (an estimate)."""

    day: date
    rows: dict[str, int]
    bytes_estimate: float
    raw_bytes_estimate: float

    @property
    def executions(self) -> int:
        return self.rows.get(AgentExecutionMetrics.__tablename__, 0)


@dataclass(frozen=True, slots=True)
class StorageReport:
    dialect: str
    taken_at: datetime
    database_bytes: int | None
    #: SQLite: pages inside the file that are free (after deletes) and reused before it grows
    free_bytes: int | None
    #: "" or why sizes per table are missing (NO_DBSTAT)
    size_note: str
    tables: tuple[TableStorage, ...]
    rollup_first_hour: datetime | None
    rollup_last_hour: datetime | None
    #: raw rows before this moment were pruned; figures before it come from the rollups
    pruned_before: datetime | None
    #: the last GROWTH_DAYS whole UTC days, oldest first (every day, zeros included)
    growth: tuple[DayGrowth, ...]
    #: days the rate is averaged over (fewer than GROWTH_DAYS when the data is younger)
    rate_days: int
    bytes_per_day: float | None
    raw_bytes_per_day: float | None
    projected_30d: int | None
    projected_90d: int | None
    #: True: the growth counts come from the hourly rollups (else from raw rows)
    growth_from_rollups: bool
    retention: RetentionSettings | None = field(default=None)

    def table(self, name: str) -> TableStorage | None:
        return next((t for t in self.tables if t.name == name), None)

    @property
    def pruned_message(self) -> str | None:
        if self.pruned_before is None:
            return None
        # The day, as the drill-downs say it: the first raw row left may start any time in it.
        return (f"raw rows pruned before {self.pruned_before:%Y-%m-%d} (UTC); "
                "figures before it come from the hourly rollups")


def read_storage(conn: Connection, *, now: datetime | None = None, retention: RetentionSettings | None = None,
                 dbstat: bool | None = None) -> StorageReport:
    """The storage report of the database ``conn`` reads (inside the caller's read
    transaction). ``dbstat=False`` reads SQLite as a build without dbstat would (page
    counts only); None finds out. Raises on a database error."""
    now = now or datetime.now(UTC)
    dialect = conn.dialect.name
    raw_models: list[Any] = [AgentExecutionMetrics, ToolUsageMetrics, WorkflowMetrics, SessionMetrics]
    rollup_models: list[Any] = []
    models = has_model_calls(conn)
    if models:
        raw_models.append(ModelCallMetrics)
    if tables_present(conn, ROLLUP_TABLES):
        rollup_models = list(ROLLUP_MODELS) + (list(MODEL_ROLLUP_MODELS) if models else [])
        if tables_present(conn, FIGURE_ROLLUP_TABLES):
            rollup_models += list(FIGURE_ROLLUP_MODELS)
    raw_names = {m.__tablename__ for m in raw_models}
    rollup_names = {m.__tablename__ for m in rollup_models}

    size_note = ""
    if dialect == "postgresql":
        sizes, estimates = _postgres_sizes(conn)
    else:
        if dbstat is None:
            dbstat = _has_dbstat(conn)
        sizes, estimates = (_sqlite_sizes(conn) if dbstat else {}), {}
        if not dbstat:
            size_note = NO_DBSTAT
            sizes = {name: (None, None, ()) for name in _sqlite_tables(conn)}
    edges = _raw_edges(conn, raw_models)
    coverage = _rollup_coverage(conn, rollup_models)
    counts = _row_counts(conn, sorted(sizes), estimates)

    tables: list[TableStorage] = []
    pruned: list[datetime] = []
    for name in sorted(sizes, key=lambda n: (0 if n in raw_names else 1 if n in rollup_names else 2, n)):
        table_bytes, index_bytes, indexes = sizes[name]
        rows, estimated = counts[name]
        kind = "raw" if name in raw_names else "rollup" if name in rollup_names else "other"
        oldest, newest = edges.get(name) or coverage.get(name) or (None, None)
        pruned_before = None
        rollup = _ROLLED_UP.get(name)
        if kind == "raw" and rollup is not None and rollup[0].__tablename__ in coverage:
            first_hour, last_hour = coverage[rollup[0].__tablename__]
            if first_hour is not None and (oldest is None or first_hour < _hour_floor(oldest)):
                # Rollups are made from raw rows only: an hour with no raw row left was pruned.
                pruned_before = oldest if oldest is not None else last_hour + timedelta(hours=1)
                pruned.append(pruned_before)
        tables.append(TableStorage(name, kind, rows, estimated, table_bytes, index_bytes, indexes,
                                   oldest, newest, pruned_before))

    hourly = [coverage[m.__tablename__] for m in (AgentHourlyRollup, ToolHourlyRollup, WorkflowHourlyRollup)
              if m.__tablename__ in coverage and coverage[m.__tablename__][0] is not None]
    first_hour = min((a for a, _ in hourly), default=None)
    last_hour = max((b for _, b in hourly if b is not None), default=None)

    database_bytes = database_size_bytes(conn)
    free = None
    if dialect == "sqlite":
        free = int(conn.execute(text("PRAGMA freelist_count")).scalar() or 0) * int(
            conn.execute(text("PRAGMA page_size")).scalar() or 0)

    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    start = today - timedelta(days=GROWTH_DAYS)
    per_day = _rows_per_day(conn, raw_models, rollup_models, start, today)
    by_name = {t.name: t for t in tables}
    fallback_per_row = _fallback_bytes_per_row(database_bytes, tables) if size_note else None
    growth: list[DayGrowth] = []
    for i in range(GROWTH_DAYS):
        day = (start + timedelta(days=i)).date()
        rows = per_day.get(day, {})
        total = raw_total = 0.0
        for name, n in rows.items():
            t = by_name.get(name)
            per_row = t.bytes_per_row if t is not None and not size_note else fallback_per_row
            if per_row is None:
                continue
            total += per_row * n
            if name in raw_names:
                raw_total += per_row * n
        growth.append(DayGrowth(day, dict(rows), total, raw_total))
    first_day = next((i for i, g in enumerate(growth) if g.rows and any(g.rows.values())), None)
    rate_days = 0 if first_day is None else GROWTH_DAYS - first_day
    bytes_per_day = raw_per_day = None
    projected_30 = projected_90 = None
    if rate_days:
        bytes_per_day = sum(g.bytes_estimate for g in growth) / rate_days
        raw_per_day = sum(g.raw_bytes_estimate for g in growth) / rate_days
        if database_bytes is not None:
            projected_30 = round(database_bytes + 30 * bytes_per_day)
            projected_90 = round(database_bytes + 90 * bytes_per_day)
    return StorageReport(
        dialect=dialect, taken_at=now, database_bytes=database_bytes, free_bytes=free, size_note=size_note,
        tables=tuple(tables), rollup_first_hour=first_hour, rollup_last_hour=last_hour,
        pruned_before=max(pruned) if pruned else None, growth=tuple(growth), rate_days=rate_days,
        bytes_per_day=bytes_per_day, raw_bytes_per_day=raw_per_day, projected_30d=projected_30,
        projected_90d=projected_90, growth_from_rollups=bool(rollup_models), retention=retention,
    )


# -- sizes ----------------------------------------------------------------------------
Sizes = dict[str, tuple[int | None, int | None, tuple[IndexSize, ...]]]


def _has_dbstat(conn: Connection) -> bool:
    try:
        # SQLite: a statement that fails to prepare leaves the transaction as it was.
        conn.exec_driver_sql("SELECT * FROM dbstat LIMIT 1").all()
        return True
    except Exception:  # noqa: BLE001 - "no such table: dbstat": a build without it
        return False


def _sqlite_tables(conn: Connection) -> list[str]:
    rows = conn.exec_driver_sql(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all()
    return [r[0] for r in rows]


def _sqlite_sizes(conn: Connection) -> Sizes:
    """Bytes of every table and index b-tree (overflow pages included), one row per b-tree."""
    rows = conn.exec_driver_sql(
        "SELECT m.tbl_name, m.type, m.name, s.pgsize"
        " FROM (SELECT name, pgsize FROM dbstat WHERE aggregate = 1) AS s"
        " JOIN sqlite_schema AS m ON m.name = s.name"
        " WHERE m.type IN ('table', 'index') AND m.tbl_name NOT LIKE 'sqlite_%'"
        " ORDER BY m.tbl_name, m.type DESC, m.name").all()
    tables: dict[str, int] = {}
    indexes: dict[str, list[IndexSize]] = defaultdict(list)
    for table, kind, name, size in rows:
        if kind == "table":
            tables[table] = int(size or 0)
        else:
            indexes[table].append(IndexSize(name, int(size or 0)))
    return {t: (b, sum(i.bytes for i in indexes[t]), tuple(indexes[t])) for t, b in tables.items()}


def _postgres_sizes(conn: Connection) -> tuple[Sizes, dict[str, float]]:
    """Per table: everything but its indexes (heap, TOAST, maps), its indexes; and a row
    estimate: the planner's (reltuples), or for a table never analysed (-1) the live rows
    the statistics collector counted."""
    tables = conn.exec_driver_sql(
        "SELECT c.relname, pg_total_relation_size(c.oid) - pg_indexes_size(c.oid), pg_indexes_size(c.oid),"
        " CASE WHEN c.reltuples >= 0 THEN c.reltuples ELSE coalesce(s.n_live_tup, -1) END"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid"
        " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')").all()
    index_rows = conn.exec_driver_sql(
        "SELECT t.relname, i.relname, pg_relation_size(i.oid) FROM pg_index x"
        " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
        " JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = current_schema()"
        " ORDER BY t.relname, i.relname").all()
    indexes: dict[str, list[IndexSize]] = defaultdict(list)
    for table, name, size in index_rows:
        indexes[table].append(IndexSize(name, int(size or 0)))
    sizes: Sizes = {t: (int(b or 0), int(i or 0), tuple(indexes[t])) for t, b, i, _ in tables}
    return sizes, {t: float(est) for t, _, _, est in tables}


def _row_counts(conn: Connection, names: list[str], estimates: dict[str, float]) -> dict[str, tuple[int, bool]]:
    """Exact counts, except PostgreSQL tables the planner believes large: its estimate."""
    out: dict[str, tuple[int, bool]] = {}
    exact = [n for n in names if estimates.get(n, -1) <= EXACT_COUNT_LIMIT]
    for n in names:
        if n not in exact:
            out[n] = (round(estimates[n]), True)
    if exact:
        quote = conn.dialect.identifier_preparer.quote
        sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {quote(n)})" for n in exact)
        row = conn.exec_driver_sql(sql).one()
        out.update({n: (int(c or 0), False) for n, c in zip(exact, row, strict=True)})
    return out


def _fallback_bytes_per_row(database_bytes: int | None, tables: list[TableStorage]) -> float | None:
    """Without sizes per table: the whole file over every row, the same for each table."""
    rows = sum(t.rows for t in tables)
    return None if not database_bytes or rows <= 0 else database_bytes / rows


# -- ages -----------------------------------------------------------------------------
def _raw_edges(conn: Connection, models: list[Any]) -> dict[str, tuple[datetime | None, datetime | None]]:
    """Oldest and newest start_time per raw table, one statement (index ends only)."""
    cols = []
    for m in models:
        cols += [select(func.min(m.start_time)).scalar_subquery(), select(func.max(m.start_time)).scalar_subquery()]
    row = conn.execute(select(*cols)).one()
    return {m.__tablename__: (_utc(row[2 * i]), _utc(row[2 * i + 1])) for i, m in enumerate(models)}


def _rollup_coverage(conn: Connection, models: list[Any]) -> dict[str, tuple[datetime | None, datetime | None]]:
    """First and last period start of each rollup table (its key begins with it)."""
    if not models:
        return {}
    cols = []
    for m in models:
        period = _period(m)
        cols += [select(func.min(period)).scalar_subquery(), select(func.max(period)).scalar_subquery()]
    row = conn.execute(select(*cols)).one()
    return {m.__tablename__: (_from_epoch(row[2 * i]), _from_epoch(row[2 * i + 1])) for i, m in enumerate(models)}


# -- growth ---------------------------------------------------------------------------
def _rows_per_day(conn: Connection, raw_models: list[Any], rollup_models: list[Any], start: datetime,
                  end: datetime) -> dict[date, dict[str, int]]:
    """Rows written per UTC day in [start, end) per table: raw tables from their hourly
    rollup where there is one (so pruned days still count), else from raw rows; each
    rollup table its own rows by period."""
    lo, hi = int(start.timestamp()), int(end.timestamp())
    parts = []
    rolled = {m.__tablename__ for m in rollup_models}
    for m in raw_models:
        source = _ROLLED_UP.get(m.__tablename__)
        if source is not None and source[0].__tablename__ in rolled:
            rollup, count = source
            day = rollup.hour - rollup.hour % DAY_S
            parts.append(select(literal_column(f"'{m.__tablename__}'").label("t"), day.label("d"),
                                func.sum(count).label("n"))
                         .where(rollup.hour >= lo, rollup.hour < hi).group_by(day))
        else:
            day = epoch_bucket_sql(conn.dialect.name, m.start_time, DAY_S)
            parts.append(select(literal_column(f"'{m.__tablename__}'").label("t"), day.label("d"),
                                func.count().label("n"))
                         .where(m.start_time >= start, m.start_time < end).group_by(day))
    for m in rollup_models:
        period = _period(m)
        day = period - period % DAY_S
        parts.append(select(literal_column(f"'{m.__tablename__}'").label("t"), day.label("d"),
                            func.count().label("n"))
                     .where(period >= lo, period < hi).group_by(day))
    out: dict[date, dict[str, int]] = defaultdict(dict)
    for table, day_s, n in conn.execute(parts[0].union_all(*parts[1:])).all():
        out[datetime.fromtimestamp(int(day_s), UTC).date()][str(table)] = int(n or 0)
    return out


# -- helpers --------------------------------------------------------------------------
def _period(model: Any) -> Any:
    return model.hour if hasattr(model, "hour") else model.day


def _hour_floor(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _from_epoch(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(int(value), UTC)


__all__ = ["EXACT_COUNT_LIMIT", "GROWTH_DAYS", "NO_DBSTAT", "DayGrowth", "IndexSize", "StorageReport",
           "TableStorage", "read_storage"]
