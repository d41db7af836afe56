"""Portable column types: UTC timestamps and JSON that is JSONB on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps that are always timezone-aware UTC in Python.

    SQLite stores naive UTC text; PostgreSQL stores ``timestamptz`` in our own schema.
    Existing Agent Studio databases hold naive ``timestamp`` values, which are read
    as UTC (the engine sets the session time zone to UTC so both kinds agree).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        else:
            value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # Stored as text: one fixed format keeps lexical order == time order.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class TextId(TypeDecorator[str]):
    """A string identifier; Agent Studio stores ``agent_id`` as UUID, read here as text."""

    impl = String(255)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(value)


JSONType: Any = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def sqlite_time_text(value: datetime) -> str:
    """The text ``UTCDateTime`` stores on SQLite (naive UTC, microseconds), for code that
    binds values itself: same format, so text order stays time order."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


_new = object.__new__
_set_int = uuid.UUID.int.__set__  # type: ignore[attr-defined]
_set_safe = uuid.UUID.is_safe.__set__  # type: ignore[attr-defined]


def uuid_from_int(value: int) -> uuid.UUID:
    """A UUID from its 128-bit integer, skipping ``uuid.UUID.__init__``'s parsing and
    checks (3x cheaper; for ids we made or read back ourselves)."""
    u = _new(uuid.UUID)
    _set_int(u, value)
    _set_safe(u, uuid.SafeUUID.unknown)
    return u
