"""The SDK against the real gateway (tiny models on a real Triton, real LanceDB), sync and async.

The tiny models have random weights: answers are gibberish but well-formed, and retrieval finds
exact keywords through BM25, so the tests look for made-up words ("zorblax") in the results.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from babelrag_client import (
    AlreadyExistsError,
    Answer,
    AnswerDelta,
    AsyncClient,
    AuthenticationError,
    Client,
    DeadlineExceededError,
    Filters,
    ImageDocument,
    IngestStatus,
    InvalidRequestError,
    Modality,
    NotFoundError,
    QuotaExceededError,
    RetryPolicy,
    TenantUnavailableError,
    TextDocument,
)
from tests.client.conftest import Api

pytestmark = pytest.mark.slow

_names = itertools.count()
PATIENT_RETRY = RetryPolicy(max_attempts=12, initial_backoff=0.25, max_backoff=2.0)


def tenant_name(prefix: str = "sdk") -> str:
    return f"{prefix}-{os.getpid()}-{next(_names)}"


def make_kb(root: Path) -> Path:
    """A folder like a person's: Markdown, text, HTML, an image with a caption, junk, a broken PDF."""
    kb = root / "kb"
    (kb / "guides").mkdir(parents=True)
    (kb / "guides" / "zorblax.md").write_text(
        "# Zorblax maintenance\n\nThe zorblax engine must be oiled every fortnight with quuxine oil.\n"
    )
    (kb / "facts.txt").write_text("The glimmerfish lives in the Vantor lake and glows at night.\n")
    (kb / "page.html").write_text(
        "<!DOCTYPE html><html><head><title>Frobnicator</title></head><body><p>The frobnicator hums softly.</p></body></html>"
    )
    Image.new("RGB", (32, 32), (200, 30, 30)).save(kb / "red-square.png")
    (kb / "red-square.png.caption.txt").write_text("a plain red square called the crimsonblock")
    (kb / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf, it is broken\n")
    (kb / ".DS_Store").write_bytes(b"\x00\x01junk")
    (kb / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    return kb


def make_api(kind: str, gateway, api_key: str | None, **kwargs) -> Api:  # noqa: ANN001
    cls = AsyncClient if kind == "async" else Client
    return Api(cls(gateway.address, api_key=api_key, admin_key=gateway.admin_key, **kwargs))


async def close(api: Api) -> None:
    if api.is_async:
        await api.client.aclose()
    else:
        api.client.close()


@pytest.fixture(params=["sync", "async"])
async def tenant_api(request: pytest.FixtureRequest, gateway):  # noqa: ANN001, ANN201
    """A client of a fresh tenant, once per client kind."""
    api = make_api(request.param, gateway, gateway.create_tenant(tenant_name(request.param)))
    yield api
    await close(api)


@pytest.fixture(scope="module")
def kb_tenant(gateway, tmp_path_factory: pytest.TempPathFactory) -> str:  # noqa: ANN001
    """A tenant holding the knowledge-base folder (ingested once, read by many tests); its API key."""
    key = gateway.create_tenant(tenant_name("kb"))
    with Client(gateway.address, api_key=key) as client:
        report = client.ingest(make_kb(tmp_path_factory.mktemp("kb")), tags=["kb"])
    assert len(report.stored) == 4, report
    return key


@pytest.fixture(params=["sync", "async"])
async def kb_api(request: pytest.FixtureRequest, gateway, kb_tenant: str):  # noqa: ANN001, ANN201
    api = make_api(request.param, gateway, kb_tenant)
    yield api
    await close(api)


# -- ingest ----------------------------------------------------------------------------------------
async def test_ingest_folder_with_a_broken_file(tenant_api: Api, tmp_path: Path) -> None:
    progress = []
    report = await tenant_api("ingest", make_kb(tmp_path), tags=["kb"], progress=progress.append)
    by_name = {Path(r.source).name: r for r in report}
    assert sorted(by_name) == ["broken.pdf", "facts.txt", "page.html", "red-square.png", "zorblax.md"]
    broken = by_name.pop("broken.pdf")
    assert broken.status is IngestStatus.FAILED and broken.error.code == "INVALID_ARGUMENT", broken
    assert all(r.status is IngestStatus.STORED and r.chunks >= 1 for r in by_name.values()), by_name
    assert by_name["red-square.png"].modality is Modality.IMAGE
    assert by_name["zorblax.md"].document_id == "kb/guides/zorblax.md"
    assert {Path(s.path).name: s.reason for s in report.skipped} == {".DS_Store": "hidden", "clip.mp4": "unsupported type video/mp4"}
    assert progress[-1].items_done == 5 and progress[-1].items_failed == 1
    listed = await tenant_api("documents.list")
    assert sorted(d.document_id for d in listed) == sorted(r.document_id for r in by_name.values())
    images = [d for d in listed if d.modality is Modality.IMAGE]
    assert [d.document_id for d in images] == ["kb/red-square.png"]


async def test_ingest_text_and_image_documents(tenant_api: Api) -> None:
    report = await tenant_api(
        "ingest",
        [
            TextDocument("The snargle festival happens every spring.", document_id="snargle", title="Snargle", language="en"),
            ImageDocument(Image.new("RGB", (16, 16), (0, 0, 255)), caption="a blue tile named bluxen", document_id="bluxen"),
        ],
    )
    assert report.ok, report
    assert [r.document_id for r in report] == ["snargle", "bluxen"]
    hits = await tenant_api("search", "snargle", mode="keyword")
    assert hits[0].document_id == "snargle" and hits[0].source.title == "Snargle"


async def test_oversize_item_fails_alone(tenant_api: Api, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"lorem ipsum " * (300 * 1024))  # 3.6 MB: over the suite's 2 MiB item limit
    report = await tenant_api("ingest", [big, TextDocument("small and fine", document_id="small")])
    assert [r.status for r in report] == [IngestStatus.FAILED, IngestStatus.STORED]
    assert report.results[0].error.code == "INVALID_ARGUMENT" and "limit" in report.results[0].error.message


async def test_storage_quota_is_reported_per_item(gateway) -> None:  # noqa: ANN001
    key = gateway.create_tenant(tenant_name("small"), max_chunks=1)
    with Client(gateway.address, api_key=key) as client:
        report = client.ingest([TextDocument("first small doc", document_id="a"), TextDocument("second doc", document_id="b")])
    assert [r.status for r in report] == [IngestStatus.STORED, IngestStatus.FAILED]
    assert report.results[1].error.code == "RESOURCE_EXHAUSTED"


# -- search and ask ----------------------------------------------------------------------------------
async def test_search_finds_the_keyword(kb_api: Api) -> None:
    result = await kb_api("search", "zorblax", top_k=3)
    assert result.hits and result.hits[0].document_id == "kb/guides/zorblax.md"
    assert "zorblax" in result.hits[0].snippet.lower()
    assert "kb" in result.hits[0].tags


async def test_search_with_filters(kb_api: Api) -> None:
    only_images = await kb_api("search", "crimsonblock red square", filters=Filters(modalities=["image"]))
    assert only_images.hits and {h.modality for h in only_images} == {Modality.IMAGE}
    other_doc = await kb_api("search", "zorblax", filters={"document_id": ["kb/facts.txt"]}, mode="keyword")
    assert all(h.document_id == "kb/facts.txt" for h in other_doc)


async def test_search_by_image(kb_api: Api) -> None:
    result = await kb_api("search", image=Image.new("RGB", (32, 32), (200, 30, 30)), filters={"modality": "image"})
    assert result.hits and result.hits[0].document_id == "kb/red-square.png"


async def test_ask_streams_tokens_then_the_answer(kb_api: Api) -> None:
    stream = kb_api.client.ask("How often must the zorblax engine be oiled?", max_tokens=24)
    events = await kb_api.events(stream)
    deltas = [e for e in events if isinstance(e, AnswerDelta)]
    final = events[-1]
    assert isinstance(final, Answer) and stream.answer is final
    assert all(not isinstance(e, Answer) for e in events[:-1])
    assert final.text == "".join(d.text for d in deltas)
    assert final.finish_reason in ("stop", "length")
    assert any(c.document_id == "kb/guides/zorblax.md" for c in final.context)
    assert final.answer_language and final.model


async def test_ask_without_streaming(kb_api: Api) -> None:
    answer = await kb_api("ask", "Where does the glimmerfish live?", language="de", top_k=3, max_tokens=16, stream=False)
    assert isinstance(answer, Answer)
    assert answer.answer_language == "de"
    assert any(c.document_id == "kb/facts.txt" for c in answer.context)


async def test_ask_about_an_image(kb_api: Api, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(photo)
    answer = await kb_api("ask", "What is this red thing?", image=photo, max_tokens=16, stream=False)
    assert isinstance(answer, Answer) and answer.finish_reason
    assert any(c.modality is Modality.IMAGE for c in answer.context)
    assert answer.images_seen >= 0


# -- errors --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_authentication_errors(gateway, kind: str) -> None:  # noqa: ANN001
    no_key = make_api(kind, gateway, None)
    with pytest.raises(AuthenticationError, match="no API key"):
        await no_key("search", "x")
    await close(no_key)
    wrong = make_api(kind, gateway, "brk_nosuchkey0_" + "x" * 40)
    with pytest.raises(AuthenticationError) as caught:
        await wrong("search", "x")
    assert caught.value.code is not None and caught.value.request_id
    with pytest.raises(AuthenticationError):
        await wrong("ingest", TextDocument("x"))
    await close(wrong)


async def test_revoked_key(gateway) -> None:  # noqa: ANN001
    name = tenant_name("revoke")
    with Client(gateway.address, admin_key=gateway.admin_key, api_key=None) as admin_client:
        created = admin_client.admin.create_tenant(name)
        issued = admin_client.admin.issue_key(name, label="to-revoke")
        with Client(gateway.address, api_key=issued.api_key) as user:
            user.search("works before revoking")
            admin_client.admin.revoke_key(issued.key.key_id)
            with pytest.raises(AuthenticationError):
                user.search("fails after")
        with Client(gateway.address, api_key=created.api_key) as other:
            other.search("the tenant's other key still works")


async def test_quota_exceeded_has_retry_after(gateway) -> None:  # noqa: ANN001
    key = gateway.create_tenant(tenant_name("rate"), requests_per_second=0.5, burst=1)
    async with AsyncClient(gateway.address, api_key=key) as client:
        await client.search("first is free")
        with pytest.raises(QuotaExceededError) as caught:
            await client.search("second is too soon")
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 2.5


async def test_invalid_filter(kb_api: Api) -> None:
    with pytest.raises(InvalidRequestError, match="colour"):
        await kb_api("search", "zorblax", filters={"colour": "red"})


async def test_unknown_document(tenant_api: Api) -> None:
    with pytest.raises(NotFoundError):
        await tenant_api("documents.delete", "no-such-document")


async def test_offloaded_tenant(gateway) -> None:  # noqa: ANN001
    name = tenant_name("cold")
    with Client(gateway.address, admin_key=gateway.admin_key, api_key=gateway.create_tenant(name)) as client:
        client.search("fine while active")
        client.admin.set_tenant_state(name, "offloaded")
        with pytest.raises(TenantUnavailableError):
            client.search("refused while offloaded")
        client.admin.set_tenant_state(name, "active")
        client.search("fine again")


async def test_admin_errors(gateway) -> None:  # noqa: ANN001
    name = tenant_name("adm")
    key = gateway.create_tenant(name)
    with Client(gateway.address, admin_key=key) as wrong_admin:  # a tenant key is no admin key
        with pytest.raises(AuthenticationError):
            wrong_admin.admin.list_tenants()
    with Client(gateway.address, admin_key=gateway.admin_key) as admin_client:
        with pytest.raises(AlreadyExistsError):
            admin_client.admin.create_tenant(name)
        with pytest.raises(NotFoundError):
            admin_client.admin.get_tenant("no-such-tenant")
        with pytest.raises(InvalidRequestError):
            admin_client.admin.create_tenant("Bad Name!")
        tenant = admin_client.admin.set_quotas(name, {"max_chunks": 50, "requests_per_second": 10, "burst": 20})
        assert tenant.quotas.max_chunks == 50
        assert name in {t.name for t in admin_client.admin.list_tenants()}
        deleted = admin_client.admin.delete_tenant(name)
        assert deleted.keys_revoked >= 1


async def test_deadline_exceeded(kb_api: Api) -> None:
    with pytest.raises(DeadlineExceededError):
        await kb_api("ask", "How often must the zorblax engine be oiled?", stream=False, timeout=0.005)


# -- retries across a restart ------------------------------------------------------------------------
def _port_closed(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.2):
            return False
    except OSError:
        return True


def _restart_in_background(gateway, downtime_s: float) -> threading.Thread:  # noqa: ANN001
    thread = threading.Thread(target=gateway.restart, kwargs={"downtime_s": downtime_s}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not _port_closed(gateway.address):
        assert time.monotonic() < deadline, "the gateway did not stop"
        time.sleep(0.05)
    return thread


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_search_retries_across_a_gateway_restart(gateway, kb_tenant: str, kind: str, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    api = make_api(kind, gateway, kb_tenant, retry=PATIENT_RETRY, timeout=60)
    await api("search", "zorblax")  # connected before the restart
    caplog.set_level(logging.INFO, logger="babelrag_client")
    thread = _restart_in_background(gateway, downtime_s=1.5)
    try:
        result = await api("search", "zorblax", top_k=3)
    finally:
        await asyncio.to_thread(thread.join, 120)
        await close(api)
    assert result.hits and result.hits[0].document_id == "kb/guides/zorblax.md"
    assert any("retry" in record.getMessage() for record in caplog.records), "the call was not retried"
