"""Weaviate backend without a server: the exact schema, objects, filters and gRPC requests.

Schema and objects are checked as the JSON / values weaviate-client itself
produces from the adapter's config objects. Searches run through a real
``weaviate.WeaviateClient`` whose gRPC stub (the transport, the lowest layer)
is replaced by :class:`RecordingStub`: everything above it, request building,
retries and reply parsing, is the client's own code, so the recorded
``SearchRequest`` messages are exactly what a server would receive.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import numpy as np
import pytest

# Import the adapter first: it imports weaviate with authlib's import-time
# DeprecationWarning contained.
from babelrag.store import weaviate_store as ws  # noqa: I001
from weaviate.collections.classes.config import _CollectionConfigCreate
from weaviate.collections.filters import _FilterToGRPC
from weaviate.connect.base import ConnectionParams
from weaviate.proto.v1 import base_pb2, search_get_pb2
from weaviate.util import _ServerVersion
import weaviate
import weaviate.exceptions as wex

from babelrag.store import (
    BackendError,
    BackendUnavailable,
    Chunk,
    Modality,
    SearchFilter,
    SearchRequest,
    StoreConfigError,
    TenantStatus,
    TimeRange,
    VectorDims,
    VectorName,
    VectorQuery,
    chunk_id,
)
from babelrag.store.base import VectorStore, prepare_upsert

DIMS = VectorDims(text=16, image=12, clip_text=12)
CFG = ws.WeaviateConfig(dims=DIMS)


def test_collection_schema_is_exactly_what_we_specify():
    spec = ws.collection_spec(CFG)
    d = _CollectionConfigCreate(**spec)._to_dict()
    assert d["class"] == "BabelChunk"
    assert d["multiTenancyConfig"] == {"enabled": True, "autoTenantCreation": False, "autoTenantActivation": False}
    assert d["invertedIndexConfig"]["bm25"] == {"b": 0.75, "k1": 1.2}
    hnsw = {
        "distance": "cosine",
        "efConstruction": 128,
        "maxConnections": 32,
        "ef": -1,
        "dynamicEfMin": 100,
        "dynamicEfMax": 500,
        "dynamicEfFactor": 8,
        "flatSearchCutoff": 40000,
    }
    assert set(d["vectorConfig"]) == {"text", "image", "clip_text"}
    for cfg in d["vectorConfig"].values():
        assert cfg["vectorizer"] == {"none": {}}
        assert cfg["vectorIndexType"] == "hnsw"
        assert cfg["vectorIndexConfig"] == hnsw
    props = {p["name"]: p for p in d["properties"]}
    tokenization = {name: p.get("tokenization") for name, p in props.items() if p["dataType"] == ["text"]}
    assert tokenization == {
        "document_id": "field",
        "modality": "field",
        "language": "field",
        "text": "field",
        "title": "field",
        "uri": "field",
        "mime_type": "field",
        "text_zh": "gse",
        "text_ja": "kagome_ja",
        "text_ko": "kagome_kr",
        "text_trigram": "trigram",
        "text_whitespace": "whitespace",
        "text_word": "word",
    }
    searchable = sorted(n for n, p in props.items() if p.get("indexSearchable"))
    assert searchable == ["text_ja", "text_ko", "text_trigram", "text_whitespace", "text_word", "text_zh"]
    assert props["tags"]["dataType"] == ["text[]"] and props["tags"]["tokenization"] == "field"
    for n in ("created_us", "valid_us", "chunk_index"):
        assert props[n]["dataType"] == ["int"] and props[n]["indexRangeFilters"] is True


@pytest.mark.parametrize(
    "lang, prop",
    [("zh", "text_zh"), ("ja", "text_ja"), ("ko", "text_ko"), ("th", "text_trigram"), ("hi", "text_whitespace"), ("en", "text_word"), ("und", "text_word"), ("ru", "text_word")],
)
def test_text_is_routed_to_the_property_of_its_language(lang, prop):
    assert ws.keyword_property(CFG, lang) == prop


def test_data_object_carries_routed_text_ids_and_named_vectors():
    chunk = Chunk(
        "doc", 2, "東京タワー", "ja", tags=("a",), created_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
        valid_at=datetime(2020, 1, 1, tzinfo=timezone.utc),
        vectors={"text": np.arange(1, 17, dtype=np.float32), "clip_text": np.ones(12)},
    )
    [doc], errors = prepare_upsert("acme", [chunk], DIMS)
    assert errors == []
    obj = ws.to_data_object(CFG, doc.chunks[0])
    assert obj.uuid == chunk_id("acme", "doc", 2)
    assert obj.properties == {
        "document_id": "doc",
        "chunk_index": 2,
        "modality": "text",
        "language": "ja",
        "text": "東京タワー",
        "title": "",
        "uri": "",
        "mime_type": "",
        "tags": ["a"],
        "created_us": 1704067200000000,
        "valid_us": 1577836800000000,
        "text_ja": "東京タワー",
    }
    assert set(obj.vector) == {"text", "clip_text"}
    assert obj.vector["text"] == [float(i) for i in range(1, 17)]


def test_filters_become_typed_grpc_values():
    f = SearchFilter(
        document_ids=["x' OR 1=1 --"],
        languages=["en", "de"],
        modalities=[Modality.IMAGE],
        tags_all=["o'brien", "b"],
        valid_at=TimeRange(datetime(2020, 1, 1, tzinfo=timezone.utc), datetime(2021, 1, 1, tzinfo=timezone.utc)),
    )
    proto = _FilterToGRPC.convert(ws.to_weaviate_filter(f))
    assert proto.operator == base_pb2.Filters.OPERATOR_AND
    parts = [(p.target.property, base_pb2.Filters.Operator.Name(p.operator), p) for p in proto.filters]
    assert [(t, op) for t, op, _ in parts] == [
        ("document_id", "OPERATOR_CONTAINS_ANY"),
        ("language", "OPERATOR_CONTAINS_ANY"),
        ("modality", "OPERATOR_CONTAINS_ANY"),
        ("tags", "OPERATOR_CONTAINS_ALL"),
        ("valid_us", "OPERATOR_GREATER_THAN_EQUAL"),
        ("valid_us", "OPERATOR_LESS_THAN"),
    ]
    assert list(parts[0][2].value_text_array.values) == ["x' OR 1=1 --"]  # a value, never query text
    assert list(parts[3][2].value_text_array.values) == ["o'brien", "b"]
    assert parts[4][2].value_int == 1577836800000000 and parts[5][2].value_int == 1609459200000000
    assert ws.to_weaviate_filter(None) is None and ws.to_weaviate_filter(SearchFilter()) is None
    single = _FilterToGRPC.convert(ws.to_weaviate_filter(SearchFilter(languages=["en"])))
    assert single.target.property == "language" and list(single.value_text_array.values) == ["en"]


@pytest.mark.parametrize(
    "raw, expected",
    [("ACTIVE", TenantStatus.ACTIVE), ("HOT", TenantStatus.ACTIVE), ("INACTIVE", TenantStatus.INACTIVE), ("COLD", TenantStatus.INACTIVE),
     ("OFFLOADED", TenantStatus.OFFLOADED), ("FROZEN", TenantStatus.OFFLOADED), ("OFFLOADING", TenantStatus.OFFLOADING),
     ("FREEZING", TenantStatus.OFFLOADING), ("ONLOADING", TenantStatus.ONLOADING), ("UNFREEZING", TenantStatus.ONLOADING)],
)
def test_tenant_activity_maps_to_the_interface(raw, expected):
    assert ws.map_tenant_status(raw) is expected
    if raw in weaviate.classes.tenants.TenantActivityStatus.__members__:
        assert ws.map_tenant_status(weaviate.classes.tenants.TenantActivityStatus[raw]) is expected


def test_config_from_url_keeps_secrets_out():
    cfg = ws.WeaviateConfig.from_url("https://weaviate.example:8443", grpc_port=50052, api_key_env="MY_KEY")
    assert (cfg.http_host, cfg.http_port, cfg.http_secure, cfg.grpc_port, cfg.grpc_secure) == ("weaviate.example", 8443, True, 50052, True)
    assert cfg.api_key_env == "MY_KEY" and "MY_KEY" not in repr(ws.WeaviateConfig.__dataclass_fields__.keys())
    with pytest.raises(StoreConfigError):
        ws.WeaviateConfig.from_url("localhost:8080")
    with pytest.raises(StoreConfigError):
        ws.WeaviateConfig(collection="lower")
    with pytest.raises(StoreConfigError):
        ws.WeaviateConfig(language_routes={"en": "nonsense"})


# ---------------------------------------------------------------------------
# Real client, recorded transport
# ---------------------------------------------------------------------------


def _uuid_bytes(u: str) -> bytes:
    return uuid.UUID(u).bytes


class RecordingStub:
    """Stands in for ``WeaviateStub``: records requests, answers from ``hits``.

    ``hits`` maps a signal kind ("near_vector:<target>" or "bm25") to
    ``[(uuid, distance-or-score)]``; object fetches are answered from ``rows``.
    """

    def __init__(self, hits: dict[str, list[tuple[str, float]]], rows: dict[str, dict]) -> None:
        self.hits, self.rows, self.requests = hits, rows, []

    def Search(self, request, metadata=None, timeout=None):  # noqa: N802 - gRPC method name
        self.requests.append(request)
        reply = search_get_pb2.SearchReply()
        if request.HasField("near_vector"):
            key = "near_vector:" + request.near_vector.targets.target_vectors[0]
            for u, dist in self.hits.get(key, []):
                r = reply.results.add()
                r.metadata.id, r.metadata.id_as_bytes = u, _uuid_bytes(u)
                r.metadata.distance, r.metadata.distance_present = dist, True
        elif request.HasField("bm25_search"):
            for u, score in self.hits.get("bm25", []):
                r = reply.results.add()
                r.metadata.id, r.metadata.id_as_bytes = u, _uuid_bytes(u)
                r.metadata.score, r.metadata.score_present = score, True
        else:
            for u in request.filters.value_text_array.values:
                if u not in self.rows:
                    continue
                r = reply.results.add()
                r.metadata.id, r.metadata.id_as_bytes = u, _uuid_bytes(u)
                fields = r.properties.non_ref_props.fields
                for k, v in self.rows[u].items():
                    if isinstance(v, int):
                        fields[k].int_value = v
                    elif isinstance(v, list):
                        fields[k].list_value.text_values.values.extend(v)
                    else:
                        fields[k].text_value = v
        return reply


def _row(doc: str, idx: int, text: str, lang: str = "en") -> dict:
    return {"document_id": doc, "chunk_index": idx, "modality": "text", "language": lang, "text": text,
            "title": "t", "uri": "u", "mime_type": "text/plain", "tags": ["x"], "created_us": 1704067200000000}


@pytest.fixture
def recorded():
    def make(hits, rows):
        client = weaviate.WeaviateClient(
            connection_params=ConnectionParams.from_params("localhost", 8080, False, "localhost", 50051, False),
            skip_init_checks=True,
        )
        conn = client._connection
        conn._weaviate_version = _ServerVersion(1, 32, 0)
        conn._grpc_stub = stub = RecordingStub(hits, rows)
        conn._connected = True
        return ws.WeaviateStore(CFG, client=client, ensure_schema=False), stub

    return make


def test_store_satisfies_the_protocol(recorded):
    store, _ = recorded({}, {})
    assert isinstance(store, VectorStore)


def test_hybrid_search_sends_one_request_per_signal_and_fuses_client_side(recorded):
    ids = {k: chunk_id("acme", k, 0) for k in "abc"}
    hits = {
        "near_vector:text": [(ids["a"], 0.1), (ids["b"], 0.3), (ids["c"], 0.5)],  # similarities .9 .7 .5
        "near_vector:image": [(ids["c"], 0.2)],
        "bm25": [(ids["b"], 4.0), (ids["c"], 2.0)],
    }
    rows = {ids[k]: _row(k, 0, f"text {k}") for k in "abc"}
    store, stub = recorded(hits, rows)
    req = SearchRequest.hybrid(
        "苹果 apples",
        [VectorQuery(VectorName.TEXT, np.ones(16)), VectorQuery(VectorName.IMAGE, np.ones(12), name="by_image")],
        alpha=0.5,
        filters=SearchFilter(languages=["en"]),
        limit=2,
        offset=1,
    )
    res = store.search("acme", req)

    near_text, near_image, bm25, fetch = stub.requests
    for r in (near_text, near_image, bm25, fetch):
        assert r.collection == "BabelChunk" and r.tenant == "acme"
    for r in (near_text, near_image, bm25):
        assert r.limit == 50  # max(limit + offset, candidate floor)
        assert r.filters.target.property == "language" and list(r.filters.value_text_array.values) == ["en"]
    assert list(near_text.near_vector.targets.target_vectors) == ["text"]
    assert np.frombuffer(near_text.near_vector.vectors[0].vector_bytes, dtype=np.float32).tolist() == [1.0] * 16
    assert list(near_image.near_vector.targets.target_vectors) == ["image"]
    assert near_text.metadata.distance and bm25.metadata.score
    assert bm25.bm25_search.query == "苹果 apples"
    assert list(bm25.bm25_search.properties) == ["text_zh", "text_ja", "text_ko", "text_trigram", "text_whitespace", "text_word"]
    assert not near_text.HasField("hybrid_search") and not bm25.HasField("hybrid_search")

    # fusion by hand: weights text .25, by_image .25, keyword .5
    # text norms a=1, b=.5, c=0; by_image c=1 (single hit); keyword b=1, c=0
    # a=.25, b=.125+.5=.625, c=.25 -> order b, then a/c tied at .25 by id
    expected = sorted([("b", 0.625), ("a", 0.25), ("c", 0.25)], key=lambda kv: (-kv[1], ids[kv[0]]))
    assert [(h.chunk.document_id, round(h.score, 9)) for h in res.hits] == expected[1:3]
    assert dict(res.weights) == pytest.approx({"text": 0.25, "by_image": 0.25, "keyword": 0.5})
    by_doc = {h.chunk.document_id: h for h in res.hits}
    assert by_doc["c"].signals["by_image"].raw == pytest.approx(0.8)
    assert by_doc["c"].signals["text"].normalized == 0.0
    assert "keyword" not in by_doc["a"].signals
    # only the page is fetched, by id, with the data properties
    assert fetch.filters.target.property == "_id"
    assert sorted(fetch.filters.value_text_array.values) == sorted(ids[d] for d, _ in expected[1:3])
    assert set(fetch.properties.non_ref_properties) == set(ws._DATA_PROPERTIES)


def test_keyword_only_search_sends_only_bm25(recorded):
    u = chunk_id("t", "d", 0)
    store, stub = recorded({"bm25": [(u, 1.5)]}, {u: _row("d", 0, "ข้าวผัด", "th")})
    res = store.search("t", SearchRequest.keyword("ข้าวผัด", limit=5))
    assert [r.HasField("bm25_search") for r in stub.requests] == [True, False]
    assert [h.chunk.text for h in res.hits] == ["ข้าวผัด"]
    assert res.hits[0].signals["keyword"].raw == 1.5 and res.hits[0].score == 1.0


def test_query_vector_dimension_is_checked_before_any_request(recorded):
    from babelrag.store import InvalidQuery

    store, stub = recorded({}, {})
    with pytest.raises(InvalidQuery):
        store.search("t", SearchRequest.vector([VectorQuery(VectorName.IMAGE, np.ones(16))]))
    assert stub.requests == []


def test_client_errors_are_translated_in_one_place():
    with pytest.raises(BackendUnavailable):
        with ws._translate_errors("search"):
            raise wex.WeaviateConnectionError("down")
    with pytest.raises(BackendError, match="failed to search"):
        with ws._translate_errors("search"):
            raise wex.WeaviateQueryError("boom", "GRPC search")
