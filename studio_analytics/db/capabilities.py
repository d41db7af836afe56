"""What a database can answer: our own schema at revision 0003 and later has model calls,
their rollups and the span tree (parent and trace ids); an Agent Studio database, or one
of ours not yet upgraded, has none of them and is read without.

Answers are kept per DBAPI connection once positive (tables are never dropped once
created; a database upgraded later is noticed on the next call).
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from studio_analytics.db.models import ModelCallMetrics
from studio_analytics.db.rollup_models import MODEL_ROLLUP_TABLES

_MODEL_TABLES = (ModelCallMetrics.__tablename__, *MODEL_ROLLUP_TABLES)


def tables_present(conn: Connection, names: tuple[str, ...]) -> bool:
    """True when every one of these tables exists (in the current schema)."""
    if conn.dialect.name == "sqlite":
        sql = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ({})"
    else:
        sql = "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename IN ({})"
    listed = ", ".join(f"'{t}'" for t in names)
    return conn.exec_driver_sql(sql.format(listed)).scalar() == len(names)


def tables_present_once(conn: Connection, key: str, names: tuple[str, ...]) -> bool:
    """:func:`tables_present`, remembered under ``key`` on the DBAPI connection once true
    (tables are never dropped once created; one created later is found on a later call)."""
    if conn.info.get(key):
        return True
    found = tables_present(conn, names)
    if found:
        conn.info[key] = True
    return found


def has_model_calls(conn: Connection) -> bool:
    """The model-call table and its rollups exist, and executions and tool usages carry
    ``parent_id``/``trace_id`` (all come with revision 0003)."""
    return tables_present_once(conn, "studio_analytics.model_calls", _MODEL_TABLES)


#: The span tree (parent and trace ids) comes with the model-call tables.
has_span_tree = has_model_calls

__all__ = ["has_model_calls", "has_span_tree", "tables_present"]
