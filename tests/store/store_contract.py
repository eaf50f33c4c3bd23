"""The behaviour every VectorStore backend must show, as reusable test mixins.

A backend's test class inherits :class:`VectorStoreContract` and provides one
fixture, ``store``: a fresh, empty store whose dims are :data:`DIMS`. The
mixins create their own tenants (unique names, removed afterwards), so a
backend may share one collection or server between tests.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from babelrag.store import (
    AsyncVectorStore,
    Chunk,
    InvalidQuery,
    InvalidTenantName,
    ItemErrorCode,
    Modality,
    SearchFilter,
    SearchRequest,
    Source,
    TenantInactive,
    TenantNotFound,
    TenantStatus,
    TimeRange,
    VectorDims,
    VectorName,
    VectorQuery,
    chunk_id,
)

# At least 10 wide: LanceDB treats narrower fixed-size lists differently (not as vectors).
DIMS = VectorDims(text=16, image=12, clip_text=12)
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def unit(dim: int, *weights: float) -> np.ndarray:
    """A vector whose first components are ``weights`` (rest 0): cosines are easy to compute."""
    v = np.zeros(dim, dtype=np.float32)
    v[: len(weights)] = weights
    return v


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def text_chunk(doc: str, idx: int, text: str, *, language: str = "en", vec=None, **kw) -> Chunk:
    vectors = kw.pop("vectors", None)
    if vectors is None:
        vectors = {VectorName.TEXT: vec if vec is not None else unit(DIMS.text, 1.0, 0.1 * (idx + 1))}
    return Chunk(
        document_id=doc,
        chunk_index=idx,
        text=text,
        language=language,
        source=kw.pop("source", Source(title=f"title of {doc}", uri=f"file:///{doc}.txt", mime_type="text/plain")),
        created_at=kw.pop("created_at", T0),
        vectors=vectors,
        **kw,
    )


def doc_chunks(doc: str, n: int, **kw) -> list[Chunk]:
    return [text_chunk(doc, i, f"{doc} passage number {i} about apples", **kw) for i in range(n)]


class _Base:
    @pytest.fixture
    def tenant_factory(self, store):
        made: list[str] = []

        def make(prefix: str = "t") -> str:
            name = f"{prefix}-{uuid.uuid4().hex[:10]}"
            info = store.ensure_tenant(name)
            assert info.status is TenantStatus.ACTIVE
            made.append(name)
            return name

        yield make
        for name in made:
            store.delete_tenant(name)

    @pytest.fixture
    def tenant(self, tenant_factory) -> str:
        return tenant_factory("a")


class TenantContract(_Base):
    def test_ensure_tenant_is_idempotent_and_listed(self, store, tenant):
        assert store.ensure_tenant(tenant).status is TenantStatus.ACTIVE
        names = [t.name for t in store.list_tenants()]
        assert names.count(tenant) == 1
        assert store.get_tenant(tenant).status is TenantStatus.ACTIVE

    @pytest.mark.parametrize("bad", ["", "../etc", "a/b", "a.b", "x" * 65, "ümlaut", " a", "-lead", "a b", None, 7])
    def test_invalid_tenant_names_are_rejected(self, store, bad):
        with pytest.raises(InvalidTenantName):
            store.ensure_tenant(bad)
        with pytest.raises(InvalidTenantName):
            store.count(bad)

    def test_unknown_tenant_raises_not_found(self, store):
        ghost = f"ghost-{uuid.uuid4().hex[:8]}"
        with pytest.raises(TenantNotFound):
            store.count(ghost)
        with pytest.raises(TenantNotFound):
            store.search(ghost, SearchRequest.keyword("apples"))
        with pytest.raises(TenantNotFound):
            store.upsert(ghost, doc_chunks("d", 1))
        with pytest.raises(TenantNotFound):
            store.deactivate_tenant(ghost)
        assert store.delete_tenant(ghost) is False

    def test_deactivated_tenant_refuses_reads_and_writes_until_activated(self, store, tenant):
        store.upsert(tenant, doc_chunks("d1", 2))
        info = store.deactivate_tenant(tenant)
        assert info.status is TenantStatus.INACTIVE
        assert store.get_tenant(tenant).status is TenantStatus.INACTIVE
        for call in (
            lambda: store.count(tenant),
            lambda: store.search(tenant, SearchRequest.keyword("apples")),
            lambda: store.get(tenant, [chunk_id(tenant, "d1", 0)]),
            lambda: store.list_documents(tenant),
            lambda: store.upsert(tenant, doc_chunks("d2", 1)),
        ):
            with pytest.raises(TenantInactive) as exc:
                call()
            assert exc.value.status is TenantStatus.INACTIVE
            assert tenant in str(exc.value) and "activate_tenant" in str(exc.value)
        assert store.activate_tenant(tenant).status is TenantStatus.ACTIVE
        assert store.count(tenant) == 2
        assert [h.chunk.document_id for h in store.search(tenant, SearchRequest.keyword("apples")).hits] == ["d1", "d1"]

    def test_delete_tenant_removes_its_data(self, store, tenant_factory):
        t = tenant_factory("del")
        store.upsert(t, doc_chunks("d1", 3))
        assert store.delete_tenant(t) is True
        assert t not in [x.name for x in store.list_tenants()]
        with pytest.raises(TenantNotFound):
            store.count(t)
        store.ensure_tenant(t)
        assert store.count(t) == 0

    def test_tenants_are_isolated(self, store, tenant_factory):
        a, b = tenant_factory("a"), tenant_factory("b")
        secret = text_chunk("secret-doc", 0, "the launch code is zebra", vec=unit(DIMS.text, 1, 0))
        assert store.upsert(a, [secret]).ok
        store.upsert(b, [text_chunk("own-doc", 0, "nothing to see", vec=unit(DIMS.text, 0, 1))])
        a_id = chunk_id(a, "secret-doc", 0)
        # whatever the ids or filters, b never sees a's chunk
        assert store.get(b, [a_id]) == []
        assert store.count(b, SearchFilter(document_ids=["secret-doc"])) == 0
        only_secret = SearchFilter(document_ids=["secret-doc"])
        for req in (
            SearchRequest.keyword("zebra"),
            SearchRequest.keyword("zebra", filters=only_secret),
            SearchRequest.vector([VectorQuery(VectorName.TEXT, unit(DIMS.text, 1, 0))], filters=only_secret),
            SearchRequest.hybrid("zebra launch code", [VectorQuery(VectorName.TEXT, unit(DIMS.text, 1, 0))], limit=50),
        ):
            ids = [h.id for h in store.search(b, req).hits]
            assert a_id not in ids
            assert all(h.chunk.document_id == "own-doc" for h in store.search(b, req).hits)
        assert [d.document_id for d in store.list_documents(b).documents] == ["own-doc"]
        assert store.delete_documents(b, ["secret-doc"]) == 0
        # and a still has it
        assert [s.id for s in store.get(a, [a_id])] == [a_id]
        assert [h.id for h in store.search(a, SearchRequest.keyword("zebra")).hits] == [a_id]
        # the same document id in two tenants gives two different chunk ids
        assert chunk_id(a, "x", 0) != chunk_id(b, "x", 0)


class UpsertContract(_Base):
    def test_upsert_is_idempotent(self, store, tenant):
        chunks = doc_chunks("d1", 3) + doc_chunks("d2", 2)
        r1 = store.upsert(tenant, chunks)
        assert r1.ok and set(r1.written_documents) == {"d1", "d2"} and r1.written_chunks == 5
        r2 = store.upsert(tenant, chunks)
        assert r2.ok and r2.written_chunks == 5
        assert store.count(tenant) == 5
        ids = sorted(h.id for h in store.search(tenant, SearchRequest.keyword("apples", limit=20)).hits)
        assert ids == sorted(chunk_id(tenant, d, i) for d, n in (("d1", 3), ("d2", 2)) for i in range(n))

    def test_reupsert_replaces_the_whole_document(self, store, tenant):
        store.upsert(tenant, doc_chunks("d1", 4))
        store.upsert(tenant, [text_chunk("d1", 0, "a single new passage about pears")])
        assert store.count(tenant) == 1
        assert store.search(tenant, SearchRequest.keyword("apples")).hits == ()
        [only] = store.get(tenant, [chunk_id(tenant, "d1", i) for i in range(4)])
        assert only.chunk.text == "a single new passage about pears"

    def test_wrong_dimension_rejects_the_whole_document_and_nothing_else(self, store, tenant):
        store.upsert(tenant, doc_chunks("d1", 2))
        before = store.count(tenant)
        bad = doc_chunks("d1", 3)
        bad[1] = text_chunk("d1", 1, "bad", vec=np.ones(DIMS.text + 1, dtype=np.float32))
        good = doc_chunks("d2", 2)
        res = store.upsert(tenant, bad + good)
        assert res.written_documents == ("d2",)
        assert res.written_chunks == 2
        assert res.rejected_documents == ("d1",)
        codes = {(e.chunk_index, e.code) for e in res.errors}
        assert (1, ItemErrorCode.DIMENSION_MISMATCH) in codes
        assert {(0, ItemErrorCode.DOCUMENT_REJECTED), (2, ItemErrorCode.DOCUMENT_REJECTED)} <= codes
        assert f"dimension {DIMS.text + 1}" in next(e.message for e in res.errors if e.chunk_index == 1)
        assert store.count(tenant) == before + 2
        # the previous version of d1 is untouched (2 chunks, not 3 and not a mix)
        assert store.count(tenant, SearchFilter(document_ids=["d1"])) == 2
        assert store.get(tenant, [chunk_id(tenant, "d1", 2)]) == []

    def test_many_documents_in_one_call_each_replace_all_or_nothing(self, store, tenant):
        """What a gateway ingest group sends: many documents in one upsert, some replacing earlier
        versions with fewer or more chunks, one invalid. Each document ends up exactly as given,
        the invalid one keeps its previous version, and nothing else is touched."""
        store.upsert(tenant, [c for d in range(30) for c in doc_chunks(f"d{d:02}", 3)])
        batch, expected = [], {}
        for d in range(60):  # d00..d29 replaced (1, 2 or 5 chunks), d30..d59 new
            n = (1, 2, 5)[d % 3]
            batch += doc_chunks(f"d{d:02}", n, vec=unit(DIMS.text, 1.0, 0.01 * d))
            expected[f"d{d:02}"] = n
        bad = len(batch) - 7  # a chunk of d58
        batch[bad] = text_chunk(batch[bad].document_id, batch[bad].chunk_index, "bad", vec=np.full(DIMS.text, np.nan))
        res = store.upsert(tenant, batch)
        assert res.rejected_documents == ("d58",)
        assert len(res.written_documents) == 59 and res.written_chunks == sum(expected.values()) - expected["d58"]
        expected.pop("d58")
        for doc, n in expected.items():
            assert store.count(tenant, SearchFilter(document_ids=[doc])) == n, doc
        assert store.count(tenant, SearchFilter(document_ids=["d58"])) == 0
        assert store.count(tenant) == sum(expected.values())
        assert store.get(tenant, [chunk_id(tenant, "d00", 2)]) == []  # the old third chunk of a shrunk document is gone

    @pytest.mark.parametrize(
        "vector, code",
        [
            ([float("nan")] + [1.0] * (DIMS.text - 1), ItemErrorCode.NON_FINITE_VECTOR),
            ([float("inf")] + [1.0] * (DIMS.text - 1), ItemErrorCode.NON_FINITE_VECTOR),
            ([1e39] + [1.0] * (DIMS.text - 1), ItemErrorCode.NON_FINITE_VECTOR),
            ([0.0] * DIMS.text, ItemErrorCode.ZERO_VECTOR),
            ([[1.0] * DIMS.text], ItemErrorCode.DIMENSION_MISMATCH),
            (["a"] * DIMS.text, ItemErrorCode.INVALID_FIELD),
        ],
    )
    def test_bad_vector_values_are_rejected_with_nothing_written(self, store, tenant, vector, code):
        res = store.upsert(tenant, [text_chunk("d1", 0, "fine"), text_chunk("d1", 1, "bad", vec=vector)])
        assert not res.ok and res.written_chunks == 0
        assert [(e.chunk_index, e.code) for e in res.errors] == [(1, code), (0, ItemErrorCode.DOCUMENT_REJECTED)]
        assert store.count(tenant) == 0

    @pytest.mark.parametrize(
        "chunk, fragment",
        [
            (text_chunk("d1", 0, "x", vectors={"colour": [1.0] * DIMS.text}), "unknown vector"),
            (text_chunk("d1", 0, "x", language="english"), "ISO 639-1"),
            (text_chunk("d1", 0, "   "), "non-blank text"),
            (text_chunk("d1", 0, "x", created_at=datetime(2024, 1, 1)), "timezone-aware"),
            (text_chunk("d1", 0, "x", valid_at="2024-01-01"), "datetime"),
            (text_chunk("d1", -1, "x"), "chunk_index"),
            (text_chunk("d1", 0, "x", tags=("ok", "")), "tag"),
            (text_chunk("d1", 0, "x", tags="notalist"), "tags"),
            (text_chunk("", 0, "x"), "document_id"),
            (text_chunk("d1", 0, "x", modality="video"), "modality"),
        ],
    )
    def test_invalid_fields_are_reported_per_item(self, store, tenant, chunk, fragment):
        res = store.upsert(tenant, [chunk])
        assert not res.ok and res.written_chunks == 0 and res.written_documents == ()
        assert len(res.errors) == 1
        assert fragment in res.errors[0].message
        assert store.count(tenant) == 0

    def test_duplicate_chunk_index_rejects_the_document(self, store, tenant):
        res = store.upsert(tenant, [text_chunk("d1", 0, "a"), text_chunk("d1", 0, "b")])
        assert [(e.chunk_index, e.code) for e in res.errors] == [(0, ItemErrorCode.DUPLICATE_CHUNK)]
        assert store.count(tenant) == 0

    def test_round_trip_of_every_field(self, store, tenant):
        valid = datetime(2023, 5, 17, 8, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
        img_vec = unit(DIMS.image, 0.3, -0.7, 0.2)
        cap_vec = unit(DIMS.clip_text, 0.5, 0.5)
        image = Chunk(
            document_id="album/it's 1",
            chunk_index=3,
            text="",
            language="und",
            modality=Modality.IMAGE,
            source=Source(title="Ünïcode ‘title’", uri="s3://bucket/a b.png", mime_type="image/png"),
            created_at=T0 + timedelta(microseconds=7),
            valid_at=valid,
            tags=("photo", "summer", "photo"),
            vectors={"image": img_vec, VectorName.CLIP_TEXT: cap_vec.tolist()},
        )
        assert store.upsert(tenant, [image]).ok
        cid = chunk_id(tenant, "album/it's 1", 3)
        [got] = store.get(tenant, [cid], include_vectors=True)
        c = got.chunk
        assert got.id == cid
        assert (c.document_id, c.chunk_index, c.text, c.language, c.modality) == ("album/it's 1", 3, "", "und", Modality.IMAGE)
        assert c.source == Source(title="Ünïcode ‘title’", uri="s3://bucket/a b.png", mime_type="image/png")
        assert c.created_at == T0 + timedelta(microseconds=7)
        assert c.valid_at == valid and c.valid_at.tzinfo is not None
        assert c.tags == ("photo", "summer")
        assert set(c.vectors) == {"image", "clip_text"}
        np.testing.assert_allclose(c.vectors["image"], img_vec, rtol=1e-6)
        np.testing.assert_allclose(c.vectors["clip_text"], cap_vec, rtol=1e-6)
        [plain] = store.get(tenant, [cid])
        assert dict(plain.chunk.vectors) == {}

    def test_get_keeps_requested_order_and_skips_unknown_ids(self, store, tenant):
        store.upsert(tenant, doc_chunks("d1", 3))
        ids = [chunk_id(tenant, "d1", i) for i in (2, 0)]
        missing = str(uuid.uuid4())
        assert [s.id for s in store.get(tenant, [ids[0], missing, ids[1]])] == ids
        with pytest.raises(InvalidQuery):
            store.get(tenant, ["not-a-uuid"])
        with pytest.raises(InvalidQuery):
            store.get(tenant, ["' OR 1=1 --"])

    def test_delete_removes_a_document_from_every_result(self, store, tenant):
        store.upsert(tenant, [text_chunk("keep", 0, "oranges are orange", vec=unit(DIMS.text, 0, 1))])
        store.upsert(tenant, [text_chunk("gone", i, f"zebra stripes {i}", vec=unit(DIMS.text, 1, 0.1 * i)) for i in range(3)])
        q_vec = [VectorQuery(VectorName.TEXT, unit(DIMS.text, 1, 0))]
        assert {h.chunk.document_id for h in store.search(tenant, SearchRequest.keyword("zebra")).hits} == {"gone"}
        assert store.delete_documents(tenant, ["gone", "never-existed"]) == 3
        assert store.count(tenant) == 1
        assert store.search(tenant, SearchRequest.keyword("zebra")).hits == ()
        assert [h.chunk.document_id for h in store.search(tenant, SearchRequest.vector(q_vec)).hits] == ["keep"]
        assert [h.chunk.document_id for h in store.search(tenant, SearchRequest.hybrid("zebra", q_vec)).hits] == ["keep"]
        assert store.get(tenant, [chunk_id(tenant, "gone", 0)]) == []
        assert [d.document_id for d in store.list_documents(tenant).documents] == ["keep"]


# Unspaced sentences, and a word from inside each that no whitespace tokenizer can isolate.
CJK_THAI_PROBES = [
    ("zh", "我们昨天在北京大学图书馆学习了很久", "图书馆"),
    ("zh", "人工智能正在改变世界", "智能"),
    ("ja", "東京タワーは東京都港区にある電波塔です", "電波塔"),
    ("ja", "私は毎朝コーヒーを飲みます", "コーヒー"),
    ("ko", "서울특별시에서맛있는김치를먹었습니다", "김치"),
    ("ko", "도서관에서책을읽었어요", "도서관"),
    ("th", "ฉันชอบกินข้าวผัดกุ้งมากที่สุด", "ข้าวผัด"),
    ("th", "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย", "เมืองหลวง"),
]


class SearchContract(_Base):
    @pytest.fixture
    def multilingual(self, store, tenant):
        chunks = [
            text_chunk(f"{lang}-{i}", 0, sentence, language=lang)
            for i, (lang, sentence, _) in enumerate(CJK_THAI_PROBES)
        ]
        chunks.append(text_chunk("en-0", 0, "The quick brown fox jumps over the lazy dog"))
        chunks.append(text_chunk("de-0", 0, "Der schnelle braune Fuchs springt"))
        assert store.upsert(tenant, chunks).ok
        return tenant

    @pytest.mark.parametrize("i", range(len(CJK_THAI_PROBES)), ids=[f"{p[0]}:{p[2]}" for p in CJK_THAI_PROBES])
    def test_bm25_finds_a_word_inside_an_unspaced_sentence(self, store, multilingual, i):
        lang, _, word = CJK_THAI_PROBES[i]
        hits = store.search(multilingual, SearchRequest.keyword(word)).hits
        assert hits, f"{word!r} not found"
        assert hits[0].chunk.document_id == f"{lang}-{i}"
        assert hits[0].signals["keyword"].rank == 1 and hits[0].signals["keyword"].raw > 0

    @pytest.mark.parametrize("word, doc", [("fox", "en-0"), ("FOX", "en-0"), ("Fuchs", "de-0")])
    def test_bm25_on_space_delimited_languages(self, store, multilingual, word, doc):
        hits = store.search(multilingual, SearchRequest.keyword(word)).hits
        assert [h.chunk.document_id for h in hits][:1] == [doc]

    def test_searching_an_empty_tenant_returns_nothing(self, store, tenant):
        q = [VectorQuery(VectorName.TEXT, unit(DIMS.text, 1)), VectorQuery(VectorName.IMAGE, unit(DIMS.image, 1))]
        for req in (SearchRequest.keyword("apples"), SearchRequest.vector(q), SearchRequest.hybrid("apples", q)):
            res = store.search(tenant, req)
            assert res.hits == () and res.candidates == 50
        assert store.count(tenant) == 0
        assert store.list_documents(tenant).documents == ()

    def test_keyword_search_with_nothing_searchable_returns_nothing(self, store, multilingual):
        assert store.search(multilingual, SearchRequest.keyword("¿¡ ... !?")).hits == ()

    def test_vector_search_scores_are_cosine_similarities(self, store, tenant):
        vecs = {"a": unit(DIMS.text, 1, 0), "b": unit(DIMS.text, 1, 1), "c": unit(DIMS.text, 0, 1), "d": unit(DIMS.text, -1, 0.2)}
        store.upsert(tenant, [text_chunk(k, 0, f"text {k}", vec=v) for k, v in vecs.items()])
        q = unit(DIMS.text, 2, 0.5)
        res = store.search(tenant, SearchRequest.vector([VectorQuery(VectorName.TEXT, q)]))
        expected = sorted(vecs, key=lambda k: -cosine(q, vecs[k]))
        assert [h.chunk.document_id for h in res.hits] == expected
        raws = {h.chunk.document_id: h.signals["text"].raw for h in res.hits}
        for k, v in vecs.items():
            assert raws[k] == pytest.approx(cosine(q, v), abs=1e-5)
        lo, hi = min(raws.values()), max(raws.values())
        for h in res.hits:
            assert h.score == pytest.approx((raws[h.chunk.document_id] - lo) / (hi - lo), abs=1e-6)
        assert res.hits[0].score == pytest.approx(1.0) and res.hits[-1].score == pytest.approx(0.0)
        assert dict(res.weights) == {"text": 1.0}

    def test_hybrid_score_is_the_relative_score_fusion_of_the_signals(self, store, tenant):
        docs = {
            "a": ("apples apples apples", unit(DIMS.text, 0, 1)),
            "b": ("apples and pears", unit(DIMS.text, 1, 1)),
            "c": ("only pears here", unit(DIMS.text, 1, 0)),
            "d": ("apples", unit(DIMS.text, -1, 0.5)),
        }
        store.upsert(tenant, [text_chunk(k, 0, t, vec=v) for k, (t, v) in docs.items()])
        q = unit(DIMS.text, 1, 0.2)
        res = store.search(tenant, SearchRequest.hybrid("apples", [VectorQuery(VectorName.TEXT, q)], alpha=0.6))
        assert dict(res.weights) == pytest.approx({"text": 0.6, "keyword": 0.4})
        got = {h.chunk.document_id: h for h in res.hits}
        assert set(got) == set(docs)  # c has no "apples" but is a vector candidate
        assert "keyword" not in got["c"].signals
        kw_raw = {k: h.signals["keyword"].raw for k, h in got.items() if "keyword" in h.signals}
        vec_raw = {k: h.signals["text"].raw for k, h in got.items()}
        for k, v in docs.items():
            assert vec_raw[k] == pytest.approx(cosine(q, v[1]), abs=1e-5)

        def norm(raw: dict[str, float]) -> dict[str, float]:
            lo, hi = min(raw.values()), max(raw.values())
            return {k: (x - lo) / (hi - lo) if hi > lo else 1.0 for k, x in raw.items()}

        nv, nk = norm(vec_raw), norm(kw_raw)
        expected = {k: 0.6 * nv[k] + 0.4 * nk.get(k, 0.0) for k in docs}
        for k, h in got.items():
            assert h.score == pytest.approx(expected[k], abs=1e-6)
            assert h.score == pytest.approx(sum(s.contribution for s in h.signals.values()), abs=1e-9)
        assert [h.chunk.document_id for h in res.hits] == sorted(expected, key=lambda k: (-round(expected[k], 9), chunk_id(tenant, k, 0)))

    def test_several_query_vectors_each_make_a_signal(self, store, tenant):
        text_only = text_chunk("txt", 0, "a passage about a red bicycle", vec=unit(DIMS.text, 1, 0))
        picture = Chunk(
            document_id="img",
            chunk_index=0,
            text="",
            language="und",
            modality=Modality.IMAGE,
            created_at=T0,
            vectors={"image": unit(DIMS.image, 1, 0, 0)},
        )
        captioned = text_chunk(
            "cap",
            0,
            "caption: a bicycle",
            vectors={"text": unit(DIMS.text, 0, 1), "clip_text": unit(DIMS.clip_text, 1, 0.1)},
        )
        store.upsert(tenant, [text_only, picture, captioned])
        req = SearchRequest.hybrid(
            "bicycle",
            [
                VectorQuery(VectorName.TEXT, unit(DIMS.text, 1, 0)),
                VectorQuery(VectorName.IMAGE, unit(DIMS.image, 1, 0, 0), name="clip_text_vs_image"),
                VectorQuery(VectorName.CLIP_TEXT, unit(DIMS.clip_text, 1, 0), name="clip_text_vs_text", weight=2.0),
            ],
            alpha=0.8,
        )
        res = store.search(tenant, req)
        assert dict(res.weights) == pytest.approx(
            {"text": 0.2, "clip_text_vs_image": 0.2, "clip_text_vs_text": 0.4, "keyword": 0.2}
        )
        by_doc = {h.chunk.document_id: h for h in res.hits}
        assert set(by_doc) == {"txt", "img", "cap"}
        assert set(by_doc["img"].signals) == {"clip_text_vs_image"}  # reachable only through the image vector
        assert by_doc["img"].chunk.modality is Modality.IMAGE
        assert set(by_doc["cap"].signals) == {"text", "clip_text_vs_text", "keyword"}
        for h in res.hits:
            assert h.score == pytest.approx(sum(s.contribution for s in h.signals.values()), abs=1e-9)
        # duplicate signal names are refused before any backend call
        with pytest.raises(InvalidQuery):
            SearchRequest.vector([VectorQuery(VectorName.IMAGE, unit(DIMS.image, 1)), VectorQuery(VectorName.IMAGE, unit(DIMS.image, 0, 1))])

    def test_query_vector_of_the_wrong_dimension_is_refused(self, store, tenant):
        with pytest.raises(InvalidQuery, match="dimension"):
            store.search(tenant, SearchRequest.vector([VectorQuery(VectorName.TEXT, np.ones(DIMS.text + 3))]))
        with pytest.raises(InvalidQuery, match="NaN"):
            VectorQuery(VectorName.TEXT, [math.nan] * DIMS.text)

    def test_limit_and_offset_page_the_fused_ranking(self, store, tenant):
        store.upsert(tenant, [text_chunk(f"d{i:02d}", 0, "apples " * (i + 1), vec=unit(DIMS.text, 1, i / 10)) for i in range(12)])
        q = [VectorQuery(VectorName.TEXT, unit(DIMS.text, 1, 0))]
        full = [h.id for h in store.search(tenant, SearchRequest.hybrid("apples", q, limit=12)).hits]
        assert len(full) == 12
        pages = [
            [h.id for h in store.search(tenant, SearchRequest.hybrid("apples", q, limit=5, offset=o)).hits]
            for o in (0, 5, 10)
        ]
        assert pages[0] + pages[1] + pages[2] == full
        assert len(pages[2]) == 2

    def test_search_can_return_vectors(self, store, tenant):
        v = unit(DIMS.text, 0.25, 0.5)
        store.upsert(tenant, [text_chunk("d", 0, "apples", vec=v)])
        [hit] = store.search(tenant, SearchRequest.keyword("apples", include_vectors=True)).hits
        np.testing.assert_allclose(hit.chunk.vectors["text"], v)
        [hit] = store.search(tenant, SearchRequest.keyword("apples")).hits
        assert dict(hit.chunk.vectors) == {}

    def test_async_facade_runs_the_same_calls(self, store, tenant):
        facade = AsyncVectorStore(store)

        async def go():
            await facade.upsert(tenant, doc_chunks("d1", 2))
            res = await facade.search(tenant, SearchRequest.keyword("apples"))
            return await facade.count(tenant), len(res.hits)

        assert asyncio.run(go()) == (2, 2)


class FilterContract(_Base):
    @pytest.fixture
    def corpus(self, store, tenant):
        chunks = [
            text_chunk("en-doc", 0, "apples in english", language="en", tags=("fruit", "red"), created_at=T0, valid_at=datetime(2020, 6, 1, tzinfo=timezone.utc)),
            text_chunk("de-doc", 0, "apples auf deutsch", language="de", tags=("fruit",), created_at=T0 + timedelta(days=10), valid_at=datetime(2021, 6, 1, tzinfo=timezone.utc)),
            text_chunk("fr-doc", 0, "apples en français", language="fr", tags=("red",), created_at=T0 + timedelta(days=20)),
            text_chunk("it's-doc", 0, "apples with a quote", language="en", tags=("o'brien",), created_at=T0 + timedelta(days=30), valid_at=datetime(2022, 6, 1, tzinfo=timezone.utc)),
            Chunk("pic-doc", 0, "apples in a picture", "en", Modality.IMAGE, created_at=T0, vectors={"image": unit(DIMS.image, 1)}),
        ]
        assert store.upsert(tenant, chunks).ok
        return tenant

    def _docs(self, store, tenant, f: SearchFilter) -> set[str]:
        kw = {h.chunk.document_id for h in store.search(tenant, SearchRequest.keyword("apples", filters=f, limit=50)).hits}
        vec = {
            h.chunk.document_id
            for h in store.search(
                tenant,
                SearchRequest.vector(
                    [VectorQuery(VectorName.TEXT, unit(DIMS.text, 1, 0.1)), VectorQuery(VectorName.IMAGE, unit(DIMS.image, 1))],
                    filters=f,
                    limit=50,
                ),
            ).hits
        }
        assert kw == vec, "keyword and vector search must apply filters alike"
        assert store.count(tenant, f) == len(kw)
        return kw

    @pytest.mark.parametrize(
        "f, expected",
        [
            (SearchFilter(languages=["en"]), {"en-doc", "it's-doc", "pic-doc"}),
            (SearchFilter(languages=["de", "fr"]), {"de-doc", "fr-doc"}),
            (SearchFilter(modalities=["image"]), {"pic-doc"}),
            (SearchFilter(modalities=[Modality.TEXT], languages=["en"]), {"en-doc", "it's-doc"}),
            (SearchFilter(tags_any=["red", "nope"]), {"en-doc", "fr-doc"}),
            (SearchFilter(tags_all=["fruit", "red"]), {"en-doc"}),
            (SearchFilter(tags_any=["o'brien"]), {"it's-doc"}),
            (SearchFilter(document_ids=["it's-doc", "fr-doc"]), {"it's-doc", "fr-doc"}),
            (SearchFilter(created_at=TimeRange(T0 + timedelta(days=10), T0 + timedelta(days=30))), {"de-doc", "fr-doc"}),
            (SearchFilter(created_at=TimeRange(start=T0 + timedelta(days=20))), {"fr-doc", "it's-doc"}),
        ],
    )
    def test_filters(self, store, corpus, f, expected):
        assert self._docs(store, corpus, f) == expected

    def test_time_range_on_valid_at(self, store, corpus):
        y = lambda year: datetime(year, 1, 1, tzinfo=timezone.utc)  # noqa: E731
        assert self._docs(store, corpus, SearchFilter(valid_at=TimeRange(y(2020), y(2021)))) == {"en-doc"}
        assert self._docs(store, corpus, SearchFilter(valid_at=TimeRange(y(2021), y(2023)))) == {"de-doc", "it's-doc"}
        assert self._docs(store, corpus, SearchFilter(valid_at=TimeRange(end=datetime(2021, 6, 2, tzinfo=timezone.utc)))) == {"en-doc", "de-doc"}
        # chunks without valid_at never match a valid_at range
        assert "fr-doc" not in self._docs(store, corpus, SearchFilter(valid_at=TimeRange(y(1900), y(2100))))
        # the end is exclusive, in another time zone too
        exact = datetime(2020, 6, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
        assert self._docs(store, corpus, SearchFilter(valid_at=TimeRange(end=exact))) == set()
        assert self._docs(store, corpus, SearchFilter(valid_at=TimeRange(start=exact, end=y(2021)))) == {"en-doc"}

    @pytest.mark.parametrize(
        "hostile",
        ["x' OR 1=1 --", "' OR '1'='1", "it''s-doc", "it\\'s-doc", "en-doc' --", "%", "en-doc)) OR ((1=1", "\"en-doc\""],
    )
    def test_hostile_filter_values_match_nothing_and_break_nothing(self, store, corpus, hostile):
        total = store.count(corpus)
        assert self._docs(store, corpus, SearchFilter(document_ids=[hostile])) == set()
        assert self._docs(store, corpus, SearchFilter(tags_any=[hostile])) == set()
        assert self._docs(store, corpus, SearchFilter(tags_all=["red", hostile])) == set()
        assert store.delete_documents(corpus, [hostile]) == 0
        assert store.count(corpus) == total
        assert store.list_documents(corpus, after=hostile).documents is not None

    def test_unknown_filter_fields_and_bad_values_are_refused(self, store, corpus):
        from babelrag.store import InvalidFilter

        with pytest.raises(InvalidFilter, match="unknown filter field"):
            SearchFilter.from_dict({"language": ["en"]})
        with pytest.raises(InvalidFilter):
            SearchFilter.from_dict({"languages": ["en' OR 1=1"]})
        with pytest.raises(InvalidFilter):
            SearchFilter.from_dict({"modalities": ["video"]})
        with pytest.raises(InvalidFilter):
            SearchFilter(document_ids=[])
        f = SearchFilter.from_dict({"languages": ["de"], "created_from": "2024-01-05T00:00:00+00:00"})
        assert self._docs(store, corpus, f) == {"de-doc"}


class ListDocumentsContract(_Base):
    def test_list_documents_pages_by_document_id(self, store, tenant):
        sizes = {"doc-c": 3, "doc-a": 1, "doc-e": 2, "doc-b": 4, "doc-d": 1}
        chunks = []
        for d, n in sizes.items():
            for i in range(n):
                chunks.append(
                    text_chunk(
                        d, i, f"{d} {i}",
                        language="de" if d == "doc-b" else "en",
                        tags=(d, "listed"),
                        source=Source(title=f"T-{d}", uri=f"u:{d}", mime_type="text/markdown"),
                    )
                )  # fmt: skip
        assert store.upsert(tenant, chunks).ok
        seen, after, pages = [], None, 0
        while True:
            page = store.list_documents(tenant, limit=2, after=after)
            pages += 1
            seen.extend(page.documents)
            if page.next_after is None:
                break
            assert page.next_after == page.documents[-1].document_id
            after = page.next_after
        assert pages == 3
        assert [d.document_id for d in seen] == sorted(sizes)
        assert {d.document_id: d.chunk_count for d in seen} == sizes
        assert seen[0].source == Source("T-doc-a", "u:doc-a", "text/markdown")
        assert {d.document_id: d.language for d in seen} == {d: "de" if d == "doc-b" else "en" for d in sizes}
        assert seen[1].tags == ("doc-b", "listed")
        assert all(d.created_at == T0 for d in seen)
        assert store.list_documents(tenant, limit=2, after="doc-b").total == 5
        assert store.list_documents(tenant, limit=10, after="doc-e").documents == ()
        assert store.list_documents(tenant, limit=5).next_after is None
        with pytest.raises(InvalidQuery):
            store.list_documents(tenant, limit=0)


class VectorStoreContract(TenantContract, UpsertContract, SearchContract, FilterContract, ListDocumentsContract):
    """Everything above; a backend's test class inherits this and provides ``store``."""
