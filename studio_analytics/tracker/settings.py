"""Tracker configuration: one frozen value, swapped whole by ``configure()``."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from studio_analytics.config import resolve_db_url, tracking_disabled

# What is redacted (by key name and by value shape) is defined in tracker/redaction.py;
# ``redact`` holds the configuration's own extra patterns.
REDACTED = "[REDACTED]"


@dataclass(frozen=True)
class TrackerConfig:
    db_url: str
    enabled: bool = True
    capture_content: bool = True
    max_payload_chars: int = 16_384
    redact: tuple[re.Pattern[str], ...] = ()  # extra patterns, after the built-in rules
    redact_defaults: bool = True  # the built-in rules (redaction.py) apply
    anonymize_users: bool = False
    user_salt: str = ""
    sample_rate: float = 1.0
    clock: Callable[[], int] | None = None
    max_queue: int = 100_000  # rows held in memory before new ones are dropped
    batch_size: int = 2_000
    flush_interval_s: float = 0.5
    exit_timeout_s: float = 2.0
    write_timeout_s: float = 10.0  # the longest one database write may take before it is spooled
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
    write_timeout_s: float = 10.0,
    spool_path: str | None = None,
) -> TrackerConfig:
    # The built-in rules are compiled at first use, in the writer thread (redaction.redactor_for).
    patterns = [p if isinstance(p, re.Pattern) else re.compile(p) for p in (redact or ())]
    return TrackerConfig(
        db_url=resolve_db_url(db_url),
        enabled=enabled and not tracking_disabled(),
        capture_content=capture_content,
        max_payload_chars=max(16, int(max_payload_chars)),
        redact=tuple(patterns),
        redact_defaults=bool(redact_defaults),
        anonymize_users=anonymize_users,
        user_salt=user_salt,
        sample_rate=min(1.0, max(0.0, float(sample_rate))),
        clock=clock,
        max_queue=max(1, int(max_queue)),
        batch_size=max(1, int(batch_size)),
        flush_interval_s=float(flush_interval_s),
        exit_timeout_s=float(exit_timeout_s),
        write_timeout_s=max(0.1, float(write_timeout_s)),
        spool_path=spool_path,
    )
