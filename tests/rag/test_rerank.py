"""Rerankers: the protocol, the identity reranker and the lexical-overlap blend."""

from __future__ import annotations

import pytest

from babelrag.rag.rerank import FusedScoreReranker, LexicalOverlapReranker, Reranker, query_term_coverage
from tests.rag.helpers import passage


def test_both_implement_the_protocol() -> None:
    assert isinstance(FusedScoreReranker(), Reranker)
    assert isinstance(LexicalOverlapReranker(), Reranker)


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
