"""LanceDB backend: the shared contract, plus what only an embedded store has to show."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from store_contract import DIMS, VectorStoreContract, doc_chunks, text_chunk, unit

from babelrag.store import (
    InvalidTenantName,
    SearchFilter,
    SearchRequest,
    StoreConfigError,
    TenantInactive,
    TenantStatus,
    TimeRange,
    VectorDims,
    VectorName,
    VectorQuery,
    chunk_id,
)
from babelrag.store.base import VectorStore
from babelrag.store.lancedb_store import LanceDBConfig, LanceDBStore, render_filter, sql_string

REPO = Path(__file__).resolve().parents[2]


def make_store(path: Path, **kw) -> LanceDBStore:
    kw.setdefault("dims", DIMS)
    return LanceDBStore(LanceDBConfig(data_dir=path, **kw))


class TestLanceDBContract(VectorStoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        # fsync off for speed here; the restart and registry tests below keep it on
        s = make_store(tmp_path / "data", fsync=False)
        yield s
        s.close()


def test_lancedb_store_satisfies_the_protocol(tmp_path):
    assert isinstance(make_store(tmp_path), VectorStore)


def test_tenants_are_separate_tables_and_names_cannot_escape(tmp_path):
    store = make_store(tmp_path / "data")
    store.ensure_tenant("acme")
    store.ensure_tenant("globex")
    tables = sorted(p.name for p in (tmp_path / "data" / "chunks" / "tables").iterdir())
    assert tables == ["acme.lance", "globex.lance"]
    for bad in ("../../evil", "/abs", "a\\b", "..", "x\x00y"):
        with pytest.raises(InvalidTenantName):
            store.ensure_tenant(bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


_CHILD = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timezone
    from babelrag.store import Chunk, VectorDims
    from babelrag.store.lancedb_store import LanceDBConfig, LanceDBStore
    store = LanceDBStore(LanceDBConfig(data_dir=sys.argv[1], dims=VectorDims(16, 12, 12)))
    store.ensure_tenant("acme")
    store.ensure_tenant("sleepy")
    res = store.upsert("acme", [
        Chunk("doc-1", i, f"第{i}段：东京的天气很好 weather report {i}", "zh",
              created_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
              vectors={"text": [1.0, float(i)] + [0.0] * 14})
        for i in range(3)
    ])
    assert res.ok, res
    store.deactivate_tenant("sleepy", offload=True)
    print("written", store.count("acme"))
    """
)


def test_data_and_tenant_status_survive_a_process_restart(tmp_path):
    data = tmp_path / "data"
    env = dict(os.environ, PYTHONPATH=str(REPO / "server") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", _CHILD, str(data)], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "written 3" in out.stdout

    store = make_store(data)  # a fresh process' view: nothing cached
    assert {t.name: t.status for t in store.list_tenants()} == {"acme": TenantStatus.ACTIVE, "sleepy": TenantStatus.OFFLOADED}
    assert store.count("acme") == 3
    hits = store.search("acme", SearchRequest.keyword("天气")).hits
    assert sorted(h.chunk.chunk_index for h in hits) == [0, 1, 2]
    [got] = store.get("acme", [chunk_id("acme", "doc-1", 1)], include_vectors=True)
    np.testing.assert_allclose(got.chunk.vectors["text"], [1.0, 1.0] + [0.0] * 14)
    with pytest.raises(TenantInactive) as exc:
        store.count("sleepy")
    assert exc.value.status is TenantStatus.OFFLOADED
    store.activate_tenant("sleepy")
    assert make_store(data).count("sleepy") == 0  # the activation is on disk too


def test_status_change_by_another_store_instance_is_seen_immediately(tmp_path):
    a, b = make_store(tmp_path), make_store(tmp_path)
    a.ensure_tenant("t")
    a.upsert("t", doc_chunks("d", 2))
    assert b.count("t") == 2
    a.deactivate_tenant("t")
    with pytest.raises(TenantInactive):
        b.count("t")
    a.activate_tenant("t")
    assert b.count("t") == 2
    b.upsert("t", doc_chunks("e", 1))  # written through b, read through a
    assert a.count("t") == 3


def test_reopening_with_other_dimensions_is_a_config_error(tmp_path):
    make_store(tmp_path).ensure_tenant("t")
    other = make_store(tmp_path, dims=VectorDims(text=384, image=512, clip_text=512))
    with pytest.raises(StoreConfigError, match="dimension 16"):
        other.count("t")


def test_real_model_dimensions_are_enforced(tmp_path):
    store = LanceDBStore(LanceDBConfig(data_dir=tmp_path))  # default profile: 384 / 512 / 512
    store.ensure_tenant("t")
    rng = np.random.default_rng(1)
    ok = text_chunk("ok", 0, "fine", vectors={"text": rng.normal(size=384), "clip_text": rng.normal(size=512)})
    clip_as_e5 = text_chunk("bad", 0, "wrong model", vectors={"text": rng.normal(size=512)})
    res = store.upsert("t", [ok, clip_as_e5])
    assert res.written_documents == ("ok",)
    assert [e.message for e in res.errors] == ["vector 'text' has dimension 512, store expects 384"]
    assert store.count("t") == 1


def test_filters_render_to_escaped_sql_from_typed_values():
    from datetime import datetime, timezone

    f = SearchFilter(
        document_ids=["a'b", "x' OR 1=1 --"],
        languages=["en"],
        tags_all=["o'brien"],
        valid_at=TimeRange(datetime(2020, 1, 1, tzinfo=timezone.utc), datetime(2020, 1, 2, tzinfo=timezone.utc)),
    )
    assert render_filter(f) == (
        "(document_id IN ('a''b', 'x'' OR 1=1 --')) AND (language IN ('en')) AND "
        "(array_has_all(tags, ['o''brien'])) AND (valid_us >= 1577836800000000) AND (valid_us < 1577923200000000)"
    )
    assert render_filter(None) is None and render_filter(SearchFilter()) is None
    assert sql_string("back\\slash") == "'back\\slash'"


def test_ann_index_is_built_past_the_threshold_and_kept_fresh(tmp_path):
    store = make_store(tmp_path, ann_min_rows=300, reindex_min_rows=100)
    store.ensure_tenant("t")
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(8, DIMS.text))

    def batch(doc: str, n: int):
        vecs = centers[rng.integers(0, 8, n)] + 0.05 * rng.normal(size=(n, DIMS.text))
        return [text_chunk(doc, i, f"{doc} {i}", vec=vecs[i]) for i in range(n)]

    store.upsert("t", batch("small", 200))
    status = store.index_status("t")
    assert "vec_text" not in status and status["fts"]["indexed"] == 200
    store.upsert("t", batch("big", 150))  # 350 text vectors: past the threshold
    status = store.index_status("t")
    assert status["vec_text"]["indexed"] == 350 and status["vec_text"]["unindexed"] == 0
    assert "vec_image" not in status  # no image vectors at all
    store.upsert("t", batch("more", 120))  # 120 unindexed >= reindex_min_rows: optimize folds them in
    assert store.index_status("t")["vec_text"]["unindexed"] == 0
    # results through the index equal the exact ranking
    q = centers[3]
    res = store.search("t", SearchRequest.vector([VectorQuery(VectorName.TEXT, q)], limit=10))
    table = store._open_table("t")
    exact = table.search(q.astype(np.float32), vector_column_name="vec_text").distance_type("cosine").bypass_vector_index().limit(10).to_arrow()
    assert [h.id for h in res.hits] == exact.column("id").to_pylist()
    store.upsert("t", batch("tail", 20))  # below the reindex threshold: searched flat, still found
    tail = store.search("t", SearchRequest.vector([VectorQuery(VectorName.TEXT, centers[0])], filters=SearchFilter(document_ids=["tail"]), limit=50))
    assert len(tail.hits) == 20


def test_optimize_compacts_and_drops_old_versions(tmp_path):
    from datetime import timedelta

    store = make_store(tmp_path, cleanup_older_than=timedelta(0))
    store.ensure_tenant("t")
    for i in range(6):
        store.upsert("t", doc_chunks(f"d{i}", 2))
    versions = tmp_path / "chunks" / "tables" / "t.lance" / "_versions"
    before = len(list(versions.iterdir()))
    store.optimize("t")
    assert len(list(versions.iterdir())) < before
    assert store.count("t") == 12
    assert len(store.search("t", SearchRequest.keyword("apples", limit=50)).hits) == 12


def test_concurrent_readers_are_not_blocked_by_a_writer(tmp_path):
    store = make_store(tmp_path, fsync=False)
    store.ensure_tenant("t")
    store.upsert("t", doc_chunks("seed", 5))
    errors: list[BaseException] = []
    stop = threading.Event()
    reads = [0]

    def reader():
        q = [VectorQuery(VectorName.TEXT, unit(DIMS.text, 1, 0.3))]
        while not stop.is_set():
            try:
                n = len(store.search("t", SearchRequest.hybrid("apples", q, limit=100)).hits)
                assert n >= 5
                reads[0] += 1
            except BaseException as exc:  # noqa: BLE001 - surfaced below
                errors.append(exc)
                return

    def writer(k: int):
        try:
            for i in range(8):
                res = store.upsert("t", doc_chunks(f"w{k}-{i}", 3))
                assert res.ok
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(k,)) for k in range(2)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join(60)
    stop.set()
    for t in readers:
        t.join(60)
    assert not errors, errors
    assert reads[0] > 0
    assert store.count("t") == 5 + 2 * 8 * 3


def test_registry_file_is_plain_json_with_statuses(tmp_path):
    store = make_store(tmp_path)
    store.ensure_tenant("t1")
    store.deactivate_tenant("t1")
    doc = json.loads((tmp_path / "chunks" / "tenants.json").read_text())
    assert doc["format"] == 1 and doc["tenants"]["t1"]["status"] == "INACTIVE"


# -- signal cache --------------------------------------------------------------------------


def _corpus(store: LanceDBStore, tenant: str, words: list[str]) -> None:
    store.ensure_tenant(tenant)
    chunks = [text_chunk(f"doc-{i}", 0, f"{word} orchard report {i}", vec=unit(DIMS.text, 1.0, 0.2 * i)) for i, word in enumerate(words)]
    assert not store.upsert(tenant, chunks).errors


def _ranking(result) -> list[tuple[str, float]]:
    return [(hit.chunk.document_id, round(hit.score, 9)) for hit in result.hits]


def test_signal_cache_reuses_signals_across_alphas_and_modes_with_identical_rankings(tmp_path):
    cached, plain = make_store(tmp_path / "a", fsync=False), make_store(tmp_path / "b", fsync=False, signal_cache_bytes=0)
    words = ["apple", "pear", "apple pear", "plum", "apple plum", "fig"]
    for store in (cached, plain):
        _corpus(store, "acme", words)
    query = [VectorQuery(VectorName.TEXT, unit(DIMS.text, 1.0, 0.5))]
    requests = [
        SearchRequest.keyword("apple", limit=4),
        SearchRequest.vector(query, limit=4),
        *(SearchRequest.hybrid("apple", query, alpha=a, limit=4) for a in (0.3, 0.5, 0.7, 0.9)),
        SearchRequest.hybrid("apple", query, alpha=0.5, limit=2, offset=2),
    ]
    for request in requests:
        assert _ranking(cached.search("acme", request)) == _ranking(plain.search("acme", request))
    # keyword and vector ran once each; every hybrid and the second page re-used them
    assert (cached.signal_cache.misses, cached.signal_cache.hits) == (2, 10)
    assert len(plain.signal_cache) == 0 and plain.signal_cache.hits == 0


def test_signal_cache_never_serves_a_result_from_before_a_write(tmp_path):
    store = make_store(tmp_path, fsync=False)
    _corpus(store, "acme", ["apple", "pear"])
    request = SearchRequest.keyword("plum", limit=5)
    assert store.search("acme", request).hits == ()
    assert not store.upsert("acme", [text_chunk("doc-new", 0, "plum orchard")]).errors
    assert [h.chunk.document_id for h in store.search("acme", request).hits] == ["doc-new"]
    store.delete_documents("acme", ["doc-new"])
    assert store.search("acme", request).hits == ()


def test_signal_cache_is_per_tenant_and_forgets_a_deleted_tenant(tmp_path):
    store = make_store(tmp_path, fsync=False)
    _corpus(store, "acme", ["apple", "pear"])
    _corpus(store, "globex", ["apple plum", "fig"])
    request = SearchRequest.keyword("apple", limit=5)
    assert [h.chunk.text for h in store.search("acme", request).hits] == ["apple orchard report 0"]
    assert [h.chunk.text for h in store.search("globex", request).hits] == ["apple plum orchard report 0"]
    # Deleted and created again with as many commits: the table's versions start over, so a
    # stale entry would have the same version number. It must not be served.
    store.delete_tenant("acme")
    _corpus(store, "acme", ["apple tart", "pear"])
    assert [h.chunk.text for h in store.search("acme", request).hits] == ["apple tart orchard report 0"]


def test_signal_cache_separates_filters_and_stays_within_its_byte_budget(tmp_path):
    store = make_store(tmp_path, fsync=False, signal_cache_bytes=4_000)
    store.ensure_tenant("acme")
    chunks = [text_chunk(f"doc-{i}", 0, f"apple {'long text ' * 20} {i}", language="de" if i % 2 else "en") for i in range(10)]
    assert not store.upsert("acme", chunks).errors
    german = SearchRequest.keyword("apple", limit=10, filters=SearchFilter(languages=("de",)))
    assert {h.chunk.language for h in store.search("acme", german).hits} == {"de"}
    assert len(store.search("acme", SearchRequest.keyword("apple", limit=10)).hits) == 10
    for i in range(20):
        store.search("acme", SearchRequest.keyword(f"apple {i}", limit=10))
        assert store.signal_cache.nbytes <= 4_000
    with pytest.raises(StoreConfigError):
        make_store(tmp_path / "bad", signal_cache_bytes=-1)
