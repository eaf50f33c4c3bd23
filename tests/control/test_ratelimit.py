"""The in-memory token bucket, driven by a fake clock."""

from __future__ import annotations

import threading

import pytest

from babelrag.control.errors import InvalidArgument, QuotaExceeded
from babelrag.control.ratelimit import InMemoryRateLimiter, RateLimiter
from babelrag.control.registry import Quotas

from .conftest import FakeClock


def _admitted(limiter: InMemoryRateLimiter, tenant: str, quotas: Quotas, attempts: int) -> int:
    ok = 0
    for _ in range(attempts):
        try:
            limiter.acquire(tenant, quotas)
            ok += 1
        except QuotaExceeded:
            pass
    return ok


def test_satisfies_the_protocol(clock: FakeClock) -> None:
    assert isinstance(InMemoryRateLimiter(clock=clock), RateLimiter)


def test_burst_then_refill(clock: FakeClock) -> None:
    limiter = InMemoryRateLimiter(clock=clock)
    quotas = Quotas(requests_per_second=2, burst=3)
    for _ in range(3):
        limiter.acquire("acme", quotas)
    with pytest.raises(QuotaExceeded) as info:
        limiter.acquire("acme", quotas)
    assert info.value.resource == "requests"
    assert info.value.retry_after_s == pytest.approx(0.5)
    assert "2 requests per second" in str(info.value)

    clock.advance(0.25)  # half a token: still refused, and the hint shrinks
    with pytest.raises(QuotaExceeded) as info:
        limiter.acquire("acme", quotas)
    assert info.value.retry_after_s == pytest.approx(0.25)

    clock.advance(0.25)  # one token back
    limiter.acquire("acme", quotas)
    with pytest.raises(QuotaExceeded):
        limiter.acquire("acme", quotas)

    clock.advance(60)  # refill stops at the burst size
    assert _admitted(limiter, "acme", quotas, 10) == 3


def test_refused_requests_take_no_tokens(clock: FakeClock) -> None:
    limiter = InMemoryRateLimiter(clock=clock)
    quotas = Quotas(requests_per_second=1, burst=1)
    limiter.acquire("acme", quotas)
    for _ in range(5):
        with pytest.raises(QuotaExceeded):
            limiter.acquire("acme", quotas)
    clock.advance(1.0)
    limiter.acquire("acme", quotas)


def test_tenants_have_separate_buckets(clock: FakeClock) -> None:
    limiter = InMemoryRateLimiter(clock=clock)
    quotas = Quotas(requests_per_second=1, burst=2)
    assert _admitted(limiter, "acme", quotas, 5) == 2
    assert _admitted(limiter, "other", quotas, 5) == 2


def test_unlimited_and_default_burst(clock: FakeClock) -> None:
    limiter = InMemoryRateLimiter(clock=clock)
    assert _admitted(limiter, "acme", Quotas(), 1000) == 1000
    assert _admitted(limiter, "acme", Quotas(burst=5), 1000) == 1000  # rate 0 = unlimited
    assert len(limiter) == 0
    assert _admitted(limiter, "acme", Quotas(requests_per_second=4), 10) == 4  # burst 0: one second's worth


def test_quota_changes_apply_at_once(clock: FakeClock) -> None:
    limiter = InMemoryRateLimiter(clock=clock)
    assert _admitted(limiter, "acme", Quotas(requests_per_second=1, burst=10), 4) == 4
    # Lowered burst: the 6 tokens left are capped at the new size.
    assert _admitted(limiter, "acme", Quotas(requests_per_second=1, burst=2), 10) == 2
    # Raised rate: refills faster.
    clock.advance(1.0)
    assert _admitted(limiter, "acme", Quotas(requests_per_second=10, burst=20), 30) == 10


def test_cost_larger_than_the_bucket_can_never_succeed(clock: FakeClock) -> None:
    limiter = InMemoryRateLimiter(clock=clock)
    with pytest.raises(QuotaExceeded) as info:
        limiter.acquire("acme", Quotas(requests_per_second=1, burst=2), cost=3)
    assert info.value.retry_after_s is None
    limiter.acquire("acme", Quotas(requests_per_second=1, burst=2), cost=2)
    with pytest.raises(InvalidArgument):
        limiter.acquire("acme", Quotas(requests_per_second=1), cost=0)


def test_full_buckets_are_swept_and_forgotten(clock: FakeClock) -> None:
    limiter = InMemoryRateLimiter(clock=clock, sweep_every=4)
    quotas = Quotas(requests_per_second=1, burst=1)
    for name in ("t-a", "t-b", "t-c"):
        limiter.acquire(name, quotas)
    assert len(limiter) == 3
    clock.advance(5)  # all refilled
    limiter.acquire("t-d", quotas)  # 4th call sweeps
    assert len(limiter) == 1
    limiter.discard("t-d")
    assert len(limiter) == 0


async def test_async_check_and_forget(clock: FakeClock) -> None:
    limiter = InMemoryRateLimiter(clock=clock)
    quotas = Quotas(requests_per_second=1, burst=1)
    await limiter.check("acme", quotas)
    with pytest.raises(QuotaExceeded):
        await limiter.check("acme", quotas)
    await limiter.forget("acme")
    await limiter.check("acme", quotas)  # a forgotten tenant starts full


def test_threads_never_get_more_than_the_burst(clock: FakeClock) -> None:
    limiter = InMemoryRateLimiter(clock=clock)
    quotas = Quotas(requests_per_second=1, burst=25)
    admitted = [0] * 8
    start = threading.Barrier(8)

    def worker(i: int) -> None:
        start.wait()
        admitted[i] = _admitted(limiter, "acme", quotas, 10)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sum(admitted) == 25
