"""The passage: one retrieved chunk as the RAG steps between retrieval and generation see it.

A :class:`Passage` is built by the gateway from a search hit (the store's fused score included) and
then flows, unchanged except for ``rerank_score`` and possibly a truncated ``text``, through
reranking (:mod:`babelrag.rag.rerank`), context assembly (:mod:`babelrag.rag.assembly`) and prompt
building (:mod:`babelrag.rag.prompting`).

Scores: ``score`` is the store's fused retrieval score and ``rerank_score`` a reranker's score;
both lie in [0, 1], higher is better (a reranker with unbounded scores, e.g. cross-encoder logits,
maps them into [0, 1] first, e.g. with a sigmoid). :attr:`Passage.relevance` is the one the later
steps use: the rerank score when there is one, else the fused score.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Literal

import numpy as np

__all__ = ["MODALITIES", "Modality", "Passage", "by_relevance"]

Modality = Literal["text", "image"]
#: The modalities a passage can have. An image passage's ``text`` is the image's caption.
MODALITIES: frozenset[str] = frozenset({"text", "image"})


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime or None, not {type(value).__name__}")
    # Naive datetimes are taken as UTC, so that aware and naive values can be compared.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _unit_score(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    value = float(value)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Passage:
    """One retrieved chunk of a document (a text passage, or an image with its caption as ``text``).

    Validated on construction: ``modality`` is ``"text"`` or ``"image"``, ``chunk_index`` is not
    negative, scores lie in [0, 1]. Datetimes without a time zone are taken as UTC. ``vector`` (the
    chunk's E5 text vector, used only for similarity between passages) is stored as a read-only
    1-D float32 array and takes no part in equality or hashing; ``tags`` becomes a tuple.
    """

    chunk_id: str
    document_id: str
    chunk_index: int
    text: str
    language: str = ""
    modality: Modality = "text"
    title: str = ""
    uri: str = ""
    mime_type: str = ""
    score: float = 0.0
    rerank_score: float | None = None
    valid_at: datetime | None = None
    created_at: datetime | None = None
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("chunk_id", "document_id", "text", "language", "title", "uri", "mime_type"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a str, not {type(getattr(self, name)).__name__}")
        if isinstance(self.chunk_index, bool) or not isinstance(self.chunk_index, (int, np.integer)):
            raise TypeError(f"chunk_index must be an int, not {type(self.chunk_index).__name__}")
        if self.chunk_index < 0:
            raise ValueError(f"chunk_index must not be negative, got {self.chunk_index}")
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {sorted(MODALITIES)}, got {self.modality!r}")
        set_ = object.__setattr__
        set_(self, "chunk_index", int(self.chunk_index))
        set_(self, "score", _unit_score(self.score, "score"))
        set_(self, "rerank_score", _unit_score(self.rerank_score, "rerank_score"))
        set_(self, "valid_at", _utc(self.valid_at, "valid_at"))
        set_(self, "created_at", _utc(self.created_at, "created_at"))
        if isinstance(self.tags, str):
            raise TypeError("tags must be an iterable of str, not a str")
        set_(self, "tags", tuple(self.tags))
        if self.vector is not None:
            vec = np.array(self.vector, dtype=np.float32)  # a copy: the caller's array stays theirs
            if vec.ndim != 1 or vec.size == 0 or not np.all(np.isfinite(vec)):
                raise ValueError(f"vector must be a non-empty finite 1-D array, got shape {vec.shape}")
            vec.flags.writeable = False
            set_(self, "vector", vec)

    @property
    def relevance(self) -> float:
        """The score later steps rank by: ``rerank_score`` when set, else the fused ``score``."""
        return self.score if self.rerank_score is None else self.rerank_score

    @property
    def is_image(self) -> bool:
        return self.modality == "image"

    @property
    def display_title(self) -> str:
        """``title``, else ``uri``, else ``document_id``: what a source is called in a prompt."""
        return self.title.strip() or self.uri.strip() or self.document_id

    def with_rerank_score(self, rerank_score: float) -> Passage:
        """A copy with ``rerank_score`` set (validated)."""
        return replace(self, rerank_score=rerank_score)

    def with_text(self, text: str) -> Passage:
        """A copy with other ``text`` (used when a passage is truncated to fit a token budget)."""
        return replace(self, text=text)


def by_relevance(passages: Iterable[Passage]) -> list[Passage]:
    """``passages`` sorted by :attr:`Passage.relevance`, best first; ties keep their input order."""
    return sorted(passages, key=lambda p: -p.relevance)
