"""Per-tenant request rate limits: a token bucket per tenant, sized by its :class:`Quotas`.

Each tenant has a bucket of ``quotas.bucket_size`` tokens that refills at
``quotas.requests_per_second`` tokens per second; a request takes one token
(or ``cost``). An empty bucket refuses the request with
:class:`~babelrag.control.errors.QuotaExceeded` whose ``retry_after_s`` says
when enough tokens will be back; the gateway turns it into
RESOURCE_EXHAUSTED with that hint. A tenant whose rate is 0 is not limited.

The quotas are passed with every call rather than looked up by the limiter:
the gateway already has them from :meth:`TenantRegistry.authenticate
<babelrag.control.registry.TenantRegistry.authenticate>` (``Principal.quotas``),
a quota change takes effect on the next request without any cache to
invalidate, and a shared (Redis) limiter needs no access to the registry.

:class:`InMemoryRateLimiter` limits one gateway process. With N replicas
behind a load balancer each admits up to the full rate, so a tenant may get
up to N times its quota; a Redis implementation of :class:`RateLimiter`
(one bucket per tenant, refilled and taken in one Lua script) fixes that.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from babelrag.control.errors import InvalidArgument, QuotaExceeded
from babelrag.control.registry import Quotas

__all__ = ["RateLimiter", "InMemoryRateLimiter"]


@runtime_checkable
class RateLimiter(Protocol):
    """Admits or refuses a tenant's requests. Async so that a networked backend fits."""

    async def check(self, tenant: str, quotas: Quotas, *, cost: float = 1.0) -> None:
        """Take ``cost`` tokens from the tenant's bucket, or raise QuotaExceeded and take none.

        ``retry_after_s`` is the wait until the same call would succeed, or
        None when it never can (``cost`` larger than the whole bucket).
        """
        ...

    async def forget(self, tenant: str) -> None:
        """Drop the tenant's bucket (the tenant was deleted); a later request starts full."""
        ...


@dataclasses.dataclass
class _Bucket:
    tokens: float
    updated: float
    rate: float
    capacity: float


class InMemoryRateLimiter:
    """Token buckets in this process's memory; thread-safe and non-blocking.

    ``clock`` returns seconds from any fixed origin and must not go backwards
    (``time.monotonic``; tests pass a fake). Buckets that have refilled
    completely are indistinguishable from absent ones and are dropped every
    ``sweep_every`` calls, so memory stays bounded by the tenants active in the
    last few ``burst / rate`` seconds.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, sweep_every: int = 1024) -> None:
        if sweep_every < 1:
            raise ValueError("sweep_every must be at least 1")
        self._clock = clock
        self._sweep_every = sweep_every
        self._buckets: dict[str, _Bucket] = {}
        self._calls = 0
        self._lock = threading.Lock()

    async def check(self, tenant: str, quotas: Quotas, *, cost: float = 1.0) -> None:
        self.acquire(tenant, quotas, cost=cost)

    async def forget(self, tenant: str) -> None:
        self.discard(tenant)

    def acquire(self, tenant: str, quotas: Quotas, *, cost: float = 1.0) -> None:
        """Synchronous :meth:`check` (it never blocks: no I/O, a short critical section)."""
        if not isinstance(quotas, Quotas):
            raise InvalidArgument(f"quotas must be a Quotas, not {type(quotas).__name__}")
        if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not math.isfinite(cost) or cost <= 0:
            raise InvalidArgument(f"cost must be a finite number > 0, not {cost!r}")
        if not quotas.rate_limited:
            self.discard(tenant)
            return
        rate, capacity = quotas.requests_per_second, quotas.bucket_size
        if cost > capacity:
            raise QuotaExceeded(
                f"a request costing {cost:g} can never fit tenant {tenant!r}'s burst of {capacity:g}",
                resource="requests",
                retry_after_s=None,
            )
        with self._lock:
            now = self._clock()
            self._calls += 1
            if self._calls % self._sweep_every == 0:
                self._sweep(now)
            bucket = self._buckets.get(tenant)
            if bucket is None:
                bucket = self._buckets[tenant] = _Bucket(tokens=capacity, updated=now, rate=rate, capacity=capacity)
            elif bucket.rate != rate or bucket.capacity != capacity:
                # Quotas changed: keep what is left, within the new size.
                bucket.rate, bucket.capacity = rate, capacity
                bucket.tokens = min(bucket.tokens, capacity)
            bucket.tokens = min(bucket.capacity, bucket.tokens + max(0.0, now - bucket.updated) * bucket.rate)
            bucket.updated = max(bucket.updated, now)
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return
            retry_after = (cost - bucket.tokens) / bucket.rate
        raise QuotaExceeded(
            f"tenant {tenant!r} is over its rate limit of {rate:g} requests per second (burst {capacity:g})",
            resource="requests",
            retry_after_s=retry_after,
        )

    def discard(self, tenant: str) -> None:
        with self._lock:
            self._buckets.pop(tenant, None)

    def __len__(self) -> int:
        """How many buckets are held (for metrics and tests)."""
        with self._lock:
            return len(self._buckets)

    def _sweep(self, now: float) -> None:
        full = [
            tenant
            for tenant, bucket in self._buckets.items()
            if bucket.tokens + max(0.0, now - bucket.updated) * bucket.rate >= bucket.capacity
        ]
        for tenant in full:
            del self._buckets[tenant]
