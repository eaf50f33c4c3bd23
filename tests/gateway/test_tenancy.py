"""API keys, tenant state and quotas, end to end through the gateway."""

from __future__ import annotations

import time

import grpc
import pytest

from tests.gateway.helpers import Api, admin_pb2, text_item

pytestmark = pytest.mark.slow


def code_of(call) -> grpc.StatusCode:  # noqa: ANN001
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code()


def test_missing_and_wrong_keys_are_unauthenticated(gateway, anonymous, new_tenant):
    assert code_of(lambda: anonymous.search("x")) == grpc.StatusCode.UNAUTHENTICATED
    wrong = Api(gateway.address, "brk_notakey_" + "x" * 43)
    try:
        assert code_of(lambda: wrong.search("x")) == grpc.StatusCode.UNAUTHENTICATED
    finally:
        wrong.close()
    admin_as_tenant = Api(gateway.address, gateway.admin_key)
    try:
        assert code_of(lambda: admin_as_tenant.search("x")) == grpc.StatusCode.UNAUTHENTICATED
    finally:
        admin_as_tenant.close()
    _, tenant = new_tenant()
    assert code_of(lambda: tenant.admin("ListTenants", admin_pb2.ListTenantsRequest())) == grpc.StatusCode.UNAUTHENTICATED


def test_revoked_key_is_refused(gateway, new_tenant):
    name, api = new_tenant()
    admin = Api(gateway.address, gateway.admin_key)
    try:
        issued = admin.admin("IssueApiKey", admin_pb2.IssueApiKeyRequest(tenant=name, label="second"))
        second = Api(gateway.address, issued.api_key)
        assert second.search("anything").hits == []  # works
        admin.admin("RevokeApiKey", admin_pb2.RevokeApiKeyRequest(key_id=issued.key.key_id))
        assert code_of(lambda: second.search("anything")) == grpc.StatusCode.UNAUTHENTICATED
        second.close()
        assert api.search("anything").hits == []  # the tenant's other key still works
    finally:
        admin.close()


def test_rate_limit_is_resource_exhausted_with_a_retry_hint(new_tenant):
    _, api = new_tenant(requests_per_second=0.5, burst=2)
    api.search("one")
    api.search("two")
    with pytest.raises(grpc.RpcError) as info:
        api.search("three")
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    retry_ms = dict(info.value.trailing_metadata() or ()).get("retry-after-ms")
    assert retry_ms is not None and 0 < int(retry_ms) <= 2000
    time.sleep(int(retry_ms) / 1000 + 0.1)
    api.search("four")  # the bucket refilled


def test_storage_quota_refuses_the_whole_document(new_tenant):
    _, api = new_tenant(max_chunks=3)
    small = api.ingest(text_item("small", "Only one short chunk here."))[0]
    assert small.chunks == 1
    long_text = " ".join(f"Paragraph {i} is a sentence about quotas and limits in multi-tenant systems." for i in range(200))
    result = api.ingest(text_item("long", long_text))[0]
    assert result.error.code == "RESOURCE_EXHAUSTED"
    assert "quota" in result.error.message
    assert [d.document_id for d in api.list_documents().documents] == ["small"]


def test_offloaded_tenant_refuses_calls_until_activated(gateway, new_tenant):
    name, api = new_tenant()
    api.ingest(text_item("kept", "Data that must survive offloading: the word is marmalade."))
    admin = Api(gateway.address, gateway.admin_key)
    try:
        admin.admin("SetTenantState", admin_pb2.SetTenantStateRequest(name=name, state=admin_pb2.TENANT_STATE_OFFLOADED))
        with pytest.raises(grpc.RpcError) as info:
            api.search("marmalade")
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "offloaded" in info.value.details()
        admin.admin("SetTenantState", admin_pb2.SetTenantStateRequest(name=name, state=admin_pb2.TENANT_STATE_ACTIVE))
        assert [h.document_id for h in api.search("marmalade").hits] == ["kept"]
    finally:
        admin.close()


def test_deleting_a_tenant_removes_its_data_and_keys(gateway, new_tenant):
    name, api = new_tenant()
    api.ingest(text_item("doc", "Something to delete."))
    admin = Api(gateway.address, gateway.admin_key)
    try:
        deleted = admin.admin("DeleteTenant", admin_pb2.DeleteTenantRequest(name=name))
        assert deleted.chunks_deleted == 1 and deleted.keys_revoked == 1
        assert code_of(lambda: api.search("delete")) == grpc.StatusCode.UNAUTHENTICATED
    finally:
        admin.close()
