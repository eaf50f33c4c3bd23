"""The admin service's view of a tenant's data: the vector store plus the document ledger."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from babelrag.control.errors import TenantStorageError
from babelrag.gateway.runtime import Runtime
from babelrag.store import errors as store_errors


@contextlib.contextmanager
def _translated(action: str, tenant: str) -> Iterator[None]:
    try:
        yield
    except store_errors.BackendUnavailable as exc:
        raise TenantStorageError(f"could not {action} tenant '{tenant}': the store is unavailable ({exc})", retryable=True) from exc
    except store_errors.StoreError as exc:
        raise TenantStorageError(f"could not {action} tenant '{tenant}': {exc}") from exc


class StoreTenantStorage:
    """Implements :class:`babelrag.gateway.admin_service.TenantStorage` on the gateway's store."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def create(self, tenant: str) -> None:
        with _translated("create", tenant):
            await self.rt.store.ensure_tenant(tenant)

    async def delete(self, tenant: str) -> int:
        store = self.rt.store
        with _translated("delete", tenant):
            try:
                chunks = await store.count(tenant)
            except store_errors.TenantError:  # missing, or offloaded: deleted all the same
                chunks = 0
            await store.delete_tenant(tenant)
        await asyncio.to_thread(self.rt.ledger.forget_tenant, tenant)
        return chunks

    async def set_active(self, tenant: str, active: bool) -> None:
        with _translated("activate" if active else "offload", tenant):
            if active:
                await self.rt.store.activate_tenant(tenant)
            else:
                await self.rt.store.deactivate_tenant(tenant, offload=True)
