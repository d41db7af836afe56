"""``studio-analytics collect`` as a real process: it listens, stores what it is sent, and on
SIGTERM stops accepting, writes or spools what it took, and exits 0; with the database
away, what it took is in the spool and a later process replays it. It refuses to listen
beyond the loopback without a token, and the token is never printed."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import make_url

from studio_analytics import tracker
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.migrate import upgrade_database
from tests.ingest.otlp_bodies import agent_trace, spans_body
from tests.ingest.receiver_harness import post
from tests.tracker.faults import wait_until
from tests.tracker.tcp_proxy import TcpProxy

LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:(\d+)/v1/traces)")


class Process:
    """A ``collect`` process whose stderr is read as it comes."""

    def __init__(self, args: list[str], home: Path) -> None:
        env = {**os.environ, "STUDIO_ANALYTICS_HOME": str(home), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        self._stdout: list[str] = []
        threading.Thread(target=self._read, args=(self.proc.stderr, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stdout, self._stdout), daemon=True).start()
        self.port = 0

    @staticmethod
    def _read(stream, into: list[str]) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            into.append(line)

    def wait_listening(self) -> int:
        def found() -> int:
            assert self.proc.poll() is None, f"collect exited early: {self.output}"
            for line in self.lines:
                match = LISTENING.search(line)
                if match:
                    return int(match.group(2))
            return 0

        self.port = wait_until(found, 60, message="collect to listen")
        return self.port

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        return rc

    @property
    def output(self) -> str:
        return "".join(self.lines) + "".join(self._stdout)


@contextmanager
def collect(home: Path, *args: str, module: str = "studio_analytics") -> Iterator[Process]:
    command = [sys.executable, "-m", module] + (["collect"] if module == "studio_analytics" else []) + list(args)
    process = Process(command, home)
    try:
        yield process
    finally:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait(10)


class _Target:
    """What ``post`` needs of a collector: its port."""

    def __init__(self, port: int) -> None:
        self.port = port


def _send(port: int, traces: int, seed: int, **kwargs: object) -> int:
    from tests.ingest.receiver_harness import connect

    conn = connect(_Target(port))  # type: ignore[arg-type]
    rng = random.Random(seed)
    sent = 0
    for _ in range(traces):
        spans = agent_trace(rng, tools=2)
        reply = post(conn, spans_body(spans), **kwargs)  # type: ignore[arg-type]
        assert reply.status == 200, reply
        sent += len(spans)
    conn.close()
    return sent


def _counts(url: str) -> tuple[int, int, int]:
    from tests.tracker.conftest import raw

    (row,) = raw(url, "SELECT (SELECT count(*) FROM agent_execution_metrics), (SELECT count(*) FROM "
                      "tool_usage_metrics), (SELECT count(*) FROM model_call_metrics)")
    return tuple(int(n) for n in row)  # type: ignore[return-value]


@pytest.mark.parametrize("module", ["studio_analytics", "studio_analytics.ingest.collector"],
                         ids=["studio-analytics collect", "studio-analytics-collect"])
def test_sigterm_writes_what_was_taken_and_exits_0(module: str, sqlite_file_url: str, tmp_path: Path) -> None:
    with collect(tmp_path / "home", "--db", sqlite_file_url, "--port", "0", module=module) as process:
        port = process.wait_listening()
        sent = _send(port, 25, seed=1)
        assert process.terminate() == 0, process.output
    assert "stopped:" in process.output and f"{sent} spans accepted" in process.output, process.output
    assert "Traceback" not in process.output
    assert _counts(sqlite_file_url) == (25, 50, 25)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()  # it no longer listens


@pytest.mark.postgres
def test_sigterm_with_the_database_away_spools_and_a_later_process_replays(pg_empty_url: str, tmp_path: Path) -> None:
    engine = create_db_engine(pg_empty_url)
    upgrade_database(engine)
    engine.dispose()
    real = make_url(pg_empty_url)
    proxy = TcpProxy(real.port or 5432, real.host or "127.0.0.1")
    proxy.start()
    url = real.set(port=proxy.port).render_as_string(hide_password=False)
    home = tmp_path / "home"
    try:
        with collect(home, "--db", url, "--port", "0", "--exit-timeout", "3") as process:
            port = process.wait_listening()
            before = _send(port, 3, seed=2)
            wait_until(lambda: _counts(pg_empty_url) == (3, 6, 3), 30, interval=0.1, message="the first rows")
            proxy.stop()  # the database goes away
            during = _send(port, 20, seed=3)
            assert process.terminate() == 0, process.output
        assert f"{before + during} spans accepted" in process.output, process.output
        assert re.search(r"kept in the spool", process.output), process.output
        assert re.search(r", 0 lost", process.output), process.output
        assert _counts(pg_empty_url) == (3, 6, 3)
        proxy.start()
        # The next process on this database (here: the tracker) replays the spool.
        tracker.configure(db_url=url, spool_path=str(home / "data" / "spool.sqlite3"), flush_interval_s=0.05)
        try:
            wait_until(lambda: _counts(pg_empty_url) == (23, 46, 23), 60, interval=0.2,
                       message="the spooled rows to be replayed")
        finally:
            tracker.shutdown(5)
    finally:
        proxy.stop()


def test_refuses_to_listen_beyond_loopback_without_a_token(sqlite_file_url: str, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "studio_analytics", "collect", "--db", sqlite_file_url,
                           "--host", "0.0.0.0", "--port", "0"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "STUDIO_ANALYTICS_HOME": str(tmp_path)})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: refusing to listen on 0.0.0.0 without a token"), proc.stderr


def test_a_busy_port_is_one_line(sqlite_file_url: str, tmp_path: Path) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        proc = subprocess.run([sys.executable, "-m", "studio_analytics", "collect", "--db", sqlite_file_url,
                               "--port", str(holder.getsockname()[1])], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "STUDIO_ANALYTICS_HOME": str(tmp_path)})
    finally:
        holder.close()
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot listen on 127.0.0.1" in lines[0], proc.stderr


def test_the_token_is_required_and_never_printed(sqlite_file_url: str, tmp_path: Path) -> None:
    token = "tok-" + "9f3a7c" * 6
    with collect(tmp_path / "home", "--db", sqlite_file_url, "--port", "0", "--token", token, "--debug") as process:
        port = process.wait_listening()
        from tests.ingest.receiver_harness import connect

        conn = connect(_Target(port))  # type: ignore[arg-type]
        body = spans_body(agent_trace(random.Random(5)))
        assert post(conn, body).status == 401
        assert post(conn, body, headers={"Authorization": f"Bearer {token[:-1]}"}).status == 401
        assert post(conn, body, headers={"Authorization": f"Bearer {token}"}).status == 200
        conn.close()
        assert process.terminate() == 0
    assert "bearer token required" in process.output and "2 unauthorized" in process.output
    # said once (the second refusal within 10 s is only counted), naming the client, not the token
    assert process.output.count("answered 401 to 127.0.0.1:") == 1, process.output
    assert token not in process.output and token[:-1] not in process.output
