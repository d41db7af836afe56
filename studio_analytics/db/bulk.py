"""Many rows in few statements on SQLite: ``INSERT .. VALUES (..), (..), ..``, not executemany.

The sqlite3 module's ``executemany`` steps each row separately and gives up the GIL for
every step. When another thread of the process keeps the GIL busy (an agent doing
CPU-bound Python), each row then waits for the interpreter's switch interval (5 ms) to
get it back: the writer fell to under 100 rows/s in benchmarks/bench_tracker.py's
busy-agent measurement. One statement per ~1,800 rows waits once per statement, and was
also 1.5x faster with nothing else running.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

# Bound parameters per SQLite statement: its limit since 3.32 (999 before).
_MAX_PARAMS = {"sqlite": 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999}
_statements: dict[tuple[str, str, str, int, int], str] = {}


def execute_values(conn: Connection, statement: tuple[str, str], rows: Sequence[Sequence[Any]]) -> int:
    """Run ``{head} VALUES (..), .. {tail}`` (``statement = (head, tail)``) for ``rows``,
    all of one width, in as few statements as the driver allows. Returns the rows the
    statements changed (summed rowcounts; -1 when the driver cannot tell)."""
    if not rows:
        return 0
    head, tail = statement
    dialect = conn.dialect.name
    width = len(rows[0])
    if dialect != "sqlite":
        # psycopg's executemany pipelines the rows; one huge VALUES list was 2-3x slower
        # there (the server parses and plans each distinct statement).
        one = "(" + ", ".join(["%s"] * width) + ")"
        return conn.exec_driver_sql(f"{head} VALUES {one} {tail}".rstrip(), list(rows)).rowcount
    per = max(1, _MAX_PARAMS.get(dialect, 999) // width)
    changed = 0
    for start in range(0, len(rows), per):
        part = rows[start:start + per]
        params = tuple(v for row in part for v in row)
        count = conn.exec_driver_sql(_statement(dialect, head, tail, width, len(part)), params).rowcount
        changed = -1 if count < 0 or changed < 0 else changed + count
    return changed


def _statement(dialect: str, head: str, tail: str, width: int, n: int) -> str:
    key = (dialect, head, tail, width, n)
    sql = _statements.get(key)
    if sql is None:
        marker = "?" if dialect == "sqlite" else "%s"
        one = "(" + ", ".join([marker] * width) + ")"
        sql = f"{head} VALUES {', '.join([one] * n)} {tail}".rstrip()
        if len(_statements) > 256:  # the sizes vary only in the last statement of a batch
            _statements.clear()
        _statements[key] = sql
    return sql


__all__ = ["execute_values"]
