"""relativeScore fusion: hand-computed values (the same code ranks for every backend)."""

from __future__ import annotations

import numpy as np
import pytest

from babelrag.store import InvalidQuery, SearchRequest, VectorName, VectorQuery
from babelrag.store.fusion import SignalList, candidate_count, fuse, signal_weights
from babelrag.store.types import KEYWORD_SIGNAL


def test_module_docstring_example():
    # alpha 0.75; vector a=.9 b=.7 c=.5; BM25 b=4 d=2
    hits = fuse(
        [
            SignalList("text", 0.75, [("a", 0.9), ("b", 0.7), ("c", 0.5)]),
            SignalList("keyword", 0.25, [("b", 4.0), ("d", 2.0)]),
        ]
    )
    assert [(h.id, round(h.score, 12)) for h in hits] == [("a", 0.75), ("b", 0.625), ("c", 0.0), ("d", 0.0)]
    b = hits[1].signals
    assert b["text"].raw == 0.7 and b["text"].normalized == pytest.approx(0.5) and b["text"].rank == 2
    assert b["keyword"].normalized == 1.0 and b["keyword"].weight == 0.25 and b["keyword"].rank == 1
    assert set(hits[0].signals) == {"text"}  # a is not in the keyword list: it adds 0, no entry


def test_min_max_normalisation_per_list():
    # Weaviate's doc example: [1, 8, 6, 11] -> [0, .7, .5, 1]
    hits = fuse([SignalList("s", 1.0, [("w", 1), ("x", 8), ("y", 6), ("z", 11)])])
    assert {h.id: round(h.score, 12) for h in hits} == {"w": 0.0, "x": 0.7, "y": 0.5, "z": 1.0}
    assert [h.id for h in hits] == ["z", "x", "y", "w"]


def test_a_list_of_equal_scores_normalises_to_one_like_weaviate():
    hits = fuse([SignalList("v", 0.6, [("a", 0.3), ("b", 0.3)]), SignalList("k", 0.4, [("c", 5.0)])])
    assert {h.id: h.score for h in hits} == {"a": 0.6, "b": 0.6, "c": 0.4}


def test_three_signals_sum_weighted_normalised_scores():
    lists = [
        SignalList("text", 0.35, [("a", 0.80), ("b", 0.60), ("c", 0.40)]),
        SignalList("image", 0.35, [("c", 0.30), ("d", 0.20), ("a", 0.10)]),
        SignalList("keyword", 0.30, [("b", 12.0), ("a", 3.0), ("e", 0.0)]),
    ]
    # text: a 1, b .5, c 0 | image: c 1, d .5, a 0 | keyword: b 1, a .25, e 0
    expected = {
        "a": 0.35 * 1 + 0.35 * 0 + 0.30 * 0.25,
        "b": 0.35 * 0.5 + 0.30 * 1,
        "c": 0.35 * 0 + 0.35 * 1,
        "d": 0.35 * 0.5,
        "e": 0.0,
    }
    hits = fuse(lists)
    assert {h.id: h.score for h in hits} == pytest.approx(expected, abs=1e-12)
    assert [h.id for h in hits] == ["b", "a", "c", "d", "e"]  # .475 .425 .35 .175 0
    for h in hits:
        assert h.score == pytest.approx(sum(s.contribution for s in h.signals.values()), abs=1e-12)


def test_ties_break_by_id_and_order_of_input_does_not_matter():
    a = fuse([SignalList("v", 1.0, [("z", 0.5), ("m", 0.9), ("a", 0.5)])])
    b = fuse([SignalList("v", 1.0, [("a", 0.5), ("z", 0.5), ("m", 0.9)])])
    assert [h.id for h in a] == [h.id for h in b] == ["m", "a", "z"]
    # scores equal to 1e-9 count as ties
    c = fuse([SignalList("p", 0.5, [("y", 1.0), ("x", 0.0)]), SignalList("q", 0.5, [("x", 1.0 - 1e-13), ("y", 0.0)])])
    assert [h.id for h in c] == ["x", "y"]


def test_duplicates_keep_the_best_raw_and_nan_is_skipped():
    hits = fuse([SignalList("v", 1.0, [("a", 0.2), ("a", 0.9), ("b", float("nan")), ("c", 0.5)])])
    assert [(h.id, h.signals["v"].raw) for h in hits] == [("a", 0.9), ("c", 0.5)]
    with pytest.raises(ValueError):
        fuse([SignalList("v", 1.0, []), SignalList("v", 0.0, [])])
    assert fuse([SignalList("v", 1.0, [])]) == []


def test_signal_weights_by_mode():
    t = VectorQuery(VectorName.TEXT, np.ones(4))
    i = VectorQuery(VectorName.IMAGE, np.ones(4), name="img", weight=3.0)
    assert signal_weights(SearchRequest.keyword("x")) == {"keyword": 1.0}
    assert signal_weights(SearchRequest.vector([t, i])) == pytest.approx({"text": 0.25, "img": 0.75})
    assert signal_weights(SearchRequest.hybrid("x", [t, i], alpha=0.4)) == pytest.approx({"text": 0.1, "img": 0.3, "keyword": 0.6})
    assert signal_weights(SearchRequest.hybrid("x", [t], alpha=1.0)) == {"text": 1.0}  # keyword weight 0: not run
    assert signal_weights(SearchRequest.hybrid("x", [t], alpha=0.0)) == {"keyword": 1.0}


def test_candidate_count():
    t = VectorQuery(VectorName.TEXT, np.ones(4))
    assert candidate_count(SearchRequest.vector([t], limit=10), 50) == 50
    assert candidate_count(SearchRequest.vector([t], limit=40, offset=30), 50) == 70
    assert candidate_count(SearchRequest.vector([t], limit=5, candidates=8), 50) == 8


@pytest.mark.parametrize(
    "make",
    [
        lambda: SearchRequest.hybrid("", [VectorQuery(VectorName.TEXT, np.ones(4))]),
        lambda: SearchRequest.hybrid("x", []),
        lambda: SearchRequest.keyword("   "),
        lambda: SearchRequest.keyword("x", limit=0),
        lambda: SearchRequest.keyword("x", limit=1001),
        lambda: SearchRequest.keyword("x", offset=-1),
        lambda: SearchRequest.hybrid("x", [VectorQuery(VectorName.TEXT, np.ones(4))], alpha=1.5),
        lambda: VectorQuery("colour", np.ones(4)),
        lambda: VectorQuery(VectorName.TEXT, np.zeros(4)),
        lambda: VectorQuery(VectorName.TEXT, np.ones(4), weight=0),
        lambda: VectorQuery(VectorName.TEXT, np.ones(4), name="keyword"),
    ],
)
def test_malformed_requests_are_refused(make):
    with pytest.raises(InvalidQuery):
        make()


def test_an_empty_vector_signal_hands_its_weight_to_the_vector_signals_that_answered():
    # alpha 0.7 over text (weight 1) and clip_text (weight 0.5); clip_text found nothing (no images).
    lists = [
        SignalList("text", 0.7 * 1 / 1.5, [("a", 0.9), ("b", 0.5)]),
        SignalList("clip_text", 0.7 * 0.5 / 1.5, []),
        SignalList(KEYWORD_SIGNAL, 0.3, [("b", 3.0), ("a", 1.0)]),
    ]
    hits = {h.id: h for h in fuse(lists)}
    assert hits["a"].score == pytest.approx(0.7)  # text keeps all of alpha: 0.7 * 1 + 0.3 * 0
    assert hits["b"].score == pytest.approx(0.3)  # 0.7 * 0 + 0.3 * 1
    assert hits["a"].signals["text"].weight == pytest.approx(0.7)
    assert hits["b"].signals[KEYWORD_SIGNAL].weight == pytest.approx(0.3)
