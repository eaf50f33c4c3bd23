"""A byte-bounded LRU of search signals' candidate lists, keyed by table version.

A hybrid search runs one store query per signal (BM25, each query vector) and fuses the lists
(:mod:`babelrag.store.fusion`). The same signal recurs across searches that differ only in how
the lists are fused: another ``alpha``, keyword-only or vector-only after hybrid, the next page
of the same query. On an embedded store each signal query costs milliseconds of CPU whatever
the table's size (LanceDB: about 6 ms on 2 cores even for a few hundred rows), so re-running it
is most of such a search's time.

Entries are keyed by what determines a signal's candidates exactly: the tenant, the handle's
generation and the table version (any write makes a new version, so an entry is never read
after a write), the query (segmented text, or target column and vector bytes), the number of
candidates, the filter and the columns read. Values are immutable (a tuple of ``(id, score)``
and an Arrow table), so a hit shares them without copying. Keys always carry the tenant:
nothing cached for one tenant can answer another's search.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Hashable
from dataclasses import dataclass

import pyarrow as pa

__all__ = ["CachedSignal", "SignalCache"]

_PER_CANDIDATE_BYTES = 120  # a (str id, float) pair in a tuple, roughly


@dataclass(frozen=True, slots=True)
class CachedSignal:
    candidates: tuple[tuple[str, float], ...]
    rows: pa.Table | None

    @property
    def nbytes(self) -> int:
        return len(self.candidates) * _PER_CANDIDATE_BYTES + (self.rows.nbytes if self.rows is not None else 0)


class SignalCache:
    """Thread-safe LRU holding at most ``max_bytes`` of candidates and rows (0 disables it).

    ``hits`` and ``misses`` count lookups (for tests and benchmarks).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._bytes = 0
        self._items: collections.OrderedDict[Hashable, CachedSignal] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> CachedSignal | None:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: CachedSignal) -> None:
        size = value.nbytes
        if size > self.max_bytes:
            return  # also covers a disabled cache (max_bytes 0)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._items[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= evicted.nbytes

    def forget(self, tenant: str) -> None:
        """Drop every entry of ``tenant`` (keys start with the tenant name): frees its memory
        when the tenant is deleted or stops being served."""
        with self._lock:
            for key in [k for k in self._items if isinstance(k, tuple) and k and k[0] == tenant]:
                self._bytes -= self._items.pop(key).nbytes

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)
