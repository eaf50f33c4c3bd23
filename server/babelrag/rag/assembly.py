"""Context assembly: from reranked passages to the numbered sources of a prompt.

:func:`assemble_context` runs five steps; every passage that is not used is reported in
:attr:`AssembledContext.dropped` with its :class:`DropReason`:

0. **Relevance floor** (``low_relevance``). A passage whose relevance is below
   ``min_relative_relevance`` times the best passage's is dropped before anything else: far
   weaker candidates rarely hold the answer, lengthen the prompt (the generator's first token
   waits for all of it) and give a small model more to be misled by. Off (0) unless the caller
   sets it; the gateway's setting ``context_min_relevance`` says what it uses and why.
1. **Versions** (``older_version``). Two passages are versions of the same content when they come
   from the same source (same ``document_id``, or the same non-empty ``uri`` or title, compared
   case-folded), their content is similar (shingle Jaccard at least ``version_similarity``, 0.5,
   or cosine at least ``near_duplicate_cosine``), and both carry a ``valid_at`` that differs.
   Then the one with the older ``valid_at`` is dropped, whatever its score: retrieval scores say
   nothing about which version is current. Passages without a ``valid_at`` are never versions of
   anything (``created_at``, the ingestion time, is not used). Why 0.5: a revision with every
   figure changed kept Jaccard 0.64 (English) and 0.50 (Chinese) at worst, while two different
   paragraphs of one XQuAD article reached at most 0.45 (English), 0.31 (Thai), 0.12 (Chinese).
2. **Near-duplicates** (``near_duplicate``). In order of relevance, a passage is dropped when it
   is a near-duplicate of one already kept (or of one dropped as a copy of it): character 3-gram
   shingle Jaccard (of case-folded text without punctuation) at least
   ``near_duplicate_threshold`` (0.8), or, when both carry a vector, cosine similarity at least
   ``near_duplicate_cosine`` (0.97). So the higher-scored copy is kept. Shingles need no word
   segmentation and work alike for Chinese, Japanese, Thai and spaced languages. Only passages of
   the same modality are compared (an image whose caption repeats a text passage is a different
   source). Why 0.97 (multilingual-e5-small on XQuAD): copies of a paragraph with its numbers
   changed, its last sentence dropped or a line of boilerplate added had cosine 0.98 to 0.998 at
   the median (0.95 at worst) to the original, while two different paragraphs of one article
   reached 0.92 (English) and 0.96 (Chinese). Translations of one paragraph stay at 0.78 to 0.90,
   so they are not caught (nor could they be, by a threshold that keeps different paragraphs
   apart).
3. **Selection** (``per_document_limit``, ``budget``, ``max_passages``): maximal marginal
   relevance. Repeatedly take the passage maximising
   ``(1 - diversity) * relevance - diversity * redundancy``, where relevance is ``rerank_score``
   (else the fused ``score``) and redundancy the largest :func:`content_similarity` to a passage
   already taken;
   a passage from a document already taken counts as at least ``same_document_similarity``
   similar to it, so with close scores a second source beats a third chunk of the first. A passage
   from a document that already has ``max_per_document`` passages is dropped; one that does not
   fit the remaining token budget is dropped and the next tried (smaller ones may still fit). The
   first passage taken (the most relevant) is never dropped for size: if it alone exceeds the
   budget, its text is cut at the last sentence end that fits (else a word boundary, else a
   character) and ends with an ellipsis. Once ``max_passages`` are taken the rest are dropped.
4. **Order**. Passages are grouped by document; groups go by their best relevance (ties: the
   group selected first) and, within a group, by ``chunk_index``. So adjacent chunks of one
   document, which usually continue each other, sit together in reading order.
5. **Number** 1..n in that order.

Token accounting: a passage costs ``count_tokens(format_source(number, passage))``, the exact block
:mod:`babelrag.rag.prompting` puts in the prompt. While selecting, the number is not known yet, so
the widest possible one (``max_passages``) is charged; after ordering, the real blocks are counted
again and :attr:`AssembledContext.tokens` is their sum, which never exceeds ``budget_tokens``. The
separators between blocks (a blank line each) are not counted: reserve a token per source for
them when sizing the budget.
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from babelrag.rag._text import CJK_SCRIPTS, UNSPACED_SCRIPTS, jaccard, script_of, sentence_cuts, shingles, word_cuts
from babelrag.rag.passages import Passage

__all__ = [
    "AssembledContext",
    "ContextPassage",
    "DropReason",
    "DroppedPassage",
    "ELLIPSIS",
    "assemble_context",
    "content_similarity",
    "format_source",
]

#: Appended to a truncated passage.
ELLIPSIS = "…"

_MAX_TITLE_CHARS = 150


class DropReason(str, enum.Enum):
    """Why a passage is not in the context."""

    NEAR_DUPLICATE = "near_duplicate"
    OLDER_VERSION = "older_version"
    BUDGET = "budget"
    PER_DOCUMENT_LIMIT = "per_document_limit"
    MAX_PASSAGES = "max_passages"
    LOW_RELEVANCE = "low_relevance"


@dataclass(frozen=True, slots=True)
class DroppedPassage:
    """A passage left out, why, and (for ``near_duplicate`` / ``older_version``) the one kept."""

    passage: Passage
    reason: DropReason
    kept: Passage | None = None


@dataclass(frozen=True, slots=True)
class ContextPassage:
    """A source in the context: its number (1-based), the passage, and its block's token count.

    ``truncated``: the passage's ``text`` was cut to fit the budget (``passage`` holds the cut
    text; the original is ``original``).
    """

    number: int
    passage: Passage
    tokens: int
    truncated: bool = False
    original: Passage | None = None


@dataclass(frozen=True, slots=True)
class AssembledContext:
    """The outcome of :func:`assemble_context`.

    ``passages`` in prompt order, numbered 1..n; ``dropped`` in the order the decisions were
    made; ``tokens`` the sum of the passages' block tokens (at most ``budget_tokens``).
    """

    passages: tuple[ContextPassage, ...]
    dropped: tuple[DroppedPassage, ...]
    tokens: int
    budget_tokens: int

    @property
    def sources(self) -> Mapping[int, Passage]:
        """Number -> passage, for the prompt and for resolving citations."""
        return MappingProxyType({cp.number: cp.passage for cp in self.passages})

    def dropped_for(self, reason: DropReason) -> list[Passage]:
        return [d.passage for d in self.dropped if d.reason is reason]

    def __len__(self) -> int:
        return len(self.passages)


# --------------------------------------------------------------------------------------------------
# Rendering (shared with prompting, so that what is counted is what is sent)

_WS = re.compile(r"\s+")
_MANY_NEWLINES = re.compile(r"\n\s*\n\s*\n+")
# Footnote markers in source text ("[12]", "［3］"): a model copies them, and they would then read
# as citations of our numbered sources. Up to three digits, so "[2023]" stays.
_FOOTNOTE = re.compile(r"[\[［]\s*[0-9０-９]{1,3}\s*[\]］]")


def _one_line(text: str, limit: int) -> str:
    text = _WS.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def _source_text(text: str) -> str:
    return _MANY_NEWLINES.sub("\n\n", _FOOTNOTE.sub("", text)).strip()


def format_source(number: int, passage: Passage) -> str:
    """The block that shows ``passage`` as source ``number`` in a prompt.

    Text: ``"[1] <title> (<language>)\\n<text>"`` (no parenthesis when the language is unknown).
    Image: ``"[3] image: <title> — caption: <caption>"``. The title falls back to the uri, then
    the document id, and is kept to one line of at most 150 characters; footnote markers such as
    ``[12]`` are removed from the text.
    """
    title = _one_line(passage.display_title, _MAX_TITLE_CHARS)
    text = _source_text(passage.text)
    if passage.is_image:
        head = f"[{number}] image: {title}"
        return f"{head} — caption: {_one_line(text, 10 * _MAX_TITLE_CHARS)}" if text else head
    language = passage.language.strip()
    suffix = f" ({language})" if language and language != "und" else ""
    return f"[{number}] {title}{suffix}\n{text}"


# --------------------------------------------------------------------------------------------------
# Similarity


@dataclass(slots=True)
class _Item:
    passage: Passage
    order: int  # input position: the tie-breaker everywhere
    shingles: frozenset[str]
    unit: np.ndarray | None

    @property
    def relevance(self) -> float:
        return self.passage.relevance


def _item(order: int, passage: Passage) -> _Item:
    unit = None
    if passage.vector is not None:
        norm = float(np.linalg.norm(passage.vector))
        if norm > 0.0:
            unit = passage.vector / norm
    return _Item(passage, order, shingles(passage.text), unit)


def _cosine(a: _Item, b: _Item) -> float | None:
    if a.unit is None or b.unit is None or a.unit.shape != b.unit.shape:
        return None
    return float(np.dot(a.unit, b.unit))


def content_similarity(a: Passage, b: Passage, *, cosine_floor: float = 0.9) -> float:
    """Similarity of two passages' content in [0, 1]: the larger of shingle Jaccard and rescaled
    cosine ``(cos - cosine_floor) / (1 - cosine_floor)`` (when both carry a vector).

    Rescaled because E5 cosines are high for any two passages, and unevenly so across languages:
    on XQuAD, paragraphs of different articles have median cosine 0.75 in English but 0.84 in
    Chinese, different paragraphs of one article 0.82 and 0.89. Above 0.9 the content is largely
    the same; below, Jaccard (which is near 0 for unrelated text in every script) speaks alone.
    """
    return _similarity(_item(0, a), _item(1, b), cosine_floor)


def _similarity(a: _Item, b: _Item, cosine_floor: float) -> float:
    sim = jaccard(a.shingles, b.shingles)
    cos = _cosine(a, b)
    if cos is not None:
        sim = max(sim, min(1.0, max(0.0, (cos - cosine_floor) / (1.0 - cosine_floor))))
    return sim


def _same_source(a: Passage, b: Passage) -> bool:
    if a.document_id == b.document_id:
        return True
    if a.uri.strip() and a.uri.strip() == b.uri.strip():
        return True
    ta, tb = _WS.sub(" ", a.title).strip().casefold(), _WS.sub(" ", b.title).strip().casefold()
    return bool(ta) and ta == tb


# --------------------------------------------------------------------------------------------------
# Truncation


def _with_ellipsis(prefix: str) -> str:
    prefix = prefix.rstrip()
    if not prefix:
        return ELLIPSIS
    script = script_of(prefix[-1])
    unspaced = script is not None and (script in CJK_SCRIPTS or script in UNSPACED_SCRIPTS)
    glue = "" if unspaced or prefix[-1] in "。！？、，" else " "
    return prefix + glue + ELLIPSIS


def _truncate(
    passage: Passage, number: int, budget: int, count: Callable[[str], int]
) -> tuple[Passage, int] | None:
    """``passage`` with its text cut to fit ``budget`` tokens as source ``number``, or None."""
    text = _source_text(passage.text)

    def cost(cut: int) -> tuple[Passage, int]:
        cut_passage = passage.with_text(_with_ellipsis(text[:cut]))
        return cut_passage, count(format_source(number, cut_passage))

    # Sentence ends first, then word boundaries, then any character (CJK, or one huge "word").
    for cuts in (sentence_cuts(text), word_cuts(text), list(range(1, len(text)))):
        lo, hi, best = 0, len(cuts) - 1, None
        while lo <= hi:  # the largest cut that fits; token counts grow with the prefix
            mid = (lo + hi) // 2
            candidate = cost(cuts[mid])
            if candidate[1] <= budget:
                best, lo = candidate, mid + 1
            else:
                hi = mid - 1
        if best is not None:
            return best
    return None


# --------------------------------------------------------------------------------------------------
# Assembly


def _check_unit(name: str, value: float, *, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not (0.0 < value <= 1.0 if low_open else 0.0 <= value <= 1.0):
        interval = "(0, 1]" if low_open else "[0, 1]"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
    return float(value)


def _check_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def assemble_context(
    passages: Sequence[Passage],
    *,
    budget_tokens: int,
    count_tokens: Callable[[str], int],
    max_passages: int = 8,
    near_duplicate_threshold: float = 0.8,
    max_per_document: int = 3,
    near_duplicate_cosine: float = 0.97,
    version_similarity: float = 0.5,
    diversity: float = 0.3,
    same_document_similarity: float = 0.5,
    cosine_floor: float = 0.9,
    min_relative_relevance: float = 0.0,
) -> AssembledContext:
    """Choose, order and number the passages that go into the prompt (see the module docstring).

    ``passages``: reranked candidates, any order. ``count_tokens``: the generator's tokenizer (a
    length in tokens of a string). Raises ``ValueError``/``TypeError`` for arguments out of range.
    """
    _check_count("budget_tokens", budget_tokens, 0)
    _check_count("max_passages", max_passages, 1)
    _check_count("max_per_document", max_per_document, 1)
    near_duplicate_threshold = _check_unit("near_duplicate_threshold", near_duplicate_threshold, low_open=True)
    near_duplicate_cosine = _check_unit("near_duplicate_cosine", near_duplicate_cosine, low_open=True)
    version_similarity = _check_unit("version_similarity", version_similarity, low_open=True)
    diversity = _check_unit("diversity", diversity)
    same_document_similarity = _check_unit("same_document_similarity", same_document_similarity)
    cosine_floor = _check_unit("cosine_floor", cosine_floor)
    min_relative_relevance = _check_unit("min_relative_relevance", min_relative_relevance)
    if cosine_floor >= 1.0:
        raise ValueError("cosine_floor must be below 1")
    for p in passages:
        if not isinstance(p, Passage):
            raise TypeError(f"passages must be Passage objects, not {type(p).__name__}")

    def count(text: str) -> int:
        n = count_tokens(text)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"count_tokens must return a non-negative int, got {n!r}")
        return int(n)

    dropped: list[DroppedPassage] = []
    items = sorted((_item(i, p) for i, p in enumerate(passages)), key=lambda it: (-it.relevance, it.order))

    # 0. Relevance floor, relative to the best passage (which always stays).
    if items and min_relative_relevance > 0.0 and items[0].relevance > 0.0:
        floor = min_relative_relevance * items[0].relevance
        dropped.extend(DroppedPassage(it.passage, DropReason.LOW_RELEVANCE) for it in items if it.relevance < floor)
        items = [it for it in items if it.relevance >= floor]

    # 1. Versions: the older valid_at of two similar passages of one source goes, whatever its score.
    superseded: dict[int, _Item] = {}  # order -> the newer item that replaces it
    for i, a in enumerate(items):
        for b in items[i + 1 :]:
            va, vb = a.passage.valid_at, b.passage.valid_at
            if va is None or vb is None or va == vb or not _same_source(a.passage, b.passage):
                continue
            cos = _cosine(a, b)
            similar = jaccard(a.shingles, b.shingles) >= version_similarity or (
                cos is not None and cos >= near_duplicate_cosine
            )
            if not similar:
                continue
            older, newer = (a, b) if va < vb else (b, a)
            current = superseded.get(older.order)
            if current is None or newer.passage.valid_at > current.passage.valid_at:  # type: ignore[operator]
                superseded[older.order] = newer
    survivors: list[_Item] = []
    for it in items:
        newer = superseded.get(it.order)
        if newer is None:
            survivors.append(it)
            continue
        while newer.order in superseded:  # a chain of versions: report the newest
            newer = superseded[newer.order]
        dropped.append(DroppedPassage(it.passage, DropReason.OLDER_VERSION, newer.passage))

    # 2. Near-duplicates: keep the first (most relevant) of each group. A group grows through its
    #    dropped members too: a copy of a dropped copy is a copy of what was kept.
    groups: list[list[_Item]] = []  # each: [kept, *dropped]
    for it in survivors:
        group = next(
            (
                g
                for g in groups
                if any(_is_near_duplicate(it, m, near_duplicate_threshold, near_duplicate_cosine) for m in g)
            ),
            None,
        )
        if group is None:
            groups.append([it])
        else:
            group.append(it)
            dropped.append(DroppedPassage(it.passage, DropReason.NEAR_DUPLICATE, group[0].passage))
    unique = [g[0] for g in groups]

    # 3. Selection: MMR under the per-document, token and passage-count limits.
    pool = list(unique)
    redundancy = {it.order: 0.0 for it in pool}
    chosen: list[tuple[_Item, Passage, bool]] = []  # (item, passage as shown, truncated)
    per_document: Counter[str] = Counter()
    remaining = budget_tokens
    while pool:
        if len(chosen) == max_passages:
            dropped.extend(DroppedPassage(it.passage, DropReason.MAX_PASSAGES) for it in pool)
            break
        best = max(
            pool, key=lambda it: ((1.0 - diversity) * it.relevance - diversity * redundancy[it.order], -it.order)
        )
        pool.remove(best)
        p = best.passage
        if per_document[p.document_id] >= max_per_document:
            dropped.append(DroppedPassage(p, DropReason.PER_DOCUMENT_LIMIT))
            continue
        shown, truncated = p, False
        cost = count(format_source(max_passages, p))
        if cost > remaining:
            cut = _truncate(p, max_passages, remaining, count) if not chosen else None
            if cut is None:
                dropped.append(DroppedPassage(p, DropReason.BUDGET))
                continue
            (shown, cost), truncated = cut, True
        remaining -= cost
        per_document[p.document_id] += 1
        chosen.append((best, shown, truncated))
        for it in pool:
            sim = _similarity(it, best, cosine_floor)
            if it.passage.document_id == p.document_id:
                sim = max(sim, same_document_similarity)
            redundancy[it.order] = max(redundancy[it.order], sim)

    # 4. Order by document group, then chunk index; 5. number, and count the real blocks.
    ordered, total = _number(chosen, count)
    while total > budget_tokens and len(chosen) > 1:
        # Only reachable with a tokenizer that counts a block numbered 1..n as longer than the
        # same block numbered max_passages (charged while selecting): give up the least
        # relevant passage (never the first chosen) and count again.
        victim = min(chosen[1:], key=lambda c: (c[0].relevance, -c[0].order))
        chosen.remove(victim)
        dropped.append(DroppedPassage(victim[0].passage, DropReason.BUDGET))
        ordered, total = _number(chosen, count)
    if total > budget_tokens:  # the one passage left, counted with its real number, is too big
        item = chosen[0][0]
        cut = _truncate(item.passage, 1, budget_tokens, count)
        if cut is None:
            dropped.append(DroppedPassage(item.passage, DropReason.BUDGET))
            chosen = []
        else:
            chosen = [(item, cut[0], True)]
        ordered, total = _number(chosen, count)
    return AssembledContext(ordered, tuple(dropped), total, budget_tokens)


def _number(
    chosen: list[tuple[_Item, Passage, bool]], count: Callable[[str], int]
) -> tuple[tuple[ContextPassage, ...], int]:
    """Order (step 4) and number (step 5) the chosen passages; their blocks' total tokens."""
    out = []
    for number, (item, shown, truncated) in enumerate(_ordered(chosen), 1):
        tokens = count(format_source(number, shown))
        out.append(ContextPassage(number, shown, tokens, truncated, item.passage if truncated else None))
    return tuple(out), sum(cp.tokens for cp in out)


def _is_near_duplicate(a: _Item, b: _Item, threshold: float, cosine_threshold: float) -> bool:
    if a.passage.modality != b.passage.modality:
        return False
    if jaccard(a.shingles, b.shingles) >= threshold:
        return True
    cos = _cosine(a, b)
    return cos is not None and cos >= cosine_threshold


def _ordered(chosen: list[tuple[_Item, Passage, bool]]) -> list[tuple[_Item, Passage, bool]]:
    group_rank: dict[str, tuple[float, int]] = {}
    for position, (item, _, _) in enumerate(chosen):
        doc = item.passage.document_id
        rank = (-item.relevance, position)
        if doc not in group_rank or rank < group_rank[doc]:
            group_rank[doc] = rank
    return sorted(
        chosen,
        key=lambda c: (group_rank[c[0].passage.document_id], c[0].passage.chunk_index, c[0].passage.chunk_id),
    )
