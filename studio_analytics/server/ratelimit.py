"""Per-client rate limiting: a token bucket per client address.

Each address may make ``per_minute`` requests a minute, and spend a minute's worth at
once; the bucket refills continuously. A refused request learns in ``Retry-After`` when
its next one will be taken. Addresses are the TCP peer's (``X-Forwarded-For`` is not
trusted: any client could set it). At most ``max_clients`` buckets are kept; when more
clients come, the least recently seen bucket is forgotten (a full bucket is the same as
none).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

MAX_CLIENTS = 10_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(self, per_minute: float, *, max_clients: int = MAX_CLIENTS) -> None:
        self.rate = per_minute / 60.0  # tokens a second
        self.capacity = max(1.0, per_minute)
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self.refused = 0

    def take(self, client: str, now: float | None = None) -> int:
        """0 when the request may go ahead, else the seconds to wait (at least 1)."""
        t = time.monotonic() if now is None else now
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = _Bucket(self.capacity, t)
            self._buckets[client] = bucket
            if len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(client)
            bucket.tokens = min(self.capacity, bucket.tokens + (t - bucket.at) * self.rate)
            bucket.at = t
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0
        self.refused += 1
        return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))
