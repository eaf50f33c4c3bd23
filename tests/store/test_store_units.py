"""Small pure parts of the store: segmentation, filters, ids, validation, exported names."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

import babelrag.store as store_pkg
from babelrag.store import Chunk, InvalidFilter, SearchFilter, TimeRange, VectorDims, chunk_id
from babelrag.store.base import prepare_upsert
from babelrag.store.filters import from_epoch_us, to_epoch_us
from babelrag.store.tokenize import segment


@pytest.mark.parametrize(
    "text, terms",
    [
        ("BabelRAG 支持中文", ["babelrag", "支", "持", "中", "文", "支持", "持中", "中文"]),
        ("水", ["水"]),
        ("ภาษา", ["ภา", "าษ", "ษา", "ภาษ", "าษา"]),
        ("ดี", ["ดี"]),
        ("서울에서", ["서", "울", "에", "서", "서울", "울에", "에서"]),
        ("Ｔｏｋｙｏ ﾀﾜｰ", ["tokyo", "タ", "ワ", "ー", "タワ", "ワー"]),
        ("हिन्दी भाषा में", ["हिन्दी", "भाषा", "में"]),
        ("Hello, world! foo_bar 3.14 café", ["hello", "world", "foo", "bar", "3", "14", "café"]),
        ("\ufeff -- ... ", []),
        ("x" * 61 + " ok", ["ok"]),
    ],
)
def test_segmentation(text, terms):
    assert segment(text) == terms


def test_query_and_document_segment_alike():
    doc = set(segment("我们昨天在北京大学图书馆学习了很久"))
    assert set(segment("图书馆")) <= doc
    assert set(segment("東京タワーは東京都港区にある電波塔です")) >= set(segment("電波塔"))


def test_chunk_ids_are_stable_uuid5_and_tenant_scoped():
    a = chunk_id("acme", "doc", 3)
    assert a == chunk_id("acme", "doc", 3)
    assert uuid.UUID(a).version == 5 and str(uuid.UUID(a)) == a
    assert len({a, chunk_id("acme", "doc", 4), chunk_id("acme", "doc2", 3), chunk_id("globex", "doc", 3)}) == 4


def test_epoch_microseconds_are_exact():
    dt = datetime(2023, 5, 17, 8, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-7)))
    us = to_epoch_us(dt)
    assert us == 1684337415123456
    assert from_epoch_us(us) == dt
    with pytest.raises(ValueError):
        to_epoch_us(datetime(2020, 1, 1))


def test_filter_model_validates_and_deduplicates():
    f = SearchFilter(document_ids=("a", "b", "a"), languages=["en"])
    assert f.document_ids == ("a", "b") and f.languages == ("en",)
    for bad in (
        dict(document_ids="abc"),
        dict(document_ids=["ok", "\x00"]),
        dict(document_ids=["x" * 513]),
        dict(languages=["EN"]),
        dict(tags_any=[1]),
        dict(valid_at=(1, 2)),
    ):
        with pytest.raises(InvalidFilter):
            SearchFilter(**bad)
    with pytest.raises(InvalidFilter):
        TimeRange(datetime(2021, 1, 1, tzinfo=timezone.utc), datetime(2020, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(InvalidFilter):
        TimeRange(datetime(2021, 1, 1))
    with pytest.raises(InvalidFilter):
        TimeRange()
    with pytest.raises(InvalidFilter):
        SearchFilter.from_dict({"valid_from": "2020-01-01"})  # no offset
    f = SearchFilter.from_dict({"valid_from": "2020-01-01T00:00:00+00:00", "tags_all": ["a"]})
    assert f.valid_at == TimeRange(start=datetime(2020, 1, 1, tzinfo=timezone.utc)) and f.tags_all == ("a",)
    assert SearchFilter().is_empty and not f.is_empty


def test_prepare_upsert_groups_by_document_and_reports_every_problem():
    dims = VectorDims(4, 4, 4)
    chunks = [
        Chunk("d1", 1, "b", "en", vectors={"text": [1, 0, 0, 0]}),
        Chunk("d1", 0, "a", "en"),
        Chunk("d2", 0, "x", "en", vectors={"image": [1, 2, 3]}),
        Chunk("d2", 1, "y", "en"),
        "not a chunk",
    ]
    docs, errors = prepare_upsert("t", chunks, dims)
    assert [(d.document_id, [c.chunk.chunk_index for c in d.chunks]) for d in docs] == [("d1", [0, 1])]
    assert [(e.document_id, e.chunk_index, e.code.value) for e in errors] == [
        ("None", None, "invalid_field"),
        ("d2", 0, "dimension_mismatch"),
        ("d2", 1, "document_rejected"),
    ]
    too_many = [Chunk("big", i, "x", "en") for i in range(3)]
    _, errors = prepare_upsert("t", too_many, dims, max_chunks_per_document=2)
    assert errors[0].code.value == "too_many_chunks" and len(errors) == 4


def test_exported_names_are_pinned():
    assert sorted(store_pkg.__all__) == sorted(
        [
            "AsyncVectorStore", "VectorStore", "validate_tenant_name",
            "BackendError", "BackendUnavailable", "InvalidArgument", "InvalidFilter", "InvalidQuery",
            "InvalidTenantName", "StoreConfigError", "StoreError", "TenantError", "TenantInactive", "TenantNotFound",
            "SearchFilter", "TimeRange", "fuse", "signal_weights",
            "Chunk", "DocumentInfo", "DocumentPage", "ItemError", "ItemErrorCode", "Modality", "SearchHit",
            "SearchMode", "SearchRequest", "SearchResult", "SignalScore", "Source", "StoredChunk", "TenantInfo",
            "TenantStatus", "UpsertResult", "VectorDims", "VectorName", "VectorQuery", "chunk_id",
        ]
    )
    for name in store_pkg.__all__:
        assert getattr(store_pkg, name) is not None
    assert issubclass(store_pkg.InvalidArgument, ValueError)
    assert issubclass(store_pkg.TenantInactive, store_pkg.StoreError)
