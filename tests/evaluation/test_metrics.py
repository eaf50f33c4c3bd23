"""Metric functions against values computed by hand."""

from __future__ import annotations

import math

import pytest

from babelrag.evaluation.metrics import (
    answer_tokens,
    average_precision_at_k,
    contains_answer,
    exact_match,
    language_share,
    macro_average,
    match_answer,
    ndcg_at_k,
    normalize_answer,
    recall_at_k,
    reciprocal_rank,
    summarize_rankings,
    token_f1,
)

RANKED = ["d3", "d1", "d7", "d2"]


@pytest.mark.parametrize(("k", "expected"), [(1, 0.0), (2, 1.0), (10, 1.0)])
def test_recall_is_a_hit_within_k(k, expected):
    assert recall_at_k(RANKED, {"d1"}, k) == expected


def test_recall_with_several_relevant_counts_any_of_them():
    assert recall_at_k(RANKED, {"d9", "d7"}, 3) == 1.0
    assert recall_at_k(RANKED, {"d9", "d7"}, 2) == 0.0


def test_reciprocal_rank():
    assert reciprocal_rank(RANKED, {"d7"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(RANKED, {"d2"}, k=3) == 0.0  # rank 4 is outside the cut-off
    assert reciprocal_rank(RANKED, {"nope"}) == 0.0


def test_ndcg_single_relevant_is_inverse_log_rank():
    # rank 2: DCG = 1/log2(3), IDCG = 1/log2(2) = 1
    assert ndcg_at_k(RANKED, {"d1"}) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k(RANKED, {"d3"}) == pytest.approx(1.0)


def test_ndcg_two_relevant():
    # relevant at ranks 1 and 3: DCG = 1 + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3) = 1.6309
    assert ndcg_at_k(RANKED, {"d3", "d7"}) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(RANKED, set()) == 0.0


def test_average_precision():
    # relevant at ranks 2 and 4 of 3 relevant: (1/2 + 2/4) / min(3, 20) = 1/3
    assert average_precision_at_k(RANKED, {"d1", "d2", "d9"}, 20) == pytest.approx(1 / 3)
    # cut at 2: only rank 2 counts, denominator min(3, 2) = 2 -> (1/2) / 2
    assert average_precision_at_k(RANKED, {"d1", "d2", "d9"}, 2) == pytest.approx(0.25)


def test_language_share():
    assert language_share(["de", "en", "de", "fr"], "de", 10) == pytest.approx(0.5)
    assert language_share(["de", "en", "de", "fr"], "de", 1) == 1.0
    assert language_share([], "de", 10) == 0.0


def test_bad_k_is_refused():
    with pytest.raises(ValueError):
        recall_at_k(RANKED, {"d1"}, 0)


def test_summarize_rankings_by_hand():
    rankings = [(["a", "b"], {"a"}), (["c", "a", "b"], {"b"}), (["x"], {"y"})]
    summary = summarize_rankings(rankings)
    assert summary["recall@1"] == pytest.approx(1 / 3)
    assert summary["recall@5"] == pytest.approx(2 / 3)
    assert summary["mrr@10"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert summary["ndcg@10"] == pytest.approx((1 + 1 / math.log2(4)) / 3)
    assert summary["queries"] == 3


def test_summarize_rankings_with_languages_and_map():
    summary = summarize_rankings(
        [(["en:a", "de:a"], {"en:a", "de:a"})],
        languages=[(["en", "de"], "de")],
        map_k=20,
    )
    assert summary["own_language@1"] == 0.0
    assert summary["own_language@10"] == pytest.approx(0.5)
    assert summary["map@20"] == pytest.approx(1.0)


def test_macro_average_is_unweighted():
    assert macro_average({"de": {"r": 1.0}, "zh": {"r": 0.5, "x": 2.0}}) == {"r": 0.75, "x": 2.0}


def test_normalize_answer():
    assert normalize_answer("The  Eiffel Tower! [1]", "en") == "eiffel tower"
    assert normalize_answer("Der Turm.", "de") == "der turm"  # articles are stripped for English only
    assert normalize_answer("ＡＢＣ，", "zh") == "abc"  # NFKC full-width, punctuation gone


def test_answer_tokens_split_unspaced_scripts():
    assert answer_tokens("黑豹队 308分") == ["黑", "豹", "队", "308", "分"]
    # Thai: a consonant keeps its vowel sign / tone mark (combining marks)
    assert answer_tokens("ที่") == ["ที่"]
    assert answer_tokens("Super Bowl 50") == ["super", "bowl", "50"]


def test_exact_match_and_f1():
    assert exact_match("the Denver Broncos", ["Denver Broncos"], "en")
    assert not exact_match("Denver", ["Denver Broncos"], "en")
    # prediction {denver, won} vs gold {denver, broncos}: P = R = 1/2, F1 = 1/2
    assert token_f1("Denver won", ["Denver Broncos"], "en") == pytest.approx(0.5)
    assert token_f1("", ["x"]) == 0.0


def test_contains_answer_is_token_aware():
    assert contains_answer("They scored 308 points in total.", ["308"])
    assert not contains_answer("In 1830 it opened.", ["30"])
    assert contains_answer("黑豹队丢了308分。", ["308分"], "zh")
    assert not contains_answer("anything", [""])


def test_match_answer_reports_every_matcher():
    assert match_answer("Denver Broncos", ["Denver Broncos"], "en") == {"contains": 1.0, "em": 1.0, "f1": 1.0}
