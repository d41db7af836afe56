"""SQL building blocks that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, literal_column
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.analytics.results import TimeRange
from studio_analytics.db.models import FAILURE_VALUES, SUCCESS_VALUES, TIMEOUT_VALUES
from studio_analytics.db.rollups import epoch_bucket_sql


def in_range(column: Any, tr: TimeRange) -> ColumnElement[bool]:
    return (column >= tr.start) & (column < tr.end)


def status_in(status: Any, values: tuple[str, ...]) -> ColumnElement[bool]:
    """``status IN ('a', 'b')`` with the values written into the SQL: a list of bound
    parameters would be re-expanded into the statement on every execution (2 ms a
    query here). The values are our own constants, never user input."""
    return status.in_([literal_column("'" + v.replace("'", "''") + "'") for v in values])


def is_success(status: Any) -> ColumnElement[int]:
    return case((status_in(status, SUCCESS_VALUES), 1), else_=0)


def is_failure(status: Any) -> ColumnElement[int]:
    return case((status_in(status, FAILURE_VALUES), 1), else_=0)


def is_timeout(status: Any) -> ColumnElement[int]:
    return case((status_in(status, TIMEOUT_VALUES), 1), else_=0)


def is_finished(status: Any) -> ColumnElement[int]:
    return case((status_in(status, SUCCESS_VALUES + FAILURE_VALUES + TIMEOUT_VALUES), 1), else_=0)


def bucket_epoch(conn: Connection, column: Any, size_s: int) -> ColumnElement[int]:
    """The UTC-aligned bucket start of ``column`` in POSIX seconds (the rollups' own hour
    expression, so raw and rolled-up parts of a range fall in the same buckets)."""
    return epoch_bucket_sql(conn.dialect.name, column, size_s)


def percentile_columns(conn: Connection, value: Any, group: Any, where: Any,
                       fractions: tuple[float, ...]) -> Any:
    """A subquery: ``group``, then one column ``p<NN>`` per fraction.

    PostgreSQL: ``percentile_cont`` (linear interpolation). SQLite has no percentile
    function: exact nearest-rank over a window (the smallest value whose rank reaches
    ``fraction * n``), answered from the covering index.
    """
    from sqlalchemy import select

    if conn.dialect.name == "postgresql":
        cols = [func.percentile_cont(f).within_group(value.asc()).label(f"p{round(f * 100)}") for f in fractions]
        return select(group.label("key"), *cols).where(where, value.isnot(None)).group_by(group).subquery()
    ranked = select(
        group.label("key"), value.label("v"),
        func.row_number().over(partition_by=group, order_by=value).label("rn"),
        func.count().over(partition_by=group).label("n"),
    ).where(where, value.isnot(None)).subquery()
    cols = [func.min(case((ranked.c.rn >= f * ranked.c.n, ranked.c.v))).label(f"p{round(f * 100)}") for f in fractions]
    return select(ranked.c.key, *cols).group_by(ranked.c.key).subquery()


#: Separates names joined by :func:`joined_names` (a control character no name contains).
NAME_SEPARATOR = "\x1f"


def joined_names(conn: Connection, column: Any) -> ColumnElement[str]:
    """The group's non-NULL values of ``column`` joined by :data:`NAME_SEPARATOR`."""
    if conn.dialect.name == "postgresql":
        return func.string_agg(column, NAME_SEPARATOR)
    return func.group_concat(column, NAME_SEPARATOR)


def rate(part: float | int | None, whole: float | int | None) -> float | None:
    return None if not whole else float(part or 0) / float(whole)
