"""The one time zone the window shows times in: the computer's local time, named."""

from __future__ import annotations

from datetime import datetime


def zone_name() -> str:
    """The zone every time in the window is shown in: the computer's local time, as the
    tables show it ("CET", "UTC", or an offset where the system has no name)."""
    return datetime.now().astimezone().strftime("%Z") or datetime.now().astimezone().strftime("UTC%z")


def with_zone(label: str) -> str:
    """A column title that says its zone: "Started (UTC)"."""
    return f"{label} ({zone_name()})"
