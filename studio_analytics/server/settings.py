"""What ``studio-analytics serve`` is started with; read by the app, the runner and the
command line (apart from them so reading it imports no FastAPI)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
ENV_TOKEN = "STUDIO_ANALYTICS_SERVE_TOKEN"
API_PREFIX = "/api/analytics"
#: Requests per minute per client address; a client may spend a minute's worth at once.
DEFAULT_RATE_PER_MIN = 600
#: ``Cache-Control: max-age``: how long a poller (and this server's cache) may reuse a body
#: of a range that ends "now" before the range has moved on.
DEFAULT_MAX_AGE_S = 5
#: A request's queries must finish within this, or it is answered 503.
DEFAULT_QUERY_TIMEOUT_S = 15.0
#: Threads that run queries, and requests that may wait for one before more are refused:
#: one slow query holds one thread, never the event loop, and never piles up.
DEFAULT_QUERY_WORKERS = 4
DEFAULT_QUERY_QUEUE = 16
#: Bodies kept for pollers, by count and by size.
CACHE_ENTRIES = 256
CACHE_BYTES = 32 * 1024 * 1024

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$", re.IGNORECASE)
_PER_MINUTE = {"s": 60.0, "sec": 60.0, "second": 60.0, "m": 1.0, "min": 1.0, "minute": 1.0,
               "h": 1 / 60, "hour": 1 / 60}


class ServeConfigError(ValueError):
    """A setting the server cannot start with; the message is one line."""


@dataclass(frozen=True)
class ServeSettings:
    db_url: str
    token: str | None = None
    cors_origin: str | None = None
    rate_per_min: float = DEFAULT_RATE_PER_MIN  # 0: no rate limit
    max_age_s: int = DEFAULT_MAX_AGE_S
    query_timeout_s: float = DEFAULT_QUERY_TIMEOUT_S
    query_workers: int = DEFAULT_QUERY_WORKERS
    query_queue: int = DEFAULT_QUERY_QUEUE
    cache_entries: int = CACHE_ENTRIES  # 0: no cache (every request queries)
    ingest: bool = False
    rules_path: Path | None = None


def parse_rate(text: str) -> float:
    """``N/min`` (also ``N/s``, ``N/h``; ``0`` or ``off``: no limit) as requests per minute."""
    if text.strip().lower() in ("0", "off", "none"):
        return 0.0
    m = _RATE.match(text)
    if not m or int(m.group(1)) <= 0:
        raise ServeConfigError(f"--rate-limit {text!r}: expected N/min, N/s or N/h with N at least 1, or off")
    return int(m.group(1)) * _PER_MINUTE[m.group(2).lower()]


def check_token(token: str | None) -> None:
    if token is not None and (not token.strip() or any(c.isspace() for c in token) or not token.isprintable()):
        raise ServeConfigError("the token must be non-empty printable text without spaces")


def check_cors_origin(origin: str | None) -> None:
    """One origin as a browser sends it: scheme://host[:port], no path; ``*`` is refused
    (with a token, any site could read the figures through a logged-in browser)."""
    if origin is None:
        return
    if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", origin):
        raise ServeConfigError(f"--cors {origin!r}: expected one origin like https://grafana.example:3000 "
                               "(scheme, host and port, no path; '*' is not allowed)")
