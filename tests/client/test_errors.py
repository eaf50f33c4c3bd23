"""gRPC status -> SDK exception: the table, and the same through real gRPC calls of both clients."""

from __future__ import annotations

import grpc
import pytest

from babelrag_client import errors
from babelrag_client.errors import error_for_code_name, error_for_status
from tests.client.conftest import Api
from tests.client.fakeserver import FakeServer

EXPECTED = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidRequestError,
    grpc.StatusCode.OUT_OF_RANGE: errors.InvalidRequestError,
    grpc.StatusCode.UNAUTHENTICATED: errors.AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDeniedError,
    grpc.StatusCode.NOT_FOUND: errors.NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExistsError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.QuotaExceededError,
    grpc.StatusCode.FAILED_PRECONDITION: errors.TenantUnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.DeadlineExceededError,
    grpc.StatusCode.UNAVAILABLE: errors.ServiceUnavailableError,
    grpc.StatusCode.CANCELLED: errors.RequestCancelledError,
    grpc.StatusCode.INTERNAL: errors.ServerError,
    grpc.StatusCode.UNKNOWN: errors.ServerError,
    grpc.StatusCode.DATA_LOSS: errors.ServerError,
    grpc.StatusCode.UNIMPLEMENTED: errors.ServerError,
    grpc.StatusCode.ABORTED: errors.ServerError,
}


@pytest.mark.parametrize("code", [c for c in grpc.StatusCode if c is not grpc.StatusCode.OK])
def test_every_status_code_has_an_exception(code: grpc.StatusCode) -> None:
    error = error_for_status(code, "boom", request_id="r1", method="Search")
    assert type(error) is EXPECTED[code]
    assert (error.code, error.message, error.request_id, error.method) == (code, "boom", "r1", "Search")
    assert error.to_dict()["code"] == code.name


def test_builtin_bases() -> None:
    assert issubclass(errors.InvalidRequestError, ValueError)
    assert issubclass(errors.ConfigurationError, ValueError)
    assert issubclass(errors.DeadlineExceededError, TimeoutError)


def test_retry_after_from_trailing_metadata() -> None:
    error = error_for_status(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", trailing_metadata=(("retry-after-ms", "1500"),))
    assert isinstance(error, errors.QuotaExceededError) and error.retry_after == 1.5
    assert error_for_status(grpc.StatusCode.RESOURCE_EXHAUSTED, "full").retry_after is None
    bad = error_for_status(grpc.StatusCode.RESOURCE_EXHAUSTED, "x", trailing_metadata=(("retry-after-ms", "soon"),))
    assert bad.retry_after is None


def test_unavailable_names_server_and_attempts() -> None:
    error = error_for_status(grpc.StatusCode.UNAVAILABLE, "connection refused", attempts=3, target="h:1")
    assert isinstance(error, errors.ServiceUnavailableError) and error.attempts == 3
    assert str(error) == "the server at h:1 is unavailable: connection refused (gave up after 3 attempts)"


def test_code_names_of_ingest_items() -> None:
    assert isinstance(error_for_code_name("RESOURCE_EXHAUSTED", "quota"), errors.QuotaExceededError)
    assert isinstance(error_for_code_name("invalid_argument", "bad"), errors.InvalidRequestError)
    unknown = error_for_code_name("IO_ERROR", "disk")
    assert isinstance(unknown, errors.ServerError) and "IO_ERROR" in str(unknown)


@pytest.mark.parametrize("code", sorted(EXPECTED, key=lambda c: c.name))
async def test_real_status_codes_through_both_clients(api: Api, fake: FakeServer, code: grpc.StatusCode) -> None:
    # UNAVAILABLE is retried: script enough failures to exhaust the (fast) retry policy
    fake.backend.fail("Search", code, "scripted failure", trailing=(("retry-after-ms", "250"),), times=4)
    with pytest.raises(errors.BabelRAGError) as caught:
        await api("search", "hello", timeout=5)
    error = caught.value
    assert type(error) is EXPECTED[code]
    assert error.code is code and "scripted failure" in str(error)
    assert error.method == "Search"
    calls = fake.backend.calls_of("Search")
    assert error.request_id == calls[-1]["x-request-id"]
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        assert error.retry_after == 0.25


async def test_wrong_key_is_authentication_error(fake: FakeServer) -> None:
    from tests.client.conftest import close, make_client

    for kind in ("sync", "async"):
        client = make_client(kind, fake.address, api_key="brk_wrong")
        with pytest.raises(errors.AuthenticationError):
            result = client.search("x")
            if kind == "async":
                await result
        await close(client)


def test_missing_key_is_detected_before_sending(fake: FakeServer) -> None:
    from babelrag_client import Client

    with Client(fake.address, api_key=None, admin_key=None) as client:
        with pytest.raises(errors.AuthenticationError, match="BABELRAG_API_KEY") as caught:
            client.search("x")
        assert caught.value.code is None
        with pytest.raises(errors.AuthenticationError, match="BABELRAG_ADMIN_KEY"):
            client.admin.list_tenants()
    assert fake.backend.calls == []


def test_closed_client(fake: FakeServer) -> None:
    from tests.client.conftest import make_client

    client = make_client("sync", fake.address)
    client.close()
    client.close()  # twice is fine
    with pytest.raises(errors.ConfigurationError, match="closed"):
        client.search("x")
