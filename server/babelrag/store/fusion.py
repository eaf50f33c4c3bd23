"""Score fusion shared by every backend: Weaviate's *relativeScore*, generalised to N signals.

A search is split into **signals**. Each query vector (a :class:`VectorQuery`:
one vector searched against one named vector) is one signal; the query text
searched with BM25 is another, named ``keyword``. A backend's only job is to
return, for each signal, its top-N candidates as ``(chunk id, raw score)``
pairs, with every filter already applied, where

* raw score of a vector signal = cosine similarity = 1 - cosine distance;
* raw score of the keyword signal = the BM25 score;
* N = ``max(limit + offset, request.candidates or the store's floor)`` (floor 50
  by default, as in the FINDINGS hybrid baseline).

This module then fuses the lists, so a query ranks the same way on any backend
given the same candidate lists:

1. **Normalise** each list on its own with min-max:
   ``norm = (raw - min) / (max - min)`` over that list; when all raws in a list
   are equal (including a single candidate) every one gets ``norm = 1``. This is
   Weaviate's ``FusionRelativeScore`` (usecases/traverser/hybrid) exactly.
2. **Weigh** the signals (:func:`signal_weights`):

   * hybrid: the vector signals share ``alpha`` in proportion to their
     ``weight`` (equal by default), the keyword signal gets ``1 - alpha``;
   * vector-only: the vector signals share 1 in proportion to their ``weight``;
   * keyword-only: the keyword signal gets 1.

   With one vector and default weights, hybrid is Weaviate's two-list
   relativeScore with the same ``alpha``. A signal whose weight is 0 (alpha 0
   or 1) is not run at all. A *vector* signal that returned no candidates (a
   CLIP text query against the images of a tenant that has none) hands its
   weight to the vector signals that did, in proportion to theirs: otherwise
   an empty cross-modal list would silently shift the balance towards keyword.
3. **Sum**: ``score = sum(weight_s * norm_s)`` over the signals that returned
   the chunk; a signal that did not return it adds 0. Scores lie in [0, 1].
4. **Sort** by score, descending; scores equal to 1e-9 are tied and ties go to
   the smaller chunk id (Weaviate breaks ties by a raw score first, then by id;
   ours is simpler and deterministic). ``offset``/``limit`` then cut the page.

Example (hand-computed in tests/store/test_store_fusion.py): alpha 0.75, one
vector signal with similarities a=0.9, b=0.7, c=0.5 and BM25 scores b=4.0,
d=2.0 gives vector norms a=1, b=0.5, c=0, keyword norms b=1, d=0, and fused
scores a=0.75, b=0.75*0.5+0.25=0.625, c=0, d=0: order a, b, then c and d tied
at 0 and ordered by id.

Every hit carries, per signal, its raw score, normalised score, the signal's
weight and its 1-based rank in that signal's list (:class:`SignalScore`), which
is exactly why it ranked where it did.

The Weaviate backend runs one query per signal and fuses here, rather than
using the server's ``HybridFusion.RELATIVE_SCORE``: the server's hybrid takes a
single query vector (its multi-target "join" combines distances, not
normalised lists), does not return per-signal scores, and would make the two
backends rank by two implementations.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from babelrag.store.types import KEYWORD_SIGNAL, SearchMode, SearchRequest, SignalScore

__all__ = [
    "SignalList",
    "FusedHit",
    "signal_weights",
    "candidate_count",
    "fuse",
    "TIE_EPSILON_DIGITS",
]

#: Fused scores are compared after rounding to this many decimals (ties -> id order).
TIE_EPSILON_DIGITS = 9


@dataclass(frozen=True, slots=True)
class SignalList:
    """One signal's candidates: ``(chunk id, raw score)`` pairs, any order."""

    name: str
    weight: float
    candidates: Sequence[tuple[str, float]]


@dataclass(frozen=True, slots=True)
class FusedHit:
    id: str
    score: float
    signals: Mapping[str, SignalScore]


def signal_weights(request: SearchRequest) -> dict[str, float]:
    """Weight of each signal of ``request`` (see the module docstring), in request order.

    Signals with weight 0 are omitted: they cannot change the ranking.
    """
    weights: dict[str, float] = {}
    if request.mode is SearchMode.KEYWORD:
        return {KEYWORD_SIGNAL: 1.0}
    vector_share = request.alpha if request.mode is SearchMode.HYBRID else 1.0
    total = math.fsum(v.weight for v in request.vectors)
    for v in request.vectors:
        w = vector_share * v.weight / total
        if w > 0.0:
            weights[v.name] = w
    if request.mode is SearchMode.HYBRID and request.alpha < 1.0:
        weights[KEYWORD_SIGNAL] = 1.0 - request.alpha
    return weights


def candidate_count(request: SearchRequest, floor: int) -> int:
    """How many candidates each signal must return for ``request``."""
    base = request.candidates if request.candidates is not None else floor
    return max(request.limit + request.offset, base)


def _normalise(candidates: Iterable[tuple[str, float]]) -> list[tuple[str, float, float, int]]:
    best: dict[str, float] = {}
    for cid, raw in candidates:
        raw = float(raw)
        if not math.isfinite(raw):
            continue  # a backend never scores NaN; skip rather than poison the list
        if cid not in best or raw > best[cid]:
            best[cid] = raw
    if not best:
        return []
    ordered = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))
    hi, lo = ordered[0][1], ordered[-1][1]
    span = hi - lo
    return [
        (cid, raw, (raw - lo) / span if span > 0 else 1.0, rank)
        for rank, (cid, raw) in enumerate(ordered, start=1)
    ]


def fuse(lists: Sequence[SignalList]) -> list[FusedHit]:
    """Fuse signal lists into one ranking (all hits, best first)."""
    names = [sl.name for sl in lists]
    if len(set(names)) != len(names):
        raise ValueError(f"signal names must be unique, got {names}")
    scores: dict[str, float] = {}
    parts: dict[str, dict[str, SignalScore]] = {}
    vector_lists = [sl for sl in lists if sl.name != KEYWORD_SIGNAL]
    answered = math.fsum(sl.weight for sl in vector_lists if sl.candidates)
    total = math.fsum(sl.weight for sl in vector_lists)
    vector_scale = total / answered if answered > 0 else 1.0
    for sl in lists:
        weight = sl.weight if sl.name == KEYWORD_SIGNAL else sl.weight * vector_scale
        for cid, raw, norm, rank in _normalise(sl.candidates):
            scores[cid] = scores.get(cid, 0.0) + weight * norm
            parts.setdefault(cid, {})[sl.name] = SignalScore(raw=raw, normalized=norm, weight=weight, rank=rank)
    ordered = sorted(scores.items(), key=lambda kv: (-round(kv[1], TIE_EPSILON_DIGITS), kv[0]))
    return [FusedHit(id=cid, score=score, signals=MappingProxyType(parts[cid])) for cid, score in ordered]
