"""Wire-row values: the writer's fast encoders agree with the standard library."""

from __future__ import annotations

import json
import math
import time
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from studio_analytics.db.rows import (
    datetime_text,
    hour_of_text,
    json_text,
    row_from_mapping,
    time_text,
)
from studio_analytics.db.types import sqlite_time_text

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(_json_values)
def test_json_text_is_json_dumps(value: object) -> None:
    expected = None if value is None else json.dumps(value, ensure_ascii=False)
    assert json_text(value) == expected


@given(st.integers(min_value=0, max_value=4_102_444_800 * 10**9))  # up to 2100
def test_time_text_matches_the_datetime_storage_format(ns: int) -> None:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
    assert time_text(ns) == sqlite_time_text(moment) == datetime_text(moment)
    assert hour_of_text(time_text(ns)) == ns // 10**9 // 3600 * 3600


def test_time_text_of_consecutive_seconds() -> None:
    now = time.time_ns()
    texts = [time_text(now + k * 400_000_000) for k in range(10)]  # crosses seconds: the cache must follow
    assert texts == sorted(texts)
    for k, text in enumerate(texts):
        parsed = datetime.fromisoformat(text + "+00:00")
        assert math.isclose(parsed.timestamp(), (now + k * 400_000_000) / 1e9, abs_tol=1e-6)


def test_row_from_mapping_converts_python_values() -> None:
    ident = uuid.uuid4()
    row = row_from_mapping("tool", {"usage_id": ident, "tool_name": "t", "start_time": datetime(2026, 1, 2, 3, 4, 5,
                                    tzinfo=UTC), "input_data": "just text", "output_data": {"a": 1},
                                    "agent_name": "A"})
    assert row[0] == ident.hex and row[3] == "2026-01-02 03:04:05.000000"
    assert json.loads(row[7]) == "just text" and json.loads(row[8]) == {"a": 1} and row[-1] == "A"
