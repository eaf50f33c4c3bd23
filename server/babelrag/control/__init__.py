"""The tenant control plane: tenants, API keys, quotas, usage accounting and rate limits.

* :mod:`~babelrag.control.registry`: the :class:`TenantRegistry` protocol and its value types.
* :mod:`~babelrag.control.sqlite_registry`: the SQLite implementation (``<data>/control.sqlite3``).
* :mod:`~babelrag.control.ratelimit`: per-tenant token buckets.
* :mod:`~babelrag.control.admin_credential`: the admin key (``<data>/admin.key`` or ``$BABELRAG_ADMIN_KEY``).
* :mod:`~babelrag.control.errors`: the :class:`ControlError` family and its gRPC status mapping.

The AdminService that exposes this over gRPC is :mod:`babelrag.gateway.admin_service`.
"""

from __future__ import annotations

from babelrag.control.admin_credential import AdminCredential, AdminKeyVerifier, load_admin_credential
from babelrag.control.errors import (
    AdminCredentialError,
    ControlError,
    InvalidArgument,
    InvalidKeyLabel,
    InvalidQuotas,
    InvalidTenantName,
    KeyNotFound,
    QuotaExceeded,
    RegistryError,
    RegistryUnavailable,
    TenantError,
    TenantExists,
    TenantNotFound,
    TenantOffloaded,
    TenantStorageError,
    Unauthenticated,
    grpc_status,
)
from babelrag.control.ratelimit import InMemoryRateLimiter, RateLimiter
from babelrag.control.registry import (
    ApiKey,
    IssuedApiKey,
    Principal,
    Quotas,
    Tenant,
    TenantRegistry,
    TenantState,
    Usage,
    validate_tenant_name,
)
from babelrag.control.sqlite_registry import SqliteTenantRegistry

__all__ = [
    # registry
    "TenantRegistry",
    "SqliteTenantRegistry",
    "Tenant",
    "TenantState",
    "Quotas",
    "Usage",
    "ApiKey",
    "IssuedApiKey",
    "Principal",
    "validate_tenant_name",
    # rate limits
    "RateLimiter",
    "InMemoryRateLimiter",
    # admin credential
    "AdminCredential",
    "AdminKeyVerifier",
    "load_admin_credential",
    # errors
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
