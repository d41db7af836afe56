"""Process-wide tracker state: the configuration, the writer, and the hot-path enqueue.

Drop policy: the in-memory queue holds at most ``max_queue`` rows. When it is full
(the database is slower than the agents, and the spool is not keeping up), the NEWEST
row is dropped and counted in ``stats().dropped``; rows already queued keep their order.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from studio_analytics.tracker.settings import TrackerConfig, build_config

log = logging.getLogger("studio_analytics.tracker")

_lock = threading.Lock()
_config: TrackerConfig | None = None
_writer: Any = None  # BatchWriter, imported lazily to keep import time small
_rng = random.Random()
_last_log = 0.0
_suppressed = 0
_guard = threading.local()


def config() -> TrackerConfig:
    global _config
    cfg = _config
    if cfg is None:
        with _lock:
            if _config is None:
                _config = build_config()
            cfg = _config
    return cfg


#: The configured test/demo clock (``time_ns``-like), read on the hot path as a plain
#: module attribute; None means real time.
CLOCK: Callable[[], int] | None = None


def set_config(cfg: TrackerConfig) -> None:
    global _config, _writer, _enqueue, CLOCK
    with _lock:
        old_writer, _config = _writer, cfg
        _writer = None
        _enqueue = None
        CLOCK = cfg.clock
    if old_writer is not None:
        old_writer.shutdown(cfg.exit_timeout_s)


def sample() -> bool:
    rate = config().sample_rate
    return rate >= 1.0 or _rng.random() < rate


def writer() -> Any:
    global _writer
    w = _writer
    if w is None:
        with _lock:
            if _writer is None:
                from studio_analytics.tracker.writer import BatchWriter

                _writer = BatchWriter(config() if _config is None else _config, report_error=log_error)
            w = _writer
    return w


def current_writer() -> Any:
    return _writer


_enqueue: Callable[[str, Any], None] | None = None  # the writer's enqueue, or a no-op when disabled


def _discard(kind: str, row: Any) -> None:
    pass


def enqueue(kind: str, row: Any) -> None:
    f = _enqueue
    if f is None:
        f = _bind_enqueue()
    f(kind, row)


def _bind_enqueue() -> Callable[[str, Any], None]:
    global _enqueue
    f = writer().enqueue if config().enabled else _discard
    _enqueue = f
    return f


def internal_error(what: str) -> None:
    """Count a tracker failure and log it (see :func:`log_error`)."""
    w = _writer
    if w is not None:
        w.counters["errors"] += 1
    log_error(what)


def log_error(what: str, *, exc_info: bool = True) -> None:
    """Log a tracker failure at most once per 10 s, never recursing into ourselves.
    Database errors come with ``exc_info=False``: their text names the cause, and a
    traceback would print the statement (parameters are hidden by the engine)."""
    global _last_log, _suppressed
    if getattr(_guard, "active", False):
        return
    _guard.active = True
    try:
        now = time.monotonic()
        if now - _last_log >= 10.0:
            extra = f" ({_suppressed} similar errors suppressed)" if _suppressed else ""
            log.warning("studio-analytics tracker: error while %s%s", what, extra, exc_info=exc_info)
            _last_log, _suppressed = now, 0
        else:
            _suppressed += 1
    except Exception:  # noqa: BLE001, S110 - logging itself failed; nothing more to do
        pass
    finally:
        _guard.active = False


def _after_fork_in_child() -> None:
    global _writer, _lock, _enqueue
    _lock = threading.Lock()
    _enqueue = None
    w, _writer = _writer, None
    if w is not None:
        w.abandon_after_fork()
    _rng.seed(int.from_bytes(os.urandom(8), "big"))


os.register_at_fork(after_in_child=_after_fork_in_child)
