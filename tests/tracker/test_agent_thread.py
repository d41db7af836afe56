"""Nothing of the agent's runs on its thread at span exit, and the writer bounds the time
and memory it spends on the agent's objects."""

from __future__ import annotations

import threading
import time
import tracemalloc

from studio_analytics import tracker
from studio_analytics.tracker import payload
from studio_analytics.tracker.records import prepare_batch
from studio_analytics.tracker.settings import build_config
from tests.tracker.conftest import AgentExecutionMetrics, ToolUsageMetrics, rows

_release = threading.Event()


class SlowRepr:
    def __repr__(self) -> str:
        _release.wait(5)  # the deliberately slow (5 s) __repr__ of the issue; set at the end of the test
        return "slow"

    __str__ = __repr__


_forever = threading.Event()


class HangingRepr:
    def __repr__(self) -> str:
        _forever.wait()
        return "never"

    __str__ = __repr__


class SlowError(Exception):
    def __str__(self) -> str:
        _release.wait(5)
        return "slow message"


def test_span_exit_runs_no_repr_of_the_agent(tracked_db: str) -> None:
    with tracker.track_agent_execution(agent_name="A", query=SlowRepr(), agent_id=SlowRepr()) as run:
        run.set_response(SlowRepr())
        started = time.perf_counter()
        with tracker.track_tool_usage(tool_name="t", input_data={"obj": SlowRepr(), "n": [SlowRepr()]}) as call:
            call.set_output(SlowRepr())
            call.record_api_call(SlowRepr(), SlowRepr(), SlowRepr())
            call.record_tokens(SlowRepr())
        tool_exit = time.perf_counter() - started
        try:
            started = time.perf_counter()
            with tracker.track_tool_usage(tool_name="t2"):
                raise SlowError()
        except SlowError:
            error_exit = time.perf_counter() - started
        started = time.perf_counter()
    execution_exit = time.perf_counter() - started
    assert tool_exit < 0.5 and error_exit < 0.5 and execution_exit < 0.5
    assert tracker.flush(20)
    # The first slow calls time out; once MAX_STUCK_HELPERS are stuck, no more are made.
    slow = {"<SlowRepr: repr timed out>", "<SlowRepr: str timed out>", "<SlowRepr object>"}
    tools = {r["tool_name"]: r for r in rows(tracked_db, ToolUsageMetrics)}
    assert tools["t"]["input_data"]["obj"] in slow and tools["t"]["input_data"]["n"][0] in slow
    assert tools["t"]["output_data"] in slow and tools["t"]["external_api_called"] in slow
    assert tools["t2"]["error_message"] in ("SlowError: <SlowError: str timed out>", "SlowError: <SlowError object>")
    (ex,) = rows(tracked_db, AgentExecutionMetrics)
    assert ex["query"] in slow and ex["response"] in slow and ex["agent_id"] in slow
    _release.set()  # free the stuck helper threads for the tests after this one


def test_a_hanging_repr_does_not_stop_later_rows(tracked_db: str) -> None:
    for i in range(payload.MAX_STUCK_HELPERS + 3):
        with tracker.track_tool_usage(tool_name=f"hang{i}", input_data={"x": HangingRepr()}):
            pass
    for i in range(50):
        with tracker.track_tool_usage(tool_name="after", input_data={"i": i}):
            pass
    assert tracker.flush(20)
    got = rows(tracked_db, ToolUsageMetrics)
    assert sum(r["tool_name"] == "after" for r in got) == 50
    hung = [r["input_data"]["x"] for r in got if r["tool_name"].startswith("hang")]
    assert set(hung) <= {"<HangingRepr: repr timed out>", "<HangingRepr object>"} and "<HangingRepr object>" in hung
    assert payload._helpers.stuck <= payload.MAX_STUCK_HELPERS
    assert tracker.stats().rejected == 0
    _forever.set()  # let the stuck helper threads finish


def test_the_agent_may_change_its_dict_after_the_call(tracked_db: str) -> None:
    data = {"q": "hello", "nested": {"k": [1, 2]}}
    with tracker.track_tool_usage(tool_name="t", input_data=data):
        pass
    data["q"] = "changed"
    data["nested"]["k"].append(3)  # type: ignore[index]
    assert tracker.flush(10)
    (tool,) = rows(tracked_db, ToolUsageMetrics)
    assert tool["input_data"] == {"q": "hello", "nested": {"k": [1, 2]}}


def test_huge_values_and_names_cost_bounded_memory() -> None:
    cfg = build_config(db_url="sqlite://")
    big = b"\x01" * 50_000_000
    names = ["n" * 5_000_000 + str(i) for i in range(20)]
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    with tracker.track_agent_execution(agent_name="x") as _run:
        pass
    items = [("tool", (i, names[i], None, 0, 1, 0.0, "success", {"b": big}, big, None, names[i], None, None,
                       None, None, names[i])) for i in range(20)]
    items += [("execution", (99, names[0], names[1], 0, 1, 0.0, "success", big, big, None, tuple(names), 0,
                             None, None, None, None, 0, None, None))]
    batch, failed = prepare_batch(items, cfg)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    tracker.shutdown(5)
    assert failed == 0 and len(batch["tool"]) == 20
    assert peak < 5_000_000, peak
    assert len(cfg.compiled.get("names", {})) < 5
