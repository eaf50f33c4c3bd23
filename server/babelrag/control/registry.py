"""The :class:`TenantRegistry` protocol, its value types, and the rules every backend shares.

The registry is the control plane's source of truth: which tenants exist, their
state and quotas, how much storage each uses, their API keys (hashed), and a
per-tenant ``data_version`` that retrieval caches key on.

:class:`~babelrag.control.sqlite_registry.SqliteTenantRegistry` implements it
on a file in the data directory, which is right for one gateway process (or a
few on one host). Replicas on several hosts need a shared backend (PostgreSQL,
Redis); such a backend implements this protocol, validates with the functions
below, and must give the same atomicity guarantees the method docstrings state.

The API is synchronous and thread-safe; async code (the gateway) calls it
through ``asyncio.to_thread``. Every method raises only the
:class:`~babelrag.control.errors.ControlError` family.

API keys
--------
A key reads ``brk_<key_id>_<secret>``: ``key_id`` is 12 characters from
``[a-z0-9]`` (public: it names the key in listings and logs), ``secret`` is 32
random bytes, url-safe base64 without padding (43 characters). Only
SHA-256(secret) is stored; see :func:`hash_secret` for why a fast hash is the
right choice here.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import math
import re
import secrets
import string
from datetime import datetime
from typing import Protocol, runtime_checkable

from babelrag.control.errors import InvalidKeyLabel, InvalidQuotas, InvalidTenantName, Unauthenticated

__all__ = [
    "TenantRegistry",
    "TenantState",
    "Quotas",
    "Usage",
    "Tenant",
    "ApiKey",
    "IssuedApiKey",
    "Principal",
    "TENANT_NAME_RE",
    "validate_tenant_name",
    "validate_key_label",
    "MAX_LABEL_CHARS",
    "API_KEY_PREFIX",
    "new_key_id",
    "new_secret",
    "format_api_key",
    "parse_api_key",
    "hash_secret",
]

#: Tenant names: lower-case so that two tenants never differ only by case (Weaviate
#: capitalises collection names; file systems may fold case), and a strict subset of
#: what :data:`babelrag.store.base.TENANT_NAME_RE` accepts, so every registered
#: tenant can be stored by every backend.
TENANT_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{2,62}$")
MAX_LABEL_CHARS = 200

API_KEY_PREFIX = "brk"
_KEY_ID_ALPHABET = string.ascii_lowercase + string.digits
_KEY_ID_CHARS = 12  # 36**12 ~ 2**62 ids: collisions are retried, never expected
_SECRET_BYTES = 32
_SECRET_CHARS = 43  # len(base64url(32 bytes)) without padding
_API_KEY_RE = re.compile(rf"^{API_KEY_PREFIX}_([a-z0-9]{{{_KEY_ID_CHARS}}})_([A-Za-z0-9_-]{{{_SECRET_CHARS}}})$")

_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1


def validate_tenant_name(name: object) -> str:
    """Return ``name`` if it is a valid tenant name, else raise InvalidTenantName."""
    if not isinstance(name, str) or not TENANT_NAME_RE.fullmatch(name):
        raise InvalidTenantName(
            f"invalid tenant name {name!r}: use 3 to 63 characters from lower-case letters, "
            "digits, '-' and '_', starting with a letter"
        )
    return name


def validate_key_label(label: object) -> str:
    """Return ``label`` if it is a usable API-key label (free text, may be empty), else raise."""
    if not isinstance(label, str):
        raise InvalidKeyLabel(f"an API-key label must be a string, not {type(label).__name__}")
    if len(label) > MAX_LABEL_CHARS:
        raise InvalidKeyLabel(f"an API-key label is at most {MAX_LABEL_CHARS} characters (got {len(label)})")
    if any(not ch.isprintable() for ch in label):
        raise InvalidKeyLabel("an API-key label may not contain control characters or line breaks")
    return label


class TenantState(enum.Enum):
    """ACTIVE: served. OFFLOADED: data kept (cold), not served, no writes accepted."""

    ACTIVE = "active"
    OFFLOADED = "offloaded"


@dataclasses.dataclass(frozen=True)
class Quotas:
    """Limits of one tenant; 0 means unlimited for every field.

    ``requests_per_second`` is the token bucket's refill rate and ``burst`` its
    size. A positive rate with ``burst == 0`` gets a bucket of one second's
    worth of requests (at least 1): "0 = unlimited" cannot sensibly apply to
    the burst of a limited rate. A rate of 0 disables rate limiting whatever
    ``burst`` says.
    """

    requests_per_second: float = 0.0
    burst: int = 0
    max_chunks: int = 0
    max_bytes: int = 0

    def __post_init__(self) -> None:
        rps = self.requests_per_second
        if isinstance(rps, bool) or not isinstance(rps, (int, float)) or not math.isfinite(rps) or rps < 0:
            raise InvalidQuotas(f"requests_per_second must be a finite number >= 0 (0 = unlimited), not {rps!r}")
        object.__setattr__(self, "requests_per_second", float(rps))
        for name, upper in (("burst", _INT32_MAX), ("max_chunks", _INT64_MAX), ("max_bytes", _INT64_MAX)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= upper:
                raise InvalidQuotas(f"{name} must be an integer from 0 (unlimited) to {upper}, not {value!r}")

    @property
    def rate_limited(self) -> bool:
        return self.requests_per_second > 0

    @property
    def bucket_size(self) -> float:
        """Tokens the bucket holds when full (meaningful only when :attr:`rate_limited`)."""
        if self.burst > 0:
            return float(self.burst)
        return float(max(1, math.ceil(self.requests_per_second)))


@dataclasses.dataclass(frozen=True)
class Usage:
    """What a tenant stores, as the gateway reported it through reserve/adjust calls."""

    chunks: int = 0
    bytes: int = 0
    documents: int = 0


@dataclasses.dataclass(frozen=True)
class Tenant:
    name: str
    state: TenantState
    quotas: Quotas
    usage: Usage
    created_at: datetime
    #: Opaque; strictly increases with every :meth:`TenantRegistry.bump_data_version`
    #: and is never reused, even by a later tenant of the same name.
    data_version: int


@dataclasses.dataclass(frozen=True)
class ApiKey:
    """An API key's public record; the secret is never part of it."""

    key_id: str
    tenant: str
    label: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclasses.dataclass(frozen=True)
class IssuedApiKey:
    """A newly issued key: its record and the full key string, shown to the caller once."""

    key: ApiKey
    #: ``brk_<key_id>_<secret>``; kept out of ``repr`` so it cannot end up in a log line.
    api_key: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who an API key authenticates: the tenant (with its state and quotas, read in the same
    lookup, so the gateway can refuse an offloaded tenant and rate-limit without a second query)."""

    tenant: str
    key_id: str
    state: TenantState
    quotas: Quotas


def new_key_id() -> str:
    return "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(_KEY_ID_CHARS))


def new_secret() -> str:
    return secrets.token_urlsafe(_SECRET_BYTES)


def format_api_key(key_id: str, secret: str) -> str:
    return f"{API_KEY_PREFIX}_{key_id}_{secret}"


def parse_api_key(raw_key: object) -> tuple[str, str]:
    """Split ``brk_<key_id>_<secret>`` into (key_id, secret); Unauthenticated if malformed.

    The key id is fixed-length and has no '_', so the secret (which may contain
    '_' and '-') is everything after the second separator.
    """
    if not isinstance(raw_key, str):
        raise Unauthenticated()
    match = _API_KEY_RE.fullmatch(raw_key)
    if match is None:
        raise Unauthenticated()
    return match.group(1), match.group(2)


def hash_secret(secret: str) -> bytes:
    """SHA-256 of the secret: what the registry stores instead of the key.

    A fast, unsalted hash is enough because the secret is 256 bits from
    :func:`secrets.token_urlsafe`, not something a person chose: with no
    dictionary to try, brute-forcing a leaked hash means searching 2**256
    inputs, which no salt or work factor could make meaningfully harder.
    Slow password hashes (bcrypt, scrypt, Argon2) exist to stretch
    *low-entropy* secrets; here they would only add milliseconds of CPU to
    every authenticated request. Each secret is unique, so a salt would not
    hide anything either.
    """
    return hashlib.sha256(secret.encode("ascii")).digest()


@runtime_checkable
class TenantRegistry(Protocol):
    """Tenants, their API keys, quotas, storage usage and data versions.

    **Names** follow :data:`TENANT_NAME_RE`, else InvalidTenantName; a call on
    a tenant that is not registered raises TenantNotFound.

    **Atomicity**: every method is atomic, also against other processes using
    the same backend (several gateway replicas). In particular
    :meth:`reserve_storage` checks and updates usage in one step, so
    concurrent writers can never together exceed a quota.

    **Errors**: only the ControlError family. A transient backend failure is
    RegistryUnavailable (retry), any other backend failure RegistryError.
    """

    # -- tenants -----------------------------------------------------------
    def create_tenant(self, name: str, quotas: Quotas | None = None) -> Tenant:
        """Register a new ACTIVE tenant with zero usage and ``quotas`` (None: all unlimited).
        Raises TenantExists, InvalidTenantName."""
        ...

    def get_tenant(self, name: str) -> Tenant:
        """The tenant's current record. Raises TenantNotFound."""
        ...

    def list_tenants(self) -> list[Tenant]:
        """All tenants, sorted by name."""
        ...

    def delete_tenant(self, name: str) -> int:
        """Unregister the tenant and delete all its API keys; return how many unrevoked keys it had.

        The keys stop authenticating when this returns. Raises TenantNotFound.
        """
        ...

    def set_state(self, name: str, state: TenantState) -> Tenant:
        """Record the tenant's state (the caller has already (de)activated its storage)."""
        ...

    def set_quotas(self, name: str, quotas: Quotas) -> Tenant:
        """Replace the tenant's quotas. Lowering a storage quota below current usage is
        allowed: nothing is deleted, further reservations fail until usage drops."""
        ...

    # -- API keys ----------------------------------------------------------
    def issue_key(self, tenant: str, label: str = "") -> IssuedApiKey:
        """Create a key for the tenant; the returned ``api_key`` is the only copy of the secret."""
        ...

    def list_keys(self, tenant: str) -> list[ApiKey]:
        """The tenant's keys, revoked ones included, oldest first; never their secrets."""
        ...

    def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke a key; it stops authenticating at once. Idempotent (a revoked key keeps its
        first ``revoked_at``). Raises KeyNotFound."""
        ...

    def authenticate(self, raw_key: str) -> Principal:
        """Who ``raw_key`` belongs to. Raises Unauthenticated, with the same message, for a
        malformed, unknown or revoked key or a wrong secret. The secret is compared in
        constant time (:func:`hmac.compare_digest`). Does not look at the tenant's state:
        the caller decides what an OFFLOADED tenant may do (``Principal.state``)."""
        ...

    # -- storage accounting --------------------------------------------------
    def reserve_storage(self, tenant: str, *, chunks: int, bytes: int, documents: int = 0) -> Usage:
        """Atomically check the tenant's storage quotas and add the deltas to its usage.

        Call it *before* writing, with the write's net effect: for a new
        document its chunk and byte counts (and ``documents=1``); for a
        re-ingested document, new minus old (negative where it shrinks, and
        ``documents=0``). A dimension that grows must stay within its quota
        (0 = unlimited) after the change, else QuotaExceeded (``retry_after_s``
        None) and nothing changes; a dimension that shrinks is always
        accepted, even when the tenant is over a lowered quota. If the write
        then fails, undo with :meth:`release_storage` and the same numbers.

        Raises TenantOffloaded for an OFFLOADED tenant (it accepts no writes).
        Returns the usage after the change.
        """
        ...

    def release_storage(self, tenant: str, *, chunks: int, bytes: int, documents: int = 0) -> Usage:
        """Undo a :meth:`reserve_storage` made with the same numbers (the write failed)."""
        ...

    def adjust_usage(
        self, tenant: str, *, delta_chunks: int = 0, delta_bytes: int = 0, delta_documents: int = 0
    ) -> Usage:
        """Add the deltas to the tenant's usage without checking quotas (after deletes, or to
        record what a write actually stored when it differs from what was reserved).

        Usage never goes below zero: a dimension that would is clamped at 0 (and
        a backend should log it: it means accounting drifted from the store).
        Works on OFFLOADED tenants too. Returns the usage after the change.
        """
        ...

    def set_usage(self, tenant: str, usage: Usage) -> Usage:
        """Overwrite the usage with counts taken from the data store (reconciliation, e.g. after
        a crash between a reservation and its write)."""
        ...

    # -- cache invalidation ------------------------------------------------------
    def bump_data_version(self, tenant: str) -> int:
        """Record that the tenant's data changed; return its new data version.

        Versions strictly increase per tenant and are never reused, not even
        after the tenant is deleted and created again, so ``(tenant,
        data_version)`` is a safe cache key.
        """
        ...

    def data_version(self, tenant: str) -> int:
        """The tenant's current data version. Raises TenantNotFound."""
        ...

    def close(self) -> None:
        """Release the backend's connections. The registry is unusable afterwards."""
        ...
