"""Shared builders for the RAG tests: passages, token counters, a fake language detector."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import numpy as np

from babelrag.rag.passages import Passage

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|[^\w\s]")


def count_tokens(text: str) -> int:
    """A stand-in tokenizer: one token per word, per CJK character and per punctuation mark."""
    return len(_TOKEN.findall(text))


def count_chars(text: str) -> int:
    """Another: about four characters per token, as BPE tokenizers average on English."""
    return (len(text) + 3) // 4


def passage(
    chunk_id: str,
    text: str,
    score: float,
    *,
    document_id: str | None = None,
    chunk_index: int = 0,
    title: str | None = None,
    language: str = "en",
    **kwargs: object,
) -> Passage:
    doc = document_id if document_id is not None else f"doc-{chunk_id}"
    return Passage(
        chunk_id=chunk_id,
        document_id=doc,
        chunk_index=chunk_index,
        text=text,
        language=language,
        title=title if title is not None else f"Title {doc}",
        score=score,
        **kwargs,  # type: ignore[arg-type]
    )


def utc(year: int, month: int = 1, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=timezone.utc)


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


class FakeDetector:
    """Decides among a few Latin/Cyrillic languages by function words; records its calls."""

    WORDS = {
        "en": {"the", "is", "was", "and", "of", "in", "it", "not", "answer", "sources", "does"},
        "de": {"der", "die", "das", "ist", "und", "nicht", "im", "jahr", "wurde", "ein", "eine"},
        "fr": {"le", "la", "les", "est", "et", "dans", "une", "des", "pas"},
        "es": {"el", "los", "las", "es", "y", "en", "una", "del", "fue"},
        "ru": {"в", "и", "не", "на", "был", "была", "это", "году"},
        "uk": {"і", "у", "був", "була", "це", "році", "що"},
    }

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, text: str) -> tuple[str, float]:
        self.calls.append(text)
        words = re.findall(r"\w+", text.lower())
        hits = {lang: sum(w in vocab for w in words) for lang, vocab in self.WORDS.items()}
        best = max(hits, key=lambda k: hits[k])
        total = sum(hits.values())
        if not total:
            return "und", 0.0
        return best, hits[best] / total
