"""Retries: the policy's decisions (pure), then the send loops of both clients against a real gRPC server."""

from __future__ import annotations

import time

import grpc
import pytest

from babelrag_client import (
    AnswerDelta,
    DeadlineExceededError,
    RequestCancelledError,
    RetryPolicy,
    ServiceUnavailableError,
    TextDocument,
    Timeouts,
)
from babelrag_client._core import METHODS, Call, ClientConfig, retry_delay
from tests.client.conftest import FAST_RETRY, Api, close, make_client
from tests.client.fakeserver import FakeServer

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
POLICY = RetryPolicy(max_attempts=4, initial_backoff=0.5, max_backoff=3.0, multiplier=2.0, jitter=0.2)


def decide(code=UNAVAILABLE, *, idempotent=True, replayable=True, attempt=1, remaining=None, rand=lambda: 0.0):
    return retry_delay(POLICY, code, idempotent=idempotent, replayable=replayable, attempt=attempt, remaining=remaining, rand=rand)


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    assert [decide(attempt=n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert RetryPolicy(max_attempts=10, initial_backoff=0.5, max_backoff=3.0).backoff(6, lambda: 0.0) == 3.0


def test_jitter_shortens_by_at_most_its_fraction() -> None:
    assert decide(attempt=1, rand=lambda: 1.0) == pytest.approx(0.4)
    delays = {POLICY.backoff(2) for _ in range(50)}
    assert all(0.8 <= d <= 1.0 for d in delays) and len(delays) > 1


@pytest.mark.parametrize("code", [c for c in grpc.StatusCode if c is not UNAVAILABLE])
def test_only_unavailable_is_retried(code: grpc.StatusCode) -> None:
    assert decide(code) is None


def test_not_retried_when_not_idempotent_or_not_replayable() -> None:
    assert decide(idempotent=False) is None
    assert decide(replayable=False) is None  # e.g. an Ask stream that already produced tokens


def test_attempts_and_deadline_bound_the_retries() -> None:
    assert decide(attempt=3) == 2.0
    assert decide(attempt=4) is None  # max_attempts reached
    assert decide(attempt=1, remaining=0.4) is None  # the wait would outlast the deadline
    assert decide(attempt=1, remaining=0.6) == 0.5


def test_which_methods_are_idempotent() -> None:
    retried = {spec.name for spec in METHODS if spec.idempotent}
    assert retried == {"Search", "Ask", "ListDocuments", "ListTenants", "GetTenant", "ListApiKeys", "SetTenantState", "SetQuotas"}
    admin = {spec.name for spec in METHODS if spec.admin}
    assert admin == {"CreateTenant", "ListTenants", "GetTenant", "DeleteTenant", "SetTenantState", "SetQuotas",
                     "IssueApiKey", "ListApiKeys", "RevokeApiKey"}  # fmt: skip


class _Rpc(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def test_a_cancel_from_the_server_is_retried_but_not_ones_own() -> None:
    config = ClientConfig.resolve(api_key="k", retry=RetryPolicy(max_attempts=3, initial_backoff=0.5, jitter=0.0), environ={})
    search = Call(METHODS[0], config, 30.0)
    assert search.retry_delay(_Rpc(grpc.StatusCode.CANCELLED, "CANCELLED")) == 0.5  # a server shutting down
    with pytest.raises(RequestCancelledError):
        search.retry_delay(_Rpc(grpc.StatusCode.CANCELLED, "Locally cancelled by application!"))
    ingest = Call(next(m for m in METHODS if m.name == "Ingest"), config, 30.0)
    with pytest.raises(RequestCancelledError):  # not idempotent: never sent twice
        ingest.retry_delay(_Rpc(grpc.StatusCode.CANCELLED, "CANCELLED"))


def test_call_deadline_spans_attempts() -> None:
    now = [100.0]
    config = ClientConfig.resolve(api_key="k", timeout=Timeouts(search=10), environ={})
    call = Call(METHODS[0], config, clock=lambda: now[0])
    assert call.timeout() == 10.0
    now[0] += 4
    assert call.timeout() == 6.0 and call.attempts == 2
    per_call = Call(METHODS[0], config, 2.5, clock=lambda: now[0])
    assert per_call.timeout() == 2.5
    assert Call(METHODS[0], config, None).timeout() is None
    assert dict(call.metadata)["authorization"] == "Bearer k"


# -- the loops, against a server -------------------------------------------------------------------
async def test_search_is_retried_after_unavailable(api: Api, fake: FakeServer) -> None:
    fake.backend.fail("Search", UNAVAILABLE, times=2)
    result = await api("search", "hello")
    assert result.hits[0].document_id == "doc-1"
    calls = fake.backend.calls_of("Search")
    assert len(calls) == 3
    assert len({c["x-request-id"] for c in calls}) == 1  # one logical call: one request id


async def test_retries_give_up_after_max_attempts(api: Api, fake: FakeServer) -> None:
    fake.backend.fail("Search", UNAVAILABLE, times=10)
    with pytest.raises(ServiceUnavailableError) as caught:
        await api("search", "hello")
    assert caught.value.attempts == FAST_RETRY.max_attempts
    assert len(fake.backend.calls_of("Search")) == FAST_RETRY.max_attempts


async def test_list_documents_and_admin_reads_are_retried(api: Api, fake: FakeServer) -> None:
    fake.backend.fail("ListDocuments", UNAVAILABLE)
    fake.backend.fail("ListTenants", UNAVAILABLE)
    await api("documents.list")
    await api("admin.list_tenants")
    assert len(fake.backend.calls_of("ListDocuments")) == 2
    assert len(fake.backend.calls_of("ListTenants")) == 2


async def test_writes_are_not_retried(api: Api, fake: FakeServer) -> None:
    fake.backend.fail("DeleteDocument", UNAVAILABLE)
    fake.backend.fail("CreateTenant", UNAVAILABLE)
    with pytest.raises(ServiceUnavailableError):
        await api("documents.delete", "doc-1")
    with pytest.raises(ServiceUnavailableError):
        await api("admin.create_tenant", "acme")
    assert len(fake.backend.calls_of("DeleteDocument")) == 1
    assert len(fake.backend.calls_of("CreateTenant")) == 1


async def test_ingest_is_never_retried(api: Api, fake: FakeServer) -> None:
    fake.backend.fail("Ingest", UNAVAILABLE)
    with pytest.raises(ServiceUnavailableError):
        await api("ingest", [TextDocument("hello", document_id="d")])
    assert len(fake.backend.calls_of("Ingest")) == 1


async def test_ask_is_retried_before_its_first_event(api: Api, fake: FakeServer) -> None:
    fake.backend.fail("Ask", UNAVAILABLE)
    events = await api.events(api.client.ask("Capital of France?"))
    assert events[-1].text == "Paris is the capital [1]."
    assert len(fake.backend.calls_of("Ask")) == 2


async def test_ask_is_not_retried_once_tokens_arrived(api: Api, fake: FakeServer) -> None:
    fake.backend.ask_cut_after = (2, UNAVAILABLE)
    seen = []
    with pytest.raises(ServiceUnavailableError):
        if api.is_async:
            async for event in api.client.ask("q"):
                seen.append(event)
        else:
            for event in api.client.ask("q"):
                seen.append(event)
    assert seen == [AnswerDelta("Paris "), AnswerDelta("is ")]
    assert len(fake.backend.calls_of("Ask")) == 1


async def test_deadline_exceeded(api: Api, fake: FakeServer) -> None:
    fake.backend.delay_s["Search"] = 1.0
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError) as caught:
        await api("search", "slow", timeout=0.2)
    assert time.monotonic() - started < 0.9
    assert isinstance(caught.value, TimeoutError)


async def test_client_wide_timeout_applies(fake: FakeServer) -> None:
    fake.backend.delay_s["ListTenants"] = 1.0
    for kind in ("sync", "async"):
        client = make_client(kind, fake.address, timeout=0.2)
        with pytest.raises(DeadlineExceededError):
            result = client.admin.list_tenants()
            if kind == "async":
                await result
        await close(client)


async def test_retry_none_disables_retries(fake: FakeServer) -> None:
    fake.backend.fail("Search", UNAVAILABLE)
    client = make_client("sync", fake.address, retry=None)
    with pytest.raises(ServiceUnavailableError):
        client.search("x")
    await close(client)
    assert len(fake.backend.calls_of("Search")) == 1
