"""Answer-language shares of Ask records."""

from __future__ import annotations

import pytest

from babelrag.evaluation.answers import AskRecord, summarize_answers


def record(detected: str, answer: str = "x", **fields) -> AskRecord:  # noqa: ANN003
    base = {"question_id": "q", "language": "es", "question": "¿?", "gold_answers": ("1889",), "gold_document": "es:1"}
    return AskRecord(**{**base, "answer": answer, "detected_answer_language": detected, **fields})


def test_strict_and_determined_answer_language_shares():
    records = [record("es"), record("es"), record("en"), record("und", "1889"), record("", error="Unavailable: down")]
    summary = summarize_answers(records)
    assert summary["failed"] == 1.0 and summary["questions"] == 5.0
    assert summary["answer_language_accuracy"] == pytest.approx(2 / 4)  # "1889" counts as not Spanish
    assert summary["answer_language_undetermined"] == pytest.approx(1 / 4)
    assert summary["answer_language_accuracy_determined"] == pytest.approx(2 / 3)
    assert summary["contains"] == pytest.approx(1 / 4)


def test_generated_language_leaves_the_opener_out():
    """The opener the gateway writes ("Según las fuentes,") must not count as the model's Spanish."""
    opener = "Según las fuentes,"
    records = [
        record("es", f"{opener} la torre fue construida en 1889 para la Exposición Universal [1]."),  # Spanish after it
        record("es", f"{opener} 1889."),  # a bare number after it: undetermined
        record("es", f"{opener} the tower was built in 1889 for the World's Fair in Paris [1]."),  # English after it
        record("und", " 1889."),  # no opener at all (a variant without one)
    ]
    summary = summarize_answers(records)
    assert summary["generated_language_accuracy"] == pytest.approx(1 / 4)
    assert summary["answer_language_accuracy"] == pytest.approx(3 / 4)


def test_context_and_timing_means():
    records = [record("es", context_passages=3, prompt_tokens=300, first_token_ms=100.0), record("es", context_passages=1, prompt_tokens=100, first_token_ms=50.0)]
    summary = summarize_answers(records)
    assert (summary["context_passages"], summary["prompt_tokens"], summary["first_token_ms"]) == (2.0, 200.0, 75.0)
