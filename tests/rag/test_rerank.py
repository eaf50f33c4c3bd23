"""Rerankers: the protocol, the identity reranker and the lexical-overlap blend."""

from __future__ import annotations

import pytest

import asyncio
import logging

from babelrag.rag.rerank import (
    FallbackReranker,
    FusedScoreReranker,
    LexicalOverlapReranker,
    Reranker,
    query_term_coverage,
)
from tests.rag.helpers import passage


def test_all_implement_the_protocol() -> None:
    assert isinstance(FusedScoreReranker(), Reranker)
    assert isinstance(LexicalOverlapReranker(), Reranker)
    assert isinstance(FallbackReranker(FusedScoreReranker()), Reranker)


async def test_fused_score_reranker_keeps_fused_order() -> None:
    ps = [passage("b", "x", 0.5), passage("a", "y", 0.9), passage("c", "z", 0.5)]
    out = await FusedScoreReranker().rerank("q", ps)
    assert [p.chunk_id for p in out] == ["a", "b", "c"]  # ties keep input order
    assert [p.rerank_score for p in out] == [0.9, 0.5, 0.5]
    assert [p.text for p in out] == ["y", "x", "z"]
    assert await FusedScoreReranker().rerank("q", []) == []


def test_coverage_weighs_rare_terms_over_common_ones() -> None:
    texts = [
        "the tower of the city",  # only common words
        "the Eiffel tower",  # the rare word
        "the bridge of the river",
    ]
    cov = query_term_coverage("height of the Eiffel tower", texts)
    assert cov[1] > cov[0] > cov[2] > 0.0
    assert all(0.0 <= c <= 1.0 for c in cov)
    assert query_term_coverage("", texts) == [0.0, 0.0, 0.0]
    assert query_term_coverage("zebra", texts) == [0.0, 0.0, 0.0]


def test_coverage_uses_bigrams_for_chinese_and_thai() -> None:
    zh = query_term_coverage("埃菲尔铁塔有多高", ["埃菲尔铁塔高330米", "巴黎是法国的首都", "铁路很长"])
    assert zh[0] > 0.5 and zh[1] == zh[2] == 0.0  # "铁路" shares the character 铁 but no bigram
    th = query_term_coverage("หอไอเฟลสูงเท่าไร", ["หอไอเฟลสูง 330 เมตร", "กรุงปารีสเป็นเมืองหลวง"])
    assert th[0] > th[1]


async def test_lexical_overlap_reranker_promotes_the_passage_with_the_name() -> None:
    ps = [
        passage("generic", "Towers are tall structures found in many cities.", 0.80),
        passage("named", "The Eiffel Tower is 330 metres tall.", 0.75),
    ]
    out = await LexicalOverlapReranker(weight=0.3).rerank("How tall is the Eiffel Tower?", ps)
    assert [p.chunk_id for p in out] == ["named", "generic"]
    assert all(p.rerank_score is not None and 0.0 <= p.rerank_score <= 1.0 for p in out)
    same = await LexicalOverlapReranker(weight=0.0).rerank("How tall is the Eiffel Tower?", ps)
    assert [p.chunk_id for p in same] == ["generic", "named"]
    assert [p.rerank_score for p in same] == [0.80, 0.75]


async def test_lexical_overlap_reranker_reads_the_title() -> None:
    ps = [
        passage("a", "It is 330 metres tall.", 0.5, title="Eiffel Tower"),
        passage("b", "It is tall.", 0.5, title="Big Ben"),
    ]
    out = await LexicalOverlapReranker().rerank("Eiffel", ps)
    assert out[0].chunk_id == "a"


@pytest.mark.parametrize("weight", [-0.1, 1.1])
def test_weight_out_of_range(weight: float) -> None:
    with pytest.raises(ValueError):
        LexicalOverlapReranker(weight=weight)


class _Broken:
    """A primary that fails the way a model-backed reranker can: raising, or breaking the contract."""

    def __init__(self, failure: BaseException | None = None, drop_last: bool = False) -> None:
        self.failure = failure
        self.drop_last = drop_last

    async def rerank(self, query, passages):  # noqa: ANN001, ANN201
        if self.failure is not None:
            raise self.failure
        ranked = await LexicalOverlapReranker().rerank(query, passages)
        return ranked[:-1] if self.drop_last else ranked


FALLBACK_PASSAGES = [passage("b", "x", 0.5), passage("a", "Eiffel", 0.4), passage("c", "z", 0.9)]


async def test_fallback_reranker_uses_the_primary_when_it_works() -> None:
    reasons: list[str] = []
    out = await FallbackReranker(_Broken(), on_fallback=reasons.append).rerank("Eiffel", FALLBACK_PASSAGES)
    assert out == await LexicalOverlapReranker().rerank("Eiffel", FALLBACK_PASSAGES)
    assert reasons == []


@pytest.mark.parametrize(
    ("primary", "reason"),
    [
        (_Broken(ConnectionError("triton is down")), "ConnectionError"),
        (_Broken(TimeoutError()), "TimeoutError"),
        (_Broken(drop_last=True), "RerankerContractError"),
    ],
)
async def test_fallback_reranker_falls_back_logs_and_reports(primary, reason, caplog) -> None:
    reasons: list[str] = []
    reranker = FallbackReranker(primary, on_fallback=reasons.append)
    with caplog.at_level(logging.WARNING, logger="babelrag.rerank"):
        out = await reranker.rerank("Eiffel", FALLBACK_PASSAGES)
    assert out == await FusedScoreReranker().rerank("Eiffel", FALLBACK_PASSAGES)
    assert reasons == [reason]
    (record,) = [r for r in caplog.records if r.name == "babelrag.rerank"]
    assert reason in record.getMessage() and "3 passages" in record.getMessage()


async def test_fallback_reranker_lets_cancellation_through() -> None:
    reasons: list[str] = []
    with pytest.raises(asyncio.CancelledError):
        await FallbackReranker(_Broken(asyncio.CancelledError()), on_fallback=reasons.append).rerank("q", FALLBACK_PASSAGES)
    assert reasons == []


async def test_fallback_reranker_with_its_own_fallback() -> None:
    out = await FallbackReranker(_Broken(RuntimeError("x")), LexicalOverlapReranker(weight=1.0)).rerank("Eiffel", FALLBACK_PASSAGES)
    assert out[0].chunk_id == "a"
