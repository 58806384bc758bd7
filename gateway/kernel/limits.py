"""Rate limits: how much of something a source may do at once and per second.

One ``TokenBucket`` per device (condition changes), per operator (commands), per client address
(console logins), per connection (answers to a bad peer); ``KeyedBuckets`` keeps one per key.
A bucket holds ``burst`` tokens and gains ``per_second`` of them each second; an action that
costs more than is there is refused and leaves the bucket as it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable


class TokenBucket:
    def __init__(self, burst: float, per_second: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.per_second = per_second
        self._clock = clock
        self._tokens = burst
        self._at = clock()

    def take(self, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if there are that many (a cost over ``burst`` needs a full
        bucket and leaves it in debt, so even an oversized batch gets through at the rate)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_second)
        self._at = now
        if self._tokens < min(cost, self.burst):
            return False
        self._tokens -= cost
        return True

    @property
    def full(self) -> bool:
        now = self._clock()
        return self._tokens + (now - self._at) * self.per_second >= self.burst


class KeyedBuckets:
    """A bucket per key, made on first use; with ``max_keys``, forgotten all at once past it
    (keys an outsider chooses, such as client addresses, must not grow without bound)."""

    def __init__(self, burst: float, per_second: float, max_keys: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.per_second = per_second
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: dict[Hashable, TokenBucket] = {}

    def take(self, key: Hashable, cost: float = 1.0) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            if self._max_keys is not None and len(self._buckets) >= self._max_keys:
                self._buckets.clear()
            bucket = self._buckets[key] = TokenBucket(self.burst, self.per_second, self._clock)
        return bucket.take(cost)
