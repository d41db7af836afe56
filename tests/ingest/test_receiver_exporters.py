"""The receiver fed by the real ``opentelemetry-exporter-otlp-proto-http`` exporter from real
TracerProviders, over real sockets: rows and their tree on both dialects, gzip, eight
exporters at once, traces split across requests and out of order, backpressure that the
exporter's retries ride out with nothing lost, and a database outage during ingestion
(spooled, then replayed)."""

from __future__ import annotations

import random
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sqlalchemy import make_url, select

from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.migrate import upgrade_database
from studio_analytics.db.models import AgentExecutionMetrics, ModelCallMetrics, ToolUsageMetrics
from studio_analytics.ingest.ids import row_id
from tests.ingest.otlp_bodies import SpanSpec, spans_body
from tests.ingest.receiver_harness import post, running_collector
from tests.tracker.faults import wait_until
from tests.tracker.tcp_proxy import TcpProxy


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool.sqlite3"


def _provider(endpoint: str, service: str, *, compression: Compression = Compression.NoCompression,
              batch: int = 64, timeout: float = 10.0) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter = OTLPSpanExporter(endpoint=endpoint, compression=compression, timeout=timeout)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=batch, schedule_delay_millis=50,
                                                   max_queue_size=100_000))
    return provider


def _run_agent(provider: TracerProvider, agent: str, tools: int = 2) -> None:
    tracer = provider.get_tracer("tests.agent")
    with tracer.start_as_current_span(f"invoke_agent {agent}", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent}):
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini", "gen_ai.system": "openai",
                "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20}):
            pass
        for i in range(tools):
            with tracer.start_as_current_span(f"execute_tool tool_{i}", attributes={
                    "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": f"tool_{i}"}):
                pass


def _table_counts(url: str) -> tuple[int, int, int]:
    engine = create_db_engine(url)
    from sqlalchemy import func

    with engine.connect() as conn:
        out = tuple(int(conn.execute(select(func.count()).select_from(m)).scalar() or 0)
                    for m in (AgentExecutionMetrics, ToolUsageMetrics, ModelCallMetrics))
    engine.dispose()
    return out  # type: ignore[return-value]


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip], ids=["plain", "gzip"])
def test_real_exporter_end_to_end(compression: Compression, db_url: str, spool: Path) -> None:
    with running_collector(db_url, spool) as collector:
        provider = _provider(collector.url, "agent-host", compression=compression)
        _run_agent(provider, "Planner", tools=2)
        assert provider.force_flush(20_000)
        provider.shutdown()
        assert collector.ingestor.flush(20)
        assert collector.counters.spans_accepted == 4 and collector.counters.malformed == 0
    engine = create_db_engine(db_url)
    with engine.connect() as conn:
        execution = conn.execute(select(AgentExecutionMetrics.agent_name, AgentExecutionMetrics.status,
                                        AgentExecutionMetrics.execution_id)).one()
        tools = conn.execute(select(ToolUsageMetrics.tool_name, ToolUsageMetrics.execution_id,
                                    ToolUsageMetrics.parent_id)).all()
        call = conn.execute(select(ModelCallMetrics.model, ModelCallMetrics.input_tokens,
                                   ModelCallMetrics.output_tokens, ModelCallMetrics.execution_id,
                                   ModelCallMetrics.agent_name)).one()
    engine.dispose()
    assert execution.agent_name == "Planner" and execution.status == "success"
    assert sorted(t.tool_name for t in tools) == ["tool_0", "tool_1"]
    assert all(t.execution_id == execution.execution_id == t.parent_id for t in tools)
    assert call.model == "gpt-4o-mini" and call.input_tokens == 100 and call.output_tokens == 20
    assert call.execution_id == execution.execution_id and call.agent_name == "Planner"


def test_eight_exporters_at_once(db_url: str, spool: Path) -> None:
    runs_each = 40
    with running_collector(db_url, spool) as collector:
        errors: list[BaseException] = []

        def one_host(n: int) -> None:
            try:
                provider = _provider(collector.url, f"host-{n}", batch=32)
                for i in range(runs_each):
                    _run_agent(provider, f"agent-{n}-{i % 3}", tools=2)
                assert provider.force_flush(60_000)
                provider.shutdown()
            except BaseException as e:  # noqa: BLE001 - reported by the main thread
                errors.append(e)

        threads = [threading.Thread(target=one_host, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert collector.ingestor.flush(60)
        assert collector.counters.spans_accepted == 8 * runs_each * 4
        assert collector.counters.busy == 0
    assert _table_counts(db_url) == (8 * runs_each, 8 * runs_each * 2, 8 * runs_each)


def _uuid(trace: int, span: int) -> uuid.UUID:
    return uuid.UUID(int=row_id(trace, span))


def test_traces_split_across_requests_and_out_of_order(db_url: str, spool: Path) -> None:
    """Children arrive before their parents, a trace comes in three requests (deepest first),
    two traces are interleaved; every row still gets its execution and parent."""
    t1, t2 = 0xA1, 0xB2
    e1, tool1, call1 = 0x11, 0x12, 0x13  # t1: execution > tool > model call (made inside the tool)
    e2, sub, subcall, tool2 = 0x21, 0x22, 0x23, 0x24  # t2: execution > tool > sub-agent execution > call
    start = 1_700_000_000_000_000_000
    span = lambda t, s, p, name, attrs, k=0: SpanSpec(  # noqa: E731
        t, s, p, name, start + k * 1000, start + 10**9 - k * 1000, 0, "", attrs)
    agent = lambda name: {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name}  # noqa: E731
    tool = lambda name: {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}  # noqa: E731
    chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 3,
            "gen_ai.usage.output_tokens": 1}
    requests = [
        [span(t1, call1, tool1, "chat m", chat, 2), span(t2, subcall, sub, "chat m", chat, 3)],
        [span(t2, sub, tool2, "invoke_agent Sub", agent("Sub"), 2)],
        [span(t1, tool1, e1, "execute_tool lookup", tool("lookup"), 1), span(t2, tool2, e2, "execute_tool delegate",
                                                                             tool("delegate"), 1)],
        [span(t2, e2, None, "invoke_agent Boss", agent("Boss")), span(t1, e1, None, "invoke_agent Solo", agent("Solo"))],
    ]
    with running_collector(db_url, spool) as collector:
        for body in requests:
            assert post(collector, spans_body(body)).status == 200
        assert collector.ingestor.flush(20)
    engine = create_db_engine(db_url)
    with engine.connect() as conn:
        executions = {r.agent_name: r for r in conn.execute(select(
            AgentExecutionMetrics.agent_name, AgentExecutionMetrics.execution_id, AgentExecutionMetrics.parent_id,
            AgentExecutionMetrics.trace_id))}
        tools = {r.tool_name: r for r in conn.execute(select(
            ToolUsageMetrics.tool_name, ToolUsageMetrics.execution_id, ToolUsageMetrics.parent_id))}
        calls = {r.parent_id: r for r in conn.execute(select(
            ModelCallMetrics.parent_id, ModelCallMetrics.execution_id, ModelCallMetrics.agent_name))}
    engine.dispose()
    assert set(executions) == {"Solo", "Boss", "Sub"} and set(tools) == {"lookup", "delegate"}
    assert executions["Solo"].execution_id == _uuid(t1, e1) and executions["Solo"].parent_id is None
    assert tools["lookup"].execution_id == _uuid(t1, e1) == tools["lookup"].parent_id
    assert calls[_uuid(t1, tool1)].execution_id == _uuid(t1, e1)  # a call inside a tool is the execution's
    assert calls[_uuid(t1, tool1)].agent_name == "Solo"
    assert tools["delegate"].execution_id == _uuid(t2, e2)
    assert executions["Sub"].parent_id == _uuid(t2, tool2)  # the sub-agent hangs under the tool that ran it
    assert calls[_uuid(t2, sub)].execution_id == _uuid(t2, sub) and calls[_uuid(t2, sub)].agent_name == "Sub"


def test_backpressure_the_real_exporter_retries_and_everything_arrives(sqlite_db_url: str, spool: Path) -> None:
    """The database is locked, the writer waits on it, its small queue fills: the receiver
    answers 503 + Retry-After and takes nothing; once the lock goes, the exporters' retries
    get every span in."""
    hosts, runs_each = 4, 48  # 4 spans a run: 768 spans, beyond batch + queue (100 + 150)
    path = make_url(sqlite_db_url).database
    lock = sqlite3.connect(path, timeout=30, isolation_level=None)
    with running_collector(sqlite_db_url, spool, max_queue=150, batch_size=100, write_timeout_s=120) as collector:
        lock.execute("BEGIN IMMEDIATE")  # writers wait (up to half of write_timeout_s)
        errors: list[BaseException] = []

        def one_host(n: int) -> None:
            try:
                provider = _provider(collector.url, f"host-{n}", batch=48, timeout=60)
                for _ in range(runs_each):
                    _run_agent(provider, f"agent-{n}", tools=2)
                assert provider.force_flush(90_000)
                provider.shutdown()
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=one_host, args=(n,)) for n in range(hosts)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: collector.counters.busy >= 3, 30, message="the receiver to answer 503")
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert collector.ingestor.flush(60)
        busy = collector.counters.busy
        assert collector.counters.spans_accepted == hosts * runs_each * 4
        writer = collector.ingestor.stats().writer
        assert writer.dropped == 0
    assert busy >= 3
    assert _table_counts(sqlite_db_url) == (hosts * runs_each, hosts * runs_each * 2, hosts * runs_each)


@pytest.fixture
def proxied_pg(pg_empty_url: str) -> Iterator[tuple[str, TcpProxy]]:
    real = make_url(pg_empty_url)
    engine = create_db_engine(pg_empty_url)
    upgrade_database(engine)
    engine.dispose()
    proxy = TcpProxy(real.port or 5432, real.host or "127.0.0.1")
    proxy.start()
    yield real.set(port=proxy.port).render_as_string(hide_password=False), proxy
    proxy.stop()


@pytest.mark.postgres
def test_database_outage_during_ingestion(proxied_pg: tuple[str, TcpProxy], pg_empty_url: str, spool: Path) -> None:
    url, proxy = proxied_pg
    rng = random.Random(42)
    from tests.ingest.otlp_bodies import agent_trace

    with running_collector(url, spool, write_timeout_s=3) as collector:
        assert post(collector, spans_body(agent_trace(rng, tools=2))).status == 200
        assert collector.ingestor.flush(20)
        assert _table_counts(pg_empty_url) == (1, 2, 1)
        proxy.stop()  # the server vanishes: connections cut, new ones refused
        provider = _provider(collector.url, "during-outage")
        for i in range(30):
            _run_agent(provider, f"outage-{i % 2}", tools=2)
        assert provider.force_flush(30_000)
        provider.shutdown()
        wait_until(lambda: collector.ingestor.stats().writer.spooled >= 30 * 4, 30,
                   message="the batches to be spooled while the database is away")
        assert _table_counts(pg_empty_url) == (1, 2, 1)
        proxy.start()  # back: the spool is replayed
        wait_until(lambda: _table_counts(pg_empty_url) == (31, 62, 31), 60, interval=0.2,
                   message="the spooled rows to be replayed")
        writer = collector.ingestor.stats().writer
        assert writer.dropped == 0 and collector.counters.spans_accepted == 4 + 30 * 4


def test_exporter_configured_only_by_the_documented_environment(sqlite_db_url: str, spool: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables docs/notes/otlp-receiver.md gives, with a token and gzip."""
    token = "env-token-123"
    with running_collector(sqlite_db_url, spool, token=token) as collector:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", collector.url)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", f"Authorization=Bearer%20{token}")
        provider = TracerProvider(resource=Resource.create({"service.name": "env"}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=50))
        _run_agent(provider, "FromEnv", tools=1)
        assert provider.force_flush(20_000)
        provider.shutdown()
        assert collector.ingestor.flush(20)
        assert collector.counters.unauthorized == 0 and collector.counters.spans_accepted == 3
    assert _table_counts(sqlite_db_url) == (1, 1, 1)
