"""The shape of an error message: what stays when its varying details are folded.

In the database layer because the writer rolls failures up by signature
(``rollup_error_hourly``); the Errors tab groups raw rows the same way.
"""

from __future__ import annotations

import re

#: a signature is a key column of the error rollups (String(255))
MAX_SIGNATURE = 255
NO_MESSAGE = "(no message)"

_FOLDS = (
    (re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), "<id>"),
    (re.compile(r"\bhttps?://[^\s'\"),]+"), "<url>"),
    (re.compile(r"'[^']*'"), "'<v>'"),
    (re.compile(r'"[^"]*"'), '"<v>"'),
    (re.compile(r"\b(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"\b\d+(?:\.\d+)?\b"), "<n>"),
)


def error_signature(message: str | None) -> str:
    """Numbers, ids, hex, quoted values and URLs of the first line replaced by
    placeholders, at most :data:`MAX_SIGNATURE` characters (so the error rollups keep a
    bounded number of keys however many distinct texts there are)."""
    if not message or not message.strip():
        return NO_MESSAGE
    text = message.strip().splitlines()[0][:500]
    for pattern, placeholder in _FOLDS:
        text = pattern.sub(placeholder, text)
    return text[:MAX_SIGNATURE]


def error_example(message: str | None) -> str:
    """What a group shows as its example: the message itself ("(no message)" for none)."""
    return message if message else NO_MESSAGE


__all__ = ["MAX_SIGNATURE", "NO_MESSAGE", "error_example", "error_signature"]
