"""GroupQueue: how the Ingest stream's items are cut into groups (no server needed)."""

from __future__ import annotations

import asyncio
import time

import pytest

from babelrag.gateway.ingest_groups import GroupQueue


def queue(**kw) -> GroupQueue[bytes]:
    return GroupQueue(**{"max_items": 4, "max_bytes": 100, "max_wait_s": 0.05, "size_of": len, **kw})


def run(coroutine):  # noqa: ANN001, ANN201
    return asyncio.run(asyncio.wait_for(coroutine, 10))


def test_waiting_items_are_taken_together_up_to_the_item_bound():
    async def main():
        q = queue()
        for i in range(4):
            await q.put(bytes([i]))
        groups = [await q.next_group()]
        for i in range(4, 6):
            await q.put(bytes([i]))
        await q.end()
        while group := await q.next_group():
            groups.append(group)
        return groups

    assert run(main()) == [[b"\x00", b"\x01", b"\x02", b"\x03"], [b"\x04", b"\x05"]]


def test_the_byte_bound_closes_a_group_but_an_oversized_item_still_goes_alone():
    async def main():
        q = queue(max_items=10)
        await q.put(b"a" * 60)
        await q.end()
        first = await q.next_group()
        q2 = queue(max_items=10)
        await q2.put(b"a" * 150)  # bigger than the bound: accepted into an empty queue
        await q2.end()
        return first, await q2.next_group(), await q2.next_group()

    first, big, after = run(main())
    assert first == [b"a" * 60] and big == [b"a" * 150] and after == []


def test_a_lone_item_waits_at_most_max_wait():
    async def main():
        q = queue(max_wait_s=0.05)
        await q.put(b"x")
        started = time.perf_counter()
        group = await q.next_group()
        return group, time.perf_counter() - started

    group, waited = run(main())
    assert group == [b"x"] and 0.04 <= waited < 1.0


def test_an_item_arriving_within_the_wait_joins_the_group():
    async def main():
        q = queue(max_wait_s=0.5)

        async def later():
            await asyncio.sleep(0.05)
            await q.put(b"2")
            await q.end()

        await q.put(b"1")
        task = asyncio.create_task(later())
        group = await q.next_group()
        await task
        return group

    assert run(main()) == [b"1", b"2"]


def test_the_reader_waits_while_a_full_group_is_buffered():
    async def main():
        q = queue(max_items=2, max_wait_s=0)
        await q.put(b"1")
        await q.put(b"2")
        blocked = asyncio.create_task(q.put(b"3"))
        await asyncio.sleep(0.05)
        was_blocked = not blocked.done()
        first = await q.next_group()
        await blocked
        await q.end()
        return was_blocked, first, await q.next_group()

    assert run(main()) == (True, [b"1", b"2"], [b"3"])


def test_bounds_are_checked():
    with pytest.raises(ValueError):
        queue(max_items=0)
