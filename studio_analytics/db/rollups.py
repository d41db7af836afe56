"""Incremental hourly rollups kept by the tracker's writer (see the analytics layer).

The rollup tables are added by a later migration; until they exist (and always on an
Agent Studio database) these functions do nothing and queries read the raw rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import Connection

ROLLUP_TABLES: tuple[str, ...] = ()


def rollups_available(conn: Connection) -> bool:
    if not ROLLUP_TABLES:
        return False
    names = set(inspect(conn).get_table_names())
    return all(t in names for t in ROLLUP_TABLES)


def apply_rollups(
    conn: Connection,
    *,
    executions: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]],
    workflows: Sequence[Mapping[str, Any]],
) -> None:
    """Add one batch of freshly inserted rows to the hourly rollups (same transaction)."""
    if not rollups_available(conn):
        return
