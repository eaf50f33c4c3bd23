"""Group commit of the Ingest stream, through real gRPC, Triton (tiny models) and LanceDB.

A spy around the gateway's store sees every upsert: the tests check that consecutive items of a
stream share one write, that no result reaches the client before its group's write returned,
and that a failing item or write costs only the item at fault.
"""

from __future__ import annotations

import threading

import grpc
import pytest

from babelrag.store.errors import BackendError
from babelrag.v1 import common_pb2, ingest_pb2
from tests.gateway.helpers import text_item

pytestmark = pytest.mark.slow

STORED, FAILED = ingest_pb2.INGEST_STATUS_STORED, ingest_pb2.INGEST_STATUS_FAILED


class StoreSpy:
    """Wraps the runtime's AsyncVectorStore: records each upsert's documents once it returned,
    and refuses a whole write that contains a ``poison`` document (as a backend might)."""

    def __init__(self, store, poison: frozenset[str] = frozenset()) -> None:  # noqa: ANN001
        self._store = store
        self.poison = poison
        self.writes: list[list[str]] = []
        self.committed: set[str] = set()
        self._lock = threading.Lock()

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._store, name)

    async def upsert(self, tenant, chunks):  # noqa: ANN001, ANN201
        documents = list(dict.fromkeys(c.document_id for c in chunks))
        if self.poison & set(documents):
            raise BackendError(f"refusing a write with {sorted(self.poison & set(documents))}")
        result = await self._store.upsert(tenant, chunks)
        with self._lock:
            self.writes.append(documents)
            self.committed.update(result.written_documents)
        return result


@pytest.fixture
def spy(gateway, monkeypatch):
    runtime = gateway.gateway.runtime
    spy = StoreSpy(runtime.store)
    monkeypatch.setattr(runtime, "store", spy)
    return spy


def docs(n: int, prefix: str = "doc") -> list[dict]:
    return [text_item(f"{prefix}-{i:02}", f"Document {i} is about the river number {i} and its {i} bridges.") for i in range(n)]


def usage(gateway, tenant: str):  # noqa: ANN001, ANN201
    return gateway.gateway.runtime.registry.get_tenant(tenant).usage


def test_consecutive_items_share_writes_and_each_ack_follows_its_commit(new_tenant, spy):
    _, api = new_tenant()
    acked_before_commit = []

    def requests():
        for item in docs(24):
            yield ingest_pb2.IngestRequest(header=ingest_pb2.ItemHeader(**item))

    results = []
    for response in api.ingest_stub.Ingest(requests(), metadata=api.metadata, timeout=120):
        if response.document_id not in spy.committed:  # the spy adds a document once its upsert returned
            acked_before_commit.append(response.document_id)
        results.append(response)
    assert [r.status for r in results] == [STORED] * 24
    assert [r.index for r in results] == list(range(24))
    assert not acked_before_commit
    assert sorted(d for write in spy.writes for d in write) == [f"doc-{i:02}" for i in range(24)]
    assert len(spy.writes) < 24 / 2, spy.writes  # items arriving together were written together
    assert all("store" in r.timings.ms and "embed" in r.timings.ms for r in results)


def test_a_slow_stream_is_acknowledged_item_by_item(new_tenant, spy):
    """The group wait is short: item i is answered while the client holds back item i + 2.

    (An item is complete when the next header, or the end of the stream, arrives.)"""
    _, api = new_tenant()
    answered = [threading.Event() for _ in range(4)]
    items = docs(4, "slow")
    waited = []

    def requests():
        for i, item in enumerate(items):
            if i >= 2:
                waited.append(answered[i - 2].wait(30))
            yield ingest_pb2.IngestRequest(header=ingest_pb2.ItemHeader(**item))

    results = []
    for response in api.ingest_stub.Ingest(requests(), metadata=api.metadata, timeout=120):
        results.append(response)
        answered[response.index].set()
    assert waited == [True, True]
    assert [r.status for r in results] == [STORED] * 4
    assert spy.writes[:2] == [["slow-00"], ["slow-01"]]


def test_a_bad_item_fails_alone_inside_a_group(new_tenant, spy):
    _, api = new_tenant()
    items = docs(10)
    items[4] = {"document_id": "binary", "filename": "tool.exe", "content": b"MZ\x90\x00\x03binary"}
    items[7] = {"document_id": "bad lang", "filename": "l.txt", "content": b"Hallo Welt", "language": "xx"}
    results = api.ingest(*items)
    assert [r.status for r in results] == [STORED] * 4 + [FAILED] + [STORED] * 2 + [FAILED] + [STORED] * 2
    assert results[4].error.code == "INVALID_ARGUMENT" and results[7].error.code == "INVALID_ARGUMENT"
    assert sorted(d.document_id for d in api.list_documents().documents) == sorted(
        i["document_id"] for n, i in enumerate(items) if n not in (4, 7)
    )


def test_a_refused_group_write_is_retried_per_item_so_only_the_bad_one_fails(gateway, new_tenant, spy):
    name, api = new_tenant()
    spy.poison = frozenset({"doc-03"})
    results = api.ingest(*docs(8))
    assert [r.status for r in results] == [STORED] * 3 + [FAILED] + [STORED] * 4
    assert "refusing a write" in results[3].error.message
    assert sorted(d.document_id for d in api.list_documents().documents) == [f"doc-{i:02}" for i in range(8) if i != 3]
    stored_chunks = sum(r.chunks for r in results if r.status == STORED)
    stored_bytes = sum(r.bytes for r in results if r.status == STORED)
    assert usage(gateway, name) == type(usage(gateway, name))(chunks=stored_chunks, bytes=stored_bytes, documents=7)


def test_the_same_document_twice_in_one_group_ends_as_its_last_version(gateway, new_tenant, spy):
    name, api = new_tenant()
    long_text = " ".join(f"Sentence {i} of the first version talks about penguins and ice." for i in range(120))
    results = api.ingest(
        text_item("handbook", long_text),
        text_item("other", "An unrelated note about tulips."),
        text_item("handbook", "The second version is short and about kangaroos."),
    )
    assert [r.status for r in results] == [STORED] * 3
    assert results[0].chunks > 1 and results[2].chunks == 1
    listed = {d.document_id: d.chunks for d in api.list_documents().documents}
    assert listed == {"handbook": 1, "other": 1}
    assert [h.document_id for h in api.search("kangaroos", mode=common_pb2.SEARCH_MODE_KEYWORD).hits] == ["handbook"]
    assert not api.search("penguins", mode=common_pb2.SEARCH_MODE_KEYWORD).hits
    assert usage(gateway, name).chunks == 2 and usage(gateway, name).documents == 2
    assert usage(gateway, name).bytes == results[1].bytes + results[2].bytes


def test_quota_inside_a_group_takes_the_documents_that_fit_in_order(gateway, new_tenant, spy):
    name, api = new_tenant(max_chunks=5)
    results = api.ingest(*docs(8))
    assert [r.status for r in results] == [STORED] * 5 + [FAILED] * 3
    assert all(r.error.code == "RESOURCE_EXHAUSTED" for r in results[5:])
    assert usage(gateway, name).chunks == 5 and usage(gateway, name).documents == 5
    # replacing stored documents within the quota still works, in one group
    again = api.ingest(*docs(5))
    assert [r.status for r in again] == [STORED] * 5
    assert usage(gateway, name).chunks == 5 and usage(gateway, name).documents == 5


def test_passages_embedded_once_are_not_embedded_again(gateway, new_tenant, monkeypatch):
    """Re-ingesting the same text (here into another tenant) takes its vectors from the cache."""
    encoders = gateway.gateway.runtime.encoders
    embedded: list[str] = []
    real = encoders.embed_texts

    async def counting(texts, kind="passage"):  # noqa: ANN001, ANN202
        embedded.extend(texts)
        return await real(texts, kind=kind)

    monkeypatch.setattr(encoders, "embed_texts", counting)
    items = [text_item(f"cached-{i:02}", f"Cache probe {i}: the mill number {i} grinds {i} sacks of rye.") for i in range(5)]
    _, first = new_tenant()
    assert [r.status for r in first.ingest(*items)] == [STORED] * 5
    assert len(embedded) == 5
    _, second = new_tenant()
    assert [r.status for r in second.ingest(*items)] == [STORED] * 5
    assert len(embedded) == 5
    assert [h.document_id for h in second.search("mill number 3 grinds 3 sacks", top_k=1).hits] == ["cached-03"]


def test_a_broken_stream_fails_the_call_after_the_results_of_the_items_before(new_tenant):
    _, api = new_tenant()

    def requests():
        for item in docs(2, "early"):
            yield ingest_pb2.IngestRequest(header=ingest_pb2.ItemHeader(**item))
        yield ingest_pb2.IngestRequest()  # neither a header nor data

    received = []
    with pytest.raises(grpc.RpcError) as info:
        for response in api.ingest_stub.Ingest(requests(), metadata=api.metadata, timeout=60):
            received.append(response)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "empty IngestRequest" in info.value.details()
    # the first item was complete (the second header followed it) and is stored; the second never was
    assert [(r.document_id, r.status) for r in received] == [("early-00", STORED)]
    assert [d.document_id for d in api.list_documents().documents] == ["early-00"]
