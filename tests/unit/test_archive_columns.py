"""A restore converts archived columns a column at a time (Arrow); each value must be what
the value-by-value conversion gives, for every kind, both dialects and unusual files."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from studio_analytics.archive.columns import wire_value, wire_values

pa = pytest.importorskip("pyarrow")

U = uuid.UUID("01a20525-fbaf-7001-bde1-b7bf55048b2f")
MOMENTS = [datetime(2026, 11, 20, 10, 0, 5, tzinfo=UTC), datetime(2026, 11, 20, 23, 59, 59, 999_999, tzinfo=UTC),
           datetime(1999, 1, 2, 3, 4, 5, 123, tzinfo=UTC), None]

CASES: list[tuple[str, Any]] = [
    ("uuid", pa.array([str(U), str(U).upper(), str(uuid.uuid4()), None], pa.string())),
    # not canonical text (braces, no dashes): value by value, as uuid.UUID reads them
    ("uuid", pa.array(["{" + str(U) + "}", U.hex, None], pa.string())),
    ("time", pa.array(MOMENTS, pa.timestamp("us", tz="UTC"))),
    # a file from another writer: naive (UTC), nanoseconds, another zone
    ("time", pa.array([m.replace(tzinfo=None) if m else None for m in MOMENTS], pa.timestamp("us"))),
    ("time", pa.array(MOMENTS, pa.timestamp("ns", tz="UTC"))),
    ("time", pa.array(MOMENTS, pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us", tz="+05:30"))),
    ("json", pa.array(['{"a": 1}', None, "[]"], pa.string())),
    ("int", pa.array([1, None, 2**40], pa.int64())),
    ("float", pa.array([1.5, None, float("inf")], pa.float64())),
    ("bool", pa.array([True, None, False], pa.bool_())),
    ("text", pa.array(["é", None, ""], pa.string())),
]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
@pytest.mark.parametrize(("kind", "column"), CASES)
def test_a_column_at_a_time_equals_value_by_value(kind: str, column: Any, dialect: str) -> None:
    expected = [wire_value(kind, v, dialect) for v in column.to_pylist()]
    got = wire_values(pa, kind, column, dialect)
    assert got == expected
    if kind == "time" and dialect == "postgresql":
        assert all(v is None or v.utcoffset() == timedelta(0) for v in got)


def test_sqlite_ids_and_times_are_stored_text() -> None:
    ids = wire_values(pa, "uuid", pa.array([str(U).upper()]), "sqlite")
    times = wire_values(pa, "time", pa.array([datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))],
                                             pa.timestamp("us", tz="+02:00")), "sqlite")
    assert ids == [U.hex] and times == ["2026-01-02 01:04:05.000000"]


def test_a_malformed_id_is_named() -> None:
    with pytest.raises(ValueError, match="hexadecimal UUID"):
        wire_values(pa, "uuid", pa.array(["not-a-uuid"]), "sqlite")
