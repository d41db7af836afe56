"""What kind of database is behind a URL: ours, an Agent Studio one, empty, or foreign."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from studio_analytics.db.errors import SchemaMissingError
from studio_analytics.db.models import METRICS_TABLES, Base

#: Our own Alembic version table; Agent Studio has its own ``alembic_version``.
VERSION_TABLE = "studio_analytics_alembic_version"


class SchemaKind(StrEnum):
    EMPTY = "empty"  # no tables at all
    STUDIO = "studio"  # created by studio-analytics (our version table)
    AGENT_STUDIO = "agent_studio"  # the four tables without our version table
    PARTIAL = "partial"  # some of the four tables
    FOREIGN = "foreign"  # tables, but none of ours


@dataclass(frozen=True, slots=True)
class SchemaState:
    kind: SchemaKind
    revision: str | None
    head: str | None
    present_tables: tuple[str, ...]
    missing_tables: tuple[str, ...]
    missing_indexes: tuple[str, ...]

    @property
    def readable(self) -> bool:
        return self.kind in (SchemaKind.STUDIO, SchemaKind.AGENT_STUDIO)

    @property
    def up_to_date(self) -> bool:
        return self.kind is SchemaKind.STUDIO and self.revision == self.head


def expected_indexes() -> dict[str, tuple[str, ...]]:
    """Index name -> (table name, its columns...) for every index the models declare."""
    out: dict[str, tuple[str, ...]] = {}
    for table in Base.metadata.sorted_tables:
        for index in table.indexes:
            out[str(index.name)] = (table.name, *(c.name for c in index.columns))
    return out


def inspect_schema(conn: Connection, head: str | None = None) -> SchemaState:
    insp = inspect(conn)
    tables = set(insp.get_table_names())
    present = tuple(t for t in METRICS_TABLES if t in tables)
    missing = tuple(t for t in METRICS_TABLES if t not in tables)
    revision: str | None = None
    if VERSION_TABLE in tables:
        revision = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    missing_indexes: list[str] = []
    columns: dict[str, set[str]] = {}
    for name, (table, *indexed) in expected_indexes().items():
        if table not in tables:
            continue
        if table not in columns:
            columns[table] = {c["name"] for c in insp.get_columns(table)}
        # Indexes on our own columns (parent_id, trace_id) only where those columns exist:
        # an Agent Studio database has none of them.
        if set(indexed) <= columns[table] and name not in {ix["name"] for ix in insp.get_indexes(table)}:
            missing_indexes.append(name)
    if revision is not None and not missing:
        kind = SchemaKind.STUDIO
    elif not tables:
        kind = SchemaKind.EMPTY
    elif not present:
        kind = SchemaKind.FOREIGN
    elif missing:
        kind = SchemaKind.PARTIAL
    else:
        kind = SchemaKind.AGENT_STUDIO
    return SchemaState(kind, revision, head, present, missing, tuple(missing_indexes))


def require_metrics_tables(conn: Connection) -> SchemaState:
    """Raise :class:`SchemaMissingError` unless the metrics tables can be read."""
    state = inspect_schema(conn)
    if not state.readable:
        raise SchemaMissingError(
            "This database has no studio-analytics metrics tables"
            + (f" (missing: {', '.join(state.missing_tables)})" if state.missing_tables else ""),
            hint="run `studio-analytics db upgrade --db URL` to create them",
        )
    return state
