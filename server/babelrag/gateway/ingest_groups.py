"""Group commit for the Ingest stream: consecutive items are handed on in groups.

The servicer's reader puts each complete item into a :class:`GroupQueue` as it arrives; the
handler takes :meth:`GroupQueue.next_group` and ingests the group together (shared embedding
batches, one store commit). A group is what has arrived by the time the previous one is done,
bounded by item count and bytes; if fewer items than the bound are waiting, it waits at most
``max_wait_s`` after its first item for more, so a slow stream is acknowledged promptly and a fast
one fills its groups while the previous group is being embedded and written.

The queue also applies backpressure to the reader: it holds at most one group's worth of items
(or a single item of any size), so a client cannot make the gateway buffer an unbounded stream.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupQueue(Generic[T]):
    """A bounded FIFO of received items with an end marker (see the module docstring)."""

    def __init__(self, *, max_items: int, max_bytes: int, max_wait_s: float, size_of: Callable[[T], int]) -> None:
        if max_items < 1 or max_bytes < 1 or max_wait_s < 0:
            raise ValueError("max_items and max_bytes must be at least 1, max_wait_s not negative")
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.max_wait_s = max_wait_s
        self._size_of = size_of
        self._items: collections.deque[T] = collections.deque()
        self._bytes = 0
        self._ended = False
        self._changed = asyncio.Condition()

    async def put(self, item: T) -> None:
        """Append ``item``; waits while a full group is already buffered."""
        async with self._changed:
            await self._changed.wait_for(lambda: not self._items or self._room_for(item))
            self._items.append(item)
            self._bytes += self._size_of(item)
            self._changed.notify_all()

    async def end(self) -> None:
        """No more items will come (the stream ended or broke)."""
        async with self._changed:
            self._ended = True
            self._changed.notify_all()

    async def next_group(self) -> list[T]:
        """The next group, oldest first; empty once the queue has ended and is drained."""
        loop = asyncio.get_running_loop()
        async with self._changed:
            await self._changed.wait_for(lambda: self._items or self._ended)
            deadline = loop.time() + self.max_wait_s
            while not self._ended and not self._full():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    break
            group: list[T] = []
            size = 0
            while self._items and len(group) < self.max_items:
                item_size = self._size_of(self._items[0])
                if group and size + item_size > self.max_bytes:
                    break
                group.append(self._items.popleft())
                size += item_size
            self._bytes -= size
            self._changed.notify_all()
            return group

    def _room_for(self, item: T) -> bool:
        return len(self._items) < self.max_items and self._bytes + self._size_of(item) <= self.max_bytes

    def _full(self) -> bool:
        return len(self._items) >= self.max_items or self._bytes >= self.max_bytes
