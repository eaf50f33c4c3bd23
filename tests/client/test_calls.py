"""Search, ask, documents and admin through both clients against the scripted server."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from PIL import Image

from babelrag.v1 import admin_pb2, documents_pb2
from babelrag_client import (
    AlreadyExistsError,
    Answer,
    AnswerDelta,
    InvalidRequestError,
    Modality,
    NotFoundError,
    Quotas,
    TenantState,
)
from tests.client.conftest import Api
from tests.client.fakeserver import FakeServer


async def test_search(api: Api, fake: FakeServer, tmp_path: Path) -> None:
    image = tmp_path / "q.png"
    Image.new("RGB", (4, 4)).save(image)
    result = await api("search", "eiffel", image=image, top_k=3, filters={"language": ["en"]}, mode="hybrid")
    assert len(result) == 1
    hit = result[0]
    assert (hit.document_id, hit.modality, hit.source.title) == ("doc-1", Modality.TEXT, "Doc one")
    assert hit.snippet == "you asked: eiffel (1 images)"
    assert hit.valid_at == datetime.fromtimestamp(1_700_000_000, tz=timezone.utc)
    assert hit.rerank_score is None and hit.signal_scores == {"keyword": pytest.approx(0.8)}
    assert result.timings == {"retrieve": 1.5}
    request = fake.backend.requests["Search"][0]
    assert request.top_k == 3 and request.filters.match[0].field == "language"
    metadata = fake.backend.calls_of("Search")[0]
    assert metadata["authorization"].startswith("Bearer ") and len(metadata["x-request-id"]) == 16
    assert metadata["user-agent"].startswith("babelrag-python/")
    assert result.to_dict()["hits"][0]["modality"] == "text"


async def test_ask_streams_deltas_then_the_answer(api: Api, fake: FakeServer) -> None:
    stream = api.client.ask("Capital of France?", language="fr", top_k=4)
    events = await api.events(stream)
    assert events[:3] == [AnswerDelta("Paris "), AnswerDelta("is "), AnswerDelta("the capital [1].")]
    final = events[-1]
    assert isinstance(final, Answer) and final.is_final and stream.answer is final
    assert final.text == "Paris is the capital [1]." and final.answer_language == "fr"
    assert final.citations[0].number == 1 and final.citations[0].source.title == "Doc one"
    request = fake.backend.requests["Ask"][0]
    assert request.answer_language == "fr" and request.options.top_k == 4


async def test_ask_without_streaming(api: Api) -> None:
    answer = await api("ask", "Capital?", stream=False)
    assert isinstance(answer, Answer) and answer.text == "Paris is the capital [1]."


async def test_ask_with_images(api: Api, fake: FakeServer, tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (4, 4), "white").save(path)
    await api("ask", "What is this?", image=path, images=[Image.new("RGB", (2, 2))], stream=False)
    images = fake.backend.requests["Ask"][0].images
    assert images[0] == path.read_bytes() and images[1].startswith(b"\x89PNG")


async def test_ask_stream_without_final_is_an_error(api: Api, fake: FakeServer) -> None:
    from babelrag_client import ServerError

    fake.backend.ask_send_final = False
    with pytest.raises(ServerError, match="without its final event"):
        await api("ask", "q", stream=False)


async def test_leaving_an_answer_stream_early_cancels_it(api: Api, fake: FakeServer) -> None:
    stream = api.client.ask("q")
    if api.is_async:
        async with stream:
            first = await stream.__anext__()
    else:
        with stream:
            first = next(stream)
    assert first == AnswerDelta("Paris ")
    assert stream.answer is None


async def test_bad_arguments_are_refused_before_sending(api: Api, fake: FakeServer) -> None:
    with pytest.raises(InvalidRequestError):
        api.client.ask("")
    with pytest.raises(InvalidRequestError):
        await api("search", "x", top_k=0)
    with pytest.raises(InvalidRequestError, match="not a JPEG"):
        await api("search", "x", image=b"not an image")
    assert fake.backend.calls == []


async def test_documents(api: Api, fake: FakeServer) -> None:
    for i in range(5):
        fake.backend.documents[f"d{i}"] = documents_pb2.DocumentInfo(document_id=f"d{i}", chunks=i + 1)
    page = await api("documents.list", page_size=2)
    assert [d.document_id for d in page] == ["d0", "d1"] and page.next_page_token == "d1" and page.total == 5
    if api.is_async:
        every = [d async for d in api.client.documents.iterate(page_size=2)]
    else:
        every = list(api.client.documents.iterate(page_size=2))
    assert [d.document_id for d in every] == [f"d{i}" for i in range(5)]
    assert await api("documents.delete", "d3") == 4
    with pytest.raises(NotFoundError):
        await api("documents.delete", "d3")


async def test_admin(api: Api, fake: FakeServer) -> None:
    created = await api("admin.create_tenant", "acme", quotas=Quotas(requests_per_second=5, burst=10), key_label="main")
    assert created.tenant.name == "acme" and created.tenant.state is TenantState.ACTIVE
    assert created.api_key.startswith("brk_") and created.api_key not in repr(created)
    assert created.tenant.quotas == Quotas(requests_per_second=5.0, burst=10)
    assert fake.backend.calls_of("CreateTenant")[0]["authorization"] == "Bearer admin-secret"
    with pytest.raises(AlreadyExistsError):
        await api("admin.create_tenant", "acme")
    assert [t.name for t in await api("admin.list_tenants")] == ["acme"]
    assert (await api("admin.get_tenant", "acme")).name == "acme"
    offloaded = await api("admin.set_tenant_state", "acme", "offloaded")
    assert offloaded.state is TenantState.OFFLOADED
    assert fake.backend.requests["SetTenantState"][0].state == admin_pb2.TENANT_STATE_OFFLOADED
    assert (await api("admin.set_quotas", "acme", {"max_chunks": 100})).quotas.max_chunks == 100
    issued = await api("admin.issue_key", "acme", label="ci")
    keys = await api("admin.list_keys", "acme")
    assert {k.key_id for k in keys} == {created.key.key_id, issued.key.key_id}
    revoked = await api("admin.revoke_key", issued.key.key_id)
    assert revoked.revoked and revoked.revoked_at is not None
    deleted = await api("admin.delete_tenant", "acme")
    assert deleted.keys_revoked == 2
    with pytest.raises(NotFoundError):
        await api("admin.get_tenant", "acme")
