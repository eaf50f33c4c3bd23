"""A :class:`~babelrag.control.registry.TenantRegistry` in one SQLite file (``<data>/control.sqlite3``).

Design:

* **One connection, one lock.** Every call takes a process-wide lock and uses
  a single connection opened with ``check_same_thread=False``. Each call is a
  handful of indexed statements (microseconds), so serialising them inside one
  process costs nothing measurable, and it avoids what a connection per
  thread brings: connections left open by worker threads that exit, and
  writers of the same process waiting on each other through SQLite's busy
  handler instead of a fair lock.
* **Other processes** on the same file (a second gateway on the same host, a
  CLI) are kept consistent by SQLite itself: WAL mode (readers never block
  the writer), and every read-modify-write runs in ``BEGIN IMMEDIATE``, which
  takes the write lock *before* reading, so two processes cannot both read
  the old usage and both pass the quota check. ``busy_timeout`` makes a
  writer wait for the lock instead of failing at once; if it still cannot get
  it, the call raises RegistryUnavailable. Replicas on several hosts need a
  networked backend (the file must not live on NFS, where SQLite locking is
  unreliable).
* **Migrations**: ``schema_migrations`` records which numbered migrations
  have run; :meth:`SqliteTenantRegistry.__init__` applies the missing ones in
  one transaction, so opening is idempotent and two processes opening a new
  file at once do not both migrate it. A file from a newer version is refused.
* **Durability**: ``synchronous=FULL``: a committed key, revocation or
  reservation survives a power loss, not only a process crash. Control-plane
  writes are rare next to the data-plane work around them.
* Only parameterised queries; ``sqlite3`` exceptions are translated in one
  place, :func:`_translate_errors`.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from babelrag.control.errors import (
    ControlError,
    InvalidArgument,
    InvalidQuotas,
    KeyNotFound,
    QuotaExceeded,
    RegistryError,
    RegistryUnavailable,
    TenantExists,
    TenantNotFound,
    TenantOffloaded,
    Unauthenticated,
)
from babelrag.control.registry import (
    ApiKey,
    IssuedApiKey,
    Principal,
    Quotas,
    Tenant,
    TenantState,
    Usage,
    format_api_key,
    hash_secret,
    new_key_id,
    new_secret,
    parse_api_key,
    validate_key_label,
    validate_tenant_name,
)

__all__ = ["SqliteTenantRegistry", "FILE_NAME", "SCHEMA_VERSION"]

log = logging.getLogger("babelrag.control")

FILE_NAME = "control.sqlite3"
_INT64_MAX = 2**63 - 1
_KEY_ID_ATTEMPTS = 5
#: Compared against when a key id is unknown, so that path also runs compare_digest.
_NO_SUCH_KEY_DIGEST = bytes(32)

# Numbered migrations: (version, description, statements). Append only; never edit one that shipped.
_MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "tenants, api keys, data-version counter",
        (
            """
            CREATE TABLE tenants (
                name TEXT PRIMARY KEY,
                state TEXT NOT NULL CHECK (state IN ('active', 'offloaded')),
                requests_per_second REAL NOT NULL DEFAULT 0 CHECK (requests_per_second >= 0),
                burst INTEGER NOT NULL DEFAULT 0 CHECK (burst >= 0),
                max_chunks INTEGER NOT NULL DEFAULT 0 CHECK (max_chunks >= 0),
                max_bytes INTEGER NOT NULL DEFAULT 0 CHECK (max_bytes >= 0),
                used_chunks INTEGER NOT NULL DEFAULT 0 CHECK (used_chunks >= 0),
                used_bytes INTEGER NOT NULL DEFAULT 0 CHECK (used_bytes >= 0),
                used_documents INTEGER NOT NULL DEFAULT 0 CHECK (used_documents >= 0),
                data_version INTEGER NOT NULL,
                created_at_us INTEGER NOT NULL
            )
            """,
            """
            CREATE TABLE api_keys (
                key_id TEXT PRIMARY KEY,
                tenant TEXT NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
                label TEXT NOT NULL,
                secret_sha256 BLOB NOT NULL CHECK (length(secret_sha256) = 32),
                created_at_us INTEGER NOT NULL,
                revoked_at_us INTEGER
            )
            """,
            "CREATE INDEX api_keys_by_tenant ON api_keys (tenant, created_at_us)",
            # One global counter: data versions come from it, so they are never reused.
            "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
            "INSERT INTO counters (name, value) VALUES ('data_version', 0)",
        ),
    ),
)
SCHEMA_VERSION = _MIGRATIONS[-1][0]

_TENANT_COLUMNS = (
    "name, state, requests_per_second, burst, max_chunks, max_bytes, "
    "used_chunks, used_bytes, used_documents, data_version, created_at_us"
)
_KEY_COLUMNS = "key_id, tenant, label, created_at_us, revoked_at_us"


def _now_us() -> int:
    return time.time_ns() // 1000


def _to_datetime(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc)


def _check_count(name: str, value: object, *, signed: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name} must be an integer, not {type(value).__name__}")
    if abs(value) > _INT64_MAX or (not signed and value < 0):
        bound = "a 64-bit integer" if signed else "an integer from 0 to 2**63-1"
        raise InvalidArgument(f"{name} must be {bound}, not {value}")
    return value


_BUSY_CODES = {getattr(sqlite3, "SQLITE_BUSY", 5), getattr(sqlite3, "SQLITE_LOCKED", 6)}
_TRANSIENT_CODES = _BUSY_CODES | {getattr(sqlite3, "SQLITE_IOERR", 10), getattr(sqlite3, "SQLITE_FULL", 13)}


@contextlib.contextmanager
def _translate_errors() -> Iterator[None]:
    """The one place where ``sqlite3`` errors become ControlErrors."""
    try:
        yield
    except ControlError:
        raise
    except sqlite3.ProgrammingError as exc:  # e.g. use after close()
        raise RegistryError(f"the tenant registry cannot be used: {exc}") from exc
    except sqlite3.Error as exc:
        primary = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        text = str(exc).lower()
        if primary in _TRANSIENT_CODES or "locked" in text or "busy" in text:
            raise RegistryUnavailable(f"the tenant registry database is busy or failing: {exc}") from exc
        raise RegistryError(f"the tenant registry database failed: {exc}") from exc


class SqliteTenantRegistry:
    """The SQLite :class:`~babelrag.control.registry.TenantRegistry`. See the module docstring."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RegistryError(f"cannot create the directory of the tenant registry {self.path}: {exc}") from exc
        with _translate_errors():
            conn = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
            try:
                conn.row_factory = sqlite3.Row
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    log.warning("SQLite refused WAL mode for %s; continuing with journal_mode=%s", self.path, mode)
                conn.execute("PRAGMA foreign_keys=ON")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
                _migrate(conn, self.path)
            except BaseException:
                conn.close()
                raise
        self._conn: sqlite3.Connection | None = conn

    @classmethod
    def in_data_dir(cls, data_dir: str | os.PathLike[str], **kwargs: float) -> SqliteTenantRegistry:
        """The registry of a data directory: ``<data>/control.sqlite3``."""
        return cls(Path(data_dir) / FILE_NAME, **kwargs)

    # -- plumbing -----------------------------------------------------------
    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for a read of one or more statements."""
        with self._lock, _translate_errors():
            conn = self._connection()
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding SQLite's write lock from its first statement."""
        with self._lock, _translate_errors():
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RegistryError("the tenant registry is closed")
        return self._conn

    @staticmethod
    def _tenant_row(conn: sqlite3.Connection, name: str) -> sqlite3.Row:
        row = conn.execute(f"SELECT {_TENANT_COLUMNS} FROM tenants WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise TenantNotFound(name)
        return row

    # -- tenants --------------------------------------------------------------
    def create_tenant(self, name: str, quotas: Quotas | None = None) -> Tenant:
        validate_tenant_name(name)
        quotas = _check_quotas(Quotas() if quotas is None else quotas)
        with self._write() as conn:
            version = _next_data_version(conn)
            try:
                conn.execute(
                    "INSERT INTO tenants (name, state, requests_per_second, burst, max_chunks, max_bytes,"
                    " data_version, created_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        TenantState.ACTIVE.value,
                        quotas.requests_per_second,
                        quotas.burst,
                        quotas.max_chunks,
                        quotas.max_bytes,
                        version,
                        _now_us(),
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise TenantExists(name) from exc
            return _tenant(self._tenant_row(conn, name))

    def get_tenant(self, name: str) -> Tenant:
        validate_tenant_name(name)
        with self._read() as conn:
            return _tenant(self._tenant_row(conn, name))

    def list_tenants(self) -> list[Tenant]:
        with self._read() as conn:
            rows = conn.execute(f"SELECT {_TENANT_COLUMNS} FROM tenants ORDER BY name").fetchall()
        return [_tenant(row) for row in rows]

    def delete_tenant(self, name: str) -> int:
        validate_tenant_name(name)
        with self._write() as conn:
            self._tenant_row(conn, name)
            live_keys = conn.execute(
                "SELECT count(*) FROM api_keys WHERE tenant = ? AND revoked_at_us IS NULL", (name,)
            ).fetchone()[0]
            # Explicit, not only ON DELETE CASCADE: keys must go even if a connection
            # somewhere was opened without PRAGMA foreign_keys.
            conn.execute("DELETE FROM api_keys WHERE tenant = ?", (name,))
            conn.execute("DELETE FROM tenants WHERE name = ?", (name,))
        log.info("tenant %s deleted (%d live API keys removed)", name, live_keys)
        return int(live_keys)

    def set_state(self, name: str, state: TenantState) -> Tenant:
        validate_tenant_name(name)
        if not isinstance(state, TenantState):
            raise InvalidArgument(f"state must be ACTIVE or OFFLOADED, not {state!r}")
        with self._write() as conn:
            self._tenant_row(conn, name)
            conn.execute("UPDATE tenants SET state = ? WHERE name = ?", (state.value, name))
            return _tenant(self._tenant_row(conn, name))

    def set_quotas(self, name: str, quotas: Quotas) -> Tenant:
        validate_tenant_name(name)
        _check_quotas(quotas)
        with self._write() as conn:
            self._tenant_row(conn, name)
            conn.execute(
                "UPDATE tenants SET requests_per_second = ?, burst = ?, max_chunks = ?, max_bytes = ? WHERE name = ?",
                (quotas.requests_per_second, quotas.burst, quotas.max_chunks, quotas.max_bytes, name),
            )
            return _tenant(self._tenant_row(conn, name))

    # -- API keys ---------------------------------------------------------------
    def issue_key(self, tenant: str, label: str = "") -> IssuedApiKey:
        validate_tenant_name(tenant)
        validate_key_label(label)
        secret = new_secret()
        digest = hash_secret(secret)
        created_us = _now_us()
        with self._write() as conn:
            self._tenant_row(conn, tenant)
            for _ in range(_KEY_ID_ATTEMPTS):
                key_id = new_key_id()
                try:
                    conn.execute(
                        "INSERT INTO api_keys (key_id, tenant, label, secret_sha256, created_at_us)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (key_id, tenant, label, digest, created_us),
                    )
                    break
                except sqlite3.IntegrityError:  # key id taken (about 1 in 2**62 per key)
                    continue
            else:
                raise RegistryError(f"could not find a free API key id in {_KEY_ID_ATTEMPTS} attempts")
        key = ApiKey(key_id=key_id, tenant=tenant, label=label, created_at=_to_datetime(created_us))
        log.info("API key %s issued for tenant %s", key_id, tenant)
        return IssuedApiKey(key=key, api_key=format_api_key(key_id, secret))

    def list_keys(self, tenant: str) -> list[ApiKey]:
        validate_tenant_name(tenant)
        with self._read() as conn:
            self._tenant_row(conn, tenant)
            rows = conn.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE tenant = ? ORDER BY created_at_us, key_id", (tenant,)
            ).fetchall()
        return [_api_key(row) for row in rows]

    def revoke_key(self, key_id: str) -> ApiKey:
        if not isinstance(key_id, str) or not key_id:
            raise InvalidArgument("key_id must be a non-empty string")
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE api_keys SET revoked_at_us = coalesce(revoked_at_us, ?) WHERE key_id = ?",
                (_now_us(), key_id),
            )
            if cursor.rowcount == 0:
                raise KeyNotFound(key_id)
            row = conn.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
        log.info("API key %s revoked", key_id)
        return _api_key(row)

    def authenticate(self, raw_key: str) -> Principal:
        key_id, secret = parse_api_key(raw_key)
        digest = hash_secret(secret)
        with self._read() as conn:
            row = conn.execute(
                "SELECT k.secret_sha256, k.revoked_at_us, t.name, t.state, t.requests_per_second, t.burst,"
                " t.max_chunks, t.max_bytes FROM api_keys AS k JOIN tenants AS t ON t.name = k.tenant"
                " WHERE k.key_id = ?",
                (key_id,),
            ).fetchone()
        if row is None:
            hmac.compare_digest(digest, _NO_SUCH_KEY_DIGEST)  # same work as a known id
            raise Unauthenticated()
        matches = hmac.compare_digest(digest, bytes(row["secret_sha256"]))
        if not matches or row["revoked_at_us"] is not None:
            raise Unauthenticated()
        return Principal(tenant=row["name"], key_id=key_id, state=TenantState(row["state"]), quotas=_quotas(row))

    # -- storage accounting ---------------------------------------------------------
    def reserve_storage(self, tenant: str, *, chunks: int, bytes: int, documents: int = 0) -> Usage:  # noqa: A002
        validate_tenant_name(tenant)
        deltas = (
            _check_count("chunks", chunks, signed=True),
            _check_count("bytes", bytes, signed=True),
            _check_count("documents", documents, signed=True),
        )
        with self._write() as conn:
            row = self._tenant_row(conn, tenant)
            if row["state"] != TenantState.ACTIVE.value:
                raise TenantOffloaded(tenant)
            for resource, delta in zip(("chunks", "bytes"), deltas[:2], strict=True):
                used, limit = row[f"used_{resource}"], row[f"max_{resource}"]
                if delta > 0 and limit > 0 and used + delta > limit:
                    raise QuotaExceeded(
                        f"tenant {tenant!r} would store {used + delta} {resource}, over its quota of {limit}"
                        f" (it stores {used} now); delete documents or ask for a larger quota",
                        resource=resource,
                    )
            return _apply_deltas(conn, row, deltas)

    def release_storage(self, tenant: str, *, chunks: int, bytes: int, documents: int = 0) -> Usage:  # noqa: A002
        _check_count("chunks", chunks, signed=True)
        _check_count("bytes", bytes, signed=True)
        _check_count("documents", documents, signed=True)
        return self.adjust_usage(tenant, delta_chunks=-chunks, delta_bytes=-bytes, delta_documents=-documents)

    def adjust_usage(
        self, tenant: str, *, delta_chunks: int = 0, delta_bytes: int = 0, delta_documents: int = 0
    ) -> Usage:
        validate_tenant_name(tenant)
        deltas = (
            _check_count("delta_chunks", delta_chunks, signed=True),
            _check_count("delta_bytes", delta_bytes, signed=True),
            _check_count("delta_documents", delta_documents, signed=True),
        )
        with self._write() as conn:
            return _apply_deltas(conn, self._tenant_row(conn, tenant), deltas)

    def set_usage(self, tenant: str, usage: Usage) -> Usage:
        validate_tenant_name(tenant)
        if not isinstance(usage, Usage):
            raise InvalidArgument(f"usage must be a Usage, not {type(usage).__name__}")
        values = (
            _check_count("chunks", usage.chunks, signed=False),
            _check_count("bytes", usage.bytes, signed=False),
            _check_count("documents", usage.documents, signed=False),
        )
        with self._write() as conn:
            self._tenant_row(conn, tenant)
            conn.execute(
                "UPDATE tenants SET used_chunks = ?, used_bytes = ?, used_documents = ? WHERE name = ?",
                (*values, tenant),
            )
        return Usage(*values)

    # -- cache invalidation -------------------------------------------------------------
    def bump_data_version(self, tenant: str) -> int:
        validate_tenant_name(tenant)
        with self._write() as conn:
            self._tenant_row(conn, tenant)
            version = _next_data_version(conn)
            conn.execute("UPDATE tenants SET data_version = ? WHERE name = ?", (version, tenant))
        return version

    def data_version(self, tenant: str) -> int:
        validate_tenant_name(tenant)
        with self._read() as conn:
            row = conn.execute("SELECT data_version FROM tenants WHERE name = ?", (tenant,)).fetchone()
        if row is None:
            raise TenantNotFound(tenant)
        return int(row[0])

    # -- lifecycle -------------------------------------------------------------------------
    def schema_versions(self) -> list[int]:
        """The migrations applied to this file, in order (for diagnostics and tests)."""
        with self._read() as conn:
            return [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> SqliteTenantRegistry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteTenantRegistry({str(self.path)!r})"


# -- helpers ---------------------------------------------------------------------------------
def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at_us INTEGER NOT NULL)"
        )
        current = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
        if current > SCHEMA_VERSION:
            raise RegistryError(
                f"{path} has schema version {current}, newer than this BabelRAG understands ({SCHEMA_VERSION});"
                " upgrade BabelRAG or restore a matching backup"
            )
        for version, description, statements in _MIGRATIONS:
            if version <= current:
                continue
            for statement in statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, description, applied_at_us) VALUES (?, ?, ?)",
                (version, description, _now_us()),
            )
            log.info("tenant registry %s: applied migration %d (%s)", path, version, description)
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _next_data_version(conn: sqlite3.Connection) -> int:
    conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'data_version'")
    return int(conn.execute("SELECT value FROM counters WHERE name = 'data_version'").fetchone()[0])


def _apply_deltas(conn: sqlite3.Connection, row: sqlite3.Row, deltas: tuple[int, int, int]) -> Usage:
    """Add the deltas to the row's usage, clamping each at 0 (and saying so in the log)."""
    names = ("chunks", "bytes", "documents")
    values = []
    for resource, delta in zip(names, deltas, strict=True):
        value = row[f"used_{resource}"] + delta
        if value < 0:
            log.warning(
                "tenant %s: %s usage would drop to %d; clamped at 0 (accounting drifted from the store;"
                " reconcile with set_usage)",
                row["name"],
                resource,
                value,
            )
            value = 0
        if value > _INT64_MAX:
            raise InvalidArgument(f"tenant {row['name']!r}: {resource} usage would overflow a 64-bit integer")
        values.append(value)
    conn.execute(
        "UPDATE tenants SET used_chunks = ?, used_bytes = ?, used_documents = ? WHERE name = ?",
        (*values, row["name"]),
    )
    return Usage(*values)


def _check_quotas(quotas: object) -> Quotas:
    if not isinstance(quotas, Quotas):
        raise InvalidQuotas(f"quotas must be a Quotas, not {type(quotas).__name__}")
    return quotas


def _quotas(row: sqlite3.Row) -> Quotas:
    return Quotas(
        requests_per_second=float(row["requests_per_second"]),
        burst=int(row["burst"]),
        max_chunks=int(row["max_chunks"]),
        max_bytes=int(row["max_bytes"]),
    )


def _tenant(row: sqlite3.Row) -> Tenant:
    return Tenant(
        name=row["name"],
        state=TenantState(row["state"]),
        quotas=_quotas(row),
        usage=Usage(chunks=int(row["used_chunks"]), bytes=int(row["used_bytes"]), documents=int(row["used_documents"])),
        created_at=_to_datetime(int(row["created_at_us"])),
        data_version=int(row["data_version"]),
    )


def _api_key(row: sqlite3.Row) -> ApiKey:
    revoked = row["revoked_at_us"]
    return ApiKey(
        key_id=row["key_id"],
        tenant=row["tenant"],
        label=row["label"],
        created_at=_to_datetime(int(row["created_at_us"])),
        revoked_at=None if revoked is None else _to_datetime(int(revoked)),
    )
