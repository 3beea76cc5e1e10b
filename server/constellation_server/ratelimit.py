"""Token buckets per client (API key hash, or IP when anonymous): the 429 of service.md §3.

Each client gets ``burst`` tokens that refill at ``rate`` per second; a request takes one.
Buckets of clients not seen for a while are dropped, so memory stays bounded however many
addresses knock.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

#: At most this many clients are tracked; the least recently seen are forgotten first.
MAX_CLIENTS = 10_000


class RateLimiter:
    """``take(client)`` → 0 when allowed, else the whole seconds to wait (for Retry-After)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate limit needs rate > 0 and burst ≥ 1, got {rate} and {burst}")
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._max = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str) -> int:
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = max(1, math.ceil((1.0 - tokens) / self.rate))
            self._buckets[client] = (tokens, now)
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
            return wait
