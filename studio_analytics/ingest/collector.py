"""``studio-analytics collect``: the OTLP/HTTP receiver served by Uvicorn, writing through a
:class:`~studio_analytics.ingest.pipeline.SpanIngestor` (the tracker's writer and spool).

- Binds to 127.0.0.1 by default. Any address beyond the loopback needs a bearer token,
  or the collector refuses to start (:class:`CollectorConfigError`, one line).
- SIGTERM / SIGINT: stop accepting, finish the requests in progress, then flush the
  writer and spool what it could not write within the exit timeout, then exit 0.

Also the ``studio-analytics-collect`` entry point of the tracker's light distribution
(:func:`main`), so an agent host can run the receiver without the window's packages.
Starlette and Uvicorn are imported when the server starts, not with this module.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import ipaddress
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, Self, TextIO

from studio_analytics.ingest.receiver_settings import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_SPANS,
    DEFAULT_RETRY_AFTER_S,
    TRACES_PATH,
    ReceiverCounters,
    ReceiverSettings,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4318
ENV_TOKEN = "STUDIO_ANALYTICS_COLLECTOR_TOKEN"
DEFAULT_EXIT_TIMEOUT_S = 10.0
#: How long finishing the requests in progress may take at shutdown.
GRACEFUL_S = 5.0
#: Connections served at once (more are answered 503 by Uvicorn): each may hold a request
#: body of up to the size limit in memory, twice when it is compressed.
MAX_CONNECTIONS = 64
EXTRA_HINT = "pip install 'studio-analytics-tracker[collector]' (or 'studio-analytics[collector]')"


class CollectorConfigError(ValueError):
    """A setting the collector cannot start with; the message is one line."""


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def check_exposure(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token."""
    if not is_loopback(host) and not token:
        raise CollectorConfigError(
            f"refusing to listen on {host} without a token: anything that can reach it could write "
            f"to the database; pass --token (or set {ENV_TOKEN}), or listen on 127.0.0.1")
    if token is not None and (not token.strip() or any(c.isspace() for c in token) or not token.isprintable()):
        raise CollectorConfigError("the token must be non-empty printable text without spaces")


def require_extra() -> None:
    missing = [name for name in ("starlette", "uvicorn", "opentelemetry.proto", "google.rpc")
               if not _importable(name)]
    if missing:
        raise CollectorConfigError(f"the OTLP receiver needs {', '.join(missing)}: {EXTRA_HINT}")


def _importable(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free port), made here so the port is known before
    the server starts and a busy port is a clear error."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    # IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so; without it each
    # keep-alive answer written in two parts waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise OSError(e.errno, f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.setblocking(False)
    return sock


class SocketServer:
    """A Uvicorn server on a socket of its own (the receiver here, the API of ``serve``):
    ``serve()`` in this thread until stopped (signals are handled when that is the main
    thread), or ``start()`` in a background thread."""

    _socket: socket.socket
    _server: Any
    _thread: threading.Thread | None = None
    #: the thread's name, and what a failed start says did not start
    thread_name = "studio-analytics-http"

    def serve(self) -> None:
        """Serve until :meth:`stop`, SIGTERM or SIGINT; returns once the requests in
        progress are answered (the ingestor is left to the caller)."""
        main = threading.current_thread() is threading.main_thread()
        previous: dict[int, Any] = {}
        if main:
            # Uvicorn handles both signals while it serves and raises them again once it
            # has stopped: these handlers receive that second delivery and do nothing
            # more, so the flush below still runs (the default handlers would kill us).
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            self._server.run(sockets=[self._socket])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._server.should_exit = True

    def start(self, timeout: float = 15.0) -> Self:
        """Serve in a background thread; returns once the server is accepting."""
        self._thread = threading.Thread(target=self.serve, name=self.thread_name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.thread_name} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop accepting and wait for the requests in progress (not the writer)."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        with contextlib.suppress(OSError):
            self._socket.close()


class Collector(SocketServer):
    """The receiver on one socket (see :class:`SocketServer`)."""

    thread_name = "studio-analytics-collector"

    def __init__(self, ingestor: Any, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 token: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 retry_after_s: int = DEFAULT_RETRY_AFTER_S, max_spans: int = DEFAULT_MAX_SPANS) -> None:
        check_exposure(host, token)
        require_extra()
        import uvicorn

        from studio_analytics.ingest.receiver import create_app

        self.ingestor = ingestor
        self.host = host
        self.counters = ReceiverCounters()
        settings = ReceiverSettings(token=token, max_body_bytes=max_body_bytes, retry_after_s=retry_after_s,
                                    max_spans=max_spans)
        self._socket = bind(host, port)
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            create_app(ingestor, settings, self.counters), lifespan="off", access_log=False,
            # Uvicorn's own lines: errors only (one line per malformed HTTP request would let
            # any client fill the log) and no access log; the receiver logs its refusals itself.
            log_config=None, log_level="error", timeout_graceful_shutdown=int(GRACEFUL_S),
            server_header=False, limit_concurrency=MAX_CONNECTIONS,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host.strip('[]')}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{TRACES_PATH}"

# -- command line ----------------------------------------------------------------------
def add_collect_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}; anything else needs --token)")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0: any free port)")
    parser.add_argument("--token", default=None, metavar="TOKEN",
                        help=f"bearer token every request must carry (default ${ENV_TOKEN}, which keeps it "
                             "out of the process list); required beyond 127.0.0.1")
    parser.add_argument("--max-body-mib", type=_mib, metavar="MIB", default=DEFAULT_MAX_BODY_BYTES / 2**20,
                        help="largest request body, before and after decompression "
                             f"(default {DEFAULT_MAX_BODY_BYTES // 2**20} MiB)")
    parser.add_argument("--exit-timeout", type=_seconds, metavar="SECONDS", default=DEFAULT_EXIT_TIMEOUT_S,
                        help=f"on SIGTERM, seconds to write what was received before the rest is spooled "
                             f"(default {DEFAULT_EXIT_TIMEOUT_S:g})")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r} (0-65535)")
    return value


def _mib(text: str) -> float:
    return _positive(text, "MiB", maximum=1024)


def _seconds(text: str) -> float:
    return _positive(text, "seconds", maximum=3600)


def _positive(text: str, unit: str, *, maximum: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of {unit}: {text!r}") from None
    if not 0 < value <= maximum:
        raise argparse.ArgumentTypeError(f"{text} {unit} is out of range (more than 0, at most {maximum:g})")
    return value


def run_collect(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Run the collector the command line describes until SIGTERM/SIGINT; 0 when what it
    took was written or spooled. Raises :class:`CollectorConfigError` (and OSError for a
    port that cannot be had) before anything starts."""
    from studio_analytics.config import resolve_db_url
    from studio_analytics.db.engine import safe_url

    stream = out or sys.stderr
    token = args.token if args.token is not None else (os.environ.get(ENV_TOKEN) or None)
    check_exposure(args.host, token)
    require_extra()
    from studio_analytics.ingest.pipeline import SpanIngestor

    url = resolve_db_url(getattr(args, "db", None))
    ingestor = SpanIngestor(db_url=url)
    try:
        collector = Collector(ingestor, host=args.host, port=args.port, token=token,
                              max_body_bytes=int(args.max_body_mib * 2**20))
    except BaseException:
        ingestor.shutdown(0.5)
        raise
    print(f"studio-analytics collect: listening on {collector.url} -> {safe_url(url)}"
          f"{' (bearer token required)' if token else ''}; stop with Ctrl-C or SIGTERM",
          file=stream, flush=True)
    gc_settings = _serving_gc()
    try:
        collector.serve()
    finally:
        _restore_gc(gc_settings)
        print("studio-analytics collect: stopping: writing what was received", file=stream, flush=True)
        ingestor.shutdown(args.exit_timeout)
        print(_summary(collector, ingestor), file=stream, flush=True)
    return 0


#: The cyclic garbage collector while serving: the first generation is collected after
#: this many allocations rather than 700. A request of 512 spans allocates some 10,000
#: tracked objects that die with it; collected every 700, the ones still alive were
#: walked again and again, and promoted, which brought on full collections.
SERVING_GC_THRESHOLD = (50_000, 20, 100)


def _serving_gc() -> tuple[int, ...]:
    """Tune the collector for serving: what exists now (modules, the application; some
    90,000 objects, SQLAlchemy's mostly) is frozen, out of every later collection, and
    young objects are collected less often. Together they took the collection time
    from 7-15 µs to under 1 µs per span (benchmarks/bench_otlp_receiver.py). Returns
    the thresholds to restore."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_GC_THRESHOLD)
    return previous


def _restore_gc(previous: tuple[int, ...]) -> None:
    gc.set_threshold(*previous)
    gc.unfreeze()


def _summary(collector: Collector, ingestor: Any) -> str:
    c = collector.counters
    parts = [f"{c.requests:,} request{'' if c.requests == 1 else 's'}", f"{c.spans_accepted:,} spans accepted"]
    for label, n in (("spans rejected", c.spans_rejected), ("malformed", c.malformed),
                     ("too large", c.too_large), ("answered busy (the client retries)", c.busy),
                     ("unauthorized", c.unauthorized), ("of an unsupported type", c.unsupported)):
        if n:
            parts.append(f"{n:,} {label}")
    writer = getattr(ingestor.stats(), "writer", None)
    if writer is not None:
        parts.append(f"rows written {getattr(writer, 'written', 0):,}, spooled {getattr(writer, 'spooled', 0):,}, "
                     f"lost {getattr(writer, 'dropped', 0):,}")
    return "studio-analytics collect: stopped: " + ", ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """``studio-analytics-collect``: the same command, for an install without the window."""
    import logging

    parser = argparse.ArgumentParser(prog="studio-analytics-collect",
                                     description="Receive OpenTelemetry spans over OTLP/HTTP and store them.")
    parser.add_argument("--db", metavar="URL", help="database URL or SQLite file path (default: "
                        "$STUDIO_ANALYTICS_DB, then the SQLite file in the user data folder)")
    add_collect_arguments(parser)
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    logging.getLogger("studio_analytics").addHandler(handler)
    try:
        return run_collect(args)
    except CollectorConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e.strerror or e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
