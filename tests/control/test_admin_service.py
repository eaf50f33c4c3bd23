"""The AdminService through a real grpc.aio server on a free port, with a real SQLite registry.

The tenant data store is an in-memory double (:class:`MemoryTenantStorage`); the
real stores are tested in tests/store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from babelrag.control.admin_credential import AdminCredential
from babelrag.control.errors import (
    AdminCredentialError,
    ControlError,
    InvalidQuotas,
    InvalidTenantName,
    KeyNotFound,
    QuotaExceeded,
    RegistryError,
    RegistryUnavailable,
    TenantExists,
    TenantNotFound,
    TenantOffloaded,
    TenantStorageError,
    Unauthenticated,
    grpc_status,
)
from babelrag.control.ratelimit import InMemoryRateLimiter
from babelrag.control.registry import Quotas, TenantState
from babelrag.control.sqlite_registry import SqliteTenantRegistry
from babelrag.gateway.admin_service import AdminService, TenantStorage
from babelrag.v1 import admin_pb2, admin_pb2_grpc

ADMIN_KEY = "bra_test-admin-key-0123456789abcdef"
Code = grpc.StatusCode


class MemoryTenantStorage:
    """A TenantStorage double: tenants in a dict, failures on demand."""

    def __init__(self) -> None:
        self.tenants: dict[str, dict] = {}  # name -> {"active": bool, "chunks": int}
        self.fail_create: Exception | None = None
        self.fail_delete: Exception | None = None
        self.fail_set_active: Exception | None = None
        self.calls: list[tuple[str, str]] = []

    async def create(self, tenant: str) -> None:
        self.calls.append(("create", tenant))
        if self.fail_create is not None:
            raise self.fail_create
        self.tenants[tenant] = {"active": True, "chunks": 0}

    async def delete(self, tenant: str) -> int:
        self.calls.append(("delete", tenant))
        if self.fail_delete is not None:
            raise self.fail_delete
        return self.tenants.pop(tenant, {"chunks": 0})["chunks"]

    async def set_active(self, tenant: str, active: bool) -> None:
        self.calls.append(("set_active", tenant))
        if self.fail_set_active is not None:
            raise self.fail_set_active
        self.tenants[tenant]["active"] = active


@dataclass
class Harness:
    stub: admin_pb2_grpc.AdminServiceStub
    registry: SqliteTenantRegistry
    storage: MemoryTenantStorage
    limiter: InMemoryRateLimiter

    async def call(self, method: str, request, key: str | None = ADMIN_KEY):  # noqa: ANN001, ANN201
        metadata = () if key is None else (("authorization", f"Bearer {key}"),)
        return await getattr(self.stub, method)(request, metadata=metadata, timeout=10)

    async def status_of(self, method: str, request, **kwargs) -> tuple[grpc.StatusCode, str]:  # noqa: ANN001
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await self.call(method, request, **kwargs)
        return info.value.code(), info.value.details() or ""


@pytest.fixture
async def admin(registry: SqliteTenantRegistry) -> AsyncIterator[Harness]:
    storage = MemoryTenantStorage()
    limiter = InMemoryRateLimiter()
    service = AdminService(registry, AdminCredential(ADMIN_KEY), storage, rate_limiter=limiter)
    server = grpc.aio.server()
    admin_pb2_grpc.add_AdminServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Harness(admin_pb2_grpc.AdminServiceStub(channel), registry, storage, limiter)
    finally:
        await channel.close()
        await server.stop(None)


ALL_RPCS = [
    ("CreateTenant", admin_pb2.CreateTenantRequest(name="acme")),
    ("ListTenants", admin_pb2.ListTenantsRequest()),
    ("GetTenant", admin_pb2.GetTenantRequest(name="acme")),
    ("DeleteTenant", admin_pb2.DeleteTenantRequest(name="acme")),
    ("SetTenantState", admin_pb2.SetTenantStateRequest(name="acme", state=admin_pb2.TENANT_STATE_OFFLOADED)),
    ("SetQuotas", admin_pb2.SetQuotasRequest(name="acme", quotas=admin_pb2.Quotas(max_chunks=1))),
    ("IssueApiKey", admin_pb2.IssueApiKeyRequest(tenant="acme")),
    ("ListApiKeys", admin_pb2.ListApiKeysRequest(tenant="acme")),
    ("RevokeApiKey", admin_pb2.RevokeApiKeyRequest(key_id="abcdefghijkl")),
]


def test_every_rpc_is_covered() -> None:
    methods = admin_pb2.DESCRIPTOR.services_by_name["AdminService"].methods_by_name
    assert sorted(methods) == sorted(name for name, _ in ALL_RPCS)
    for name in methods:
        assert getattr(AdminService, name) is not getattr(admin_pb2_grpc.AdminServiceServicer, name)


def test_memory_storage_satisfies_the_protocol() -> None:
    assert isinstance(MemoryTenantStorage(), TenantStorage)


# -- authentication ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "request_"), ALL_RPCS, ids=[name for name, _ in ALL_RPCS])
async def test_every_rpc_needs_the_admin_key(admin: Harness, method: str, request_) -> None:  # noqa: ANN001
    # A real tenant with a real API key, so that a wrongly accepted call would succeed.
    admin.registry.create_tenant("acme")
    admin.storage.tenants["acme"] = {"active": True, "chunks": 0}
    tenant_key = admin.registry.issue_key("acme").api_key
    before = (admin.registry.list_tenants(), admin.registry.list_keys("acme"), list(admin.storage.calls))

    assert (await admin.status_of(method, request_, key=None))[0] == Code.UNAUTHENTICATED
    assert (await admin.status_of(method, request_, key="not-the-admin-key"))[0] == Code.UNAUTHENTICATED
    code, details = await admin.status_of(method, request_, key=tenant_key)
    assert code == Code.UNAUTHENTICATED and "tenant API key" in details
    assert (await admin.status_of(method, request_, key=ADMIN_KEY + "x"))[0] == Code.UNAUTHENTICATED

    # Nothing happened.
    assert (admin.registry.list_tenants(), admin.registry.list_keys("acme"), admin.storage.calls) == before


async def test_authorization_header_must_be_a_bearer_token(admin: Harness) -> None:
    for value in (ADMIN_KEY, f"Basic {ADMIN_KEY}", "Bearer ", f"Bearer{ADMIN_KEY}"):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await admin.stub.ListTenants(admin_pb2.ListTenantsRequest(), metadata=(("authorization", value),))
        assert info.value.code() == Code.UNAUTHENTICATED
    missing = await admin.status_of("ListTenants", admin_pb2.ListTenantsRequest(), key=None)
    assert "authorization: Bearer" in missing[1]
    # Scheme is case-insensitive, as HTTP says.
    ok = await admin.stub.ListTenants(
        admin_pb2.ListTenantsRequest(), metadata=(("authorization", f"bearer {ADMIN_KEY}"),)
    )
    assert list(ok.tenants) == []


# -- tenants --------------------------------------------------------------------------------------------------
async def test_create_tenant(admin: Harness) -> None:
    quotas = admin_pb2.Quotas(requests_per_second=5, burst=10, max_chunks=1000, max_bytes=10**6)
    response = await admin.call(
        "CreateTenant", admin_pb2.CreateTenantRequest(name="acme", quotas=quotas, key_label="first")
    )
    assert response.tenant.name == "acme"
    assert response.tenant.state == admin_pb2.TENANT_STATE_ACTIVE
    assert response.tenant.quotas == quotas
    assert response.tenant.usage == admin_pb2.Usage()
    assert response.tenant.created_at.seconds > 1_600_000_000
    assert response.key.tenant == "acme" and response.key.label == "first" and not response.key.revoked
    assert response.api_key.startswith(f"brk_{response.key.key_id}_")
    # The key works for the data plane, the storage exists, the registry agrees.
    principal = admin.registry.authenticate(response.api_key)
    assert principal.tenant == "acme" and principal.quotas == Quotas(5, 10, 1000, 10**6)
    assert admin.storage.tenants == {"acme": {"active": True, "chunks": 0}}
    # A tenant's own key is still not an admin key.
    assert (await admin.status_of("ListTenants", admin_pb2.ListTenantsRequest(), key=response.api_key))[
        0
    ] == Code.UNAUTHENTICATED


async def test_create_tenant_without_quotas_is_unlimited(admin: Harness) -> None:
    response = await admin.call("CreateTenant", admin_pb2.CreateTenantRequest(name="acme"))
    assert response.tenant.quotas == admin_pb2.Quotas()
    assert admin.registry.get_tenant("acme").quotas == Quotas()


async def test_create_tenant_refusals(admin: Harness) -> None:
    await admin.call("CreateTenant", admin_pb2.CreateTenantRequest(name="acme"))
    code, details = await admin.status_of("CreateTenant", admin_pb2.CreateTenantRequest(name="acme"))
    assert code == Code.ALREADY_EXISTS and "'acme' already exists" in details
    code, details = await admin.status_of("CreateTenant", admin_pb2.CreateTenantRequest(name="Bad Name"))
    assert code == Code.INVALID_ARGUMENT and "lower-case letters" in details
    code, details = await admin.status_of(
        "CreateTenant", admin_pb2.CreateTenantRequest(name="neg", quotas=admin_pb2.Quotas(max_chunks=-1))
    )
    assert code == Code.INVALID_ARGUMENT and "max_chunks" in details
    code, _ = await admin.status_of("CreateTenant", admin_pb2.CreateTenantRequest(name="lbl", key_label="a\nb"))
    assert code == Code.INVALID_ARGUMENT
    # Only the first create touched storage; the refused ones left nothing.
    assert admin.storage.calls == [("create", "acme")]
    assert [t.name for t in admin.registry.list_tenants()] == ["acme"]
    assert len(admin.registry.list_keys("acme")) == 1


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (TenantStorageError("vector store unreachable", retryable=True), Code.UNAVAILABLE),
        (TenantStorageError("disk full"), Code.INTERNAL),
        (RuntimeError("a bug in the storage adapter"), Code.INTERNAL),
    ],
)
async def test_storage_failure_during_create_leaves_no_tenant(admin: Harness, failure: Exception, expected) -> None:  # noqa: ANN001
    admin.storage.fail_create = failure
    code, details = await admin.status_of("CreateTenant", admin_pb2.CreateTenantRequest(name="acme"))
    assert code == expected
    if isinstance(failure, RuntimeError):
        assert "a bug" not in details and "server log" in details  # internals stay in the log
    assert admin.registry.list_tenants() == []
    with pytest.raises(TenantNotFound):
        admin.registry.get_tenant("acme")
    assert admin.storage.tenants == {}
    assert (await admin.call("ListTenants", admin_pb2.ListTenantsRequest())).tenants == []
    # Once the store is back, the same name can be created.
    admin.storage.fail_create = None
    response = await admin.call("CreateTenant", admin_pb2.CreateTenantRequest(name="acme"))
    assert admin.registry.authenticate(response.api_key).tenant == "acme"


async def test_key_failure_during_create_removes_storage_and_registration(admin: Harness, monkeypatch) -> None:  # noqa: ANN001
    def broken_issue_key(tenant: str, label: str = "") -> None:
        raise RegistryUnavailable("database is locked")

    monkeypatch.setattr(admin.registry, "issue_key", broken_issue_key)
    code, _ = await admin.status_of("CreateTenant", admin_pb2.CreateTenantRequest(name="acme"))
    assert code == Code.UNAVAILABLE
    assert admin.storage.calls == [("create", "acme"), ("delete", "acme")]
    assert admin.storage.tenants == {}
    assert admin.registry.list_tenants() == []


async def test_concurrent_creates_of_one_name_make_one_tenant(admin: Harness) -> None:
    results = await asyncio.gather(
        *(admin.call("CreateTenant", admin_pb2.CreateTenantRequest(name="acme")) for _ in range(6)),
        return_exceptions=True,
    )
    created = [r for r in results if isinstance(r, admin_pb2.CreateTenantResponse)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(created) == 1
    assert [r.code() for r in refused] == [Code.ALREADY_EXISTS] * 5
    assert admin.storage.calls == [("create", "acme")]
    assert len(admin.registry.list_keys("acme")) == 1


async def test_get_and_list_tenants(admin: Harness) -> None:
    await admin.call("CreateTenant", admin_pb2.CreateTenantRequest(name="zeta"))
    await admin.call("CreateTenant", admin_pb2.CreateTenantRequest(name="alpha"))
    admin.registry.reserve_storage("alpha", chunks=3, bytes=300, documents=1)
    listed = await admin.call("ListTenants", admin_pb2.ListTenantsRequest())
    assert [t.name for t in listed.tenants] == ["alpha", "zeta"]
    got = await admin.call("GetTenant", admin_pb2.GetTenantRequest(name="alpha"))
    assert got.usage == admin_pb2.Usage(chunks=3, bytes=300, documents=1)
    code, details = await admin.status_of("GetTenant", admin_pb2.GetTenantRequest(name="nope"))
    assert code == Code.NOT_FOUND and "'nope' does not exist" in details
    code, _ = await admin.status_of("GetTenant", admin_pb2.GetTenantRequest(name=""))
    assert code == Code.INVALID_ARGUMENT


async def test_delete_tenant(admin: Harness) -> None:
    created = await admin.call("CreateTenant", admin_pb2.CreateTenantRequest(name="acme"))
    extra = await admin.call("IssueApiKey", admin_pb2.IssueApiKeyRequest(tenant="acme"))
    revoked = await admin.call("IssueApiKey", admin_pb2.IssueApiKeyRequest(tenant="acme"))
    await admin.call("RevokeApiKey", admin_pb2.RevokeApiKeyRequest(key_id=revoked.key.key_id))
    admin.storage.tenants["acme"]["chunks"] = 42
    admin.limiter.acquire("acme", Quotas(requests_per_second=1, burst=1))
    assert len(admin.limiter) == 1

    response = await admin.call("DeleteTenant", admin_pb2.DeleteTenantRequest(name="acme"))
    assert response.chunks_deleted == 42
    assert response.keys_revoked == 2
    assert admin.storage.tenants == {}
    assert len(admin.limiter) == 0
    for key in (created.api_key, extra.api_key):
        with pytest.raises(Unauthenticated):
            admin.registry.authenticate(key)
    assert (await admin.status_of("GetTenant", admin_pb2.GetTenantRequest(name="acme")))[0] == Code.NOT_FOUND
    code, _ = await admin.status_of("DeleteTenant", admin_pb2.DeleteTenantRequest(name="acme"))
    assert code == Code.NOT_FOUND
    assert admin.storage.calls.count(("delete", "acme")) == 1  # the missing tenant never reached storage


async def test_storage_failure_during_delete_keeps_the_tenant(admin: Harness) -> None:
    created = await admin.call("CreateTenant", admin_pb2.CreateTenantRequest(name="acme"))
    admin.storage.fail_delete = TenantStorageError("timed out", retryable=True)
    code, details = await admin.status_of("DeleteTenant", admin_pb2.DeleteTenantRequest(name="acme"))
    assert code == Code.UNAVAILABLE and "retry" in details
    assert admin.registry.authenticate(created.api_key).tenant == "acme"
    admin.storage.fail_delete = None
    assert (await admin.call("DeleteTenant", admin_pb2.DeleteTenantRequest(name="acme"))).keys_revoked == 1


async def test_set_tenant_state(admin: Harness) -> None:
    await admin.call("CreateTenant", admin_pb2.CreateTenantRequest(name="acme"))
    off = await admin.call(
        "SetTenantState", admin_pb2.SetTenantStateRequest(name="acme", state=admin_pb2.TENANT_STATE_OFFLOADED)
    )
    assert off.state == admin_pb2.TENANT_STATE_OFFLOADED
    assert admin.storage.tenants["acme"]["active"] is False
    assert admin.registry.get_tenant("acme").state is TenantState.OFFLOADED
    on = await admin.call(
        "SetTenantState", admin_pb2.SetTenantStateRequest(name="acme", state=admin_pb2.TENANT_STATE_ACTIVE)
    )
    assert on.state == admin_pb2.TENANT_STATE_ACTIVE
    assert admin.storage.tenants["acme"]["active"] is True

    code, details = await admin.status_of("SetTenantState", admin_pb2.SetTenantStateRequest(name="acme"))
    assert code == Code.INVALID_ARGUMENT and "TENANT_STATE_ACTIVE" in details
    code, _ = await admin.status_of(
        "SetTenantState", admin_pb2.SetTenantStateRequest(name="nope", state=admin_pb2.TENANT_STATE_ACTIVE)
    )
    assert code == Code.NOT_FOUND

    admin.storage.fail_set_active = TenantStorageError("unreachable", retryable=True)
    code, _ = await admin.status_of(
        "SetTenantState", admin_pb2.SetTenantStateRequest(name="acme", state=admin_pb2.TENANT_STATE_OFFLOADED)
    )
    assert code == Code.UNAVAILABLE
    assert admin.registry.get_tenant("acme").state is TenantState.ACTIVE  # not recorded


async def test_set_quotas(admin: Harness) -> None:
    await admin.call("CreateTenant", admin_pb2.CreateTenantRequest(name="acme"))
    quotas = admin_pb2.Quotas(requests_per_second=0.5, burst=2, max_chunks=10, max_bytes=0)
    response = await admin.call("SetQuotas", admin_pb2.SetQuotasRequest(name="acme", quotas=quotas))
    assert response.quotas == quotas
    assert admin.registry.get_tenant("acme").quotas == Quotas(0.5, 2, 10, 0)
    code, details = await admin.status_of("SetQuotas", admin_pb2.SetQuotasRequest(name="acme"))
    assert code == Code.INVALID_ARGUMENT and "quotas is required" in details
    code, _ = await admin.status_of(
        "SetQuotas", admin_pb2.SetQuotasRequest(name="acme", quotas=admin_pb2.Quotas(requests_per_second=-1))
    )
    assert code == Code.INVALID_ARGUMENT
    code, _ = await admin.status_of("SetQuotas", admin_pb2.SetQuotasRequest(name="nope", quotas=quotas))
    assert code == Code.NOT_FOUND
    assert admin.registry.get_tenant("acme").quotas == Quotas(0.5, 2, 10, 0)


# -- API keys ------------------------------------------------------------------------------------------------
async def test_issue_list_and_revoke_keys(admin: Harness) -> None:
    created = await admin.call("CreateTenant", admin_pb2.CreateTenantRequest(name="acme", key_label="first"))
    issued = await admin.call("IssueApiKey", admin_pb2.IssueApiKeyRequest(tenant="acme", label="second"))
    assert issued.key.tenant == "acme" and issued.key.label == "second"
    assert issued.api_key.startswith(f"brk_{issued.key.key_id}_")
    assert admin.registry.authenticate(issued.api_key).key_id == issued.key.key_id

    listed = await admin.call("ListApiKeys", admin_pb2.ListApiKeysRequest(tenant="acme"))
    assert [(k.key_id, k.label) for k in listed.keys] == [(created.key.key_id, "first"), (issued.key.key_id, "second")]
    wire = listed.SerializeToString()
    for raw in (created.api_key, issued.api_key):
        assert raw.rsplit("_", 1)[-1].encode() not in wire and raw.encode() not in wire  # no secrets

    revoked = await admin.call("RevokeApiKey", admin_pb2.RevokeApiKeyRequest(key_id=created.key.key_id))
    assert revoked.revoked and revoked.revoked_at.seconds > 0 and revoked.key_id == created.key.key_id
    with pytest.raises(Unauthenticated):
        admin.registry.authenticate(created.api_key)
    listed = await admin.call("ListApiKeys", admin_pb2.ListApiKeysRequest(tenant="acme"))
    assert [k.revoked for k in listed.keys] == [True, False]
    assert not listed.keys[1].HasField("revoked_at")

    code, _ = await admin.status_of("RevokeApiKey", admin_pb2.RevokeApiKeyRequest(key_id="nosuchkey123"))
    assert code == Code.NOT_FOUND
    code, _ = await admin.status_of("RevokeApiKey", admin_pb2.RevokeApiKeyRequest())
    assert code == Code.INVALID_ARGUMENT
    code, _ = await admin.status_of("IssueApiKey", admin_pb2.IssueApiKeyRequest(tenant="nope"))
    assert code == Code.NOT_FOUND
    code, _ = await admin.status_of("ListApiKeys", admin_pb2.ListApiKeysRequest(tenant="nope"))
    assert code == Code.NOT_FOUND
    code, _ = await admin.status_of("IssueApiKey", admin_pb2.IssueApiKeyRequest(tenant="acme", label="x" * 201))
    assert code == Code.INVALID_ARGUMENT


# -- the one error mapping -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidTenantName("bad"), Code.INVALID_ARGUMENT),
        (InvalidQuotas("bad"), Code.INVALID_ARGUMENT),
        (TenantNotFound("acme"), Code.NOT_FOUND),
        (KeyNotFound("abc"), Code.NOT_FOUND),
        (TenantExists("acme"), Code.ALREADY_EXISTS),
        (TenantOffloaded("acme"), Code.FAILED_PRECONDITION),
        (Unauthenticated(), Code.UNAUTHENTICATED),
        (QuotaExceeded("slow down", resource="requests", retry_after_s=0.25), Code.RESOURCE_EXHAUSTED),
        (QuotaExceeded("full", resource="chunks"), Code.RESOURCE_EXHAUSTED),
        (TenantStorageError("x", retryable=True), Code.UNAVAILABLE),
        (TenantStorageError("x"), Code.INTERNAL),
        (RegistryUnavailable("locked"), Code.UNAVAILABLE),
        (RegistryError("corrupt"), Code.INTERNAL),
        (AdminCredentialError("/secret/path/admin.key is 0644"), Code.INTERNAL),
        (ControlError("other"), Code.INTERNAL),
    ],
)
def test_grpc_status_mapping(error: ControlError, code: grpc.StatusCode) -> None:
    mapped_code, message = grpc_status(error)
    assert mapped_code == code
    assert message
    if isinstance(error, QuotaExceeded) and error.retry_after_s is not None:
        assert "retry in 0.25 s" in message
    if isinstance(error, AdminCredentialError):
        assert "/secret/path" not in message


def test_registry_path_is_in_the_data_dir(data_dir: Path, registry: SqliteTenantRegistry) -> None:
    assert registry.path == data_dir / "control.sqlite3"
