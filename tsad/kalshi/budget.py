"""Client-side token buckets that pace requests under Kalshi's read and write rate limits (§4.1).

Kalshi bills every request in *tokens* (10 by default; batch cancel 2 per order, batch
create 10 per order; ``GET /account/endpoint_costs`` lists the exceptions) against two
buckets per account, Read and Write, refilled continuously at the tier's rate. This module
keeps two smaller, slower buckets locally so we wait well before the exchange would answer 429.

Why smaller and slower, not an exact mirror: our bucket is debited when a request *leaves*,
the exchange's when it *arrives*. If requests taken out of our bucket within any window
arrive up to D seconds later, the exchange sees at most ``C_ours + r_ours * (window + D)``
tokens in that window, against its ``C_exchange + r_exchange * window``. That holds for every
window when ``C_exchange - C_ours >= r_ours * D`` and ``r_ours <= r_exchange``. An exact
mirror (or one paced at 95 % with the full burst) has no room for any D > 0, so a burst of
re-prices drew 429s. With `CAPACITY_SHARE` and `RATE_SHARE` below, the Basic write bucket
(100 tokens/s, 1 s) tolerates ≈ 0.22 s of delivery skew, and the slower refill adds more
room the longer the burst lasts.

Why not asyncio-throttle: its ``Throttler(rate_limit, period)`` counts *requests* (one slot
per ``acquire``) and cannot charge a request several tokens, nor be drained after a 429; a
batch of 25 cancels must cost 50 tokens at once. So this is a small exact token bucket:
FIFO (one lock), refilled from an injected monotonic clock, sleeping through an injected
``sleep`` so tests need no real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

from tsad.clock import SystemClock
from tsad.core.clock import Clock
from tsad.errors import ConfigError
from tsad.kalshi.payloads import AccountLimits, BucketLimit, EndpointCosts


__all__ = [
    "BATCH_CANCEL_COST",
    "BATCH_CREATE_COST",
    "CAPACITY_SHARE",
    "DEFAULT_COST",
    "RATE_SHARE",
    "TIER_LIMITS",
    "BucketKind",
    "Budget",
    "Tier",
    "TierLimits",
    "TokenBucket",
    "request_cost",
]

BucketKind = Literal["read", "write"]

DEFAULT_COST: Final = 10
"""Tokens per request unless the endpoint is priced otherwise."""
BATCH_CANCEL_COST: Final = 2
"""Tokens per order of a V2 batch cancel."""
BATCH_CREATE_COST: Final = 10
"""Tokens per order of a V2 batch create."""

_WRITE_PREFIXES: Final = (
    "/portfolio/events/orders",
    "/portfolio/orders",  # legacy V1 writes (only GETs are reads there)
    "/portfolio/order_groups",
)


class Tier(StrEnum):
    """Kalshi API usage tiers."""

    BASIC = "basic"
    ADVANCED = "advanced"
    EXPERT = "expert"
    PREMIER = "premier"
    PARAGON = "paragon"
    PRIME = "prime"
    PRESTIGE = "prestige"


@dataclass(frozen=True, slots=True, kw_only=True)
class TierLimits:
    """The read and write buckets of one tier."""

    read: BucketLimit
    write: BucketLimit


def _limits(read: int, read_seconds: int, write: int, write_seconds: int) -> TierLimits:
    return TierLimits(
        read=BucketLimit(refill_rate=read, bucket_capacity=read * read_seconds),
        write=BucketLimit(refill_rate=write, bucket_capacity=write * write_seconds),
    )


TIER_LIMITS: Final[dict[Tier, TierLimits]] = {
    # tokens/s as of 2026-08-19; Basic & Advanced Read and all Write above Basic hold 2 s,
    # Read above Advanced and the Basic Write bucket hold 1 s (kalshi-api.md §4.1).
    Tier.BASIC: _limits(200, 2, 100, 1),
    Tier.ADVANCED: _limits(300, 2, 300, 2),
    Tier.EXPERT: _limits(600, 1, 600, 2),
    Tier.PREMIER: _limits(1000, 1, 1000, 2),
    Tier.PARAGON: _limits(2000, 1, 2000, 2),
    Tier.PRIME: _limits(4000, 1, 4000, 2),
    Tier.PRESTIGE: _limits(10000, 1, 8000, 2),
}


def request_cost(method: str, path: str, *, items: int = 1) -> tuple[BucketKind, int]:
    """Return which bucket a request bills and how many tokens it costs.

    Args:
        method: HTTP method.
        path: the path relative to ``/trade-api/v2`` (``/portfolio/events/orders``).
        items: the number of orders in a batch request.

    Returns:
        ``("write", tokens)`` for order writes, ``("read", tokens)`` otherwise.
    """
    method = method.upper()
    if method == "GET" or not path.startswith(_WRITE_PREFIXES):
        return "read", DEFAULT_COST
    if path.endswith("/batched"):
        per = BATCH_CANCEL_COST if method == "DELETE" else BATCH_CREATE_COST
        return "write", per * max(items, 1)
    return "write", DEFAULT_COST


RATE_SHARE: Final = 0.9
"""Share of the exchange's refill rate our buckets refill at."""
CAPACITY_SHARE: Final = 0.8
"""Share of the exchange's bucket capacity our buckets hold (the burst we allow ourselves)."""


def _path_matches(pattern: str, path: str) -> bool:
    """Match an endpoint path from ``/account/endpoint_costs`` (``{x}`` = one segment)."""
    pattern = pattern.removeprefix("/trade-api/v2")
    want, got = pattern.strip("/").split("/"), path.strip("/").split("/")
    return len(want) == len(got) and all(
        w == g or (w.startswith("{") and w.endswith("}")) for w, g in zip(want, got, strict=True))


class TokenBucket:
    """One exact token bucket: ``rate`` tokens/s, at most ``capacity`` tokens.

    Starts full. Waiters are served first-come first-served.
    """

    def __init__(
        self,
        rate: float,
        capacity: float,
        *,
        clock: Clock,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0 or capacity <= 0:
            raise ConfigError(f"token bucket needs rate and capacity > 0 (got {rate}, {capacity})")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._stamp = clock.monotonic()
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate:g}, capacity={self.capacity:g})"

    def _refill(self) -> None:
        now = self._clock.monotonic()
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)

    @property
    def available(self) -> float:
        """Tokens available right now."""
        self._refill()
        return self._tokens

    async def acquire(self, tokens: int) -> None:
        """Wait until ``tokens`` are available and take them.

        Raises:
            ValueError: ``tokens`` exceeds the capacity (the exchange would reject it whole).
        """
        if tokens > self.capacity:
            raise ValueError(f"{tokens} tokens never fit a bucket of {self.capacity:g}")
        async with self._lock:
            while True:
                self._refill()
                if self._tokens >= tokens:
                    self._tokens -= tokens
                    return
                await self._sleep((tokens - self._tokens) / self.rate)

    def resize(self, rate: float, capacity: float) -> None:
        """Change the rate and capacity, keeping the tokens held (at most the new capacity)."""
        if rate <= 0 or capacity <= 0:
            raise ConfigError(f"token bucket needs rate and capacity > 0 (got {rate}, {capacity})")
        self._refill()
        self.rate, self.capacity = float(rate), float(capacity)
        self._tokens = min(self._tokens, self.capacity)

    def drain(self) -> None:
        """Empty the bucket (after a 429: the exchange's bucket is empty, so is ours)."""
        self._refill()
        self._tokens = 0.0


class Budget:
    """The read and write buckets of one account.

    Example::

        budget = Budget(Tier.BASIC)
        await budget.acquire("write", 10)
    """

    def __init__(
        self,
        tier: Tier | str = Tier.BASIC,
        *,
        limits: TierLimits | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rate_share: float = RATE_SHARE,
        capacity_share: float = CAPACITY_SHARE,
    ) -> None:
        try:
            self.tier = Tier(str(tier).lower())
        except ValueError:
            names = ", ".join(t.value for t in Tier)
            raise ConfigError(f"exchange.tier: unknown tier {tier!r} (one of {names})") from None
        if not (0 < rate_share <= 1 and 0 < capacity_share <= 1):
            raise ConfigError(f"budget shares must be in (0, 1] (got {rate_share}, "
                              f"{capacity_share})")
        lim = limits or TIER_LIMITS[self.tier]
        clk = clock or SystemClock()
        self.limits = lim
        self._shares = (rate_share, capacity_share)
        self.costs: EndpointCosts | None = None
        self.read = TokenBucket(lim.read.refill_rate * rate_share,
                                lim.read.bucket_capacity * capacity_share, clock=clk, sleep=sleep)
        self.write = TokenBucket(lim.write.refill_rate * rate_share,
                                 lim.write.bucket_capacity * capacity_share, clock=clk,
                                 sleep=sleep)

    @classmethod
    def from_account_limits(
        cls,
        limits: AccountLimits,
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> Budget:
        """Size the buckets from ``GET /account/limits`` (authoritative over the tier table)."""
        tier = limits.usage_tier.lower()
        return cls(
            tier if tier in {t.value for t in Tier} else Tier.BASIC,
            limits=TierLimits(read=limits.read, write=limits.write),
            clock=clock,
            sleep=sleep,
        )

    def __repr__(self) -> str:
        return f"Budget(tier={self.tier.value}, read={self.read!r}, write={self.write!r})"

    def bucket(self, kind: BucketKind) -> TokenBucket:
        """Return the bucket named ``kind``."""
        return self.write if kind == "write" else self.read

    async def acquire(self, kind: BucketKind, tokens: int = DEFAULT_COST) -> None:
        """Wait for and take ``tokens`` from the ``kind`` bucket."""
        await self.bucket(kind).acquire(tokens)

    def drain(self, kind: BucketKind) -> None:
        """Empty the ``kind`` bucket after the exchange answered 429."""
        self.bucket(kind).drain()

    def max_batch(self, per_item: int) -> int:
        """Return the most orders one batch write may carry so its cost fits the write bucket."""
        return max(1, int(self.write.capacity) // max(per_item, 1))

    def use_limits(self, limits: AccountLimits) -> None:
        """Resize both buckets to ``GET /account/limits`` (authoritative over the tier table)."""
        rate_share, capacity_share = self._shares
        self.limits = TierLimits(read=limits.read, write=limits.write)
        for bucket, lim in ((self.read, limits.read), (self.write, limits.write)):
            bucket.resize(lim.refill_rate * rate_share, lim.bucket_capacity * capacity_share)

    def use_costs(self, costs: EndpointCosts) -> None:
        """Price requests from ``GET /account/endpoint_costs`` from now on."""
        self.costs = costs

    def cost(self, method: str, path: str, *, items: int = 1) -> tuple[BucketKind, int]:
        """Return the bucket a request bills and its tokens, from the exchange's cost table.

        Without a table (or for an endpoint it does not list) this is `request_cost`.
        Costs of ``/batched`` endpoints are per order.
        """
        kind, tokens = request_cost(method, path, items=items)
        if self.costs is None:
            return kind, tokens
        per = self.costs.default_cost
        for e in self.costs.endpoints:
            if e.method == method.upper() and _path_matches(e.path, path):
                per = e.cost
                break
        n = max(items, 1) if path.endswith("/batched") else 1
        return kind, per * n
