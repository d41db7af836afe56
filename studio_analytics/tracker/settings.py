"""Tracker configuration: one frozen value, swapped whole by ``configure()``."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from studio_analytics.config import resolve_db_url, tracking_disabled

#: Secret shapes redacted by default: OpenAI/Anthropic-style keys, AWS access key ids,
#: GitHub and Slack tokens, Google API keys, bearer tokens, password=... pairs.
DEFAULT_REDACTIONS: tuple[str, ...] = (
    r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_\-]{16,}",
    r"\bAKIA[0-9A-Z]{16}\b",
    r"\bgh[pousr]_[A-Za-z0-9]{30,}\b",
    r"\bxox[abprs]-[A-Za-z0-9\-]{10,}",
    r"\bAIza[0-9A-Za-z_\-]{35}\b",
    r"(?i:\bbearer\s+[A-Za-z0-9._~+/\-]{16,}=*)",
    r"(?i:\b(?:api[_-]?key|secret|password|passwd|token)\s*[=:]\s*['\"]?[^\s'\",;]{6,})",
)
REDACTED = "[REDACTED]"


@dataclass(frozen=True)
class TrackerConfig:
    db_url: str
    enabled: bool = True
    capture_content: bool = True
    max_payload_chars: int = 16_384
    redact: tuple[re.Pattern[str], ...] = ()
    anonymize_users: bool = False
    user_salt: str = ""
    sample_rate: float = 1.0
    clock: Callable[[], int] | None = None
    max_queue: int = 100_000  # rows held in memory before new ones are dropped
    batch_size: int = 2_000
    flush_interval_s: float = 0.5
    exit_timeout_s: float = 2.0
    spool_path: str | None = None  # default: config.spool_path()
    compiled: dict[str, object] = field(default_factory=dict, compare=False)


def build_config(
    *,
    db_url: str | None = None,
    enabled: bool = True,
    capture_content: bool = True,
    max_payload_chars: int = 16_384,
    redact: Sequence[str | re.Pattern[str]] | None = None,
    redact_defaults: bool = True,
    anonymize_users: bool = False,
    user_salt: str = "",
    sample_rate: float = 1.0,
    clock: Callable[[], int] | None = None,
    max_queue: int = 100_000,
    batch_size: int = 2_000,
    flush_interval_s: float = 0.5,
    exit_timeout_s: float = 2.0,
    spool_path: str | None = None,
) -> TrackerConfig:
    # The defaults run as one alternation: one pass over each text instead of seven.
    patterns = [re.compile("|".join(f"(?:{p})" for p in DEFAULT_REDACTIONS))] if redact_defaults else []
    patterns += [p if isinstance(p, re.Pattern) else re.compile(p) for p in (redact or ())]
    return TrackerConfig(
        db_url=resolve_db_url(db_url),
        enabled=enabled and not tracking_disabled(),
        capture_content=capture_content,
        max_payload_chars=max(16, int(max_payload_chars)),
        redact=tuple(patterns),
        anonymize_users=anonymize_users,
        user_salt=user_salt,
        sample_rate=min(1.0, max(0.0, float(sample_rate))),
        clock=clock,
        max_queue=max(1, int(max_queue)),
        batch_size=max(1, int(batch_size)),
        flush_interval_s=float(flush_interval_s),
        exit_timeout_s=float(exit_timeout_s),
        spool_path=spool_path,
    )
