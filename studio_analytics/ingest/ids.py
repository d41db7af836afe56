"""Row ids of ingested spans: derived from (trace id, span id) alone, so a span sent twice
maps to the same row (inserts skip ids already present) and a row's ``parent_id`` is
computed from its parent's span id without looking anything up."""

from __future__ import annotations

from hashlib import blake2b

_VERSION_MASK = ~(0xF << 76) & ~(0x3 << 62) & (2**128 - 1)
#: RFC 9562 version 8 (custom) and the RFC variant: valid UUIDs that say they are derived
_VERSION_BITS = (0x8 << 76) | (0x2 << 62)


#: The keyed hash's start, copied for each id (half the cost of setting it up each time).
_HASH = blake2b(digest_size=16, person=b"studio-otel-row")


def row_id(trace_id: int, span_id: int) -> int:
    """The 128-bit id (a UUID as an int) of the row for this span: a keyed BLAKE2b hash of
    the trace id's 16 bytes and the span id's 8 (big-endian), with the UUID's version and
    variant bits set."""
    h = _HASH.copy()
    h.update(((trace_id << 64) | span_id).to_bytes(24, "big"))
    return (int.from_bytes(h.digest(), "big") & _VERSION_MASK) | _VERSION_BITS
