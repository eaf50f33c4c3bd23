#!/usr/bin/env python3
"""Benchmark of the LanceDB store (not a test). Writes JSON to bench/results/store_lancedb.json.

For each size N (default 10k and 100k chunks; synthetic 384-d text and 512-d image
vectors drawn around 1,000 cluster centres, plus random multilingual-looking text):

* upsert throughput: bulk load 0 -> N in batches (no indexes), then batches into
  the indexed table with automatic maintenance on;
* index build times: BM25 (full-text), then IVF_SQ on both vector columns;
* search latency p50/p99 (vector on ``text``, vector on ``image``, hybrid of both
  vectors + BM25) with flat scans and with the ANN index;
* recall@10 of the ANN index against the exact (flat) top 10 for the same queries.

With ``--fts-eval`` (default when the XQuAD data is present) it also measures BM25
R@1/R@10 of LanceDB's tokenizers and of the store's shadow column on XQuAD.

    PYTHONPATH=server python bench/store_bench.py --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "server"))

from babelrag.store import Chunk, SearchRequest, Source, VectorDims, VectorName, VectorQuery  # noqa: E402
from babelrag.store.lancedb_store import LanceDBConfig, LanceDBStore  # noqa: E402
from babelrag.store.tokenize import segment_to_text  # noqa: E402

DIMS = VectorDims(text=384, image=512, clip_text=512)
WORDS = (
    "apple river mountain data model vector search index cloud tensor graph language "
    "market energy policy health music travel ocean forest city history science"
).split()
CJK = "东京北京上海数据模型向量检索语言市场能源政策健康音乐旅游海洋森林城市历史科学"
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(xs) * 1000.0, q)), 2)


class Synth:
    def __init__(self, seed: int = 0, centers: int = 1000) -> None:
        self.rng = np.random.default_rng(seed)
        self.ct = self.rng.normal(size=(centers, DIMS.text)).astype(np.float32)
        self.ci = self.rng.normal(size=(centers, DIMS.image)).astype(np.float32)

    def vecs(self, centers: np.ndarray, n: int) -> np.ndarray:
        idx = self.rng.integers(0, len(centers), n)
        return centers[idx] + 0.5 * self.rng.normal(size=(n, centers.shape[1])).astype(np.float32)

    def text(self) -> str:
        words = " ".join(self.rng.choice(WORDS, 12))
        cjk = "".join(self.rng.choice(list(CJK), 10))
        return f"{words} {cjk}"

    def chunks(self, start_doc: int, n_docs: int, per_doc: int) -> list[Chunk]:
        n = n_docs * per_doc
        tv, iv = self.vecs(self.ct, n), self.vecs(self.ci, n)
        out = []
        for d in range(n_docs):
            for i in range(per_doc):
                k = d * per_doc + i
                out.append(
                    Chunk(
                        document_id=f"doc-{start_doc + d:07d}",
                        chunk_index=i,
                        text=self.text(),
                        language="en",
                        source=Source(title="synthetic", uri=f"mem://{start_doc + d}", mime_type="text/plain"),
                        created_at=T0,
                        vectors={"text": tv[k], "image": iv[k]},
                    )
                )
        return out


def time_queries(store: LanceDBStore, tenant: str, reqs: list[SearchRequest]) -> tuple[list[float], list[list[str]]]:
    lat, ids = [], []
    for r in reqs:
        t = time.perf_counter()
        res = store.search(tenant, r)
        lat.append(time.perf_counter() - t)
        ids.append([h.id for h in res.hits])
    return lat, ids


def bench_size(n: int, args: argparse.Namespace, root: Path) -> dict:
    print(f"== {n} chunks", flush=True)
    synth = Synth(seed=n)
    data_dir = root / f"n{n}"
    cfg = dict(data_dir=data_dir, dims=DIMS, fsync=not args.no_fsync)
    # no automatic maintenance and no ANN index yet: the flat phase comes first
    store = LanceDBStore(LanceDBConfig(auto_maintenance=False, ann_min_rows=10**9, **cfg))
    store.ensure_tenant("bench")
    per_doc = 10
    batch_docs = args.batch // per_doc
    write_s = 0.0
    for start in range(0, n // per_doc, batch_docs):
        chunks = synth.chunks(start, min(batch_docs, n // per_doc - start), per_doc)
        t = time.perf_counter()
        res = store.upsert("bench", chunks)
        write_s += time.perf_counter() - t
        assert res.ok, res.errors[:3]
    assert store.count("bench") == n
    out: dict = {"upsert_bulk": {"chunks": n, "seconds": round(write_s, 2), "chunks_per_s": round(n / write_s, 1)}}
    print("  bulk upsert", out["upsert_bulk"], flush=True)

    t = time.perf_counter()
    store.optimize("bench")  # builds the BM25 index and compacts; no ANN (threshold out of reach)
    out["fts_index_build_s"] = round(time.perf_counter() - t, 2)

    qsynth = Synth(seed=n)  # same centres, fresh noise
    qsynth.rng = np.random.default_rng(12345)
    qt, qi = qsynth.vecs(synth.ct, args.queries), qsynth.vecs(synth.ci, args.queries)
    words = [" ".join(qsynth.rng.choice(WORDS, 2)) for _ in range(args.queries)]

    def requests(k: int) -> dict[str, list[SearchRequest]]:
        return {
            "vector_text": [SearchRequest.vector([VectorQuery(VectorName.TEXT, qt[i])], limit=10) for i in range(k)],
            "vector_image": [SearchRequest.vector([VectorQuery(VectorName.IMAGE, qi[i])], limit=10) for i in range(k)],
            "hybrid": [
                SearchRequest.hybrid(
                    words[i],
                    [VectorQuery(VectorName.TEXT, qt[i]), VectorQuery(VectorName.IMAGE, qi[i])],
                    limit=10,
                )
                for i in range(k)
            ],
        }

    flat_k = min(args.queries, args.flat_queries)
    flat: dict = {}
    exact: dict[str, list[list[str]]] = {}
    for name, reqs in requests(flat_k).items():
        time_queries(store, "bench", reqs[:3])  # warm caches
        lat, ids = time_queries(store, "bench", reqs)
        flat[name] = {"queries": len(reqs), "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99)}
        exact[name] = ids
    out["search_flat"] = flat
    print("  flat", flat, flush=True)
    store.close()

    store = LanceDBStore(LanceDBConfig(auto_maintenance=False, ann_min_rows=1000, **cfg))
    t = time.perf_counter()
    store.optimize("bench")
    out["ann_index_build_s"] = round(time.perf_counter() - t, 2)
    out["index_status"] = store.index_status("bench")
    indexed: dict = {}
    for name, reqs in requests(args.queries).items():
        time_queries(store, "bench", reqs[:3])
        lat, ids = time_queries(store, "bench", reqs)
        indexed[name] = {"queries": len(reqs), "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99)}
        if name in exact:
            rec = [len(set(a) & set(b)) / max(1, len(b)) for a, b in zip(ids[:flat_k], exact[name])]
            indexed[name]["recall_at_10_vs_exact"] = round(float(np.mean(rec)), 4)
    out["search_ann"] = indexed
    print("  ann", indexed, flush=True)
    store.close()

    store = LanceDBStore(LanceDBConfig(ann_min_rows=1000, **cfg))  # auto maintenance on
    extra = 0
    t = time.perf_counter()
    for b in range(args.indexed_batches):
        chunks = synth.chunks(n // per_doc + b * batch_docs, batch_docs, per_doc)
        assert store.upsert("bench", chunks).ok
        extra += len(chunks)
    dt = time.perf_counter() - t
    out["upsert_into_indexed"] = {"chunks": extra, "seconds": round(dt, 2), "chunks_per_s": round(extra / dt, 1) if dt else None}
    print("  indexed upsert", out["upsert_into_indexed"], flush=True)
    store.close()
    shutil.rmtree(data_dir, ignore_errors=True)
    return out


# ---------------------------------------------------------------------------
# BM25 tokenizer evaluation on XQuAD
# ---------------------------------------------------------------------------

FTS_CONFIGS = {
    "simple": dict(base_tokenizer="simple"),
    "ngram_1_2": dict(base_tokenizer="ngram", ngram_min_length=1, ngram_max_length=2),
    "ngram_2_2": dict(base_tokenizer="ngram", ngram_min_length=2, ngram_max_length=2),
    "ngram_3_3": dict(base_tokenizer="ngram", ngram_min_length=3, ngram_max_length=3),
    "icu": dict(base_tokenizer="icu"),
    "shadow_column": dict(base_tokenizer="whitespace", lower_case=False, max_token_length=64),
}


def load_xquad(path: Path) -> tuple[list[str], list[tuple[str, int]]]:
    d = json.loads(path.read_text(encoding="utf-8"))
    docs: list[str] = []
    qs: list[tuple[str, int]] = []
    for art in d["data"]:
        for p in art["paragraphs"]:
            docs.append(p["context"])
            qs.extend((q["question"], len(docs) - 1) for q in p["qas"])
    return docs, qs


def fts_eval(xquad: Path, langs: list[str], root: Path) -> dict:
    import lancedb
    import pyarrow as pa
    from lancedb.index import FTS
    from lancedb.query import MatchQuery

    db = lancedb.connect(str(root / "fts_eval"))
    out: dict = {}
    for lang in langs:
        docs, qs = load_xquad(xquad / f"xquad.{lang}.json")
        out[lang] = {}
        for name, cfg in FTS_CONFIGS.items():
            shadow = name == "shadow_column"
            col = [segment_to_text(x) for x in docs] if shadow else docs
            tbl = db.create_table(f"{lang}_{name}", pa.table({"i": list(range(len(docs))), "t": col}), mode="overwrite")
            tbl.create_index("t", config=FTS(stem=False, remove_stop_words=False, ascii_folding=False, **cfg))
            r1 = r10 = 0
            lat = []
            for q, gold in qs:
                qq = segment_to_text(q) if shadow else q
                t = time.perf_counter()
                ids = [r["i"] for r in tbl.search(MatchQuery(qq, "t"), query_type="fts").limit(10).select(["i"]).to_list()]
                lat.append(time.perf_counter() - t)
                r1 += bool(ids) and ids[0] == gold
                r10 += gold in ids
            out[lang][name] = {"R@1": round(r1 / len(qs), 3), "R@10": round(r10 / len(qs), 3), "p50_ms": pct(lat, 50)}
            print(f"  fts {lang} {name}: {out[lang][name]}", flush=True)
    out["_setup"] = "XQuAD: 240 paragraphs per language as documents, 1190 questions, gold = the question's paragraph; BM25 via LanceDB native FTS, no stemming/stop words/folding"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200, help="queries per kind against the ANN index")
    ap.add_argument("--flat-queries", type=int, default=50, help="queries per kind for flat scans (slow at 100k)")
    ap.add_argument("--batch", type=int, default=1000, help="chunks per upsert call")
    ap.add_argument("--indexed-batches", type=int, default=5, help="batches upserted into the indexed table")
    ap.add_argument("--no-fsync", action="store_true")
    ap.add_argument("--xquad", type=Path, default=Path(os.environ.get("BABELRAG_XQUAD_DIR", REPO.parent / "shared" / "data" / "xquad")))
    ap.add_argument("--fts-langs", nargs="+", default=["zh", "th", "en"])
    ap.add_argument("--no-fts-eval", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "store_lancedb.json")
    ap.add_argument("--work-dir", type=Path, default=None)
    args = ap.parse_args()

    import lancedb
    import pyarrow

    root = Path(args.work_dir or tempfile.mkdtemp(prefix="store_bench_"))
    root.mkdir(parents=True, exist_ok=True)
    started = time.time()
    result: dict = {
        "benchmark": "babelrag.store.lancedb_store",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "versions": {"lancedb": lancedb.__version__, "pyarrow": pyarrow.__version__, "numpy": np.__version__},
        "setup": {
            "dims": DIMS.as_dict(),
            "vectors": "1000 Gaussian cluster centres, noise sd 0.5; queries drawn the same way",
            "ann": "IVF_SQ cosine, nprobes 20, refine_factor 5",
            "fsync": not args.no_fsync,
            "batch_chunks": args.batch,
        },
        "sizes": {},
    }
    try:
        for n in args.sizes:
            result["sizes"][str(n)] = bench_size(n, args, root)
        if not args.no_fts_eval and (args.xquad / "xquad.zh.json").exists():
            print("== BM25 tokenizers on XQuAD", flush=True)
            result["fts_tokenizers"] = fts_eval(args.xquad, args.fts_langs, root)
    finally:
        if args.work_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    result["total_seconds"] = round(time.time() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out} in {result['total_seconds']} s")


if __name__ == "__main__":
    main()
