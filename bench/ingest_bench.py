#!/usr/bin/env python3
"""Benchmark of gateway ingestion (not a test): per-document commit vs group commit.

Starts Triton and the real gateway in this process (:class:`babelrag.evaluation.stack.EvalStack`),
then ingests the same XQuAD paragraphs through the SDK's streaming ingest (one stream, as
``babelrag ingest`` sends them) into fresh tenants, alternating the gateway's
``ingest_group_items`` between 1 (every document embedded and committed on its own, as before
group commit) and the default, on the same Triton in the same run (passage cache off). Prints chunks/s per mode and
writes JSON to ``bench/results/ingest_<profile>.json``.

    .venv/bin/python bench/ingest_bench.py --profile default --paragraphs 120 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "server"))

from babelrag.evaluation.retrieval import GatewaySession, corpus_documents  # noqa: E402
from babelrag.evaluation.squad import load_squad, spread  # noqa: E402
from babelrag.evaluation.stack import EvalStack  # noqa: E402
from babelrag.gateway.settings import Settings  # noqa: E402


async def ingest_once(endpoint, documents, label: str) -> dict:  # noqa: ANN001
    async with GatewaySession(endpoint, ingest_streams=1) as session:
        started = time.perf_counter()
        corpus = await session.corpus(label, documents)
        seconds = time.perf_counter() - started
    return {"documents": len(documents), "chunks": corpus.chunks, "seconds": round(seconds, 3), "chunks_per_s": round(corpus.chunks / seconds, 2)}


async def main(args: argparse.Namespace) -> dict:
    dataset = load_squad(args.squad)
    documents = corpus_documents(dataset)
    documents = spread(documents, args.paragraphs) if args.paragraphs < len(documents) else documents
    group_items = Settings().ingest_group_items
    # The passage cache is off: every round embeds its paragraphs again, as new content would be.
    modes = {
        "per_document_commit": {"ingest_group_items": 1, "passage_cache_size": 0},
        "group_commit": {"ingest_group_items": group_items, "passage_cache_size": 0},
    }
    runs: dict[str, list[dict]] = {mode: [] for mode in modes}
    stack = EvalStack(args.profile, Path(args.data), build=False)
    async with stack as endpoint:
        await ingest_once(endpoint, documents[:8], "warmup")  # load the models' first batches
        for round_ in range(args.rounds):
            for mode, overrides in modes.items():
                endpoint = await stack.reconfigure(overrides)
                run = await ingest_once(endpoint, documents, f"{mode}-{round_}")
                runs[mode].append(run)
                print(f"round {round_} {mode:20s} {run['chunks']} chunks in {run['seconds']:.1f} s: {run['chunks_per_s']:.1f} chunks/s", flush=True)
    summary = {mode: statistics.median(r["chunks_per_s"] for r in rs) for mode, rs in runs.items()}
    speedup = summary["group_commit"] / summary["per_document_commit"]
    print(f"median chunks/s: per-document commit {summary['per_document_commit']:.1f}, group commit {summary['group_commit']:.1f} ({speedup:.1f}x)")
    return {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "note": "shared 2-core machine; compare modes within a run"},
        "profile": args.profile,
        "dataset": str(args.squad),
        "ingest_group_items": group_items,
        "runs": runs,
        "median_chunks_per_s": summary,
        "speedup": round(speedup, 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--data", default=str(REPO / "data"), help="data directory holding models/<profile>")
    parser.add_argument("--squad", default=str(REPO.parent / "shared" / "data" / "xquad" / "xquad.en.json"))
    parser.add_argument("--paragraphs", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = parser.parse_args()
    result = asyncio.run(main(args))
    out = Path(args.out) / f"ingest_{args.profile}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
