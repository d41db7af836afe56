"""What an archive holds of each raw table: its rows' identity and every column's kind.

Each column has one *kind* that decides how it is read from the database, stored in
Parquet and written back:

- ``uuid``: the canonical 36-character text (``1b4e28ba-2fa1-11d2-883f-0016d3cca427``), a
  Parquet string, not 16 fixed bytes: every analyst tool shows, filters and joins it as
  it is, and the rows' other UUID columns (``execution_id`` of a tool call) join to it;
- ``time``: a UTC timestamp in microseconds (what both databases keep);
- ``json``: the JSON text the database holds, as a string (on SQLite the stored bytes, so a
  restored row is byte for byte the row that was archived; on PostgreSQL ``jsonb``'s text);
- ``int``, ``float``, ``bool``, ``text``: themselves.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, Table, Text, Uuid, cast, type_coerce
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.db.models import (
    AgentExecutionMetrics,
    Base,
    ModelCallMetrics,
    SessionMetrics,
    ToolUsageMetrics,
    WorkflowMetrics,
)
from studio_analytics.db.types import UTCDateTime, sqlite_time_text

#: The raw tables an archive holds, each with the column that identifies a row in it
#: (unique; a restore inserts only rows whose identity is not in the table yet).
ARCHIVED_TABLES: dict[str, str] = {
    AgentExecutionMetrics.__tablename__: "execution_id",
    ToolUsageMetrics.__tablename__: "usage_id",
    ModelCallMetrics.__tablename__: "call_id",
    WorkflowMetrics.__tablename__: "workflow_id",
    SessionMetrics.__tablename__: "session_id",
}

#: The integer primary key every raw table has: a surrogate (nothing refers to it).
SURROGATE_KEY = "id"


@dataclass(frozen=True, slots=True)
class ColumnKind:
    name: str
    kind: str  # uuid | time | json | int | float | bool | text


def model_table(table: str) -> Table:
    if table not in ARCHIVED_TABLES:
        raise ValueError(f"{table!r} is not an archived table (one of {', '.join(ARCHIVED_TABLES)})")
    return Base.metadata.tables[table]


def column_kinds(table: str) -> tuple[ColumnKind, ...]:
    """Every column of the model's table, in its order, with its kind."""
    return tuple(ColumnKind(c.name, _kind(c.type)) for c in model_table(table).columns)


def _kind(sql_type: Any) -> str:
    # Order matters: TypeDecorators first (UTCDateTime wraps DateTime, TextId wraps String).
    if isinstance(sql_type, UTCDateTime):
        return "time"
    if isinstance(sql_type, Uuid):
        return "uuid"
    if isinstance(sql_type, JSON) or isinstance(getattr(sql_type, "impl", None), JSON):
        return "json"
    if isinstance(sql_type, Boolean):
        return "bool"
    if isinstance(sql_type, Integer):
        return "int"
    if isinstance(sql_type, Float):
        return "float"
    return "text"


def read_expression(table: Table, column: ColumnKind, dialect: str) -> ColumnElement[Any]:
    """What to SELECT for a column: JSON as the database's own text; on SQLite ids and
    times as their stored text too (turned into Parquet values by :func:`archive_values`
    a column at a time, 3x faster than SQLAlchemy's value by value), on PostgreSQL ids as
    the server's text and times as aware datetimes."""
    col = table.c[column.name]
    if column.kind == "json" or (dialect == "sqlite" and column.kind in ("uuid", "time")):
        expr = type_coerce(col, Text) if dialect == "sqlite" else cast(col, Text)
        return expr.label(column.name)
    if column.kind == "uuid":
        return cast(col, Text).label(column.name)
    return col


def archive_values(pa: Any, kind: str, values: list[Any], arrow_type: Any, dialect: str) -> Any:
    """One column of rows read with :func:`read_expression`, as a pyarrow array."""
    if dialect == "sqlite" and kind == "uuid":
        values = [None if v is None else _dashed(v) for v in values]
    elif dialect == "sqlite" and kind == "time":
        try:  # Arrow's ISO 8601 parser reads the stored text (naive UTC) directly
            return pa.array(values, pa.string()).cast(pa.timestamp("us")).cast(arrow_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # some other spelling
            values = [None if v is None else datetime.fromisoformat(v) for v in values]
    return pa.array(values, type=arrow_type)


def _dashed(value: str) -> str:
    """SQLite keeps a UUID as 32 hex digits; the archive has its canonical text."""
    h = value.lower()
    if len(h) == 32:
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return str(uuid.UUID(h))


#: a UUID's canonical text (either case): what the archive holds
_UUID_TEXT = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def wire_values(pa: Any, kind: str, column: Any, dialect: str) -> list[Any]:
    """One column of archived rows (a pyarrow array) in the form the database stores, as
    :func:`wire_value` gives it value by value, converted by Arrow a column at a time
    where it can (ids and times; the restore as a whole is 1.3-1.4x faster for it, see
    the README's bench_archive figures); anything Arrow cannot convert goes value by value."""
    import pyarrow.compute as pc

    values = None
    try:
        if kind == "uuid":
            textual = column.cast(pa.string())
            if pc.all(pc.fill_null(pc.match_substring_regex(textual, _UUID_TEXT), True)).as_py():
                lowered = pc.utf8_lower(textual)
                values = (pc.replace_substring(lowered, "-", "") if dialect == "sqlite" else lowered).to_pylist()
        elif kind == "time":
            moments = column.cast(pa.timestamp("us", tz="UTC"))
            values = (pc.strftime(moments, format="%Y-%m-%d %H:%M:%S").to_pylist() if dialect == "sqlite"
                      else moments.to_pylist())
        else:
            values = column.to_pylist()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        values = None  # an unusual file: value by value, which names what is wrong
    if values is None:
        values = [wire_value(kind, v, dialect) for v in column.to_pylist()]
    return values


def wire_value(kind: str, value: Any, dialect: str) -> Any:
    """A value read back from Parquet, in the form the database stores (the tracker's
    wire form: see :mod:`studio_analytics.db.rows`). PostgreSQL casts the text of ids and
    JSON itself (psycopg sends text untyped)."""
    if value is None:
        return None
    if kind == "uuid":
        parsed = uuid.UUID(value)
        return parsed.hex if dialect == "sqlite" else str(parsed)
    if kind == "time":
        moment: datetime = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return sqlite_time_text(moment) if dialect == "sqlite" else moment.astimezone(UTC)
    return value


__all__ = [
    "ARCHIVED_TABLES", "SURROGATE_KEY", "ColumnKind", "archive_values", "column_kinds", "model_table",
    "read_expression", "wire_value", "wire_values",
]
