"""The OTLP/HTTP receiver's throughput, as ratios against baselines measured in the same run.

    python -m benchmarks.bench_otlp_receiver [--spans N] [--batch 512] [--clients 4]

1. End to end: a real ``studio-analytics collect`` process writing to a SQLite file, fed by
   ``--clients`` threads over keep-alive HTTP/1.1 connections with pre-encoded protobuf
   ``ExportTraceServiceRequest`` bodies of ``--batch`` spans each (the clients' encoding is
   done before the clock starts). Spans per second from the first request until every
   span's row is in the database, and how many were dropped (sent minus stored; a 503 is
   retried after its Retry-After, as an OTel exporter does).
2. Baselines, same span shapes (an agent run: ``invoke_agent``, a ``chat`` call with token
   usage, two ``execute_tool`` calls, GenAI semantic conventions):
   (a) the OpenTelemetry SDK creating them with a ``BatchSpanProcessor`` whose exporter
       discards: the SDK's own cost per span, nothing stored;
   (b) the tracker's native API (``track_agent_execution`` / ``track_model_call`` /
       ``track_tool_usage``) in this process, until every row is in a SQLite file.
3. Where the receiver's time goes, in this process without HTTP: protobuf decoding alone,
   decoding + mapping (:func:`studio_analytics.ingest.mapping.map_span`), and decoding +
   ``SpanIngestor.submit`` + the writer until every row is stored; and the CPU seconds the
   collector process and its SQLite writer process used during run 1.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from studio_analytics import tracker
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.migrate import upgrade_database

SPANS_PER_RUN = 4  # invoke_agent, chat, 2 x execute_tool: one row each
TABLES = ("agent_execution_metrics", "tool_usage_metrics", "model_call_metrics")


# -- requests ----------------------------------------------------------------------------
def build_requests(total_spans: int, batch: int, seed: int = 1) -> list[bytes]:
    """Protobuf bodies of ``batch`` spans each (whole agent runs), ``total_spans`` in all."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue

    rng = random.Random(seed)
    # Runs end in the order they are sent, one a millisecond up to now, as exporters send
    # what just finished.
    runs = total_spans // SPANS_PER_RUN + 1
    first = time.time_ns() - runs * 1_000_000
    runs_per_request = max(1, batch // SPANS_PER_RUN)
    bodies = []
    made = 0

    def kv(target: Any, **values: Any) -> None:
        for key, value in values.items():
            item: KeyValue = target.add()
            item.key = key.replace("__", ".")
            if isinstance(value, int):
                item.value.int_value = value
            else:
                item.value.string_value = value

    while made < total_spans:
        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        kv(rs.resource.attributes, service__name="agent-host", telemetry__sdk__language="python",
           telemetry__sdk__name="opentelemetry", telemetry__sdk__version="1.45.2")
        ss = rs.scope_spans.add()
        ss.scope.name = "agent.framework"
        for _ in range(runs_per_request):
            if made >= total_spans:
                break
            trace_id = rng.getrandbits(128).to_bytes(16, "big")
            root = rng.getrandbits(64).to_bytes(8, "big")
            start = first + (made // SPANS_PER_RUN) * 1_000_000 - 900_000_000
            agent = f"agent-{rng.randrange(20)}"

            def new_id() -> bytes:
                return rng.getrandbits(64).to_bytes(8, "big")

            s = _add_span(ss, trace_id, root, None, f"invoke_agent {agent}", start, 900)
            kv(s.attributes, gen_ai__operation__name="invoke_agent", gen_ai__agent__name=agent,
               gen_ai__system="openai")
            s = _add_span(ss, trace_id, new_id(), root, "chat gpt-4o-mini", start + 5_000_000, 400)
            kv(s.attributes, gen_ai__operation__name="chat", gen_ai__request__model="gpt-4o-mini",
               gen_ai__response__model="gpt-4o-mini-2024-07-18", gen_ai__system="openai",
               gen_ai__usage__input_tokens=812, gen_ai__usage__output_tokens=96)
            for i in range(2):
                s = _add_span(ss, trace_id, new_id(), root, f"execute_tool web_search_{i}",
                              start + (420 + 200 * i) * 1_000_000, 150)
                kv(s.attributes, gen_ai__operation__name="execute_tool", gen_ai__tool__name=f"web_search_{i}",
                   gen_ai__tool__call__id=f"call_{rng.getrandbits(32):08x}")
            made += SPANS_PER_RUN
        bodies.append(request.SerializeToString())
    return bodies


def _add_span(scope_spans: Any, trace_id: bytes, span_id: bytes, parent: bytes | None, name: str, start_ns: int,
              duration_ms: int) -> Any:
    s = scope_spans.spans.add()
    s.trace_id, s.span_id = trace_id, span_id
    if parent:
        s.parent_span_id = parent
    s.name, s.kind = name, 1
    s.start_time_unix_nano = start_ns
    s.end_time_unix_nano = start_ns + duration_ms * 1_000_000
    return s


def _stored(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES)
    finally:
        conn.close()


def _wait_stored(path: Path, expected: int, timeout: float) -> float | None:
    """The time when ``expected`` rows are stored (polled every 20 ms), or None."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            if _stored(path) >= expected:
                return time.perf_counter()
        except sqlite3.Error:
            pass
        time.sleep(0.02)
    return None


def _fresh_db(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = create_db_engine(url)
    upgrade_database(engine)
    engine.dispose()
    return url


# -- 1. end to end over HTTP ------------------------------------------------------------------
def _cpu_seconds(pid: int) -> tuple[float, float]:
    """User + system CPU seconds of a process, and of its live children (the SQLite writer
    process), from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")

    def of(p: int) -> float:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            return 0.0

    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):  # the writer thread starts the child
        with contextlib.suppress(OSError):
            children += [int(c) for c in (task / "children").read_text().split()]
    return of(pid), sum(of(c) for c in children)


def bench_receiver(bodies: list[bytes], spans: int, clients: int, work: Path) -> dict[str, Any]:
    db = work / "otlp.sqlite3"
    url = _fresh_db(db)
    env = {**os.environ, "STUDIO_ANALYTICS_HOME": str(work / "home-collect")}
    proc = subprocess.Popen([sys.executable, "-m", "studio_analytics", "collect", "--db", url, "--port", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    assert proc.stderr is not None
    port = 0
    while not port:
        line = proc.stderr.readline()
        if not line:
            raise RuntimeError("collect exited before listening")
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", line)
        port = int(match.group(1)) if match else 0
    try:
        warm = build_requests(SPANS_PER_RUN * 8, SPANS_PER_RUN * 8, seed=99)[0]
        status = _post_all([warm], port, 1)
        assert status["sent"] == 1, status
        assert _wait_stored(db, SPANS_PER_RUN * 8, 60) is not None, "warm-up rows never arrived"
        base = SPANS_PER_RUN * 8
        cpu_before = _cpu_seconds(proc.pid)
        started = time.perf_counter()
        status = _post_all(bodies, port, clients)
        sent_at = time.perf_counter()
        stored_at = _wait_stored(db, base + spans, 300)
        cpu_after = _cpu_seconds(proc.pid)
        cpu = (cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1])
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    stored = _stored(db) - base
    lost = re.search(r"lost ([\d,]+)", err)
    return {
        "spans_per_s": spans / ((stored_at or time.perf_counter()) - started),
        "accepted_per_s": spans / (sent_at - started),
        "stored": stored, "dropped": spans - stored, "retries_503": status["busy"], "failed": status["failed"],
        "writer_lost": int(lost.group(1).replace(",", "")) if lost else None, "cpu_s": cpu,
        "complete": stored_at is not None, "exit_code": proc.returncode,
    }


def _post_all(bodies: list[bytes], port: int, clients: int) -> dict[str, int]:
    """Send every body once (503: wait Retry-After, send again) over ``clients`` keep-alive
    connections; returns counts of answers."""
    lock = threading.Lock()
    position = [0]
    counts = {"sent": 0, "busy": 0, "failed": 0}

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Content-Type": "application/x-protobuf"}
        while True:
            with lock:
                i = position[0]
                position[0] += 1
            if i >= len(bodies):
                break
            while True:
                conn.request("POST", "/v1/traces", body=bodies[i], headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status in (429, 503):
                    with lock:
                        counts["busy"] += 1
                    time.sleep(float(resp.getheader("Retry-After") or 1))
                    continue
                with lock:
                    counts["sent" if resp.status == 200 else "failed"] += 1
                break
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts


# -- 2. baselines ----------------------------------------------------------------------------
def bench_sdk(spans: int) -> float:
    """(a) spans/s of the OpenTelemetry SDK with a BatchSpanProcessor that discards."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=spans * 2, max_export_batch_size=512))
    otel = provider.get_tracer("bench")
    started = time.perf_counter()
    for i in range(spans // SPANS_PER_RUN):
        agent = f"agent-{i % 20}"
        with otel.start_as_current_span(f"invoke_agent {agent}", attributes={
                "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent, "gen_ai.system": "openai"}):
            with otel.start_as_current_span("chat gpt-4o-mini", attributes={
                    "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18", "gen_ai.system": "openai",
                    "gen_ai.usage.input_tokens": 812, "gen_ai.usage.output_tokens": 96}):
                pass
            for t in range(2):
                with otel.start_as_current_span(f"execute_tool web_search_{t}", attributes={
                        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": f"web_search_{t}",
                        "gen_ai.tool.call.id": "call_0"}):
                    pass
    provider.force_flush(300_000)
    elapsed = time.perf_counter() - started
    provider.shutdown()
    return spans / elapsed


def bench_tracker_native(spans: int, work: Path) -> tuple[float, int]:
    """(b) spans/s through the tracker's own API until every row is in SQLite."""
    db = work / "native.sqlite3"
    url = _fresh_db(db)
    tracker.configure(db_url=url, spool_path=str(work / "native-spool.sqlite3"), max_queue=spans * 2,
                      flush_interval_s=0.05)
    started = time.perf_counter()
    for i in range(spans // SPANS_PER_RUN):
        with tracker.track_agent_execution(agent_name=f"agent-{i % 20}"):
            with tracker.track_model_call(model="gpt-4o-mini", provider="openai") as call:
                call.record_usage(input_tokens=812, output_tokens=96)
            for t in range(2):
                with tracker.track_tool_usage(tool_name=f"web_search_{t}"):
                    pass
    tracker.flush(300)
    stored_at = _wait_stored(db, spans, 300) or time.perf_counter()
    tracker.shutdown(10)
    return spans / (stored_at - started), spans - _stored(db)


# -- 3. where the time goes ---------------------------------------------------------------------
def bench_stages(bodies: list[bytes], spans: int, work: Path) -> dict[str, float]:
    from studio_analytics.ingest.mapping import map_span
    from studio_analytics.ingest.otlp_protobuf import decode_protobuf
    from studio_analytics.ingest.pipeline import SpanIngestor

    def timed(fn: Callable[[], object]) -> float:
        started = time.perf_counter()
        fn()
        return spans / (time.perf_counter() - started)

    decoded = [decode_protobuf(b).spans for b in bodies[:2]]  # warm-up
    out: dict[str, float] = {}
    out["decode"] = timed(lambda: [decode_protobuf(b) for b in bodies])
    decoded = [decode_protobuf(b).spans for b in bodies]
    out["map"] = timed(lambda: [map_span(s) for batch in decoded for s in batch])
    db = work / "inproc.sqlite3"
    url = _fresh_db(db)
    ingestor = SpanIngestor(db_url=url, spool_path=str(work / "inproc-spool.sqlite3"), max_queue=spans * 4,
                            flush_interval_s=0.05)
    started = time.perf_counter()
    submitted = 0
    for body in bodies:
        submitted += ingestor.submit(decode_protobuf(body).spans).accepted
    out["decode+submit"] = spans / (time.perf_counter() - started)
    stored_at = _wait_stored(db, spans, 300) or time.perf_counter()
    out["decode+submit+write"] = spans / (stored_at - started)
    ingestor.shutdown(10)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=204_800)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args(argv)
    spans = args.spans - args.spans % SPANS_PER_RUN
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ.setdefault("STUDIO_ANALYTICS_HOME", str(work / "home"))
        bodies = build_requests(spans, args.batch)
        size = sum(map(len, bodies))
        print(f"{spans:,} spans in {len(bodies)} protobuf requests of {args.batch} spans "
              f"({size / len(bodies) / 1024:.0f} KiB each), {args.clients} client threads, keep-alive")
        sdk = bench_sdk(spans)
        native, native_dropped = bench_tracker_native(spans, work)
        e2e = bench_receiver(bodies, spans, args.clients, work)
        stages = bench_stages(bodies, spans, work)
    rate = e2e["spans_per_s"]
    print(f"receiver, end to end into SQLite: {rate:,.0f} spans/s stored "
          f"({e2e['accepted_per_s']:,.0f} spans/s answered 200), {e2e['dropped']:,} dropped "
          f"({e2e['stored']:,} of {spans:,} stored), {e2e['retries_503']} answers 503 (retried), "
          f"{e2e['failed']} failed, writer lost {e2e['writer_lost']}, exit code {e2e['exit_code']}"
          f"{'' if e2e['complete'] else ' - NOT ALL ROWS ARRIVED IN TIME'}")
    own, sink = (c / spans * 1e6 for c in e2e["cpu_s"])
    print(f"  CPU per span: collector process {own:.1f} µs (HTTP, decoding, mapping, the writer thread), its "
          f"SQLite writer process {sink:.1f} µs -> on two otherwise idle cores the busier one would allow "
          f"{1e6 / max(own, sink):,.0f} spans/s")
    print(f"(a) OpenTelemetry SDK, BatchSpanProcessor + discarding exporter: {sdk:,.0f} spans/s created "
          f"-> receiver / SDK = {rate / sdk:.2f}x")
    print(f"(b) tracker's native API into SQLite: {native:,.0f} spans/s stored ({native_dropped} dropped) "
          f"-> receiver / tracker = {rate / native:.2f}x")
    print("in this process, no HTTP (spans/s): " + ", ".join(f"{k} {v:,.0f}" for k, v in stages.items()))
    per_span = {k: 1e6 / v for k, v in stages.items()}
    print("  µs per span: " + ", ".join(f"{k} {v:.1f}" for k, v in per_span.items()))
    print(f"target: >= 20,000 spans/s stored, 0 dropped -> {'met' if rate >= 20_000 and e2e['dropped'] == 0 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
