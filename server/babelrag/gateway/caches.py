"""In-process LRU caches for query embeddings and retrievals.

Retrieval results are keyed by ``(tenant, tenant data version, query, options)``: any write to a
tenant bumps its data version, so stale entries are never read again (they age out of the LRU),
and a key always carries its tenant, so no entry can be served to another tenant. Embeddings of a
query text do not depend on the tenant (same model, same text), so they are shared.
A later control plane shared by many replicas can put the same keys in Redis.
"""

from __future__ import annotations

import collections
import hashlib
import threading
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class LruCache(Generic[V]):
    def __init__(self, capacity: int, name: str, metrics=None) -> None:  # noqa: ANN001
        self.capacity = capacity
        self.name = name
        self._metrics = metrics
        self._items: collections.OrderedDict[Hashable, V] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
        if self._metrics is not None:
            self._metrics.cache_events.labels(self.name, "hit" if value is not None else "miss").inc()
        return value

    def put(self, key: Hashable, value: V) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()
