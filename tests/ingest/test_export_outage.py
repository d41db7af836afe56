"""PostgreSQL goes away in the middle of exporting: rows and fix-ups are spooled, replayed
in order when it is back, and nothing is lost or counted twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import make_url

from studio_analytics.otel import instrument
from tests.ingest.spanlib import assert_rollups_match_rebuild, executions, models, tools
from tests.tracker.tcp_proxy import TcpProxy


@pytest.fixture
def proxied_pg(pg_db_url: str) -> Iterator[tuple[str, TcpProxy]]:
    real = make_url(pg_db_url)
    proxy = TcpProxy(real.port or 5432, real.host or "127.0.0.1")
    proxy.start()
    try:
        yield real.set(port=proxy.port).render_as_string(hide_password=False), proxy
    finally:
        proxy.stop()


def _agent_run(tracer: object, name: str) -> None:
    with tracer.start_as_current_span(f"invoke_agent {name}", attributes={  # type: ignore[attr-defined]
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name, "gen_ai.conversation.id": "s-out"}):
        _children(tracer)


def _children(tracer: object) -> None:
    with tracer.start_as_current_span("chat gpt-4o-mini", attributes={  # type: ignore[attr-defined]
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 40, "gen_ai.usage.output_tokens": 2}):
        pass
    with tracer.start_as_current_span("execute_tool lookup", attributes={  # type: ignore[attr-defined]
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup",
            "gen_ai.tool.call.arguments": '{"id": 7}'}):
        pass


@pytest.mark.postgres
def test_database_outage_during_export(proxied_pg: tuple[str, TcpProxy], pg_db_url: str, tmp_path: Path) -> None:
    url, proxy = proxied_pg
    tp = TracerProvider()
    ours = instrument(url, tracer_provider=tp, spool_path=str(tmp_path / "spool.sqlite3"), flush_interval_s=0.05,
                      write_timeout_s=3.0)
    tracer = tp.get_tracer("agent-code")
    with tracer.start_as_current_span("invoke_agent long", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "long", "gen_ai.conversation.id": "s-out"}):
        _children(tracer)
        assert tp.force_flush(10_000) and ours.force_flush(10_000)
        assert len(tools(pg_db_url)) == 1  # the children are in, waiting for their agent
        proxy.stop()  # the server vanishes; open connections are cut
    for i in range(20):
        _agent_run(tracer, f"agent-{i % 3}")
    assert tp.force_flush(10_000)
    ours.ingestor.flush(3)
    during = ours.stats().writer
    assert during is not None and during.spooled > 0 and during.spool_pending > 0
    assert len(executions(pg_db_url)) == 0
    proxy.start()  # it comes back
    assert ours.force_flush(30_000)
    after = ours.stats()
    assert after.writer is not None
    assert (after.writer.spool_pending, after.writer.dropped, after.writer.rejected) == (0, 0, 0)
    assert after.fixups_queued == 2  # the first run's tool and model call (its row has the totals)
    ex, tl, md = executions(pg_db_url), tools(pg_db_url), models(pg_db_url)
    assert (len(ex), len(tl), len(md)) == (21, 21, 21)
    # Every tool and model call has its agent: the first run's fix-ups were applied after
    # the replayed rows, whatever went live meanwhile.
    assert all(t["execution_id"] in ex for t in tl.values())
    assert all(m["agent_name"] == ex[m["execution_id"]]["agent_name"] for m in md.values())
    assert {e["tokens_used"] for e in ex.values()} == {42}
    assert {e["tool_count"] for e in ex.values()} == {1}
    assert_rollups_match_rebuild(pg_db_url)
    tp.shutdown()
