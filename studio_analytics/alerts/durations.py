"""Durations as people write them in a rules file: ``90s``, ``15m``, ``1h30m``, ``2d``, ``1w``."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86_400, "w": 604_800}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|min|m|h|d|w)", re.IGNORECASE)


def parse_duration(value: object) -> int:
    """Seconds in ``value``: a number of seconds or a text such as ``15m``.

    Raises ValueError naming what was wrong."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; write e.g. \"15m\", \"1h\" or \"2d\"")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds, pos = 0.0, 0
        for match in _PART.finditer(value):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2).lower()]
            pos = match.end()
        if pos == 0 or value[pos:].strip():
            raise ValueError(f"{value!r} is not a duration; write e.g. \"15m\", \"1h30m\" or \"2d\"")
    else:
        raise ValueError(f"{value!r} is not a duration; write e.g. \"15m\", \"1h\" or \"2d\"")
    if seconds < 0 or seconds != seconds:
        raise ValueError(f"{value!r} is negative")
    return int(round(seconds))


def format_duration(seconds: int) -> str:
    """The exact text for ``seconds`` in the largest units (``5400`` → ``1h30m``)."""
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)
