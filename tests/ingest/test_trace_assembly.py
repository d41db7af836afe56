"""Traces arriving out of order and split across batches end as the same rows as a trace
arriving whole: parents, agents, sessions, tokens and the rollups, on both dialects."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

from tests.ingest.spanlib import (
    BASE_NS,
    agent,
    assert_rollups_match_rebuild,
    chain,
    chat,
    executions,
    failed,
    fetch,
    http,
    models,
    new_ingestor,
    rid,
    span,
    submit_all,
    tool,
    tools,
)

T = 0x4BF92F3577B34DA6A3CE929D0E0E4736
BASE_S = BASE_NS // 10**9


def _planner_trace() -> dict[str, object]:
    """planner (session s-1, user u-1) -> chat, search, CHAIN -> (fetch, chat)."""
    return {
        "agent": agent(T, 1, None, "planner", start_ms=0, end_ms=100, attrs={"gen_ai.conversation.id": "s-1",
                                                                           "user.id": "u-1"}),
        "m1": chat(T, 2, 1, n_in=100, n_out=20, start_ms=1, end_ms=20),
        "t1": tool(T, 3, 1, "search", start_ms=21, end_ms=30, attrs={"gen_ai.tool.call.arguments": '{"q": "x"}'}),
        "chain": chain(T, 4, 1, start_ms=31, end_ms=90),
        "t2": tool(T, 5, 4, "fetch", start_ms=32, end_ms=40, **failed("httpx.ConnectError", "refused")),
        "m2": chat(T, 6, 4, n_in=50, n_out=5, start_ms=41, end_ms=60),
    }


def _check_planner(url: str) -> None:
    a = rid(T, 1)
    ex = executions(url)
    assert list(ex) == [a]
    e = ex[a]
    assert (e["agent_name"], e["session_id"], e["user_id"], e["parent_id"]) == ("planner", "s-1", "u-1", None)
    assert e["trace_id"] == uuid.UUID(int=T).hex
    assert e["tokens_used"] == 175  # its two model calls, the one below the CHAIN too
    assert e["tool_count"] == 2
    assert "search" in str(e["tools_called"]) and "fetch" in str(e["tools_called"])
    tl = tools(url)
    assert {k: (v["tool_name"], v["execution_id"], v["parent_id"], v["status"]) for k, v in tl.items()} == {
        rid(T, 3): ("search", a, a, "success"),
        rid(T, 5): ("fetch", a, a, "failure"),  # the CHAIN is skipped: its parent is the agent
    }
    assert tl[rid(T, 5)]["error_message"] == "ConnectError: refused"
    md = models(url)
    assert {k: (v["execution_id"], v["agent_name"], v["parent_id"], v["session_id"], v["user_id"],
                v["input_tokens"], v["output_tokens"]) for k, v in md.items()} == {
        rid(T, 2): (a, "planner", a, "s-1", "u-1", 100, 20),
        rid(T, 6): (a, "planner", a, "s-1", "u-1", 50, 5),
    }
    assert all(v["cost_usd"] is not None for v in md.values())  # gpt-4o-mini is in the price table
    session = fetch(url, "SELECT * FROM session_metrics")
    assert [(s["session_id"], s["total_queries"], s["total_tokens_used"]) for s in session] == [("s-1", 1, 175)]
    kept = assert_rollups_match_rebuild(url)
    assert [r[2] for r in kept["rollup_tool_agent_hourly"]] == ["planner", "planner"]
    assert [r[2] for r in kept["rollup_model_agent_hourly"]] == ["planner"]


def test_children_first_parent_in_later_batches(db_url: str, tmp_path: Path) -> None:
    s = _planner_trace()
    ing = new_ingestor(db_url, tmp_path)
    submit_all(ing, [s["m1"], s["t1"], s["t2"], s["m2"]])
    # Before the agent arrives: rows are there, without their agent.
    assert ing.stats().unresolved == 4
    assert {v["execution_id"] for v in tools(db_url).values()} == {None}
    assert {v["parent_id"] for v in tools(db_url).values()} == {rid(T, 1), rid(T, 4)}  # provisional
    assert_rollups_match_rebuild(db_url)
    submit_all(ing, [s["chain"]])
    assert ing.stats().unresolved == 4  # now waiting for the agent, above the CHAIN
    assert {v["parent_id"] for v in tools(db_url).values()} == {rid(T, 1)}
    submit_all(ing, [s["agent"]])
    st = ing.stats()
    assert st.unresolved == 0 and st.fixups_queued >= 4
    assert st.mapped == {"model": 2, "tool": 2, "link": 1, "execution": 1}
    _check_planner(db_url)
    ing.shutdown()


def test_whole_trace_in_one_batch_needs_no_fixups(db_url: str, tmp_path: Path) -> None:
    spans = list(_planner_trace().values())
    random.Random(4).shuffle(spans)
    ing = new_ingestor(db_url, tmp_path)
    submit_all(ing, spans)
    assert ing.stats().fixups_queued == 0
    _check_planner(db_url)
    ing.shutdown()


def test_every_order_and_split_gives_the_same_rows(sqlite_db_url: str, tmp_path: Path) -> None:
    """Each arrival order of the trace, in one-span batches, against a fresh database."""
    rng = random.Random(7)
    spans = list(_planner_trace().values())
    for i in range(6):
        url = sqlite_db_url.replace("metrics.sqlite3", f"order{i}.sqlite3")
        order = spans[:]
        rng.shuffle(order)
        ing = new_ingestor(url, tmp_path / f"o{i}")
        (tmp_path / f"o{i}").mkdir()
        submit_all(ing, *[[sp] for sp in order])
        _check_planner(url)
        ing.shutdown()


def test_agent_that_never_arrives(db_url: str, tmp_path: Path) -> None:
    ing = new_ingestor(db_url, tmp_path, trace_idle_s=0.0)
    submit_all(ing, [chat(T, 2, 1, n_in=10, n_out=1), tool(T, 3, 1, "search")])
    assert ing.stats().unresolved == 2
    md, tl = models(db_url), tools(db_url)
    assert [(m["execution_id"], m["agent_name"], m["parent_id"]) for m in md.values()] == [(None, None, rid(T, 1))]
    assert [(t["execution_id"], t["parent_id"]) for t in tl.values()] == [(None, rid(T, 1))]
    kept = assert_rollups_match_rebuild(db_url)
    assert kept["rollup_tool_agent_hourly"][0][2] == "" and kept["rollup_model_agent_hourly"][0][2] == ""
    # Idle past the bound (0 s here): forgotten at the next submission, and counted.
    submit_all(ing, [chat(T + 1, 9, None)])
    st = ing.stats()
    assert (st.traces_forgotten, st.unresolved_forgotten) == (1, 2)
    assert st.traces_tracked == 1  # the new one
    ing.shutdown()


def test_sub_agent_under_a_tool(db_url: str, tmp_path: Path) -> None:
    ing = new_ingestor(db_url, tmp_path)
    submit_all(
        ing,
        [chat(T, 4, 3, n_in=30, n_out=10), agent(T, 3, 2, "researcher", end_ms=50)],
        [tool(T, 2, 1, "delegate", end_ms=60), chat(T, 5, 1, n_in=10, n_out=1)],
        [agent(T, 1, None, "lead", end_ms=100, attrs={"gen_ai.conversation.id": "s-9"})],
    )
    ex = executions(db_url)
    lead, researcher = ex[rid(T, 1)], ex[rid(T, 3)]
    assert researcher["parent_id"] == rid(T, 2)  # the tool that called it
    assert (lead["tokens_used"], researcher["tokens_used"]) == (11, 40)  # nothing counted twice
    assert (lead["tool_count"], researcher["tool_count"]) == (1, 0)
    assert researcher["session_id"] == "s-9"  # inherited from the caller, which came last
    md = models(db_url)
    assert (md[rid(T, 4)]["execution_id"], md[rid(T, 4)]["agent_name"]) == (rid(T, 3), "researcher")
    assert (md[rid(T, 5)]["execution_id"], md[rid(T, 5)]["agent_name"]) == (rid(T, 1), "lead")
    assert tools(db_url)[rid(T, 2)]["execution_id"] == rid(T, 1)
    session = fetch(db_url, "SELECT total_queries, total_tokens_used FROM session_metrics WHERE session_id = 's-9'")
    assert session == [{"total_queries": 2, "total_tokens_used": 51}]
    assert_rollups_match_rebuild(db_url)
    ing.shutdown()


def test_session_and_user_from_a_root_that_comes_last(db_url: str, tmp_path: Path) -> None:
    """An HTTP server span (no convention) carries the user and session; it ends last."""
    ing = new_ingestor(db_url, tmp_path)
    submit_all(
        ing,
        [chat(T, 3, 2, attrs={"gen_ai.conversation.id": "conv-1"}), agent(T, 2, 1, "helper")],
        [http(T, 1, None, attrs={"user.id": "alice", "session.id": "web-7"})],
    )
    e = executions(db_url)[rid(T, 2)]
    assert (e["session_id"], e["user_id"], e["parent_id"]) == ("web-7", "alice", None)
    m = models(db_url)[rid(T, 3)]
    assert (m["session_id"], m["user_id"]) == ("conv-1", "alice")  # its own session, the root's user
    sessions = fetch(db_url, "SELECT session_id, user_id, total_queries, total_tokens_used FROM session_metrics")
    assert sessions == [{"session_id": "web-7", "user_id": "alice", "total_queries": 1, "total_tokens_used": 120}]
    st = ing.stats()
    assert (st.ignored, st.unresolved) == (1, 0)
    assert_rollups_match_rebuild(db_url)
    ing.shutdown()


def test_workflow_that_comes_last(db_url: str, tmp_path: Path) -> None:
    wf = span(T, 1, None, "invoke_workflow triage", {"gen_ai.operation.name": "invoke_workflow",
                                                     "gen_ai.workflow.name": "triage"}, end_ms=200)
    ing = new_ingestor(db_url, tmp_path)
    submit_all(ing, [chat(T, 3, 2), agent(T, 2, 1, "classifier"), agent(T, 4, 1, "responder")], [wf])
    correlation = str(uuid.UUID(int=int(rid(T, 1), 16)))
    assert {e["correlation_id"] for e in executions(db_url).values()} == {correlation}
    row = fetch(db_url, "SELECT workflow_type, agent_count, total_tokens_used, agents_involved FROM workflow_metrics")
    assert len(row) == 1 and row[0]["workflow_type"] == "triage"
    assert (row[0]["agent_count"], row[0]["total_tokens_used"]) == (2, 120)
    assert "classifier" in str(row[0]["agents_involved"]) and "responder" in str(row[0]["agents_involved"])
    submit_all(ing, [chat(T, 5, 4, n_in=7, n_out=3)])  # a late model call of one of its agents
    row = fetch(db_url, "SELECT total_tokens_used FROM workflow_metrics")
    assert row == [{"total_tokens_used": 130}]
    assert_rollups_match_rebuild(db_url)
    ing.shutdown()


def test_resent_spans_are_not_written_twice(db_url: str, tmp_path: Path) -> None:
    spans = list(_planner_trace().values())
    ing = new_ingestor(db_url, tmp_path)
    submit_all(ing, spans[:3], spans[3:], spans[::-1], spans + spans)  # an exporter retrying
    assert ing.stats().duplicates == 3 * len(spans)
    _check_planner(db_url)  # one row each, rollups counted once
    ing.shutdown()


def test_spans_of_a_forgotten_trace_sent_again(db_url: str, tmp_path: Path) -> None:
    """Past the idle bound a trace is forgotten: its spans sent again go to the writer
    again, whose inserts skip the rows already present and count nothing twice."""
    spans = list(_planner_trace().values())
    ing = new_ingestor(db_url, tmp_path, trace_idle_s=0.0)
    submit_all(ing, spans)
    submit_all(ing, [tool(T + 1, 1, None, "other")], spans)
    st = ing.stats()
    assert st.traces_forgotten >= 1 and st.duplicates == 0 and st.rows_queued == 2 * 5 + 1
    assert (len(executions(db_url)), len(tools(db_url)), len(models(db_url))) == (1, 3, 2)
    assert executions(db_url)[rid(T, 1)]["tokens_used"] == 175
    assert_rollups_match_rebuild(db_url)
    ing.shutdown()


def test_spans_of_no_convention_are_ignored_and_counted(db_url: str, tmp_path: Path) -> None:
    ing = new_ingestor(db_url, tmp_path)
    submit_all(ing, [http(T, 1, None), span(T, 2, 1, "SELECT", {"db.system": "postgresql"}),
                     span(T, 3, 1, "GET", {"http.request.method": "GET"})])
    st = ing.stats()
    assert (st.accepted, st.ignored, st.rows_queued, st.traces_tracked) == (3, 3, 0, 0)
    assert executions(db_url) == {} and tools(db_url) == {}
    ing.shutdown()


def test_malformed_spans_are_refused_with_a_reason(sqlite_db_url: str, tmp_path: Path) -> None:
    ing = new_ingestor(sqlite_db_url, tmp_path)
    good = tool(T, 3, None, "search")
    bad_time = span(T, 4, None, "x", start_ms=10, end_ms=5)
    result = ing.submit([good, bad_time, span(0, 5, None, "x"), "not a span"])  # type: ignore[list-item]
    assert (result.accepted, result.rejected, result.busy) == (1, 3, False)
    assert result.reasons == ("span 1: end_ns is before start_ns", "span 2: trace_id must be a non-zero 128-bit "
                              "integer", "span 3: not an IngestSpan but str")
    assert ing.flush(30)
    assert list(tools(sqlite_db_url)) == [rid(T, 3)]
    ing.shutdown()


def test_a_full_queue_takes_nothing(sqlite_db_url: str, tmp_path: Path) -> None:
    spans = list(_planner_trace().values())
    ing = new_ingestor(sqlite_db_url, tmp_path, max_queue=4)
    refused = ing.submit(spans)  # 6 rows for a queue of 4: all or nothing
    assert (refused.busy, refused.accepted) == (True, 0)
    st = ing.stats()
    assert (st.busy_refusals, st.busy_spans, st.rows_queued, st.traces_tracked) == (1, 6, 0, 0)
    submit_all(ing, spans[:3])  # the sender's retry, in smaller parts, once the queue drained
    submit_all(ing, spans[3:])
    _check_planner(sqlite_db_url)
    assert ing.stats().duplicates == 0
    ing.shutdown()
    assert ing.submit(spans).busy  # after shutdown nothing is taken


def test_late_parents_keep_the_session_user_and_error_rollups(db_url: str, tmp_path: Path) -> None:
    """A failed agent under a web request that carries the user and the session, whose failed
    tool call and model call arrive before it and the request last: the fix-ups move the rows
    between cells of the sessions, users, per-user cost and error-group rollups, which then
    equal a rebuild from the raw rows (their minima and maxima too), in several orders."""
    trace = [
        http(T, 1, None, start_ms=0, end_ms=200, attrs={"user.id": "bob", "session.id": "web-9"}),
        agent(T, 2, 1, "planner", start_ms=1, end_ms=150, **failed("RuntimeError", "gave up after 3 tries")),
        chain(T, 3, 2, start_ms=2, end_ms=120),
        tool(T, 4, 3, "fetch", start_ms=3, end_ms=40, **failed("httpx.ConnectError", "refused")),
        chat(T, 5, 3, n_in=40, n_out=8, start_ms=41, end_ms=60),
    ]
    rng = random.Random(11)
    for i in range(4):
        url = db_url if i == 0 else db_url.replace("metrics.sqlite3", f"late{i}.sqlite3")
        if i and not url.startswith("sqlite"):
            break  # the other orders on SQLite only: one PostgreSQL database per test
        order = [trace[4], trace[3], trace[2], trace[1], trace[0]] if i == 0 else rng.sample(trace, len(trace))
        (tmp_path / f"l{i}").mkdir()
        ing = new_ingestor(url, tmp_path / f"l{i}")
        submit_all(ing, *[[sp] for sp in order])
        e = executions(url)[rid(T, 2)]
        assert (e["session_id"], e["user_id"], e["status"]) == ("web-9", "bob", "failure")
        kept = assert_rollups_match_rebuild(url)
        assert [r[:2] for r in kept["rollup_session_hourly"]] == [(BASE_S, "web-9")]
        assert [r[1:3] for r in kept["rollup_user_hourly"]] == [("bob", "web-9")]
        assert [r[1] for r in kept["rollup_model_user_hourly"]] == ["bob"]
        assert [(r[2], r[3]) for r in kept["rollup_error_tool_hourly"]] == [("fetch", 1)]
        ing.shutdown()
