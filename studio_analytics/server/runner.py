"""Uvicorn serving the application on one socket: in the foreground until SIGTERM/SIGINT
(the command), or in a background thread (tests, the benchmark).

Binds 127.0.0.1 by default; any other address without a token is refused before
anything starts (:class:`~studio_analytics.server.settings.ServeConfigError`)."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from typing import Any

from studio_analytics.ingest.collector import is_loopback
from studio_analytics.server.settings import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    ENV_TOKEN,
    ServeConfigError,
    ServeSettings,
)

#: Connections served at once; Uvicorn answers 503 beyond (the query pool refuses
#: earlier, with a JSON body, when the queries are what is slow).
MAX_CONNECTIONS = 256
GRACEFUL_S = 5


def check_exposure(host: str, token: str | None) -> None:
    if not is_loopback(host) and not token:
        raise ServeConfigError(
            f"refusing to listen on {host} without a token: anything that can reach it could read every figure "
            f"and prompt of the database; pass --token (or set {ENV_TOKEN}), or listen on 127.0.0.1")


def require_extra(ingest: bool) -> None:
    import importlib.util

    names = ["fastapi", "uvicorn"] + (["opentelemetry.proto", "google.rpc"] if ingest else [])
    missing = []
    for name in names:
        try:
            if importlib.util.find_spec(name) is None:
                missing.append(name)
        except (ImportError, ValueError):
            missing.append(name)
    if missing:
        extra = "'studio-analytics[serve,collector]'" if ingest else "'studio-analytics[serve]'"
        raise ServeConfigError(f"studio-analytics serve needs {', '.join(missing)}: pip install {extra}")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free port), made here so the port is known before
    the server starts and a busy port is a clear error. Made with ``IPPROTO_TCP``: asyncio
    sets TCP_NODELAY only on sockets that say so, and without it every keep-alive answer
    written in two parts (headers, body) waited ~40 ms for the client's delayed ACK."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
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


class ApiServer:
    """The API on one socket. ``serve()`` runs in this thread until stopped; ``start()``
    runs it in a background thread and returns once it accepts connections."""

    def __init__(self, settings: ServeSettings, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 ingestor: Any = None, access_log: bool = True) -> None:
        check_exposure(host, settings.token)
        require_extra(settings.ingest)
        import uvicorn

        from studio_analytics.server.app import create_app

        self.host = host
        self.app = create_app(settings, ingestor=ingestor)
        self._socket = bind(host, port)
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            self.app, lifespan="on", access_log=access_log, log_config=None, log_level="info",
            timeout_graceful_shutdown=GRACEFUL_S, server_header=False, limit_concurrency=MAX_CONNECTIONS,
            # Forwarded headers are not trusted: the rate limit is per TCP peer.
            proxy_headers=False,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host.strip('[]')}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def serve(self) -> None:
        main = threading.current_thread() is threading.main_thread()
        previous: dict[int, Any] = {}
        if main:
            # Uvicorn handles both signals while it serves and raises them again once it
            # has stopped: these handlers take that second delivery, so the command
            # returns and exits 0 instead of being killed by the default handler.
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            self._server.run(sockets=[self._socket])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._server.should_exit = True

    def start(self, timeout: float = 15.0) -> ApiServer:
        self._thread = threading.Thread(target=self.serve, name="studio-analytics-serve", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        with contextlib.suppress(OSError):
            self._socket.close()
