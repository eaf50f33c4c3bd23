"""Ingest, search and documents through real gRPC, real Triton (tiny models) and real LanceDB."""

from __future__ import annotations

import grpc
import pytest

from babelrag.v1 import common_pb2, ingest_pb2
from tests.gateway.helpers import field_filter, image_bytes, text_item

pytestmark = pytest.mark.slow

DOCS = {
    "zh-photosynthesis": "光合作用是植物利用阳光把二氧化碳和水转化为葡萄糖的过程。叶绿素吸收光能。",
    "ja-tea": "日本の茶道は客をもてなす伝統的な儀式です。抹茶を点てて客に出します。",
    "ko-hangul": "한글은 조선의 세종대왕이 창제한 문자입니다. 훈민정음이라고도 부릅니다.",
    "th-elephant": "ช้างไทยเป็นสัตว์ประจำชาติของประเทศไทยและมีความสำคัญทางประวัติศาสตร์",
    "fr-eiffel": "La tour Eiffel est une tour de fer puddlé de 330 mètres de hauteur située à Paris.",
    "de-rhein": "Der Rhein ist einer der längsten und wichtigsten Flüsse in Mitteleuropa.",
}


def ingest_docs(api) -> list:
    return api.ingest(*(text_item(doc_id, text, title=doc_id) for doc_id, text in DOCS.items()))


def test_mixed_language_ingest_reports_each_item(new_tenant):
    _, api = new_tenant()
    results = ingest_docs(api)
    assert [r.status for r in results] == [ingest_pb2.INGEST_STATUS_STORED] * len(DOCS)
    assert [r.index for r in results] == list(range(len(DOCS)))
    assert {r.document_id: r.language for r in results} == {
        "zh-photosynthesis": "zh", "ja-tea": "ja", "ko-hangul": "ko", "th-elephant": "th", "fr-eiffel": "fr", "de-rhein": "de",
    }
    assert all(r.chunks >= 1 and r.modality == common_pb2.MODALITY_TEXT for r in results)
    listed = api.list_documents()
    assert sorted(d.document_id for d in listed.documents) == sorted(DOCS)
    assert listed.total == len(DOCS)
    assert {d.document_id: d.language for d in listed.documents} == {r.document_id: r.language for r in results}
    assert all(d.HasField("created_at") and d.created_at.seconds > 1_700_000_000 for d in listed.documents)
    assert all(d.bytes == len(DOCS[d.document_id].encode()) for d in listed.documents)


@pytest.mark.parametrize(
    ("term", "document_id"),
    [("叶绿素", "zh-photosynthesis"), ("抹茶", "ja-tea"), ("훈민정음", "ko-hangul"), ("ช้าง", "th-elephant"), ("Rhein", "de-rhein")],
)
def test_keyword_search_finds_terms_in_unspaced_scripts(new_tenant, term, document_id):
    _, api = new_tenant()
    ingest_docs(api)
    response = api.search(term, mode=common_pb2.SEARCH_MODE_KEYWORD, top_k=3)
    assert response.hits and response.hits[0].document_id == document_id
    assert response.hits[0].signal_scores["keyword"] == pytest.approx(1.0)


def test_reingest_replaces_and_is_idempotent(new_tenant):
    _, api = new_tenant()
    first = api.ingest(text_item("doc", "Version one of the handbook. It has two sentences."))[0]
    again = api.ingest(text_item("doc", "Version one of the handbook. It has two sentences."))[0]
    assert first.chunks == again.chunks
    assert [d.chunks for d in api.list_documents().documents] == [first.chunks]
    api.ingest(text_item("doc", "Version two says something else entirely about penguins."))
    hits = api.search("penguins", mode=common_pb2.SEARCH_MODE_KEYWORD).hits
    assert [h.document_id for h in hits] == ["doc"]
    assert not api.search("handbook", mode=common_pb2.SEARCH_MODE_KEYWORD).hits


def test_delete_document(new_tenant):
    _, api = new_tenant()
    ingest_docs(api)
    assert api.delete_document("de-rhein").chunks_deleted >= 1
    assert all(h.document_id != "de-rhein" for h in api.search("Rhein Flüsse", top_k=10).hits)
    with pytest.raises(grpc.RpcError) as info:
        api.delete_document("de-rhein")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_tenants_are_isolated(new_tenant):
    _, alice = new_tenant("alice")
    _, bob = new_tenant("bob")
    alice.ingest(text_item("secret-plan", "The secret launch code word is aubergine."))
    assert alice.search("aubergine").hits
    assert not bob.search("aubergine").hits
    assert not bob.search("aubergine", filters=field_filter("document_id", "secret-plan")).hits
    assert not bob.list_documents().documents
    with pytest.raises(grpc.RpcError) as info:
        bob.delete_document("secret-plan")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert alice.search("aubergine").hits  # bob's attempt changed nothing


def test_filters(new_tenant):
    _, api = new_tenant()
    ingest_docs(api)
    hits = api.search("tour Rhein 光合作用", top_k=10, filters=field_filter("language", "fr")).hits
    assert {h.document_id for h in hits} == {"fr-eiffel"}
    injected = api.search("tour", top_k=10, filters=field_filter("document_id", "x' OR 1=1 --")).hits
    assert not injected


def test_image_ingest_and_image_query(new_tenant):
    _, api = new_tenant()
    red, blue = image_bytes("red", "A"), image_bytes("blue", "B", size=(300, 200), fmt="JPEG")
    results = api.ingest(
        {"document_id": "red-circle", "filename": "red.png", "content": red, "caption": "a red circle"},
        {"document_id": "blue-circle", "filename": "blue.jpg", "content": blue},
        text_item("notes", "Some notes about circles and colours."),
    )
    assert [r.status for r in results] == [ingest_pb2.INGEST_STATUS_STORED] * 3
    assert results[0].modality == common_pb2.MODALITY_IMAGE and results[0].mime_type == "image/png"
    hits = api.search(images=[blue], top_k=3).hits
    assert hits[0].document_id == "blue-circle"
    assert hits[0].modality == common_pb2.MODALITY_IMAGE
    only_images = api.search("circles", top_k=10, filters=field_filter("modality", "image")).hits
    assert {h.document_id for h in only_images} == {"red-circle", "blue-circle"}


def test_large_document_streams_in_pieces(new_tenant):
    _, api = new_tenant()
    text = " ".join(f"Sentence number {i} talks about topic {i % 7}." for i in range(3000))  # ~150 KB
    result = api.ingest({"document_id": "big", "filename": "big.txt", "data": text.encode()})[0]
    assert result.status == ingest_pb2.INGEST_STATUS_STORED
    assert result.chunks > 10
    assert result.bytes == len(text.encode())


def test_bad_items_fail_alone_and_nothing_is_half_written(new_tenant, gateway):
    _, api = new_tenant()
    limit = gateway.settings.max_item_bytes
    results = api.ingest(
        text_item("good-1", "A perfectly fine document about rivers."),
        {"document_id": "corrupt-image", "filename": "broken.png", "content": b"\x89PNG\r\n\x1a\n not really"},
        {"document_id": "binary", "filename": "tool.exe", "content": b"MZ\x90\x00\x03binary"},
        {"document_id": "too-big", "filename": "huge.txt", "data": b"x" * (limit + 10)},
        {"document_id": "bad-lang", "filename": "l.txt", "content": b"Hallo Welt", "language": "xx"},
        text_item("good-2", "Another fine document about mountains."),
    )
    by_id = {r.document_id: r for r in results}
    assert by_id["good-1"].status == by_id["good-2"].status == ingest_pb2.INGEST_STATUS_STORED
    for bad in ("corrupt-image", "binary", "too-big", "bad-lang"):
        assert by_id[bad].status == ingest_pb2.INGEST_STATUS_FAILED, bad
        assert by_id[bad].error.code == "INVALID_ARGUMENT", (bad, by_id[bad].error)
        assert by_id[bad].error.message
    assert "over the limit" in by_id["too-big"].error.message
    assert "xx" in by_id["bad-lang"].error.message
    assert sorted(d.document_id for d in api.list_documents().documents) == ["good-1", "good-2"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"filters": common_pb2.Filters(match=[common_pb2.FieldFilter(field="colour", any_of=["red"])])}, "unknown filter field 'colour'"),
        ({"filters": field_filter("language", "english")}, "language"),
        ({"top_k": 1000}, "top_k"),
        ({"mode": common_pb2.SEARCH_MODE_KEYWORD}, "a query needs text"),
    ],
)
def test_bad_search_requests_are_invalid_argument(new_tenant, fields, message):
    _, api = new_tenant()
    query = "" if "mode" in fields else "rivers"
    with pytest.raises(grpc.RpcError) as info:
        api.search(query, **fields)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in info.value.details()


def test_retrieval_cache_hits_and_is_invalidated_by_writes(new_tenant):
    _, api = new_tenant()
    api.ingest(text_item("a", "Glaciers carve valleys over thousands of years."))
    first = api.search("glaciers")
    second = api.search("glaciers")
    assert not first.cached and second.cached
    assert [h.chunk_id for h in first.hits] == [h.chunk_id for h in second.hits]
    api.ingest(text_item("b", "Glaciers also store most of the fresh water on Earth."))
    third = api.search("glaciers")
    assert not third.cached
    assert {h.document_id for h in third.hits} == {"a", "b"}


def _clip_text_inferences(gateway) -> int:
    import tritonclient.grpc as triton

    client = triton.InferenceServerClient(gateway.settings.triton_url)
    try:
        stats = client.get_inference_statistics("clip_text_embedding", as_json=True)["model_stats"][0]
        return int(stats.get("inference_count", 0))
    finally:
        client.close()


def test_text_only_tenant_queries_skip_the_clip_text_signal_until_an_image_arrives(new_tenant, gateway):
    _, api = new_tenant()
    api.ingest(text_item("notes", "Some notes about red circles and colours."))
    before = _clip_text_inferences(gateway)
    hits = api.search("red circles", top_k=5, mode=common_pb2.SEARCH_MODE_VECTOR).hits
    assert [h.document_id for h in hits] == ["notes"]
    assert set(hits[0].signal_scores) == {"text"}
    assert _clip_text_inferences(gateway) == before  # no CLIP text embedding for a tenant without images
    api.ingest({"document_id": "red-circle", "filename": "red.png", "content": image_bytes("red", "A")})
    hits = api.search("red circles", top_k=5, mode=common_pb2.SEARCH_MODE_VECTOR).hits
    image_hit = next(h for h in hits if h.document_id == "red-circle")
    assert "clip_text" in image_hit.signal_scores  # the picture is found through the CLIP text signal
    assert _clip_text_inferences(gateway) == before + 1
