"""Make what agents hand us safe to store: bounded, JSON-clean, valid text, secrets redacted.

Runs in the writer thread, on what the span captured at exit (:mod:`.capture`): builtin
values and copies of builtin containers, plus references to any other object. Never
raises, and never spends more than a bound on one value:

* strings are sliced to twice the bound before anything else looks at them; bytes were
  already cut to 64 bytes and their length; containers to 1,000 items, depth 20;
* objects of other types are turned into text by ``repr`` (payloads) or ``str`` (ids,
  exception messages) in a helper thread, waiting at most ``REPR_TIMEOUT_S``. A call that
  has not returned by then gives ``"<TypeName: repr timed out>"``; its helper thread is
  left to finish (or hang) on its own and a new one takes its place, up to
  ``MAX_STUCK_HELPERS`` stuck at once. Past that, no more foreign ``repr``/``str`` is
  called: such objects are stored as ``"<TypeName object>"`` until a stuck call returns.
  Types whose text comes from the standard library (``uuid.UUID``, ``datetime``,
  ``Decimal``, paths) and objects using ``object.__repr__`` are formatted directly.
"""

from __future__ import annotations

import builtins
import datetime as _dt
import hashlib
import math
import pathlib
import queue
import threading
import types
import uuid
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

from studio_analytics.tracker.capture import BytesHead, CapturedError, Pairs, snapshot
from studio_analytics.tracker.redaction import REDACTED, is_sensitive_key, redactor_for
from studio_analytics.tracker.settings import TrackerConfig

REPR_TIMEOUT_S = 0.1
MAX_STUCK_HELPERS = 4
_INT64 = 2**63
_TRUSTED: frozenset[type] = frozenset({
    complex, uuid.UUID, _dt.datetime, _dt.date, _dt.time, _dt.timedelta, _dt.timezone, Decimal, Fraction,
    pathlib.PurePosixPath, pathlib.PureWindowsPath, pathlib.PosixPath, pathlib.WindowsPath, range, slice,
    types.NoneType, type(Ellipsis), memoryview,
})


def clean_text(value: Any, cfg: TrackerConfig, limit: int | None = None, *, use_str: bool = False) -> str | None:
    """Bounded, valid, redacted text of a captured value (``repr`` of non-strings, or
    ``str`` with ``use_str``); None stays None."""
    if value is None:
        return None
    limit = cfg.max_payload_chars if limit is None else limit
    try:
        if type(value) is str:
            text = value
        elif type(value) in (dict, list, Pairs):
            from studio_analytics.db.rows import json_text

            text = json_text(_clean(value, cfg, 0, [limit])) or ""
        else:
            text = bounded_text(value, limit * 2, use_str=use_str)
        return _bound(redactor_for(cfg)(valid_unicode(text[: limit * 2 + 64])), limit)
    except Exception:  # noqa: BLE001 - a payload must never break tracking
        return "<unrepresentable>"


def clean_json(value: Any, cfg: TrackerConfig) -> Any:
    """A JSON-serialisable copy of ``value`` with every string bounded and redacted, and
    every value under a sensitive key replaced by ``[REDACTED]``.

    The whole value is also bounded: once ``max_payload_chars`` characters of strings
    have been kept, the rest is replaced by a marker. ``value`` may be the agent's own
    object or what :func:`capture.snapshot` made of it.
    """
    try:
        return _clean(snapshot(value), cfg, 0, [cfg.max_payload_chars])
    except Exception:  # noqa: BLE001
        return "<unrepresentable>"


def format_error(value: Any, cfg: TrackerConfig) -> str | None:
    """The stored ``error_message`` of a captured exception: ``"TypeName: message"``."""
    if value is None:
        return None
    if type(value) is not CapturedError:
        return clean_text(value, cfg, use_str=True)
    try:
        limit = cfg.max_payload_chars * 2
        if value.exc is None:
            args = value.args or ()
            if len(args) == 0:
                message = ""
            elif len(args) == 1:
                message = _scalar_text(args[0], limit)
            else:
                message = "(" + ", ".join(_scalar_text(a, limit, r=True) for a in args) + ")"
        elif _c_str_of_builtins(value.exc):
            message = str(value.exc)[:limit]  # e.g. OSError's own C formatting of its builtin args
        else:
            message = bounded_text(value.exc, limit, use_str=True)
        return clean_text(f"{value.name}: {message}" if message else value.name, cfg)
    except Exception:  # noqa: BLE001
        return "<unrepresentable>"


def _c_str_of_builtins(exc: BaseException) -> bool:
    """An interpreter's own exception class (its ``__str__`` is C code) holding builtin values only."""
    t = type(exc)
    if t.__module__ != "builtins" or getattr(builtins, t.__name__, None) is not t:
        return False  # a subclass of the agent's may override anything, attributes included
    values = [*exc.args, getattr(exc, "filename", None), getattr(exc, "filename2", None)]
    return all(type(v) in (str, int, float, bool, types.NoneType) for v in values)


def anonymize(user_id: str | None, cfg: TrackerConfig) -> str | None:
    if user_id is None or not cfg.anonymize_users:
        return user_id
    digest = hashlib.sha256((cfg.user_salt + "\x00" + str(user_id)).encode("utf-8", "surrogatepass"))
    return "u_" + digest.hexdigest()[:24]


def _scalar_text(value: Any, limit: int, r: bool = False) -> str:
    if type(value) is str:
        return repr(value[:limit]) if r else value[:limit]
    if type(value) is int and value.bit_length() > 2_000:
        return f"<int of {value.bit_length()} bits>"
    return repr(value) if r else str(value)


def _clean(value: Any, cfg: TrackerConfig, depth: int, budget: list[int]) -> Any:
    t = type(value)
    if value is None or t is bool:
        return value
    if t is int:
        # Beyond 64 bits a number is kept as text (the JSON column types disagree on them).
        return value if -_INT64 <= value < _INT64 else _scalar_text(value, 64)
    if t is float:
        return value if math.isfinite(value) else str(value)
    if t is str:
        return _take(value, cfg, budget)
    if t is dict or t is Pairs:
        out: dict[str, Any] = {}
        items = value.items() if t is dict else value
        for i, (k, v) in enumerate(items):
            if budget[0] <= 0:
                out["<truncated>"] = f"{len(value) - i} more items"
                break
            key = k if type(k) is str else bounded_text(k, 200)
            key = valid_unicode(key[:200])
            # By key name: the value goes whatever its type.
            out[key] = REDACTED if is_sensitive_key(key) else _clean(v, cfg, depth + 1, budget)
        return out
    if t is list:
        cleaned = []
        for i, v in enumerate(value):
            if budget[0] <= 0:
                cleaned.append(f"<{len(value) - i}+ more items>")
                break
            cleaned.append(_clean(v, cfg, depth + 1, budget))
        return cleaned
    if t is BytesHead:
        return f"<{value.size} bytes: {value.head!r}{'…' if value.size > len(value.head) else ''}>"
    if t is tuple or t is set or t is frozenset or t is bytes or t is bytearray:  # not from a snapshot
        return _clean(snapshot(value), cfg, depth, budget)
    return _take(bounded_text(value, 500), cfg, budget)


def _take(text: str, cfg: TrackerConfig, budget: list[int]) -> str:
    limit = max(0, budget[0])
    out = _bound(redactor_for(cfg)(valid_unicode(text[: limit * 2 + 64])), max(limit, 1))
    budget[0] -= len(out)
    return out


def _bound(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    marker = f"…[truncated {len(text) - limit} chars]"
    return text[: max(0, limit - len(marker))] + marker


def redact(text: str, cfg: TrackerConfig) -> str:
    return redactor_for(cfg)(text)


def valid_unicode(text: str) -> str:
    # Lone surrogates cannot be encoded as UTF-8 (SQLite and PostgreSQL reject them);
    # PostgreSQL also rejects NUL in text.
    if text.isascii():  # O(1) in CPython: ASCII text has no surrogates
        return text.replace("\x00", "\ufffd") if "\x00" in text else text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


# -- text of objects we do not know, with a time limit ----------------------------------
def bounded_text(value: Any, limit: int, *, use_str: bool = False) -> str:
    """``repr(value)`` (``str`` with ``use_str``), at most ``limit`` characters, without
    waiting more than ``REPR_TIMEOUT_S`` for code of the agent's (see the module doc)."""
    t = type(value)
    if t is str:
        return value[:limit]
    if t is int or t is bool or t is float:
        return _scalar_text(value, limit)
    if t is BytesHead:
        return f"<{value.size} bytes: {value.head!r}{'…' if value.size > len(value.head) else ''}>"
    if t is bytes or t is bytearray:
        return bounded_text(BytesHead(len(value), bytes(value[:64])), limit)
    if t is Pairs or t is dict or t is list or t is tuple or t is set or t is frozenset:
        from studio_analytics.db.rows import json_text

        return (json_text(_clean(snapshot(value), _PLAIN, 0, [limit])) or "")[:limit]
    if t in _TRUSTED:
        return (str(value) if use_str else repr(value))[:limit]
    if t.__repr__ is object.__repr__ and (not use_str or t.__str__ is object.__str__):
        return f"<{t.__name__} object>"
    return _helpers.call(str if use_str else repr, value, t.__name__, "str" if use_str else "repr")[:limit]


class _Helpers:
    """One helper thread at a time runs foreign ``repr``/``str`` calls; a call that times
    out leaves its thread stuck and a new one is started, up to ``MAX_STUCK_HELPERS``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[Any] | None = None
        self.stuck = 0

    def call(self, fn: Callable[[Any], str], value: Any, name: str, what: str) -> str:
        with self._lock:
            if self.stuck >= MAX_STUCK_HELPERS:
                return f"<{name} object>"
            jobs = self._jobs
            if jobs is None:
                jobs = self._jobs = queue.SimpleQueue()
                threading.Thread(target=self._run, args=(jobs,), name="studio-analytics-repr", daemon=True).start()
        box: list[Any] = []
        done = threading.Event()
        jobs.put((fn, value, box, done))
        if not done.wait(REPR_TIMEOUT_S):
            with self._lock:
                if self._jobs is jobs:
                    self._jobs = None  # the next call starts a fresh thread
                    self.stuck += 1
                    jobs.put(None)  # once the stuck call returns, the thread stops
            return f"<{name}: {what} timed out>"
        result = box[0] if box else None
        if type(result) is str:
            return result
        failure = type(result).__name__ if isinstance(result, BaseException) else "not a str"
        return f"<{name} ({what} failed: {failure})>"

    def _run(self, jobs: queue.SimpleQueue[Any]) -> None:
        while True:
            job = jobs.get()
            if job is None:
                if self._jobs is not jobs:  # this thread was given up on: it is free again
                    with self._lock:
                        self.stuck = max(0, self.stuck - 1)
                return
            fn, value, box, done = job
            try:
                result = fn(value)
                box.append(result if type(result) is str else None)
            except Exception as e:  # noqa: BLE001 - the agent's broken __repr__
                box.append(e)
            finally:
                done.set()
            del fn, value, box, done, job


_helpers = _Helpers()
_PLAIN = TrackerConfig(db_url="sqlite://", redact_defaults=False)
