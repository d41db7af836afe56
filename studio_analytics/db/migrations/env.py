"""Alembic environment: always run with a connection handed in by ``db.migrate``."""

from __future__ import annotations

from alembic import context

from studio_analytics.db.models import Base
from studio_analytics.db.schema_state import VERSION_TABLE

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable through the alembic CLI
    raise RuntimeError("run migrations with `studio-analytics db upgrade`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
