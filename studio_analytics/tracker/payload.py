"""Make what agents hand us safe to store: bounded, JSON-clean, secrets redacted.

Runs in the writer thread for strings (immutable, so deferring is safe) and at span exit
for JSON payloads (the agent may mutate its dict afterwards). Never raises.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from studio_analytics.tracker.settings import REDACTED, TrackerConfig

_MAX_DEPTH = 20
_MAX_ITEMS = 1_000


def clean_text(value: Any, cfg: TrackerConfig) -> str | None:
    if value is None:
        return None
    try:
        text = value if isinstance(value, str) else _safe_repr(value, cfg.max_payload_chars)
        return _bound(_redact(valid_unicode(text[: cfg.max_payload_chars * 2]), cfg), cfg.max_payload_chars)
    except Exception:  # noqa: BLE001 - a payload must never break tracking
        return "<unrepresentable>"


def clean_json(value: Any, cfg: TrackerConfig) -> Any:
    """A JSON-serialisable copy of ``value`` with every string bounded and redacted.

    The whole value is also bounded: once ``max_payload_chars`` characters of strings
    have been kept, the rest is replaced by a marker.
    """
    budget = [cfg.max_payload_chars]
    try:
        return _clean(value, cfg, 0, set(), budget)
    except Exception:  # noqa: BLE001
        return "<unrepresentable>"


def anonymize(user_id: str | None, cfg: TrackerConfig) -> str | None:
    if user_id is None or not cfg.anonymize_users:
        return user_id
    digest = hashlib.sha256((cfg.user_salt + "\x00" + str(user_id)).encode("utf-8", "surrogatepass"))
    return "u_" + digest.hexdigest()[:24]


def _clean(value: Any, cfg: TrackerConfig, depth: int, seen: set[int], budget: list[int]) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _take(value, cfg, budget)
    if depth >= _MAX_DEPTH:
        return "<max depth>"
    if isinstance(value, dict | list | tuple | set | frozenset):
        ident = id(value)
        if ident in seen:
            return "<cycle>"
        seen.add(ident)
        try:
            if isinstance(value, dict):
                out: dict[str, Any] = {}
                for i, (k, v) in enumerate(value.items()):
                    if i >= _MAX_ITEMS or budget[0] <= 0:
                        out["<truncated>"] = f"{len(value) - i} more items"
                        break
                    key = k if isinstance(k, str) else _safe_repr(k, 200)
                    out[valid_unicode(key)[:200]] = _clean(v, cfg, depth + 1, seen, budget)
                return out
            items = list(value)[: _MAX_ITEMS + 1]
            cleaned = []
            for i, v in enumerate(items):
                if i >= _MAX_ITEMS or budget[0] <= 0:
                    cleaned.append(f"<{len(items) - i}+ more items>")
                    break
                cleaned.append(_clean(v, cfg, depth + 1, seen, budget))
            return cleaned
        finally:
            seen.discard(ident)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value[:64])
        return f"<{len(value)} bytes: {raw!r}{'…' if len(value) > 64 else ''}>"
    return _take(_safe_repr(value, 500), cfg, budget)


def _take(text: str, cfg: TrackerConfig, budget: list[int]) -> str:
    limit = max(0, budget[0])
    out = _bound(_redact(valid_unicode(text[: limit * 2 + 64]), cfg), max(limit, 1))
    budget[0] -= len(out)
    return out


def _bound(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    marker = f"…[truncated {len(text) - limit} chars]"
    return text[: max(0, limit - len(marker))] + marker


def _redact(text: str, cfg: TrackerConfig) -> str:
    for pattern in cfg.redact:
        text = pattern.sub(REDACTED, text)
    return text


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


def _safe_repr(value: Any, limit: int) -> str:
    try:
        text = repr(value)
    except Exception as e:  # noqa: BLE001 - a broken __repr__ is the agent's, not ours
        text = f"<{type(value).__name__} (repr failed: {type(e).__name__})>"
    return text[:limit]
