"""Uvicorn serving the application on one socket: in the foreground until SIGTERM/SIGINT
(the command), or in a background thread (tests, the benchmark).

Binds 127.0.0.1 by default; any other address without a token is refused before
anything starts (:class:`~studio_analytics.server.settings.ServeConfigError`)."""

from __future__ import annotations

from typing import Any

from studio_analytics.ingest.collector import SocketServer, bind, is_loopback
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


class ApiServer(SocketServer):
    """The API on one socket. ``serve()`` runs in this thread until stopped; ``start()``
    runs it in a background thread and returns once it accepts connections."""

    thread_name = "studio-analytics-serve"

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

    @property
    def base_url(self) -> str:
        host = f"[{self.host.strip('[]')}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
