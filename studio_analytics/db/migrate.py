"""Create, upgrade and check the schema with the Alembic scripts shipped in the package."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from studio_analytics.db.errors import DatabaseError
from studio_analytics.db.models import Base
from studio_analytics.db.schema_state import SchemaKind, SchemaState, inspect_schema


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    location = resources.files("studio_analytics.db") / "migrations"
    cfg.set_main_option("script_location", str(location))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def is_older_revision(revision: str | None) -> bool:
    """True for a revision of ours that is behind head (False for head, and for a
    revision from a newer studio-analytics that this one does not know)."""
    script = ScriptDirectory.from_config(alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    return revision is not None and revision in known and revision != script.get_current_head()


def schema_state(conn: Connection) -> SchemaState:
    return inspect_schema(conn, head=head_revision())


@dataclass(frozen=True, slots=True)
class UpgradeResult:
    before: SchemaState
    after: SchemaState
    created_indexes: tuple[str, ...]


def upgrade_database(engine: Engine, *, add_indexes: bool = False) -> UpgradeResult:
    """Create or upgrade our schema; on an Agent Studio database only add indexes.

    An Agent Studio database is never altered except, when ``add_indexes`` is true,
    by ``CREATE INDEX`` for the indexes our queries use.
    """
    with engine.connect() as conn:
        before = schema_state(conn)
    created: tuple[str, ...] = ()
    if before.kind in (SchemaKind.EMPTY, SchemaKind.STUDIO):
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                # pysqlite runs DDL outside any transaction: without this, a migration
                # that failed halfway (a fill that timed out, a lock) left its tables
                # behind at the old revision, and every later upgrade failed on them.
                # The write lock first also makes concurrent upgraders (several tracker
                # processes) wait, then find the new revision and do nothing.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            command.upgrade(alembic_config(conn), "head")
    elif before.kind is SchemaKind.AGENT_STUDIO:
        if not add_indexes:
            raise DatabaseError(
                "This is an existing Agent Studio database; it is read as it is and not changed",
                hint="pass --add-indexes to create only the indexes the dashboard uses",
            )
        created = create_missing_indexes(engine, before)
    else:
        raise DatabaseError(
            f"The database holds other tables ({before.kind.value}); refusing to change it",
            hint="point --db at an empty database or an existing metrics database",
        )
    with engine.connect() as conn:
        after = schema_state(conn)
    return UpgradeResult(before, after, created)


def create_missing_indexes(engine: Engine, state: SchemaState) -> tuple[str, ...]:
    wanted = set(state.missing_indexes)
    created: list[str] = []
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            for index in table.indexes:
                if index.name in wanted:
                    index.create(conn, checkfirst=True)
                    created.append(str(index.name))
    return tuple(created)


def database_size_bytes(conn: Connection) -> int | None:
    if conn.dialect.name == "sqlite":
        page_count = conn.execute(text("PRAGMA page_count")).scalar() or 0
        page_size = conn.execute(text("PRAGMA page_size")).scalar() or 0
        return int(page_count) * int(page_size)
    if conn.dialect.name == "postgresql":
        return conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
    return None
