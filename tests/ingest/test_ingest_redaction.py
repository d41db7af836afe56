"""Secrets in ingested spans are redacted by the tracker's writer, as in its own rows: in tool
arguments and results, model messages, agent queries and error messages; with
``capture_content=False`` no payload is stored at all."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ingest.spanlib import agent, chat, failed, fetch, new_ingestor, span, submit_all, tool
from tests.tracker.test_secrets import secret_samples

T = 0x5A5A


def _spans(secrets: dict[str, str]) -> list:
    github, aws, anthropic, stripe = (secrets["github-classic"], secrets["aws-key-id"], secrets["anthropic"],
                                      secrets["stripe-live"])
    arguments = json.dumps({"query": "weather", "api_key": "plain-looking-value-123",
                            "note": f"use {github} for the repo", "nested": {"password": "hunter2"}})
    return [
        agent(T, 1, None, "leaky", attrs={"gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": f"my key is {anthropic}"}]}])}),
        tool(T, 2, 1, "call_api", attrs={"gen_ai.tool.call.arguments": arguments,
                                         "gen_ai.tool.call.result": f"Authorization: Bearer {stripe}"}),
        chat(T, 3, 1, attrs={"gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": f"aws_access_key_id={aws}"}]}])}),
        span(T, 4, 1, "execute_tool broken", {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "x"},
             **failed("PermissionError", f"token {github} was refused")),
    ]


def _stored_text(url: str) -> str:
    parts = []
    for table in ("agent_execution_metrics", "tool_usage_metrics", "model_call_metrics"):
        parts += [json.dumps(row, default=str) for row in fetch(url, f"SELECT * FROM {table}")]
    return "\n".join(parts)


def test_secrets_in_ingested_spans_are_redacted(sqlite_db_url: str, tmp_path: Path) -> None:
    secrets = secret_samples()
    ing = new_ingestor(sqlite_db_url, tmp_path)
    submit_all(ing, _spans(secrets))
    ing.shutdown()
    stored = _stored_text(sqlite_db_url)
    for raw in ("plain-looking-value-123", "hunter2", secrets["github-classic"], secrets["aws-key-id"],
                secrets["anthropic"], secrets["stripe-live"]):
        assert raw not in stored
    (args,) = fetch(sqlite_db_url, "SELECT input_data FROM tool_usage_metrics WHERE tool_name = 'call_api'")
    data = json.loads(args["input_data"]) if isinstance(args["input_data"], str) else args["input_data"]
    assert data["query"] == "weather"  # parsed JSON: the harmless part is kept as it was
    assert data["api_key"] == "[REDACTED]" and data["nested"]["password"] == "[REDACTED]"
    assert "[REDACTED]" in data["note"]
    (broken,) = fetch(sqlite_db_url, "SELECT error_message FROM tool_usage_metrics WHERE tool_name = 'x'")
    assert broken["error_message"].startswith("PermissionError: token ")
    # nothing of them in the spool either
    spool = tmp_path / "spool.sqlite3"
    if spool.exists():
        assert secrets["github-classic"].encode() not in spool.read_bytes()


def test_capture_content_off_stores_no_payloads(sqlite_db_url: str, tmp_path: Path) -> None:
    ing = new_ingestor(sqlite_db_url, tmp_path, capture_content=False)
    submit_all(ing, _spans(secret_samples()))
    ing.shutdown()
    assert fetch(sqlite_db_url, "SELECT query, response FROM agent_execution_metrics") == [
        {"query": None, "response": None}]
    assert {(r["input_data"], r["output_data"]) for r in fetch(
        sqlite_db_url, "SELECT input_data, output_data FROM tool_usage_metrics")} == {(None, None)}
    assert fetch(sqlite_db_url, "SELECT request, response FROM model_call_metrics") == [
        {"request": None, "response": None}]
