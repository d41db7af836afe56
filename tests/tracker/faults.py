"""Helpers for the fault-injection tests: waiting on conditions, producing rows,
counting them in the database, running tracker subprocesses, mounting a tiny tmpfs.

Units: an *execution* is one ``track_agent_execution`` span; ``produce(..., tools=True)``
adds one tool span inside each, so it makes TWO rows per execution (one in
``agent_execution_metrics``, one in ``tool_usage_metrics``). Every count of "rows" in these
tests means database rows of those two tables, the unit of ``stats()``.
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import os
import re
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text

from studio_analytics import tracker
from studio_analytics.db.engine import create_db_engine
from studio_analytics.tracker.settings import build_config

REPO = Path(__file__).resolve().parents[2]
EXIT_LINE = re.compile(r"at exit (\d[\d,]*) rows were written, (\d[\d,]*) kept in the spool .*?, (\d[\d,]*) lost")


# -- waiting ------------------------------------------------------------------------
def wait_until(predicate: Callable[[], Any], timeout: float, *, interval: float = 0.02,
               message: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s.

    Returns the truthy value. The failure names ``message`` and the time waited.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.1f}s waiting for {message}")
        time.sleep(interval)  # the poll period, not a wait for the condition itself


def eventually(predicate: Callable[[], Any], timeout: float, *, interval: float = 0.02) -> bool:
    """Like :func:`wait_until` but returns False on timeout instead of failing."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


# -- configuring ------------------------------------------------------------------------
def _supports(option: str) -> bool:
    return option in inspect.signature(build_config).parameters


def tracker_options(**options: Any) -> dict[str, Any]:
    """Options for ``tracker.configure``, with the test defaults (fast flush).

    TRANSITIONAL: ``write_timeout_s`` is new API. On a tracker that does not know it yet
    it is left out, so the test runs and fails on the defect it describes (a write that
    hangs, a connect that waits) instead of on a ``TypeError`` in ``configure``. Once
    the writer has it, this filter never drops anything; delete it then.
    """
    merged: dict[str, Any] = {"flush_interval_s": 0.05, "exit_timeout_s": 5.0, **options}
    if "write_timeout_s" in merged and not _supports("write_timeout_s"):
        merged.pop("write_timeout_s")
    return merged


def configure(url: str, spool: Path | str | None, **options: Any) -> None:
    tracker.configure(db_url=url, spool_path=None if spool is None else str(spool), **tracker_options(**options))


def stat(name: str) -> int | None:
    """A field of ``tracker.stats()``, or None when this tracker does not have it (yet)."""
    return getattr(tracker.stats(), name, None)


def drain(timeout: float = 60) -> Any:
    """Flush, then keep flushing until the spool holds nothing for this database (a
    flush returns once rows are written *or spooled*; the replay may take longer)."""
    def empty() -> bool:
        # flush() is False while a batch is still being written (queued is 0 by then).
        done = tracker.flush(2)
        s = tracker.stats()
        return done and s.queued == 0 and s.spool_pending == 0

    if not eventually(empty, timeout, interval=0.05):
        pytest.fail(f"the spool did not drain within {timeout:.0f}s: {tracker.stats()}")
    return tracker.stats()


# -- producing ----------------------------------------------------------------------
def produce(n: int, agent: str = "agent", *, session: str | None = None, tools: bool = True,
            ids: list[str] | None = None) -> int:
    """Track ``n`` executions (each with one tool when ``tools``); returns the rows made."""
    for i in range(n):
        with tracker.track_agent_execution(agent_name=agent, query=f"q{i}", session_id=session) as run:
            if tools:
                with tracker.track_tool_usage(tool_name="tool"):
                    pass
        if ids is not None:
            ids.append(str(run))
    return n * (2 if tools else 1)


def produce_paced(total: int, seconds: float, agent: str = "paced", *, burst: int = 500,
                  during: Callable[[float], None] | None = None, tools: bool = False) -> int:
    """An agent loop: ``total`` executions spread over about ``seconds``, in bursts.

    Between bursts it waits in 1 ms steps (an agent waiting on its model or tools, as
    agents mostly do) and calls ``during(elapsed)`` so a test can look at the tracker
    while the agent runs. Returns the rows made.
    """
    made = 0
    started = time.perf_counter()
    bursts = max(1, total // burst)
    for b in range(bursts):
        made += produce(min(burst, total - b * burst), agent, tools=tools)
        due = started + seconds * (b + 1) / bursts
        while (now := time.perf_counter()) < due:
            if during is not None:
                during(now - started)
            # Not a busy wait: on a loaded machine (tests side by side) spinning here
            # would starve the writer thread of the GIL, which no real agent does.
            time.sleep(0.001)
    return made


# -- counting -----------------------------------------------------------------------
def scalar(url: str, sql: str, **params: Any) -> Any:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


def try_scalar(url: str, sql: str) -> Any:
    """``scalar`` or None when the database or table is not there (yet)."""
    try:
        return scalar(url, sql)
    except Exception:  # noqa: BLE001 - "not there yet" in any of its forms
        return None


def row_counts(url: str) -> tuple[int, int]:
    """(executions, tools) in the database."""
    return (int(scalar(url, "SELECT count(*) FROM agent_execution_metrics")),
            int(scalar(url, "SELECT count(*) FROM tool_usage_metrics")))


def assert_no_duplicates(url: str) -> None:
    for table, key in (("agent_execution_metrics", "execution_id"), ("tool_usage_metrics", "usage_id")):
        n, distinct = (scalar(url, f"SELECT count(*) FROM {table}"),
                       scalar(url, f"SELECT count(DISTINCT {key}) FROM {table}"))
        assert n == distinct, f"{table}: {n} rows but {distinct} distinct ids"


def execution_ids(url: str) -> list[uuid.UUID]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return [uuid.UUID(str(r[0])) for r in conn.execute(text("SELECT execution_id FROM agent_execution_metrics"))]
    finally:
        engine.dispose()


# -- PostgreSQL administration ------------------------------------------------------
def pg_admin(server_url: str) -> Any:
    return create_engine(make_url(server_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")


def pg_execute(url: str, *statements: str) -> None:
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for sql in statements:
                conn.execute(text(sql))
    finally:
        engine.dispose()


def with_port(url: str, port: int) -> str:
    return make_url(url).set(port=port).render_as_string(hide_password=False)


# -- subprocesses -------------------------------------------------------------------
@dataclass(frozen=True)
class ExitReport:
    written: int
    spooled: int
    lost: int

    @property
    def total(self) -> int:
        return self.written + self.spooled + self.lost


def parse_exit_line(stderr: str) -> ExitReport | None:
    """The tracker's one exit warning, or None when it printed none (all written)."""
    found = EXIT_LINE.findall(stderr)
    assert len(found) <= 1, f"more than one exit line:\n{stderr}"
    if not found:
        return None
    return ExitReport(*(int(v.replace(",", "")) for v in found[0]))


def script(body: str, **values: Any) -> str:
    """A tracker subprocess script: ``body`` with ``{name}`` replaced by ``repr(value)``."""
    return textwrap.dedent(body).format(**{k: repr(v) for k, v in values.items()})


def python_env(home: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if home is not None:
        env["STUDIO_ANALYTICS_HOME"] = home
    return env


def start_script(source: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", source], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=python_env(), cwd=REPO, **kwargs)


def run_script(source: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=timeout,
                          env=python_env(), cwd=REPO)


# -- a tiny disk --------------------------------------------------------------------
@contextlib.contextmanager
def tiny_tmpfs(directory: Path, size: str = "256k") -> Iterator[Path]:
    """A real tmpfs of ``size`` at ``directory``; skips the test if mounting is not allowed."""
    directory.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(directory)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        reason = proc.stderr.strip() or f"mount exited {proc.returncode}"
        if os.geteuid() != 0 or "permission" in reason.lower() or "not permitted" in reason.lower():
            pytest.skip(f"cannot mount a tmpfs here ({errno.errorcode.get(errno.EPERM)}: {reason})")
        pytest.fail(f"mounting a tmpfs at {directory} failed: {reason}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], capture_output=True)


def unusable_db_url(tmp_path: Path, name: str = "unusable.sqlite3") -> tuple[str, Path]:
    """A SQLite URL the tracker cannot write (the file holds garbage) and its path;
    delete the file to make the database usable (the tracker then creates it)."""
    path = tmp_path / name
    path.write_bytes(b"this is not a database " * 200)
    return f"sqlite:///{path}", path
