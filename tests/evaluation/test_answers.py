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
