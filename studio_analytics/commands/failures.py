"""How a command fails: the exceptions ``cli.run_cli`` turns into one line and an exit code.

Commands raise; they do not print errors. :class:`UsageError` is a bad value on the
command line (exit 2); :class:`~studio_analytics.db.errors.DatabaseError` is a database
that cannot be used (exit 1); an :class:`OSError` is a file that cannot be written
(exit 1, naming the file). Anything else is a bug, shown as one line, with the
traceback under ``--debug``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError

from studio_analytics.db.engine import translate_error
from studio_analytics.db.errors import DatabaseError

#: What the drivers and SQLAlchemy raise (psycopg's errors arrive wrapped by SQLAlchemy).
DRIVER_ERRORS: tuple[type[BaseException], ...] = (DatabaseError, SQLAlchemyError, sqlite3.Error)


class UsageError(Exception):
    """A value on the command line that cannot work: exit code 2, one line."""


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Driver exceptions inside become the typed, hinted :class:`DatabaseError`; file
    errors and bugs pass through unchanged, so they are not labelled database errors."""
    try:
        yield
    except DRIVER_ERRORS as e:
        raise translate_error(e, url) from e


def database_error_line(err: DatabaseError) -> str:
    return f"error: {err.message}" + (f" ({err.hint})" if err.hint else "")


def file_error_line(err: OSError) -> str:
    cause = err.strerror or str(err)
    return f"error: {err.filename}: {cause}" if err.filename else f"error: {cause}"
