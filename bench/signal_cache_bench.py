#!/usr/bin/env python3
"""Benchmark of the LanceDB store's signal cache (not a test): the evaluation's search pattern.

One XQuAD language's paragraphs go into two LanceDB stores, one with the signal cache
(``signal_cache_bytes`` default) and one without (0). Each question is then searched as
``babelrag-eval retrieval`` does, question by question: keyword, vector, hybrid at alpha 0.5, 0.7
and 0.9, 50 candidates per signal. Vectors are random unit vectors (this measures the store, not
E5). Both stores are timed in the same run, interleaved per round; prints ms per search per
method and the ratio, and writes ``bench/results/signal_cache.json``.

    .venv/bin/python bench/signal_cache_bench.py --questions 300 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "server"))

from babelrag.evaluation.squad import load_squad  # noqa: E402
from babelrag.store import Chunk, SearchRequest, Source, VectorName, VectorQuery  # noqa: E402
from babelrag.store.lancedb_store import LanceDBConfig, LanceDBStore  # noqa: E402

METHODS = ("keyword", "vector", "hybrid@0.5", "hybrid@0.7", "hybrid@0.9")


def request(method: str, text: str, vector: np.ndarray) -> SearchRequest:
    vectors = [VectorQuery(VectorName.TEXT, vector)]
    if method == "keyword":
        return SearchRequest.keyword(text, limit=19)
    if method == "vector":
        return SearchRequest.vector(vectors, limit=19)
    return SearchRequest.hybrid(text, vectors, alpha=float(method.split("@")[1]), limit=19)


def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", default=str(REPO.parent / "shared" / "data" / "xquad" / "xquad.en.json"))
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "signal_cache.json"))
    args = parser.parse_args()

    dataset = load_squad(args.squad)
    rng = np.random.default_rng(0)
    passages = unit_vectors(rng, len(dataset.paragraphs), 384)
    questions = dataset.questions[: args.questions]
    query_vectors = unit_vectors(rng, len(questions), 384)
    stores = {}
    for name, cache_bytes in (("cache off", 0), ("cache on", LanceDBConfig().signal_cache_bytes)):
        store = LanceDBStore(LanceDBConfig(data_dir=tempfile.mkdtemp(prefix="signal-cache-bench-"), fsync=False, signal_cache_bytes=cache_bytes))
        store.ensure_tenant("bench")
        chunks = [
            Chunk(dataset.document_id(p.key), 0, p.context, dataset.language, source=Source(title=p.title), vectors={"text": passages[i]})
            for i, p in enumerate(dataset.paragraphs)
        ]
        assert not store.upsert("bench", chunks).errors
        store.optimize("bench")
        stores[name] = store

    timings: dict[str, dict[str, list[float]]] = {name: {m: [] for m in METHODS} for name in stores}
    for _ in range(args.rounds):
        for name, store in stores.items():
            store.signal_cache.forget("bench")  # every round starts cold, as a new question does
            for question, vector in zip(questions, query_vectors):
                for method in METHODS:
                    started = time.perf_counter()
                    store.search("bench", request(method, question.text, vector))
                    timings[name][method].append((time.perf_counter() - started) * 1000)

    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "dataset": f"{dataset.name}.{dataset.language}: {len(dataset.paragraphs)} paragraphs, {len(questions)} questions",
        "rounds": args.rounds,
        "ms_per_search_median": {name: {m: round(statistics.median(t), 2) for m, t in per.items()} for name, per in timings.items()},
        "ms_per_question": {name: round(sum(statistics.mean(t) for t in per.values()), 2) for name, per in timings.items()},
    }
    result["speedup_per_question"] = round(result["ms_per_question"]["cache off"] / result["ms_per_question"]["cache on"], 2)
    print(f"{result['dataset']}, {args.rounds} rounds; median ms per search:")
    print(f"{'method':12} {'cache off':>10} {'cache on':>10}")
    for method in METHODS:
        off, on = (result["ms_per_search_median"][name][method] for name in ("cache off", "cache on"))
        print(f"{method:12} {off:10.2f} {on:10.2f}")
    print(
        f"all 5 methods of one question: {result['ms_per_question']['cache off']:.1f} ms without the cache, "
        f"{result['ms_per_question']['cache on']:.1f} ms with it: {result['speedup_per_question']}x"
    )
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    for store in stores.values():
        store.close()


if __name__ == "__main__":
    main()
