"""Bodies kept for pollers, so the same request again costs one cheap query.

An entry is keyed by (path, normalised parameters) and stamped with the data version it
was computed at (:meth:`~studio_analytics.server.queries.QueryRunner.data_version`). It is
served while the version is unchanged; an entry of a range that ends "now" is also
dropped after ``max_age_s``, the ``Cache-Control: max-age`` the clients get, so no one
sees a range older than that, and is computed again in the background a little before,
so its pollers do not wait. Bounded by count and bytes (least recently used out first).
Identical requests that miss at once share one computation.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

#: A body of a range ending "now" is computed again in the background once it is this
#: share of max-age old.
REFRESH_AHEAD = 0.6

@dataclass(frozen=True)
class Body:
    content: bytes
    etag: str
    status: int = 200
    media_type: str = "application/json"


def make_body(content: bytes, status: int = 200, media_type: str = "application/json") -> Body:
    return Body(content, f'"{hashlib.sha256(content).hexdigest()[:32]}"', status, media_type)


@dataclass
class _Entry:
    body: Body
    version: str
    born: float
    moving: bool  # the range ends "now"


class ResponseCache:
    def __init__(self, *, max_entries: int, max_bytes: int, max_age_s: float) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._bytes = 0
        self._pending: dict[tuple[Hashable, str], asyncio.Future[Body]] = {}
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0

    def _entry(self, key: Hashable, version: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.version != version or (entry.moving and time.monotonic() - entry.born >= self.max_age_s):
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def get(self, key: Hashable, version: str) -> Body | None:
        entry = self._entry(key, version)
        return entry.body if entry is not None else None

    async def fetch(self, key: Hashable, version: str, moving: bool,
                    compute: Callable[[], Awaitable[Body]]) -> Body:
        """The cached body, or ``compute()``'s (kept when it is a 200)."""
        if not self.enabled:
            self.misses += 1
            return await compute()
        entry = self._entry(key, version)
        if entry is not None:
            self.hits += 1
            if (entry.moving and time.monotonic() - entry.born >= REFRESH_AHEAD * self.max_age_s
                    and (key, version) not in self._pending):
                # Computed again before it expires, so pollers of "the last N days"
                # never wait for it (and never get it older than max-age).
                self._start(key, version, moving, compute)
            return entry.body
        self.misses += 1
        pending = self._pending.get((key, version)) or self._start(key, version, moving, compute)
        # shield: a client that goes away does not cancel what others wait for.
        return await asyncio.shield(pending)

    def _start(self, key: Hashable, version: str, moving: bool,
               compute: Callable[[], Awaitable[Body]]) -> asyncio.Future[Body]:
        async def compute_and_keep() -> Body:
            started = time.monotonic()  # its "now": max-age counts from here
            body = await compute()
            if body.status == 200:
                self._put(key, _Entry(body, version, started, moving))
            return body

        task = asyncio.ensure_future(compute_and_keep())
        self._pending[(key, version)] = task

        def done(t: asyncio.Future[Body]) -> None:
            self._pending.pop((key, version), None)
            if not t.cancelled():
                t.exception()  # retrieved: the requests waiting for it got it; a refresh ahead has none

        task.add_done_callback(done)
        return task

    def _put(self, key: Hashable, entry: _Entry) -> None:
        size = len(entry.body.content)
        if size > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = entry
        self._bytes += size
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key)
        self._bytes -= len(entry.body.content)
