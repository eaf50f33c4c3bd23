"""The AdminService (``babelrag.v1.AdminService``): tenants, their API keys and quotas, over gRPC.

Every RPC first checks the admin credential in the call metadata
(``authorization: Bearer <admin key>``) itself, in :meth:`AdminService._call`,
through which every RPC runs, so no method can forget it and the check does
not depend on how the server's interceptors are arranged. A tenant's API key
is never an admin credential.

Registry calls are synchronous (SQLite) and run in worker threads
(``asyncio.to_thread``); the tenant's data lives behind :class:`TenantStorage`,
which the gateway implements on its vector store.

Multi-step operations, and what a failure leaves behind:

* **CreateTenant**: register the name (this claims it: a concurrent create of
  the same name gets ALREADY_EXISTS), create the storage, issue the first key.
  If the storage or the key fails, the storage (when it was created) and the
  registration are removed again: nothing remains registered.
* **DeleteTenant**: delete the storage, then unregister the tenant and its
  keys. If the storage fails, the tenant stays fully registered and usable,
  and the call can simply be retried.
* **SetTenantState**: (de)activate the storage, then record the state; if
  recording fails, the storage is switched back.

Within one gateway process these run one at a time per tenant name (an
asyncio lock per name), so a create racing a delete of the same name cannot
interleave their steps.

Control-plane errors become gRPC statuses in exactly one place,
:func:`babelrag.control.errors.grpc_status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Protocol, TypeVar, runtime_checkable

import grpc

from babelrag.control.admin_credential import AdminKeyVerifier
from babelrag.control.errors import ControlError, InvalidArgument, QuotaExceeded, Unauthenticated, grpc_status
from babelrag.control.ratelimit import RateLimiter
from babelrag.control.registry import (
    API_KEY_PREFIX,
    ApiKey,
    Quotas,
    Tenant,
    TenantRegistry,
    TenantState,
    validate_key_label,
    validate_tenant_name,
)
from babelrag.v1 import admin_pb2, admin_pb2_grpc

__all__ = ["AdminService", "TenantStorage"]

log = logging.getLogger("babelrag.gateway.admin")

T = TypeVar("T")

_STATE_TO_PB = {
    TenantState.ACTIVE: admin_pb2.TENANT_STATE_ACTIVE,
    TenantState.OFFLOADED: admin_pb2.TENANT_STATE_OFFLOADED,
}
_STATE_FROM_PB = {pb: state for state, pb in _STATE_TO_PB.items()}


@runtime_checkable
class TenantStorage(Protocol):
    """A tenant's data, as the admin service manages it; the gateway implements it on its vector store.

    Implementations raise :class:`~babelrag.control.errors.TenantStorageError`
    (``retryable=True`` when the store is unreachable or timed out) and
    translate their store's own errors into it; anything else is reported to
    the caller as INTERNAL.
    """

    async def create(self, tenant: str) -> None:
        """Create the tenant's (empty, ACTIVE) storage. All or nothing: when it raises, it has
        left nothing behind, because the admin service will not clean up after a failed create."""
        ...

    async def delete(self, tenant: str) -> int:
        """Delete the tenant's storage and all its data; return how many chunks were deleted.
        Idempotent: a tenant without storage returns 0."""
        ...

    async def set_active(self, tenant: str, active: bool) -> None:
        """Serve the tenant's data again (``active``), or offload it (keep it, stop serving it).
        Idempotent."""
        ...


class AdminService(admin_pb2_grpc.AdminServiceServicer):
    """The AdminService servicer (grpc.aio).

    ``rate_limiter``, when given, forgets a deleted tenant's bucket, so a new
    tenant of the same name starts with a full one.
    """

    def __init__(
        self,
        registry: TenantRegistry,
        admin_credential: AdminKeyVerifier,
        storage: TenantStorage,
        *,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self._registry = registry
        self._admin = admin_credential
        self._storage = storage
        self._rate_limiter = rate_limiter
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # -- RPCs ------------------------------------------------------------------------
    async def CreateTenant(
        self, request: admin_pb2.CreateTenantRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.CreateTenantResponse:
        return await self._call(context, "CreateTenant", lambda: self._create_tenant(request, context))

    async def ListTenants(
        self, request: admin_pb2.ListTenantsRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ListTenantsResponse:
        async def run() -> admin_pb2.ListTenantsResponse:
            tenants = await asyncio.to_thread(self._registry.list_tenants)
            return admin_pb2.ListTenantsResponse(tenants=[_tenant_pb(t) for t in tenants])

        return await self._call(context, "ListTenants", run)

    async def GetTenant(
        self, request: admin_pb2.GetTenantRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.Tenant:
        async def run() -> admin_pb2.Tenant:
            return _tenant_pb(await asyncio.to_thread(self._registry.get_tenant, request.name))

        return await self._call(context, "GetTenant", run)

    async def DeleteTenant(
        self, request: admin_pb2.DeleteTenantRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.DeleteTenantResponse:
        return await self._call(context, "DeleteTenant", lambda: self._delete_tenant(request, context))

    async def SetTenantState(
        self, request: admin_pb2.SetTenantStateRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.Tenant:
        return await self._call(context, "SetTenantState", lambda: self._set_tenant_state(request, context))

    async def SetQuotas(
        self, request: admin_pb2.SetQuotasRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.Tenant:
        async def run() -> admin_pb2.Tenant:
            if not request.HasField("quotas"):
                # An absent message would read as all zeros, i.e. "unlimited": never do that by accident.
                raise InvalidArgument("quotas is required; set a field to 0 to make that limit unlimited")
            tenant = await asyncio.to_thread(self._registry.set_quotas, request.name, _quotas(request.quotas))
            _audit(context, "set quotas of tenant %s to %s", tenant.name, tenant.quotas)
            return _tenant_pb(tenant)

        return await self._call(context, "SetQuotas", run)

    async def IssueApiKey(
        self, request: admin_pb2.IssueApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.IssueApiKeyResponse:
        async def run() -> admin_pb2.IssueApiKeyResponse:
            issued = await asyncio.to_thread(self._registry.issue_key, request.tenant, request.label)
            _audit(context, "issued API key %s for tenant %s", issued.key.key_id, issued.key.tenant)
            return admin_pb2.IssueApiKeyResponse(key=_key_pb(issued.key), api_key=issued.api_key)

        return await self._call(context, "IssueApiKey", run)

    async def ListApiKeys(
        self, request: admin_pb2.ListApiKeysRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ListApiKeysResponse:
        async def run() -> admin_pb2.ListApiKeysResponse:
            keys = await asyncio.to_thread(self._registry.list_keys, request.tenant)
            return admin_pb2.ListApiKeysResponse(keys=[_key_pb(k) for k in keys])

        return await self._call(context, "ListApiKeys", run)

    async def RevokeApiKey(
        self, request: admin_pb2.RevokeApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ApiKey:
        async def run() -> admin_pb2.ApiKey:
            if not request.key_id:
                raise InvalidArgument("key_id is required")
            key = await asyncio.to_thread(self._registry.revoke_key, request.key_id)
            _audit(context, "revoked API key %s of tenant %s", key.key_id, key.tenant)
            return _key_pb(key)

        return await self._call(context, "RevokeApiKey", run)

    # -- multi-step operations -------------------------------------------------------------
    async def _create_tenant(
        self, request: admin_pb2.CreateTenantRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.CreateTenantResponse:
        name = validate_tenant_name(request.name)
        quotas = _quotas(request.quotas) if request.HasField("quotas") else Quotas()
        label = validate_key_label(request.key_label)
        async with self._tenant_lock(name):
            await asyncio.to_thread(self._registry.create_tenant, name, quotas)
            storage_created = False
            try:
                await self._storage.create(name)
                storage_created = True
                issued = await asyncio.to_thread(self._registry.issue_key, name, label)
            except BaseException:
                await self._undo_create(name, storage_created=storage_created)
                raise
            tenant = await asyncio.to_thread(self._registry.get_tenant, name)
        _audit(context, "created tenant %s with API key %s", name, issued.key.key_id)
        return admin_pb2.CreateTenantResponse(
            tenant=_tenant_pb(tenant), key=_key_pb(issued.key), api_key=issued.api_key
        )

    async def _undo_create(self, name: str, *, storage_created: bool) -> None:
        """Best effort: remove what a failed create left. Failures here are logged; the original
        error is what the caller sees."""
        if storage_created:
            try:
                await self._storage.delete(name)
            except Exception:  # noqa: BLE001 - logged; the create's own error wins
                log.exception("tenant %s: could not delete its storage after a failed create", name)
        try:
            await asyncio.to_thread(self._registry.delete_tenant, name)
        except Exception:  # noqa: BLE001 - logged; the create's own error wins
            log.exception("tenant %s: could not unregister it after a failed create; delete it by hand", name)

    async def _delete_tenant(
        self, request: admin_pb2.DeleteTenantRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.DeleteTenantResponse:
        name = validate_tenant_name(request.name)
        async with self._tenant_lock(name):
            await asyncio.to_thread(self._registry.get_tenant, name)  # NOT_FOUND before touching storage
            chunks_deleted = await self._storage.delete(name)
            keys_revoked = await asyncio.to_thread(self._registry.delete_tenant, name)
        if self._rate_limiter is not None:
            await self._rate_limiter.forget(name)
        _audit(context, "deleted tenant %s (%d chunks, %d keys)", name, chunks_deleted, keys_revoked)
        return admin_pb2.DeleteTenantResponse(chunks_deleted=chunks_deleted, keys_revoked=keys_revoked)

    async def _set_tenant_state(
        self, request: admin_pb2.SetTenantStateRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.Tenant:
        name = validate_tenant_name(request.name)
        state = _STATE_FROM_PB.get(request.state)
        if state is None:
            raise InvalidArgument("state must be TENANT_STATE_ACTIVE or TENANT_STATE_OFFLOADED")
        async with self._tenant_lock(name):
            before = await asyncio.to_thread(self._registry.get_tenant, name)
            await self._storage.set_active(name, state is TenantState.ACTIVE)
            try:
                tenant = await asyncio.to_thread(self._registry.set_state, name, state)
            except BaseException:
                try:
                    await self._storage.set_active(name, before.state is TenantState.ACTIVE)
                except Exception:  # noqa: BLE001 - logged; the original error wins
                    log.exception("tenant %s: storage and registry now disagree on its state; set it again", name)
                raise
        _audit(context, "set tenant %s %s", name, state.name)
        return _tenant_pb(tenant)

    # -- plumbing -------------------------------------------------------------------------------
    async def _call(self, context: grpc.aio.ServicerContext, method: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Authorise, run, and map errors to a status: every RPC goes through here."""
        try:
            self._authorize(context)
            return await operation()
        except ControlError as exc:
            code, message = grpc_status(exc)
            if isinstance(exc, QuotaExceeded) and exc.retry_after_s is not None:
                context.set_trailing_metadata((("retry-after-ms", str(int(exc.retry_after_s * 1000))),))
            if code is grpc.StatusCode.UNAUTHENTICATED:
                log.warning("admin %s refused: %s (peer %s)", method, message, context.peer())
            await context.abort(code, message)
        except grpc.aio.AbortError:
            raise
        except Exception:  # noqa: BLE001 - a bug or an unexpected failure below us
            log.exception("admin %s failed", method)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method}; see the server log")
        raise AssertionError("unreachable: context.abort raises")  # pragma: no cover

    def _authorize(self, context: grpc.aio.ServicerContext) -> None:
        token = _bearer_token(context.invocation_metadata())
        if token is None:
            raise Unauthenticated("missing admin credential: send metadata 'authorization: Bearer <admin key>'")
        if not self._admin.verify(token):
            if token.startswith(API_KEY_PREFIX + "_"):
                raise Unauthenticated("a tenant API key cannot call the AdminService; use the admin key")
            raise Unauthenticated("invalid admin credential")

    @contextlib.asynccontextmanager
    async def _tenant_lock(self, name: str) -> AsyncIterator[None]:
        lock = self._locks.get(name)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[name] = lock
        async with lock:  # ``lock`` stays referenced (so in the map) while anyone holds or awaits it
            yield


# -- conversions -------------------------------------------------------------------------------------
def _bearer_token(metadata: object) -> str | None:
    for key, value in metadata or ():  # type: ignore[attr-defined]
        if key.lower() == "authorization":
            if isinstance(value, bytes):
                return None
            scheme, _, token = value.partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


def _quotas(pb: admin_pb2.Quotas) -> Quotas:
    return Quotas(
        requests_per_second=pb.requests_per_second,
        burst=pb.burst,
        max_chunks=pb.max_chunks,
        max_bytes=pb.max_bytes,
    )


def _set_time(field: object, value: datetime) -> None:
    field.FromDatetime(value)  # type: ignore[attr-defined]


def _tenant_pb(tenant: Tenant) -> admin_pb2.Tenant:
    pb = admin_pb2.Tenant(
        name=tenant.name,
        state=_STATE_TO_PB[tenant.state],
        quotas=admin_pb2.Quotas(
            requests_per_second=tenant.quotas.requests_per_second,
            burst=tenant.quotas.burst,
            max_chunks=tenant.quotas.max_chunks,
            max_bytes=tenant.quotas.max_bytes,
        ),
        usage=admin_pb2.Usage(chunks=tenant.usage.chunks, bytes=tenant.usage.bytes, documents=tenant.usage.documents),
    )
    _set_time(pb.created_at, tenant.created_at)
    return pb


def _key_pb(key: ApiKey) -> admin_pb2.ApiKey:
    pb = admin_pb2.ApiKey(key_id=key.key_id, tenant=key.tenant, label=key.label, revoked=key.revoked)
    _set_time(pb.created_at, key.created_at)
    if key.revoked_at is not None:
        _set_time(pb.revoked_at, key.revoked_at)
    return pb


def _audit(context: grpc.aio.ServicerContext, message: str, *args: object) -> None:
    log.info("admin: " + message + " (peer %s)", *args, context.peer())
