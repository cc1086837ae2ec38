"""Fairness: token buckets that throttle a flooding connection, then cut it off."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """`rate` actions (or units of some cost) per second on average, `burst` at once.

    `take()` answers how long the caller should wait before acting (0: go ahead), or
    None once it has been kept waiting without a break for more than `max_behind`
    seconds: a sender that never slows down, time to disconnect it.
    """

    def __init__(
        self,
        rate: float,
        burst: float,
        max_behind: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_behind = max_behind
        self._clock = clock
        self._tokens = burst
        self._last = clock()
        self._behind_since: float | None = None

    def take(self, cost: float = 1.0) -> float | None:
        """Spend `cost` tokens (one action, or an amount such as seconds of work)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= cost
        if self._tokens >= 0:
            self._behind_since = None
            return 0.0
        if self._behind_since is None:
            self._behind_since = now
        if now - self._behind_since > self.max_behind:
            return None
        return -self._tokens / self.rate

    def refund(self) -> None:
        """Give back the token of an action that was refused after all."""
        self._tokens += 1

    @property
    def full(self) -> bool:
        elapsed = self._clock() - self._last
        return self._tokens + elapsed * self.rate >= self.burst


class AddressLimiter:
    """One bucket per client address (room creation), forgetting addresses gone quiet."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def allow(self, address: str) -> bool:
        if self.per_minute <= 0:
            return True
        bucket = self._buckets.get(address)
        if bucket is None:
            if len(self._buckets) > 10_000:
                self._buckets = {a: b for a, b in self._buckets.items() if not b.full}
            bucket = TokenBucket(self.per_minute / 60, self.per_minute, clock=self._clock)
            self._buckets[address] = bucket
        if bucket.take() == 0.0:
            return True
        bucket.refund()  # a refused attempt costs nothing
        return False
