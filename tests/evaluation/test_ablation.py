"""Pipeline ablations: variant names and the per-variant MIRAGE rows (the run itself is tested
through the gateway in test_through_gateway.py)."""

from __future__ import annotations

import pytest

from babelrag.evaluation.ablation import VARIANTS, parse_variants, summarize_ablation
from babelrag.gateway.settings import Settings


def test_every_variant_is_valid_gateway_settings():
    for variant in VARIANTS.values():
        settings = Settings.load(None, **variant.settings)
        changed = {name for name in variant.settings if getattr(settings, name) != getattr(Settings(), name)}
        assert changed == set(variant.settings), variant.name  # each variant really changes what it names


def test_parse_variants_keeps_order_and_refuses_unknown_names():
    assert [v.name for v in parse_variants("top_k=3, default,top_k=3")] == ["top_k=3", "default"]
    with pytest.raises(ValueError, match="unknown ablation variant.*top_k=4"):
        parse_variants("default,top_k=4")
    with pytest.raises(ValueError, match="no ablation variants"):
        parse_variants(" , ")


def answer(qid: str, text: str, error: str = "", language: str = "en") -> dict:
    return {"question_id": qid, "answer": text, "gold_answers": ["1889"], "language": language, "error": error}


def test_each_variant_scored_against_the_shared_base_and_oracle():
    # q1: right with the gold passage alone; q2: wrong with it and closed book; q3: right closed book only.
    labels = {m: {("en", "q1"): (False, True), ("en", "q2"): (False, False), ("en", "q3"): (True, False)} for m in ("contains", "em", "f1")}
    answers = {
        "default": [answer("q1", "In 1889 [1]."), answer("q2", "No idea."), answer("q3", "1889")],
        "top_k=3": [answer("q1", "No idea."), answer("q2", "1889"), answer("q3", "", error="Unavailable")],
    }
    rows = summarize_ablation(answers, labels, {"default": {"contains": 0.5}})
    default = rows["default"]["mirage_contains"]
    assert default["context_acceptability"] == pytest.approx(1 / 3)  # q1 kept right
    assert default["context_insensitivity"] == pytest.approx(1 / 3)  # q2
    assert default["context_misinterpretation"] == pytest.approx(1 / 3)  # q3: oracle wrong, closed book right
    top3 = rows["top_k=3"]["mirage_contains"]
    assert top3["questions"] == 2  # the failed question is left out
    assert top3["noise_vulnerability"] == pytest.approx(1 / 2)  # q1 lost with this context
    assert rows["default"]["contains"] == 0.5  # the answer summary is carried along


def test_parallel_datasets_share_question_ids_but_not_labels():
    """XQuAD's questions carry the same id in every language: labels are per (language, id)."""
    labels = {m: {("en", "q1"): (False, True), ("de", "q1"): (False, False)} for m in ("contains", "em", "f1")}
    rows = summarize_ablation({"default": [answer("q1", "1889", language="en"), answer("q1", "1889", language="de")]}, labels, {})
    scores = rows["default"]["mirage_contains"]
    assert scores["context_acceptability"] == pytest.approx(1 / 2)  # en: oracle right, Ask right
    assert scores["context_insensitivity"] == pytest.approx(1 / 2)  # de: oracle wrong, closed book wrong
