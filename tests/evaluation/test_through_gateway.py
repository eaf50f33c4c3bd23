"""The evaluation harness against the real gateway (tiny models on the session's Triton, LanceDB).

Tiny models have random weights, so vector numbers are noise; these tests check that every setting
runs through the gateway, scores what came back, and cleans up - not the numbers themselves
(except BM25, which works with any model).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from babelrag.evaluation.cli import main
from babelrag.evaluation.retrieval import (
    GatewaySession,
    Method,
    evaluate_crosslingual,
    evaluate_monolingual,
    evaluate_pooled,
    ingest_languages,
)
from babelrag.evaluation.squad import load_squad
from babelrag.evaluation.stack import Endpoint
from babelrag_client import AsyncClient
from tests.conftest import REPO_ROOT, TEST_DATA

pytestmark = pytest.mark.slow

METRICS = {"recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "queries", "failed_queries"}


@pytest.fixture
def endpoint(gateway, triton_server, tiny_layout) -> Endpoint:  # noqa: ANN001
    return Endpoint(
        address=gateway.address,
        admin_key=gateway.admin_key,
        triton_url=triton_server.grpc_url,
        profile_root=tiny_layout.root,
        settings=gateway.settings,
    )


async def test_every_retrieval_setting_through_the_gateway(endpoint: Endpoint, squad_dir: Path, gateway):  # noqa: ANN001
    datasets = [load_squad(squad_dir / f"mini.{lang}.json") for lang in ("en", "de", "zh")]
    methods = [Method("keyword"), Method("vector"), Method("hybrid", 0.5)]
    store = gateway.gateway.runtime.store

    async def compact(tenant: str) -> None:
        # As EvalStack.compact does: with documents committed one by one from parallel uploads,
        # which rows the BM25 index already holds (and so their statistics) depends on timing.
        await asyncio.to_thread(store.store.optimize, tenant)

    async with GatewaySession(endpoint, concurrency=4, after_ingest=compact) as session:
        corpora = await ingest_languages(session, datasets)
        assert {lang: c.summary()["documents"] for lang, c in corpora.items()} == {"en": 3, "de": 3, "zh": 3}
        mono = await evaluate_monolingual(session, datasets, corpora, methods)
        cross = await evaluate_crosslingual(session, datasets, corpora, methods[1:])
        pooled = await evaluate_pooled(session, datasets, methods[1:])
        tenants = [c.tenant for c in corpora.values()]

    assert mono["methods"] == ["keyword", "vector", "hybrid@0.5"]
    for method in mono["methods"]:
        for language in ("en", "de", "zh"):
            metrics = mono["per_language"][method][language]
            assert set(metrics) == METRICS
            assert metrics["queries"] == 4 and metrics["failed_queries"] == 0
            assert 0.0 <= metrics["mrr@10"] <= metrics["recall@10"] == 1.0  # 3 documents: all are in the top 10
    assert mono["per_language"]["keyword"]["zh"]["recall@1"] >= 0.75  # BM25 over character bigrams
    assert set(mono["mean"]) == {"keyword", "vector", "hybrid@0.5"}

    assert set(cross["to_pivot"]["vector"]) == set(cross["from_pivot"]["vector"]) == {"de", "zh"}
    assert pooled["corpus"]["documents"] == 9
    zh = pooled["per_language"]["vector"]["zh"]
    assert {"map@20", "own_language@1", "own_language@10"} <= set(zh)
    assert 0.0 <= zh["own_language@10"] <= 1.0

    async with AsyncClient(endpoint.address, api_key=None, admin_key=endpoint.admin_key) as admin:
        remaining = {t.name for t in await admin.admin.list_tenants()}
    assert not remaining & set(tenants), "evaluation tenants must be deleted afterwards"


def test_cli_all_against_a_running_gateway(endpoint: Endpoint, squad_dir: Path, tmp_path: Path, monkeypatch, capsys):  # noqa: ANN001
    monkeypatch.setenv("BABELRAG_ADMIN_KEY", endpoint.admin_key)
    code = main(
        [
            "all",
            "--squad", str(squad_dir / "mini.en.json"), str(squad_dir / "mini.zh.json"),
            "--gateway", endpoint.address,
            "--triton-url", endpoint.triton_url,
            "--profile", "tiny",
            "--data", str(TEST_DATA),
            "--methods", "keyword,hybrid@0.5",
            "--cross-methods", "vector",
            "--detectors", "langdetect",
            "--generation-questions", "1",
            "--max-tokens", "6",
            "--noise", "1",
            "--no-plots",
            "--out", str(tmp_path / "results"),
        ]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "| keyword |" in out and "| hybrid@0.5 |" in out
    [report] = (tmp_path / "results" / "mini").glob("*.json")
    sections = json.loads(report.read_text())["sections"]
    assert set(sections) == {"retrieval", "crosslingual", "pooled", "langid", "answers", "mirage"}
    assert sections["retrieval"]["run"]["gateway"] == endpoint.address
    assert sections["langid"]["per_language"]["langdetect"]["zh"]["accuracy"] == 1.0
    generator = (Path(endpoint.profile_root) / "artifacts" / "generator").is_dir()
    for name in ("answers", "mirage"):
        assert sections[name]["status"] == "ok" if generator else sections[name]["status"] != "ok"
    if generator:
        [record] = [r for r in sections["answers"]["records"] if r["language"] == "zh"]
        assert record["question_language"] == "zh" and not record["error"]
        assert sections["mirage"]["overall"]["questions"] == 2
        assert set(sections["mirage"]["records"][0]["answers"]) == {"base", "oracle", "mixed", "noise", "rag"}
    assert report.with_suffix(".md").is_file()


def test_cli_starts_its_own_gateway(squad_dir: Path, tmp_path: Path, triton_server):  # noqa: ANN001
    """``babelrag-eval`` as users run it: the gateway started and stopped by the command (on the
    session's Triton, to save starting another; ``TritonServer`` has tests of its own)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "server")}
    env.pop("BABELRAG_ADMIN_KEY", None)
    done = subprocess.run(
        [
            sys.executable, "-m", "babelrag.evaluation.cli", "retrieval",
            "--squad", str(squad_dir / "mini.de.json"),
            "--profile", "tiny", "--data", str(TEST_DATA), "--no-build", "--triton-url", triton_server.grpc_url,
            "--methods", "keyword,vector",
            "--no-plots", "--out", str(tmp_path / "results"),
        ],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| keyword |" in done.stdout
    [report] = (tmp_path / "results" / "mini").glob("*.json")
    retrieval = json.loads(report.read_text())["sections"]["retrieval"]
    assert retrieval["run"]["gateway"] == "in-process" and retrieval["run"]["compacted"] is True
    assert retrieval["per_language"]["keyword"]["de"]["queries"] == 4


def test_cli_ablation_restarts_the_gateway_per_variant(squad_dir: Path, tmp_path: Path, triton_server, capsys):  # noqa: ANN001
    """Each variant's settings reach a restarted gateway (same tenants, no second ingestion)."""
    from babelrag.rag.prompting import PHRASES

    variants = ["default", "top_k=3", "rerank=triton", "budget=256", "no_opener"]
    code = main(
        [
            "ablation", "--squad", str(squad_dir / "mini.en.json"),
            "--profile", "tiny", "--data", str(TEST_DATA), "--no-build", "--triton-url", triton_server.grpc_url,
            "--variants", ",".join(variants), "--generation-questions", "2", "--max-tokens", "4",
            "--no-plots", "--out", str(tmp_path / "results"),
        ]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err[-3000:]
    [report] = (tmp_path / "results" / "mini").glob("*.json")
    section = json.loads(report.read_text())["sections"]["ablation"]
    assert section["status"] == "ok" and section["skipped"] == {}
    assert list(section["variants"]) == variants
    assert capsys.readouterr().err.count("ingested ") == 1  # one ingestion for all variants
    records = section["records"]
    for name in variants:
        assert [r["error"] for r in records[name]] == ["", ""], name
        assert section["variants"][name]["mirage_contains"]["questions"] == 2
    opener = PHRASES["en"].opener
    assert all(r["answer"].startswith(opener) for r in records["default"])
    assert not any(r["answer"].lstrip().startswith(opener) for r in records["no_opener"])
    assert all(r["context_passages"] <= 3 for r in records["top_k=3"])
    assert section["variants"]["budget=256"]["prompt_tokens"] <= section["variants"]["default"]["prompt_tokens"]
    assert len(section["fixed_conditions"]) == 2 and set(section["fixed_conditions"][0]["answers"]) == {"base", "oracle"}
    effective = section["effective_settings"]  # one change at a time: nothing carries over to the next variant
    assert effective["default"] == {
        "top_k": 8, "reranker": "fused", "context_dedupe": True, "generator_context_tokens": 2048, "base_model_context_tokens": 256,
        "context_min_relevance": 0.4, "answer_opener": True,
    }
    for name, changed in {"top_k=3": {"top_k": 3}, "rerank=triton": {"reranker": "triton"}, "budget=256": {"generator_context_tokens": 512}, "no_opener": {"answer_opener": False}}.items():
        assert effective[name] == {**effective["default"], **changed}, name


def test_sigterm_stops_the_stack_it_started(tmp_path: Path, tiny_layout):  # noqa: ANN001
    """``kill`` (or a CI timeout) must not leave the evaluation's tritonserver running."""
    import signal
    import socket
    import time

    questions = [{"id": f"q{i}", "question": f"Wie lang ist der Rhein, Frage {i}?", "answers": [{"text": "1.230 Kilometer", "answer_start": 70}]} for i in range(5000)]
    squad = {"version": "1.1", "data": [{"title": "Flüsse", "paragraphs": [{"context": "Der Rhein fließt von den Schweizer Alpen bis zur Nordsee und ist 1.230 Kilometer lang.", "qas": questions}]}]}
    path = tmp_path / "long.de.json"
    path.write_text(json.dumps(squad, ensure_ascii=False))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "server")}
    process = subprocess.Popen(
        [
            sys.executable, "-m", "babelrag.evaluation.cli", "retrieval", "--squad", str(path),
            "--profile", "tiny", "--data", str(TEST_DATA), "--no-build", "--methods", "keyword,vector",
            "--no-plots", "--out", str(tmp_path / "results"),
        ],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    triton_port = None
    try:
        for line in process.stderr:
            if "Triton on" in line and "gateway on" in line:
                triton_port = int(line.rsplit(":", 1)[1])
            if triton_port and "ingested" in line:
                break
        assert triton_port, "the evaluation never reported its Triton"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 130
    finally:
        if process.poll() is None:
            process.kill()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", triton_port)) != 0:
                return  # nothing listens there any more: Triton was stopped
        time.sleep(0.2)
    raise AssertionError(f"the evaluation's tritonserver still listens on {triton_port} after SIGTERM")
