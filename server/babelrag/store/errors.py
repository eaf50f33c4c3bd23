"""The exceptions of :mod:`babelrag.store`: one family, rooted at :class:`StoreError`.

::

    StoreError
    ├── InvalidArgument (also a ValueError)  a call's own arguments are wrong
    │   ├── InvalidTenantName                tenant name outside [A-Za-z0-9_-], 1-64 chars
    │   ├── InvalidFilter                    unknown filter field or a value of the wrong type
    │   └── InvalidQuery                     bad search request (dimension, NaN, limit, mode)
    ├── StoreConfigError                     store settings disagree with themselves or
    │                                        with what is on disk / on the server
    ├── TenantError                          carries ``.tenant``
    │   ├── TenantNotFound
    │   └── TenantInactive                   carries ``.status`` (INACTIVE, OFFLOADED, ...)
    ├── BackendUnavailable                   the backend cannot be reached (network, timeout)
    └── BackendError                         the backend failed in any other way

Problems with individual chunks passed to ``upsert`` are *not* exceptions: they
come back as :class:`babelrag.store.types.ItemError` values in the
:class:`~babelrag.store.types.UpsertResult`, so a batch never fails silently
and never fails wholesale because of one bad document.

Each backend translates its library's exceptions into this family in exactly
one place (``_translate_errors`` in each backend module); nothing from
``lancedb``, ``pyarrow`` or ``weaviate`` escapes the store API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from babelrag.store.types import TenantStatus

__all__ = [
    "StoreError",
    "InvalidArgument",
    "InvalidTenantName",
    "InvalidFilter",
    "InvalidQuery",
    "StoreConfigError",
    "TenantError",
    "TenantNotFound",
    "TenantInactive",
    "BackendUnavailable",
    "BackendError",
]


class StoreError(Exception):
    """Base class of every error raised by the storage layer."""


class InvalidArgument(StoreError, ValueError):
    """An argument of the call is invalid; retrying the same call cannot succeed."""


class InvalidTenantName(InvalidArgument):
    """A tenant name is empty, too long, or uses characters outside ``[A-Za-z0-9_-]``."""


class InvalidFilter(InvalidArgument):
    """A search filter names an unknown field or carries a value of the wrong type."""


class InvalidQuery(InvalidArgument):
    """A search request is malformed: wrong mode, bad vector, bad limit/offset/alpha."""


class StoreConfigError(StoreError):
    """The store's configuration is invalid or disagrees with the stored data."""


class TenantError(StoreError):
    """A problem with one tenant; ``tenant`` names it."""

    def __init__(self, tenant: str, message: str) -> None:
        super().__init__(message)
        self.tenant = tenant


class TenantNotFound(TenantError):
    """The tenant does not exist (call ``ensure_tenant`` first)."""

    def __init__(self, tenant: str) -> None:
        super().__init__(tenant, f"tenant {tenant!r} does not exist")


class TenantInactive(TenantError):
    """The tenant exists but is not ACTIVE, so it serves no reads or writes."""

    def __init__(self, tenant: str, status: TenantStatus) -> None:
        super().__init__(
            tenant,
            f"tenant {tenant!r} is {status.value}, not ACTIVE; "
            f"call activate_tenant({tenant!r}) before reading or writing it",
        )
        self.status = status


class BackendUnavailable(StoreError):
    """The backend could not be reached or timed out; the call may succeed if retried."""


class BackendError(StoreError):
    """The backend reported a failure that is none of the above."""
