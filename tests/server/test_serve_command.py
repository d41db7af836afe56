"""``studio-analytics serve`` as a real process: it answers, stops on SIGTERM with exit 0,
never writes the token into a log line, and with ``--ingest`` stores spans POSTed to
``/v1/traces`` under the same token rule as ``collect``."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ingest.otlp_bodies import agent_trace, spans_body

API = "/api/analytics"
LISTENING = re.compile(r"studio-analytics serve: (http://127\.0\.0\.1:(\d+))/api/analytics/dashboard")


class ServeProcess:
    """A ``serve`` process whose stderr is read as it comes."""

    def __init__(self, args: list[str], home: Path, env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, "STUDIO_ANALYTICS_HOME": str(home), "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen([sys.executable, "-m", "studio_analytics", "serve", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full_env)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_listening(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            match = LISTENING.search(self.output)
            if match:
                return match.group(1)
            assert self.proc.poll() is None, f"serve exited early: {self.output}"
            assert time.monotonic() < deadline, f"serve did not start: {self.output}"
            time.sleep(0.05)

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


@contextmanager
def serve(home: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[ServeProcess]:
    process = ServeProcess(list(args), home, env)
    try:
        yield process
    finally:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait(10)


def _wait_for(fn: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_answers_and_stops_on_sigterm(demo_sqlite: str, tmp_path: Path) -> None:
    with serve(tmp_path / "home", "--db", demo_sqlite, "--port", "0") as process:
        base = process.wait_listening()
        health = httpx.get(base + API + "/health", timeout=30)
        assert health.status_code == 200 and health.json()["data"]["ok"] is True
        assert httpx.get(base + API + "/summary", timeout=30).json()["report"] == "summary"
        assert process.terminate() == 0, process.output
    assert "studio-analytics serve: stopped" in process.output
    assert "Traceback" not in process.output
    port = int(base.rsplit(":", 1)[1])
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_a_database_that_cannot_be_read_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "studio_analytics", "serve", "--db", str(tmp_path / "missing.sqlite3"),
                           "--port", "0"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "STUDIO_ANALYTICS_HOME": str(tmp_path)})
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "not found" in lines[0], proc.stderr


def test_the_token_never_appears_in_a_log_line(demo_sqlite: str, tmp_path: Path) -> None:
    """The token comes from the environment (not the command line); requests carry it in
    the header, in the login form and cookie, in a query string and in a path: the
    server's whole output (Uvicorn's access log included) never shows it."""
    token = "tok-" + "7e1d2c" * 6
    with serve(tmp_path / "home", "--db", demo_sqlite, "--port", "0", "--debug",
               env={"STUDIO_ANALYTICS_SERVE_TOKEN": token}) as process:
        base = process.wait_listening()
        with httpx.Client(base_url=base, timeout=30) as client:
            assert client.get(API + "/summary").status_code == 401
            assert client.get(API + "/summary", headers={"Authorization": f"Bearer {token}"}).status_code == 200
            assert client.get(API + "/summary", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
            assert client.get(API + "/summary", params={"token": token, "days": "2"}).status_code == 401
            assert client.get(API + "/summary", params={"access_token": token},
                              headers={"Authorization": f"Bearer {token}"}).status_code == 200
            assert client.get(f"{API}/sessions/{token}", headers={"Authorization": f"Bearer {token}"}
                              ).status_code == 404
            login = client.post(API + "/login", data={"token": token, "next": API + "/summary"},
                                follow_redirects=False)
            assert login.status_code == 303
            assert client.get(API + "/summary").status_code == 200  # with the session cookie
        assert process.terminate() == 0, process.output
    out = process.output
    assert token not in out, out
    assert "token=***" in out and "access_token=***" in out and "days=2" in out  # the access log is there
    assert re.search(r'"GET /api/analytics/summary HTTP/1\.1" 401', out), out
    assert "(bearer token required)" in out


def _agent_rows(base: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    reply = httpx.get(base + API + "/agents/usage", params={"start_date": "2023-11-01", "end_date": "2023-12-01"},
                      headers=headers, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]["rows"]


@pytest.mark.parametrize("token", [None, "ingest-" + "5b" * 12], ids=["localhost, no token", "with a token"])
def test_ingest_stores_posted_spans(token: str | None, sqlite_db_url: str, tmp_path: Path) -> None:
    env = {"STUDIO_ANALYTICS_SERVE_TOKEN": token} if token else {}
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    body = spans_body(agent_trace(random.Random(3), agent="IngestedAgent"))
    with serve(tmp_path / "home", "--db", sqlite_db_url, "--port", "0", "--ingest", env=env) as process:
        base = process.wait_listening()
        assert "receiving spans on POST /v1/traces" in process.output
        content = {"Content-Type": "application/x-protobuf"}
        if token:
            refused = httpx.post(base + "/v1/traces", content=body, headers=content, timeout=30)
            assert refused.status_code == 401
        posted = httpx.post(base + "/v1/traces", content=body, headers={**content, **auth}, timeout=30)
        assert posted.status_code == 200, posted.text
        rows = _wait_for(lambda: _agent_rows(base, auth), 30, "the posted spans to be written")
        assert [(r["agent_name"], r["executions"]) for r in rows] == [("IngestedAgent", 1)]
        assert process.terminate() == 0, process.output


def test_keep_alive_answers_do_not_wait_for_delayed_acks(empty_db: str) -> None:
    """An answer goes out in two writes (headers, body); without TCP_NODELAY on the
    accepted sockets each waited ~40 ms for the client's delayed ACK."""
    import http.client
    import socket as socket_module
    import statistics

    from tests.server.conftest import running_server

    with running_server(empty_db, rate_per_min=0) as server:
        assert server._socket.proto == socket_module.IPPROTO_TCP
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        samples = []
        for _ in range(31):
            started = time.perf_counter()
            conn.request("GET", API + "/no-such-figure")
            conn.getresponse().read()
            samples.append(time.perf_counter() - started)
        conn.close()
    assert statistics.median(samples[1:]) < 0.030, samples


def test_a_busy_port_is_one_line(empty_db: str, tmp_path: Path) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        proc = subprocess.run([sys.executable, "-m", "studio_analytics", "serve", "--db", empty_db,
                               "--port", str(holder.getsockname()[1])], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "STUDIO_ANALYTICS_HOME": str(tmp_path)})
    finally:
        holder.close()
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot listen on 127.0.0.1" in lines[0], proc.stderr
