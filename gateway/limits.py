"""Rate limits: how much of something a source may do at once and per second.

One ``TokenBucket`` per device (condition changes), per operator (commands), per connection
(answers to a bad peer). A bucket holds ``burst`` tokens and gains ``per_second`` of them each
second; an action that costs more than is there is refused and leaves the bucket as it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable


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
