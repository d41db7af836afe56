"""Which failures blame a row and which blame the database: the writer's one question.

Free of SQLAlchemy on purpose: the tracker's writer asks it in processes that never
load SQLAlchemy (SQLite is written by a child process, which classifies its own errors
and sends the answer across).
"""

from __future__ import annotations

import sqlite3
import sys

#: PostgreSQL SQLSTATE classes that blame the values of a row: 22 data exception
#: (out of range, invalid text), 23 integrity constraint violation (check, not null).
_ROW_SQLSTATE_CLASSES = ("22", "23")
#: Python errors the drivers raise while binding one value (an int above 2**63, a
#: lone surrogate, a type they cannot adapt).
_BINDING_ERRORS = (OverflowError, UnicodeError, TypeError, ValueError)


def is_row_error(error: BaseException) -> bool:
    """True when ``error`` blames the values of a row, so the same rows would fail
    again on a healthy database; False for everything about the database itself
    (unreachable, locked, read-only, full, missing tables or columns, permissions),
    after which the rows are kept and tried again."""
    told = getattr(error, "row_error", None)  # classified where it happened (another process)
    if isinstance(told, bool):
        return told
    orig = getattr(error, "orig", None) or error
    if isinstance(orig, _BINDING_ERRORS) and not isinstance(orig, sqlite3.Error):
        return True
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate[:2] in _ROW_SQLSTATE_CLASSES
    if isinstance(orig, sqlite3.Error):
        # IntegrityError: a constraint the row violates; DataError: a value too big.
        return isinstance(orig, sqlite3.IntegrityError | sqlite3.DataError) or (
            isinstance(orig, sqlite3.ProgrammingError | sqlite3.InterfaceError) and "binding" in str(orig).lower())
    # Another driver's error wrapped by SQLAlchemy (loaded by then, if it is one).
    sa_exc = sys.modules.get("sqlalchemy.exc")
    return sa_exc is not None and isinstance(error, sa_exc.IntegrityError | sa_exc.DataError)


def is_schema_error(error: BaseException) -> bool:
    """A missing table or column, or a permission the schema lacks: re-check it."""
    told = getattr(error, "schema_error", None)
    if isinstance(told, bool):
        return told
    orig = getattr(error, "orig", None) or error
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate in ("42P01", "42703", "42501", "3F000")
    text = str(orig).lower()
    return "no such table" in text or "no such column" in text or "has no column named" in text


def first_line(error: BaseException) -> str:
    """An error's first line: server messages go on with DETAIL lines that quote the
    row's values, and SQLAlchemy appends the statement and its parameters."""
    text = str(getattr(error, "orig", None) or error).strip()
    return (text.splitlines() or [type(error).__name__])[0][:500]


__all__ = ["first_line", "is_row_error", "is_schema_error"]
