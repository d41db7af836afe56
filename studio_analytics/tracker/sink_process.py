"""SQLite writes from a child process, so that a fault in the file never kills the agent.

In WAL mode SQLite maps the ``-shm`` file into the process that writes. When that file
stops being writable under it (made immutable, a vanished or full disk), the next
store into the mapping is a SIGBUS, and a SIGBUS kills the whole process: the agent's.
So the tracker's writer thread hands each SQLite batch to a small child process
(``python -m studio_analytics.tracker.sink_process``) over a socket pair and waits for
its answer, at most the write timeout. If the child dies or hangs, the batch goes to
the spool like any failed write, the child is killed, and the next write starts a new
one. The child exits when the parent's end of the socket closes (the parent exited or
was killed), after finishing the write it is in.

The writer may also send a batch (:meth:`ProcessSink.send`) and collect the answer later
(:meth:`ProcessSink.result`), preparing its next batch while the child writes this one.
One batch is outstanding at most; any other call first waits for its answer.

PostgreSQL connections map nothing, and are written in-process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NoReturn

from studio_analytics.db.errors import DatabaseError, DatabaseTimeoutError

log = logging.getLogger("studio_analytics.tracker")
#: Time the child gets beyond its own write deadline (its watchdog answers first).
_MARGIN_S = 5.0
_START_TIMEOUT_S = 60.0


class SinkProcessError(DatabaseError):
    """A write the child process reported as failed; ``row_error`` and
    ``schema_error`` carry its classification across the process boundary."""

    def __init__(self, message: str, *, hint: str = "", row_error: bool = False, schema_error: bool = False,
                 file_replaced: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.row_error = row_error
        self.schema_error = schema_error
        self.file_replaced = file_replaced


class ProcessSink:
    """The :class:`~studio_analytics.tracker.sink.DatabaseSink` interface, written by a
    child process."""

    #: the writer may send a batch and collect the answer later (send / answered / result)
    background_writes = True

    def __init__(self, db_url: str, *, timeout_s: float = 10.0) -> None:
        self.db_url = db_url
        self.timeout_s = timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._recheck = False
        self._started = False
        #: the deadline of the batch sent and not answered yet (None: nothing outstanding)
        self._outstanding: float | None = None
        #: rows of the last write the database cannot hold (see DatabaseSink.set_aside)
        self.set_aside: list[tuple[str, Any, str]] = []

    # -- the child ------------------------------------------------------------------
    def prestart(self) -> None:
        """Start the child now, without waiting for it: its imports (about 0.5 s)
        overlap with the agent's first spans instead of delaying the first write."""
        if self._conn is None:
            self._spawn()

    def _start(self) -> Connection:
        conn = self._conn if self._conn is not None else self._spawn()
        self._call_on(conn, ("hello",), _START_TIMEOUT_S)
        self._started = True
        return conn

    def _spawn(self) -> Connection:
        ours, theirs = socket.socketpair()
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        try:
            self._proc = subprocess.Popen(
                [*_child_command(), str(theirs.fileno()), self.db_url, repr(self.timeout_s)],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env,
                start_new_session=True,  # a Ctrl+C meant for the agent does not cut a write short
            )
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self._started = False
        return self._conn

    def _stop_child(self, *, grace_s: float = 0.0) -> None:
        """Close the socket (the child exits when it sees that); kill it if it is
        still there after ``grace_s``."""
        conn, proc, self._conn, self._proc = self._conn, self._proc, None, None
        if conn is not None:
            conn.close()
        if proc is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace_s)
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(2)

    def _call(self, message: tuple[Any, ...], timeout: float) -> Any:
        if self._outstanding is not None:
            self._drop_outstanding()
        conn = self._conn if self._conn is not None and self._started else self._start()
        return self._call_on(conn, message, timeout)

    def _call_on(self, conn: Connection, message: tuple[Any, ...], timeout: float) -> Any:
        self._send_on(conn, message)
        return self._receive(conn, time.monotonic() + timeout, timeout)

    def _send_on(self, conn: Connection, message: tuple[Any, ...]) -> None:
        try:
            conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
        except (OSError, EOFError) as e:
            self._stopped(e)

    def _receive(self, conn: Connection, deadline: float, timeout: float) -> Any:
        """The child's answer to the message sent last, waiting until ``deadline``."""
        try:
            if not conn.poll(max(0.0, deadline - time.monotonic())):
                self._stop_child()
                raise DatabaseTimeoutError(
                    f"The SQLite writer did not finish a write within {timeout:.1f} s",
                    hint="the file is on a hung disk or locked; the rows are kept in the spool")
            reply = pickle.loads(conn.recv_bytes())
        except (OSError, EOFError) as e:
            self._stopped(e)
        if reply[0] == "ok":
            return reply[1]
        _, message_text, hint, row_error, schema_error, file_replaced = reply
        if file_replaced:
            from studio_analytics.tracker.sink import FileReplacedError

            raise FileReplacedError(message_text)
        raise SinkProcessError(message_text, hint=hint, row_error=row_error, schema_error=schema_error)

    def _stopped(self, error: BaseException) -> NoReturn:
        code = self._proc.poll() if self._proc is not None else None
        self._stop_child()
        cause = (f"killed by {signal.Signals(-code).name}" if code is not None and code < 0
                 else f"exited ({code})" if code is not None else type(error).__name__)
        raise DatabaseError(f"The SQLite writer process stopped: {cause}",
                            hint="a fault in the database file; the rows are kept in the spool") from None

    def _drop_outstanding(self) -> None:
        """A call while a sent batch's answer was never collected (a bug of the caller's):
        that answer cannot be told from the next one's, so the child is stopped and a new
        one serves the call; the batch's outcome is unknown, as with a killed child."""
        self._outstanding = None
        self._stop_child()

    # -- the DatabaseSink interface -------------------------------------------------
    def write(self, batch: dict[str, list[Any]], *, replay: bool = False) -> int:
        self.send(batch, replay=replay)
        return self.result()

    # -- one write in the background ------------------------------------------------
    def send(self, batch: dict[str, list[Any]], *, replay: bool = False) -> None:
        """Hand ``batch`` to the child and return at once; :meth:`result` collects the
        answer (and raises what :meth:`write` would). Raises here when the child cannot
        be started or reached."""
        if self._outstanding is not None:
            self._drop_outstanding()
        conn = self._conn if self._conn is not None and self._started else self._start()
        recheck, self._recheck = self._recheck, False
        self.set_aside = []
        self._send_on(conn, ("write", batch, replay, recheck))
        self._outstanding = time.monotonic() + self.timeout_s + _MARGIN_S

    def answered(self, timeout: float = 0.0) -> bool:
        """Whether the child has answered the batch sent (waits up to ``timeout``; True
        too when nothing is outstanding or the child is gone: :meth:`result` says how)."""
        conn = self._conn
        if self._outstanding is None or conn is None:
            return True
        left = self._outstanding - time.monotonic()
        if left <= 0:
            return True  # past its deadline: result() stops the child and raises
        try:
            return conn.poll(min(timeout, left))
        except (OSError, EOFError):
            return True

    def result(self) -> int:
        """Rows the child wrote of the batch sent last; raises as :meth:`write` does."""
        deadline, self._outstanding = self._outstanding, None
        if deadline is None:
            raise RuntimeError("no batch was sent")
        conn = self._conn
        if conn is None:  # stopped meanwhile (close)
            raise DatabaseError("The SQLite writer process stopped: closed",
                                hint="the rows are kept in the spool")
        n, self.set_aside = self._receive(conn, deadline, self.timeout_s + _MARGIN_S)
        return int(n)

    def reset(self) -> None:
        self._recheck = True

    def file_replaced(self) -> bool:
        return False  # the child checks, and answers FileReplacedError

    def reopen(self) -> None:
        self._call(("reopen",), self.timeout_s + _MARGIN_S)

    def close(self) -> None:
        self._outstanding = None
        self._stop_child(grace_s=2.0)


def _child_command() -> list[str]:
    if getattr(sys, "frozen", False):
        # A PyInstaller bundle: its executable is our entry point, which knows the flag.
        return [sys.executable, "--studio-analytics-sink-process"]
    return [sys.executable, "-m", "studio_analytics.tracker.sink_process"]


# -- the child's side ---------------------------------------------------------------
def _serve(fd: int, db_url: str, timeout_s: float) -> None:
    from studio_analytics.db.engine import translate_error
    from studio_analytics.db.failures import is_row_error, is_schema_error
    from studio_analytics.tracker.sink import DatabaseSink, FileReplacedError

    conn = Connection(fd)
    sink = DatabaseSink(db_url, timeout_s=timeout_s)
    while True:
        try:
            message = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            break  # the parent is gone
        try:
            if message[0] == "write":
                _, batch, replay, recheck = message
                if recheck:
                    sink.reset()
                reply: tuple[Any, ...] = ("ok", (sink.write(batch, replay=replay), sink.set_aside))
            elif message[0] == "reopen":
                sink.reopen()
                reply = ("ok", None)
            else:
                reply = ("ok", None)
        except FileReplacedError as e:
            reply = ("error", str(e), "", False, False, True)
        except Exception as e:  # noqa: BLE001 - every failure goes back to the parent
            err = translate_error(e, db_url)
            reply = ("error", err.message, err.hint, is_row_error(e), is_schema_error(e), False)
        try:
            conn.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            break
    sink.close()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve(int(argv[0]), argv[1], float(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
