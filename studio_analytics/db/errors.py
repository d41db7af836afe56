"""Typed database errors, each with a message a person can act on."""

from __future__ import annotations


class DatabaseError(Exception):
    """Base of every error the db layer raises on purpose.

    ``hint`` says how to fix it; the window's banner and the CLI print both.
    """

    def __init__(self, message: str, *, hint: str = "", url: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.url = url

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ServerUnreachableError(DatabaseError):
    """The PostgreSQL server did not answer (down, wrong host or port, firewall)."""


class DatabaseTimeoutError(ServerUnreachableError):
    """The database held a statement or a connect longer than the caller's deadline."""


class AuthenticationError(DatabaseError):
    """The server answered but refused the credentials."""


class DatabaseNotFoundError(DatabaseError):
    """A SQLite file or PostgreSQL database that does not exist."""


class NotADatabaseError(DatabaseError):
    """The file exists but is not a SQLite database (or is corrupt)."""


class DatabaseLockedError(DatabaseError):
    """SQLite stayed locked by another process longer than the busy timeout."""


class SchemaMissingError(DatabaseError):
    """Connected, but the metrics tables are not there."""


class ReadOnlyError(DatabaseError):
    """A write was attempted through a read-only engine."""


class UnsupportedURLError(DatabaseError):
    """A URL whose dialect studio-analytics does not speak."""
