"""The cross-encoder reranker served by a real tritonserver (tiny profile), against the in-process
PyTorch reference, and the Triton-backed rerankers built on it."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from babelrag.gateway.metrics import GatewayMetrics
from babelrag.rag.passages import Passage
from babelrag.rag.rerank import FallbackReranker, FusedScoreReranker, Reranker
from babelrag.triton.client import TritonEncoders
from babelrag.triton.errors import InferenceRejected
from babelrag.triton.launcher import free_port
from babelrag.triton.reranker import TritonReranker, passage_text, sigmoid
from tests.serving.test_triton_encoders import column, raw_infer

pytestmark = pytest.mark.slow

#: Questions against passages in seven languages and five scripts; an empty passage (an image
#: without a caption) and a passage far over the 512-token window.
LONG_PASSAGE = " ".join(["The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris."] * 80)
PAIRS = [
    ("Wie hoch ist der Eiffelturm?", "Der Eiffelturm ist 330 Meter hoch und steht in Paris."),
    ("埃菲尔铁塔有多高？", "埃菲尔铁塔高330米，位于巴黎战神广场。"),
    ("Сколько лет Московскому Кремлю?", "Московский Кремль — крепость в центре Москвы."),
    ("ชาเขียวมีประโยชน์อย่างไร", "ชาเขียวมีสารต้านอนุมูลอิสระสูง"),
    ("ما هو أطول نهر في العالم؟", "نهر النيل هو أطول نهر في العالم."),
    ("¿Dónde está el Amazonas?", "Der Rhein fließt durch Basel."),
    ("मुझे एक कप चाय चाहिए", ""),
    ("how tall is the eiffel tower", LONG_PASSAGE),
]


def served_logits(server, pairs: list[tuple[str, str]]) -> np.ndarray:
    outputs = raw_infer(
        server,
        "reranker",
        {"QUERY": column([q.encode() for q, _ in pairs]), "PASSAGE": column([p.encode() for _, p in pairs])},
    )
    return outputs["SCORE"]


def reference_logits(reference, pairs: list[tuple[str, str]]) -> np.ndarray:
    return reference.rerank_logits([q for q, _ in pairs], [p for _, p in pairs])


@pytest.fixture
async def reranker(triton_server):
    async with TritonReranker(triton_server.grpc_url, timeout_s=60) as client:
        yield client


def test_served_scores_equal_reference(triton_server, tiny_reference):
    served = served_logits(triton_server, PAIRS)
    reference = reference_logits(tiny_reference, PAIRS)
    assert served.shape == reference.shape == (len(PAIRS), 1) and served.dtype == np.float32
    assert np.abs(served - reference).max() < 1e-4
    # The pairs score differently, so a mixed-up or mis-tokenised pair could not pass the check above.
    assert np.ptp(reference) > 0.5


def test_batch_of_one_equals_reference(triton_server, tiny_reference):
    for pair in (PAIRS[1], PAIRS[-1]):
        served = served_logits(triton_server, [pair])
        assert served.shape == (1, 1)
        assert np.abs(served - reference_logits(tiny_reference, [pair])).max() < 1e-4


def test_tokenizer_model_matches_reference_pairs(triton_server, tiny_reference):
    outputs = raw_infer(
        triton_server,
        "reranker_tokenizer",
        {"QUERY": column([q.encode() for q, _ in PAIRS]), "PASSAGE": column([p.encode() for _, p in PAIRS])},
    )
    expected = tiny_reference.tokenize_pairs([q for q, _ in PAIRS], [p for _, p in PAIRS])
    for row, reference in enumerate(expected):
        length = int(outputs["attention_mask"][row].sum())
        assert outputs["input_ids"][row, :length].tolist() == list(reference)
    # The long passage was cut so the pair fills the window exactly; the query was kept whole.
    query_tokens = len(tiny_reference.tokenize_pairs([PAIRS[-1][0]], [""])[0]) - 3
    assert int(outputs["attention_mask"][-1].sum()) == 512
    assert outputs["input_ids"][-1, 1 : 1 + query_tokens].tolist() == expected[-1][1 : 1 + query_tokens]


def test_long_passage_is_truncated_not_refused(triton_server):
    query = PAIRS[-1][0]
    whole = served_logits(triton_server, [(query, LONG_PASSAGE * 40)])  # ~ 0.3 MB
    head = served_logits(triton_server, [(query, LONG_PASSAGE[:4000])])  # still over 512 tokens
    assert np.abs(whole - head).max() < 1e-5


async def test_concurrent_requests_are_batched(reranker, triton_server):
    async with TritonEncoders(triton_server.grpc_url) as stats:  # statistics of the same server
        before = await stats.model_statistics("reranker_encoder")
        await asyncio.gather(*(reranker.logits(f"question {i}", [f"passage number {i}"]) for i in range(48)))
        after = await stats.model_statistics("reranker_encoder")
    requests = int(after.get("inference_count", 0)) - int(before.get("inference_count", 0))
    executions = int(after.get("execution_count", 0)) - int(before.get("execution_count", 0))
    assert requests == 48
    assert executions < requests, f"{executions} executions for {requests} requests: nothing was batched"


@pytest.mark.parametrize(
    ("query", "passage", "message"),
    [
        (b"", b"a passage", "query 0 is empty"),
        (b"   ", b"a passage", "query 0 is empty"),
        (b"\xc3\x28 broken", b"a passage", "query 0 is not valid UTF-8"),
        (b"a question", b"\xff\xfe", "passage 0 is not valid UTF-8"),
    ],
)
async def test_bad_input_gets_a_clear_error_and_server_keeps_serving(triton_server, reranker, query, passage, message):
    with pytest.raises(InferenceServerException, match=message):
        raw_infer(triton_server, "reranker", {"QUERY": column([query]), "PASSAGE": column([passage])})
    assert (await reranker.logits("still serving?", ["yes"])).shape == (1,)


async def test_client_rejects_an_empty_query_before_sending(reranker):
    with pytest.raises(InferenceRejected, match="query 0 is empty"):
        await reranker.logits("  ", ["a passage"])


def _passages() -> list[Passage]:
    """Fused order a, b, c, d, e (scores 0.9 .. 0.5), texts the tiny model scores differently."""
    return [
        Passage("a", "doc-a", 0, PAIRS[0][1], language="de", title="Eiffelturm", score=0.9),
        Passage("b", "doc-b", 0, PAIRS[1][1], language="zh", score=0.8),
        Passage("c", "doc-c", 0, "a red bicycle leaning on a wall", modality="image", title="bike.png", score=0.7),
        Passage("d", "doc-d", 0, PAIRS[4][1], language="ar", title="النيل", score=0.6),
        Passage("e", "doc-e", 1, PAIRS[5][1], language="de", score=0.5),
    ]


async def test_triton_reranker_orders_by_the_models_scores(reranker, tiny_reference):
    assert isinstance(reranker, Reranker)
    query = "Wie hoch ist der Eiffelturm?"
    passages = _passages()
    ranked = await reranker.rerank(query, passages)

    expected = sigmoid(reference_logits(tiny_reference, [(query, passage_text(p)) for p in passages])[:, 0])
    by_id = dict(zip((p.chunk_id for p in passages), expected))
    assert sorted(p.chunk_id for p in ranked) == sorted(p.chunk_id for p in passages)  # each exactly once
    assert [p.chunk_id for p in ranked] == sorted(by_id, key=lambda cid: -by_id[cid])
    assert [p.chunk_id for p in ranked] != [p.chunk_id for p in passages]  # the model reordered them
    for passage in ranked:
        assert passage.rerank_score == pytest.approx(by_id[passage.chunk_id], abs=1e-5)
        original = next(p for p in passages if p.chunk_id == passage.chunk_id)
        assert dataclasses.replace(passage, rerank_score=None) == original  # nothing else changed
    assert passage_text(passages[2]) == "bike.png\na red bicycle leaning on a wall"  # image: title + caption
    assert await reranker.rerank(query, []) == []


async def test_triton_reranker_keeps_fused_order_without_a_query(reranker):
    passages = _passages()
    assert await reranker.rerank("", passages) == await FusedScoreReranker().rerank("", passages)


async def test_fallback_reranker_answers_when_triton_does_not(caplog):
    metrics = GatewayMetrics()

    def count(reason: str) -> None:
        metrics.reranker_fallbacks.labels(reason).inc()

    def fallbacks() -> float:
        return metrics.registry.get_sample_value("babelrag_reranker_fallbacks_total", {"reason": "TritonUnavailable"}) or 0.0

    passages = list(reversed(_passages()))
    async with TritonReranker(f"127.0.0.1:{free_port()}", timeout_s=3) as dead:
        reranker = FallbackReranker(dead, on_fallback=count)
        for attempt in (1, 2):
            ranked = await reranker.rerank("Wie hoch ist der Eiffelturm?", passages)
            assert ranked == await FusedScoreReranker().rerank("q", passages)
            assert fallbacks() == attempt
    warnings = [r for r in caplog.records if r.name == "babelrag.rerank" and "TritonUnavailable" in r.getMessage()]
    assert len(warnings) == 2  # one line per failure, with the reason
