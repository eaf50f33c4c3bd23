"""The gateway with ``reranker = "triton"``: Search and Ask rank by the served cross-encoder, a
reranker outage falls back to the fused order without failing a call, and a profile without a
reranker model is refused at start."""

from __future__ import annotations

import json
import shutil

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from grpc_health.v1 import health_pb2, health_pb2_grpc

from babelrag.triton.reranker import TritonReranker, sigmoid
from babelrag.v1 import ask_pb2
from tests.gateway.helpers import Api, text_item
from tests.gateway_harness import GatewayHandle

pytestmark = pytest.mark.slow

QUERY = "Wie hoch ist der Eiffelturm?"
CORPUS = [
    text_item("fr-eiffel", "La tour Eiffel mesure 330 mètres et se trouve à Paris.", title="Tour Eiffel"),
    text_item("de-eiffel", "Der Eiffelturm ist 330 Meter hoch.", title="Eiffelturm"),
    text_item("zh-eiffel", "埃菲尔铁塔高330米，位于巴黎。", title="埃菲尔铁塔"),
    text_item("de-rhein", "Der Rhein fließt von den Alpen bis zur Nordsee."),
    text_item("ru-kremlin", "Московский Кремль — крепость в центре Москвы.", title="Кремль"),
]
TEXTS = {item["document_id"]: (item.get("title", ""), item["content"].decode()) for item in CORPUS}
# "de-rhein" has no title: the gateway names it after its file, and the model reads that name.


@pytest.fixture(scope="module")
def rerank_gateway(triton_server, tiny_layout, tmp_path_factory):
    handle = GatewayHandle.launch(
        tmp_path_factory.mktemp("rerank-gateway"), tiny_layout.root.parent, triton_server.grpc_url, reranker="triton"
    )
    yield handle
    handle.close()


@pytest.fixture(scope="module")
def api(rerank_gateway):
    client = Api(rerank_gateway.address, rerank_gateway.create_tenant("rerank-tenant"))
    results = client.ingest(*CORPUS)
    assert all(r.error.code == "" for r in results), results
    yield client
    client.close()


def served_scores(server, query: str, sources: list) -> np.ndarray:
    """sigmoid(logit) of the served model for (query, title + text) of each hit or citation, read
    from what the gateway returned (short texts: the snippet is the whole chunk)."""
    import asyncio

    texts = []
    for source in sources:
        assert source.snippet == TEXTS[source.document_id][1]
        title = source.source.title
        texts.append(f"{title}\n{source.snippet}" if title else source.snippet)

    async def score() -> np.ndarray:
        async with TritonReranker(server.grpc_url) as reranker:
            return sigmoid(await reranker.logits(query, texts))

    return asyncio.run(score())


def fallbacks(gateway: GatewayHandle) -> float:
    samples = [
        s.value
        for metric in gateway.gateway.metrics.registry.collect()
        if metric.name == "babelrag_reranker_fallbacks"
        for s in metric.samples
        if s.name == "babelrag_reranker_fallbacks_total"
    ]
    return sum(samples)


def test_search_hits_carry_the_models_scores(api, rerank_gateway, triton_server):
    before = fallbacks(rerank_gateway)
    response = api.search(QUERY, top_k=5)
    hits = list(response.hits)
    assert sorted(h.document_id for h in hits) == sorted(TEXTS)  # every hit once
    expected = served_scores(triton_server, QUERY, hits)
    got = np.array([h.rerank_score for h in hits])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert list(got) == sorted(got, reverse=True)  # ordered by the model, not by the fused score
    assert [h.rerank_score for h in hits] != [h.score for h in hits]
    assert fallbacks(rerank_gateway) == before


def test_ask_streams_a_cited_answer_ranked_by_the_model(api, triton_server):
    responses = api.ask(QUERY, options=ask_pb2.AskOptions(max_tokens=16, temperature=1.0))
    kinds = [r.WhichOneof("event") for r in responses]
    assert kinds[-1] == "final" and kinds.count("delta") >= 2, kinds
    final = responses[-1].final
    assert "".join(r.delta.text for r in responses[:-1]) == final.answer
    assert final.context and [c.number for c in final.context] == list(range(1, len(final.context) + 1))
    for citation in final.citations:
        assert citation.number in {c.number for c in final.context}
    expected = served_scores(triton_server, QUERY, final.context)
    np.testing.assert_allclose([c.score for c in final.context], expected, atol=1e-5)
    assert "rerank" in final.timings.ms


def test_reranker_outage_falls_back_and_health_stays_serving(api, rerank_gateway, triton_server):
    control = grpcclient.InferenceServerClient(triton_server.grpc_url)
    before = fallbacks(rerank_gateway)
    control.unload_model("reranker")  # the ensemble only; the session's other models keep serving
    try:
        response = api.search(QUERY, top_k=5)
        scores = [h.rerank_score for h in response.hits]
        assert scores == [h.score for h in response.hits]  # the fused order, as FusedScoreReranker gives
        assert len(response.hits) == len(TEXTS)
        assert fallbacks(rerank_gateway) == before + 1
        with grpc.insecure_channel(rerank_gateway.address) as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        control.load_model("reranker")
        control.close()
    assert api.search(QUERY, top_k=5).hits[0].rerank_score != api.search(QUERY, top_k=5, rerank=False).hits[0].score


def test_triton_reranker_is_refused_without_a_reranker_model(tiny_layout, tmp_path, triton_server):
    models_dir = tmp_path / "models"
    (models_dir / "tiny").mkdir(parents=True)
    manifest = json.loads(tiny_layout.manifest.read_text())
    del manifest["models"]["reranker"]
    (models_dir / "tiny" / "manifest.json").write_text(json.dumps(manifest))
    shutil.copytree(tiny_layout.artifacts / "e5_tokenizer", models_dir / "tiny" / "artifacts" / "e5_tokenizer")
    with pytest.raises(RuntimeError, match="reranker = 'triton' needs a reranker model"):
        GatewayHandle.launch(tmp_path / "data", models_dir, triton_server.grpc_url, reranker="triton")
    # The same profile serves with the default reranker.
    GatewayHandle.launch(tmp_path / "data2", models_dir, triton_server.grpc_url).close()


def test_reranker_setting_loads_from_file_and_environment_and_is_validated(tmp_path, monkeypatch):
    from babelrag.gateway.settings import Settings

    assert Settings().reranker == "fused"
    config = tmp_path / "gateway.toml"
    config.write_text('[gateway]\nreranker = "lexical"\n')
    assert Settings.load(config).reranker == "lexical"
    monkeypatch.setenv("BABELRAG_RERANKER", "triton")
    assert Settings.load(config).reranker == "triton"  # the environment overrides the file
    monkeypatch.setenv("BABELRAG_RERANKER", "cross-encoder")
    with pytest.raises(ValueError, match="reranker: 'cross-encoder' is not one of fused, lexical, triton"):
        Settings.load(config)


async def test_each_setting_builds_its_reranker():
    from babelrag.gateway.metrics import GatewayMetrics
    from babelrag.gateway.server import build_reranker
    from babelrag.gateway.settings import Settings
    from babelrag.rag.rerank import FallbackReranker, FusedScoreReranker, LexicalOverlapReranker

    metrics = GatewayMetrics()
    assert isinstance(build_reranker(Settings(), "127.0.0.1:1", metrics)[0], FusedScoreReranker)
    assert isinstance(build_reranker(Settings(reranker="lexical"), "127.0.0.1:1", metrics)[0], LexicalOverlapReranker)
    wrapped, client = build_reranker(Settings(reranker="triton"), "127.0.0.1:1", metrics)
    assert isinstance(wrapped, FallbackReranker) and wrapped.primary is client
    assert isinstance(wrapped.fallback, FusedScoreReranker)
    await client.close()
