"""Whatever an agent hands us becomes storable JSON/text: bounded, redacted, never raising."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from studio_analytics import tracker
from studio_analytics.tracker.payload import anonymize, clean_json, clean_text
from studio_analytics.tracker.settings import build_config
from tests.tracker.conftest import AgentExecutionMetrics, ToolUsageMetrics, rows

CFG = build_config(max_payload_chars=2_000)

json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text() | st.binary(max_size=200),
    lambda children: st.lists(children, max_size=8) | st.dictionaries(st.text(max_size=10) | st.integers(), children, max_size=8)
    | st.tuples(children, children) | st.frozensets(st.integers(), max_size=4),
    max_leaves=40,
)


def _storable(value: object) -> None:
    text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    text.encode("utf-8")  # no lone surrogates
    assert "\x00" not in text


@settings(max_examples=300, deadline=None)
@given(json_like)
def test_any_payload_becomes_strict_json(value: object) -> None:
    _storable(clean_json(value, CFG))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_becomes_bounded_valid_utf8(text: str) -> None:
    out = clean_text(text, CFG)
    assert out is not None and len(out) <= CFG.max_payload_chars
    out.encode("utf-8")


def test_cycles_objects_and_broken_reprs() -> None:
    a: list[object] = [1]
    a.append(a)
    d: dict[str, object] = {}
    d["self"] = d

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    value = {"list": a, "dict": d, "obj": Broken(), "nan": math.nan, "bytes": b"\xff\x00" * 100,
             "surrogate": "\ud800x", "set": {1, 2}}
    out = clean_json(value, CFG)
    _storable(out)
    assert out["list"][1] == "<cycle>" and out["dict"]["self"] == "<cycle>"
    assert "repr failed" in out["obj"] and out["nan"] == "nan"
    assert out["bytes"].startswith("<200 bytes")


def test_ten_megabyte_string_is_truncated_with_its_size() -> None:
    huge = "x" * 10_000_000
    out = clean_text(huge, CFG)
    assert out is not None and len(out) <= CFG.max_payload_chars and "truncated" in out
    nested = clean_json({"a": [huge, huge]}, CFG)
    assert len(json.dumps(nested)) < 3 * CFG.max_payload_chars


def test_default_redactions() -> None:
    text = ("key sk-proj-abcdefghijklmnopqrstuvwx, aws AKIAABCDEFGHIJKLMNOP, "
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig, gh ghp_" + "a" * 36)
    out = clean_text(text, CFG)
    assert out is not None
    for secret in ("sk-proj-abc", "AKIAABCDEFGHIJKLMNOP", "eyJhbGci", "ghp_aaaa"):
        assert secret not in out
    assert clean_json({"headers": {"auth": "Bearer abcdefghijklmnopqrstuvwxyz"}}, CFG) == {
        "headers": {"auth": "[REDACTED]"}
    }


def test_anonymize_is_salted_and_stable() -> None:
    cfg = build_config(anonymize_users=True, user_salt="s1")
    other = build_config(anonymize_users=True, user_salt="s2")
    assert anonymize("alice", cfg) == anonymize("alice", cfg) != anonymize("alice", other)
    assert anonymize("alice", build_config()) == "alice"


def test_hostile_payloads_reach_the_database(tracked_db: str) -> None:
    huge = "y" * 10_000_000
    with tracker.track_agent_execution(agent_name="A", query=huge) as run:
        run.set_response("\ud83d broken surrogate and NUL \x00")
        with tracker.track_tool_usage(tool_name="t", input_data={"nan": math.nan, "b": b"\x00\x01", "s": {1}}) as t:
            t.set_output(object())
    assert tracker.flush(10)
    (ex,) = rows(tracked_db, AgentExecutionMetrics)
    assert len(ex["query"]) <= 16_384 and "truncated" in ex["query"]
    assert "\x00" not in ex["response"]
    (tool,) = rows(tracked_db, ToolUsageMetrics)
    assert tool["input_data"]["nan"] == "nan" and tool["output_data"].startswith("<object object")
