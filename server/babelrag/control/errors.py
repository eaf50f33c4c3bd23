"""The exceptions of :mod:`babelrag.control`: one family, rooted at :class:`ControlError`.

::

    ControlError
    ├── InvalidArgument (also a ValueError)  a call's own arguments are wrong
    │   ├── InvalidTenantName                outside [a-z][a-z0-9_-]{2,62}
    │   ├── InvalidQuotas                    negative, non-finite or out-of-range limits
    │   └── InvalidKeyLabel                  API-key label too long or with control characters
    ├── TenantError                          carries ``.tenant``
    │   ├── TenantNotFound
    │   ├── TenantExists
    │   └── TenantOffloaded                  the tenant is OFFLOADED; writes are refused
    ├── KeyNotFound                          carries ``.key_id``
    ├── Unauthenticated                      missing, malformed, unknown or revoked credential
    ├── QuotaExceeded                        carries ``.retry_after_s`` (None: waiting will not help)
    │                                        and ``.resource`` ("requests", "chunks", "bytes", ...)
    ├── TenantStorageError                   the tenant's data store failed; ``.retryable``
    ├── AdminCredentialError                 the admin key file or $BABELRAG_ADMIN_KEY is unusable
    └── RegistryError                        the registry's own database failed
        └── RegistryUnavailable              transient: locked/busy database, I/O error

The classes are plain domain errors. Their gRPC status codes are decided in
exactly one function, :func:`grpc_status` at the end of this module, which the
admin service and the gateway's own mapping (``babelrag.gateway.errors``) both
call. Nothing from ``sqlite3`` escapes the registry:
:mod:`babelrag.control.sqlite_registry` translates it in one place
(``_translate_errors``).

Messages are written for the person who sent the request: they say what was
wrong and, where it helps, what to do. :class:`Unauthenticated` deliberately
does *not* say which part of a credential was wrong.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import grpc

__all__ = [
    "ControlError",
    "InvalidArgument",
    "InvalidTenantName",
    "InvalidQuotas",
    "InvalidKeyLabel",
    "TenantError",
    "TenantNotFound",
    "TenantExists",
    "TenantOffloaded",
    "KeyNotFound",
    "Unauthenticated",
    "QuotaExceeded",
    "TenantStorageError",
    "AdminCredentialError",
    "RegistryError",
    "RegistryUnavailable",
    "grpc_status",
]


class ControlError(Exception):
    """Base class of every error raised by the tenant control plane."""


class InvalidArgument(ControlError, ValueError):
    """An argument of the call is invalid; retrying the same call cannot succeed."""


class InvalidTenantName(InvalidArgument):
    """A tenant name does not match ``[a-z][a-z0-9_-]{2,62}``."""


class InvalidQuotas(InvalidArgument):
    """A quota is negative, not finite, or larger than the registry can store."""


class InvalidKeyLabel(InvalidArgument):
    """An API-key label is too long or contains control characters."""


class TenantError(ControlError):
    """A problem with one tenant; ``tenant`` names it."""

    def __init__(self, tenant: str, message: str) -> None:
        super().__init__(message)
        self.tenant = tenant


class TenantNotFound(TenantError):
    """No tenant of that name is registered."""

    def __init__(self, tenant: str) -> None:
        super().__init__(tenant, f"tenant {tenant!r} does not exist")


class TenantExists(TenantError):
    """A tenant of that name is already registered."""

    def __init__(self, tenant: str) -> None:
        super().__init__(tenant, f"tenant {tenant!r} already exists")


class TenantOffloaded(TenantError):
    """The tenant is OFFLOADED: its data is kept but it accepts no writes until re-activated."""

    def __init__(self, tenant: str) -> None:
        super().__init__(tenant, f"tenant {tenant!r} is offloaded; set it ACTIVE before writing to it")


class KeyNotFound(ControlError):
    """No API key with that id exists (it may belong to a deleted tenant)."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"API key {key_id!r} does not exist")
        self.key_id = key_id


class Unauthenticated(ControlError):
    """The credential is missing, malformed, unknown or revoked.

    The message never says which: telling a caller "this key id exists but the
    secret is wrong" or "this key was revoked" would help someone probing keys.
    """

    def __init__(self, message: str = "missing or invalid credential") -> None:
        super().__init__(message)


class QuotaExceeded(ControlError):
    """A rate or storage quota would be exceeded; nothing was consumed.

    ``retry_after_s`` is how long to wait before the same call can succeed
    (rate limits), or None when waiting alone will not help (storage quotas:
    delete data or raise the quota). ``resource`` names the exhausted limit.
    """

    def __init__(self, message: str, *, resource: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.resource = resource
        self.retry_after_s = retry_after_s


class TenantStorageError(ControlError):
    """The tenant's data store failed while creating, deleting or (de)activating a tenant.

    ``retryable`` is True when the same call may succeed later (the store was
    unreachable or timed out), False for a permanent failure.
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class AdminCredentialError(ControlError):
    """The admin credential cannot be loaded or created (bad permissions, empty file, weak key)."""


class RegistryError(ControlError):
    """The registry's database failed, or holds data this version cannot read."""


class RegistryUnavailable(RegistryError):
    """A transient registry failure (database locked or busy, I/O error); retrying may succeed."""


def grpc_status(exc: ControlError) -> tuple[grpc.StatusCode, str]:
    """The gRPC status code and caller-facing message for a control-plane error.

    ================================  ===================
    InvalidArgument (and subclasses)  INVALID_ARGUMENT
    TenantNotFound, KeyNotFound       NOT_FOUND
    TenantExists                      ALREADY_EXISTS
    TenantOffloaded                   FAILED_PRECONDITION
    Unauthenticated                   UNAUTHENTICATED
    QuotaExceeded                     RESOURCE_EXHAUSTED
    TenantStorageError                UNAVAILABLE if retryable, else INTERNAL
    RegistryUnavailable               UNAVAILABLE
    AdminCredentialError              INTERNAL
    RegistryError, anything else      INTERNAL
    ================================  ===================

    The retry hint of :class:`QuotaExceeded` (``retry_after_s``) is not part
    of the status; the caller adds it as trailing metadata.
    """
    import grpc  # deferred: the rest of the control plane does not need gRPC

    code = grpc.StatusCode
    message = str(exc)
    if isinstance(exc, InvalidArgument):
        return code.INVALID_ARGUMENT, message
    if isinstance(exc, (TenantNotFound, KeyNotFound)):
        return code.NOT_FOUND, message
    if isinstance(exc, TenantExists):
        return code.ALREADY_EXISTS, message
    if isinstance(exc, TenantOffloaded):
        return code.FAILED_PRECONDITION, message
    if isinstance(exc, Unauthenticated):
        return code.UNAUTHENTICATED, message
    if isinstance(exc, QuotaExceeded):
        if exc.retry_after_s is not None:
            message = f"{message}; retry in {exc.retry_after_s:.3g} s"
        return code.RESOURCE_EXHAUSTED, message
    if isinstance(exc, TenantStorageError):
        if exc.retryable:
            return code.UNAVAILABLE, f"the tenant data store is unavailable, retry shortly: {message}"
        return code.INTERNAL, f"the tenant data store failed: {message}"
    if isinstance(exc, RegistryUnavailable):
        return code.UNAVAILABLE, f"the tenant registry is busy or unavailable, retry shortly: {message}"
    if isinstance(exc, AdminCredentialError):
        # The detail (a file path, a permission problem) is for the server's log, not the caller.
        return code.INTERNAL, "the server's admin credential is misconfigured; see the server log"
    return code.INTERNAL, f"the tenant registry failed: {message}"
