"""The Passage value type: validation and derived values."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from babelrag.rag.passages import Passage, by_relevance


def make(**kwargs: object) -> Passage:
    fields: dict[str, object] = {"chunk_id": "c", "document_id": "d", "chunk_index": 0, "text": "t"}
    fields.update(kwargs)
    return Passage(**fields)  # type: ignore[arg-type]


def test_defaults_and_relevance() -> None:
    p = make(score=0.4)
    assert p.modality == "text" and p.rerank_score is None and p.tags == ()
    assert p.relevance == 0.4
    assert p.with_rerank_score(0.9).relevance == 0.9
    assert p.relevance == 0.4  # frozen: the copy changed, not p


def test_naive_datetimes_are_utc_and_comparable_with_aware_ones() -> None:
    p = make(valid_at=datetime(2024, 1, 1), created_at=datetime(2024, 1, 2, tzinfo=timezone.utc))
    assert p.valid_at == datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert p.valid_at < p.created_at  # type: ignore[operator]


def test_vector_is_a_read_only_copy_and_not_part_of_equality() -> None:
    source = np.array([1.0, 2.0], dtype=np.float64)
    p = make(vector=source)
    source[0] = 99.0
    assert p.vector is not None and p.vector.dtype == np.float32 and p.vector[0] == 1.0
    with pytest.raises(ValueError):
        p.vector[0] = 5.0
    assert p == make(vector=np.array([3.0, 4.0]))
    assert hash(p) == hash(make())


def test_tags_become_a_tuple_and_display_title_falls_back() -> None:
    assert make(tags=["a", "b"]).tags == ("a", "b")
    assert make(title=" T ").display_title == "T"
    assert make(uri="s3://x").display_title == "s3://x"
    assert make().display_title == "d"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"score": 1.5}, ValueError),
        ({"score": float("nan")}, ValueError),
        ({"rerank_score": -0.1}, ValueError),
        ({"score": "high"}, TypeError),
        ({"score": True}, TypeError),
        ({"modality": "video"}, ValueError),
        ({"chunk_index": -1}, ValueError),
        ({"chunk_index": 1.0}, TypeError),
        ({"text": None}, TypeError),
        ({"tags": "ab"}, TypeError),
        ({"valid_at": "2024-01-01"}, TypeError),
        ({"vector": np.zeros((2, 2))}, ValueError),
        ({"vector": np.array([np.inf])}, ValueError),
    ],
)
def test_validation(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        make(**kwargs)


def test_by_relevance_is_stable() -> None:
    a, b, c = make(chunk_id="a", score=0.5), make(chunk_id="b", score=0.9), make(chunk_id="c", score=0.5)
    assert [p.chunk_id for p in by_relevance([a, b, c])] == ["b", "a", "c"]
