"""Per-document footprint (chunks, bytes) of each tenant, in SQLite beside the control plane.

The control plane counts a tenant's usage as totals; replacing or deleting one document needs that
document's own previous footprint to compute the net change, which this ledger keeps. It is
written after the store write succeeds; if the process dies in between, the next write of the
document recomputes from what the ledger has (a bounded over-count, never an under-count).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    tenant TEXT NOT NULL,
    document_id TEXT NOT NULL,
    chunks INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (tenant, document_id)
)
"""


class DocumentLedger:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute(_SCHEMA)

    def footprint(self, tenant: str, document_id: str) -> tuple[int, int]:
        with self._lock:
            row = self._connection.execute(
                "SELECT chunks, bytes FROM documents WHERE tenant = ? AND document_id = ?", (tenant, document_id)
            ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def footprints(self, tenant: str, document_ids: list[str]) -> dict[str, tuple[int, int]]:
        """Footprints of several documents ((0, 0) for unknown ones), read under one lock."""
        found: dict[str, tuple[int, int]] = {}
        with self._lock:
            for start in range(0, len(document_ids), 500):
                part = document_ids[start : start + 500]
                rows = self._connection.execute(
                    f"SELECT document_id, chunks, bytes FROM documents WHERE tenant = ? AND document_id IN ({', '.join('?' * len(part))})",
                    (tenant, *part),
                ).fetchall()
                found.update({row[0]: (int(row[1]), int(row[2])) for row in rows})
        return {document_id: found.get(document_id, (0, 0)) for document_id in document_ids}

    def record(self, tenant: str, document_id: str, chunks: int, size: int) -> None:
        self.record_many(tenant, [(document_id, chunks, size)])

    def record_many(self, tenant: str, rows: list[tuple[str, int, int]]) -> None:
        """Record (document id, chunks, bytes) of documents written together, in one transaction."""
        with self._lock:
            self._connection.execute("BEGIN")
            try:
                self._connection.executemany(
                    "INSERT INTO documents (tenant, document_id, chunks, bytes) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (tenant, document_id) DO UPDATE SET chunks = excluded.chunks, bytes = excluded.bytes, "
                    "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                    [(tenant, document_id, chunks, size) for document_id, chunks, size in rows],
                )
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def forget(self, tenant: str, document_id: str) -> tuple[int, int]:
        with self._lock:
            row = self._connection.execute(
                "DELETE FROM documents WHERE tenant = ? AND document_id = ? RETURNING chunks, bytes", (tenant, document_id)
            ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def forget_tenant(self, tenant: str) -> None:
        with self._lock:
            self._connection.execute("DELETE FROM documents WHERE tenant = ?", (tenant,))

    def close(self) -> None:
        with self._lock:
            self._connection.close()
