"""Evaluation metrics: ranking quality, language bias, and answer matching. Pure functions.

Ranking (``ranked``: document ids best first, already de-duplicated; ``relevant``: the set of
relevant document ids; binary relevance):

``recall_at_k``
    1 if at least one relevant document is in the top ``k``, else 0. With one relevant document
    per query (a SQuAD question and its paragraph) this is ordinary recall@k. With several
    (XQuAD-R's pooled setting, where every translation of the gold paragraph counts) it is
    success@k, as the evaluation asks ("a hit counts if it is the gold paragraph in any language").
``reciprocal_rank``
    1 / rank of the first relevant document within the top ``k`` (MRR@k when averaged), else 0.
``ndcg_at_k``
    DCG@k / IDCG@k with gains 1/log2(rank + 1); IDCG places min(|relevant|, k) relevant documents
    first. With one relevant document: 1 / log2(rank + 1).
``average_precision_at_k``
    sum over relevant ranks r <= k of precision@r, divided by min(|relevant|, k): mAP@20 of
    LAReQA / XQuAD-R (Roy et al., 2020) when averaged with k = 20 and all translations relevant.
``language_share``
    the share of the top ``k`` results written in a given language: with the query's own language
    and a pooled multilingual corpus, the retriever's language bias (1/L would be no bias with L
    equally sized languages; 1.0 = only ever its own language).

Answers (``prediction`` against the gold ``answers``; the best gold answer counts):

``normalize_answer``
    NFKC, case-folded, punctuation and symbols removed, whitespace collapsed; for English also the
    articles a/an/the (SQuAD's normalisation). Citation markers ``[n]`` are removed first.
``answer_tokens``
    the normalised text split on whitespace, with every character of a CJK or unspaced South-East
    Asian script (Thai, Lao, Khmer, Myanmar) a token of its own (MLQA's "mixed segmentation").
``exact_match``, ``token_f1``
    SQuAD's EM and bag-of-tokens F1 over :func:`answer_tokens`.
``contains_answer``
    the gold answer's tokens occur as a contiguous run in the prediction's tokens: MIRAGE's
    "EM_loose" (answer string contained in the lower-cased response), made token-aware so that
    "30" is not found inside "1830".
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence

from babelrag.rag._text import CJK_SCRIPTS, UNSPACED_SCRIPTS, script_of
from babelrag.rag.citations import strip_citation_markers

__all__ = [
    "ANSWER_MATCHERS",
    "RANKING_METRICS",
    "answer_tokens",
    "average_precision_at_k",
    "contains_answer",
    "exact_match",
    "language_share",
    "macro_average",
    "match_answer",
    "ndcg_at_k",
    "normalize_answer",
    "recall_at_k",
    "reciprocal_rank",
    "summarize_rankings",
    "token_f1",
]


def _check_k(k: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")


def recall_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """1.0 when a relevant document is among the first ``k`` of ``ranked``, else 0.0."""
    _check_k(k)
    return 1.0 if any(doc in relevant for doc in ranked[:k]) else 0.0


def reciprocal_rank(ranked: Sequence[str], relevant: Collection[str], k: int = 10) -> float:
    """1 / (1-based rank of the first relevant document) within the first ``k``, else 0.0."""
    _check_k(k)
    for rank, doc in enumerate(ranked[:k], start=1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[str], relevant: Collection[str], k: int = 10) -> float:
    """Binary-gain nDCG@k; 0.0 when there is nothing relevant."""
    _check_k(k)
    if not relevant:
        return 0.0
    dcg = sum(1.0 / math.log2(rank + 1) for rank, doc in enumerate(ranked[:k], start=1) if doc in relevant)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal


def average_precision_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """AP@k: mean of precision@r over the relevant ranks r <= k, divided by min(|relevant|, k)."""
    _check_k(k)
    if not relevant:
        return 0.0
    found, total = 0, 0.0
    for rank, doc in enumerate(ranked[:k], start=1):
        if doc in relevant:
            found += 1
            total += found / rank
    return total / min(len(relevant), k)


def language_share(languages: Sequence[str], language: str, k: int) -> float:
    """Share of the first ``k`` result languages equal to ``language`` (0.0 for no results)."""
    _check_k(k)
    top = languages[:k]
    return sum(1 for code in top if code == language) / len(top) if top else 0.0


#: Metric names :func:`summarize_rankings` reports, in table order.
RANKING_METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")


def summarize_rankings(
    rankings: Iterable[tuple[Sequence[str], Collection[str]]],
    *,
    languages: Iterable[tuple[Sequence[str], str]] | None = None,
    map_k: int | None = None,
) -> dict[str, float]:
    """Mean ranking metrics over queries.

    ``rankings``: one (ranked ids, relevant ids) pair per query. ``languages``: optionally one
    (ranked result languages, query language) pair per query, for ``own_language@1`` (share of
    queries whose top result is in their own language) and ``own_language@10`` (mean share of the
    top 10 in it). ``map_k`` adds ``map@<k>``. ``queries`` is the count.
    """
    totals: Counter[str] = Counter()
    n = 0
    for ranked, relevant in rankings:
        n += 1
        for k in (1, 5, 10):
            totals[f"recall@{k}"] += recall_at_k(ranked, relevant, k)
        totals["mrr@10"] += reciprocal_rank(ranked, relevant, 10)
        totals["ndcg@10"] += ndcg_at_k(ranked, relevant, 10)
        if map_k:
            totals[f"map@{map_k}"] += average_precision_at_k(ranked, relevant, map_k)
    summary = {name: (totals[name] / n if n else 0.0) for name in RANKING_METRICS}
    if map_k:
        summary[f"map@{map_k}"] = totals[f"map@{map_k}"] / n if n else 0.0
    if languages is not None:
        m, top1, top10 = 0, 0.0, 0.0
        for result_languages, own in languages:
            m += 1
            top1 += language_share(result_languages, own, 1)
            top10 += language_share(result_languages, own, 10)
        summary["own_language@1"] = top1 / m if m else 0.0
        summary["own_language@10"] = top10 / m if m else 0.0
    summary["queries"] = float(n)
    return summary


def macro_average(per_group: Mapping[str, Mapping[str, float]], metrics: Iterable[str] | None = None) -> dict[str, float]:
    """Unweighted mean of each metric over the groups (languages) that report it."""
    names = list(metrics) if metrics is not None else sorted({m for values in per_group.values() for m in values})
    out = {}
    for name in names:
        values = [values[name] for values in per_group.values() if name in values]
        if values:
            out[name] = sum(values) / len(values)
    return out


# ---------------------------------------------------------------------------------------------
# Answer matching

_ENGLISH_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SPACE = re.compile(r"\s+")


def _is_punct_or_symbol(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PS"


def normalize_answer(text: str, language: str = "") -> str:
    """The comparable form of an answer (module docstring)."""
    text = unicodedata.normalize("NFKC", strip_citation_markers(text)).casefold()
    text = "".join(" " if _is_punct_or_symbol(ch) else ch for ch in text)
    if language.lower().startswith("en"):
        text = _ENGLISH_ARTICLES.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def _char_tokens(ch: str) -> bool:
    script = script_of(ch)
    return script in CJK_SCRIPTS or script in UNSPACED_SCRIPTS


def answer_tokens(text: str, language: str = "") -> list[str]:
    """Tokens of the normalised text: words, and single characters of unspaced scripts."""
    tokens: list[str] = []
    for word in normalize_answer(text, language).split():
        run = ""
        for ch in word:
            if _char_tokens(ch) and not unicodedata.category(ch).startswith("M"):
                if run:
                    tokens.append(run)
                    run = ""
                tokens.append(ch)
            elif unicodedata.category(ch).startswith("M") and tokens and not run and _char_tokens(tokens[-1][-1]):
                tokens[-1] += ch  # a Thai vowel sign / tone mark stays with its consonant
            else:
                run += ch
        if run:
            tokens.append(run)
    return tokens


def exact_match(prediction: str, answers: Iterable[str], language: str = "") -> bool:
    """The normalised prediction equals a normalised gold answer."""
    predicted = answer_tokens(prediction, language)
    return any(predicted == answer_tokens(answer, language) for answer in answers if answer_tokens(answer, language))


def token_f1(prediction: str, answers: Iterable[str], language: str = "") -> float:
    """The best bag-of-tokens F1 between the prediction and a gold answer."""
    predicted = Counter(answer_tokens(prediction, language))
    best = 0.0
    for answer in answers:
        gold = Counter(answer_tokens(answer, language))
        common = sum((predicted & gold).values())
        if not gold or not predicted or common == 0:
            continue
        precision, recall = common / sum(predicted.values()), common / sum(gold.values())
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains_answer(prediction: str, answers: Iterable[str], language: str = "") -> bool:
    """A gold answer's tokens occur as a contiguous run of the prediction's tokens."""
    predicted = answer_tokens(prediction, language)
    for answer in answers:
        gold = answer_tokens(answer, language)
        if not gold or len(gold) > len(predicted):
            continue
        width = len(gold)
        if any(predicted[i : i + width] == gold for i in range(len(predicted) - width + 1)):
            return True
    return False


#: How an answer can be judged correct: name -> (prediction, answers, language) -> bool.
#: ``f1`` counts a token F1 of at least 0.5 as correct.
ANSWER_MATCHERS = {
    "contains": contains_answer,
    "em": exact_match,
    "f1": lambda prediction, answers, language="": token_f1(prediction, answers, language) >= 0.5,
}


def match_answer(prediction: str, answers: Sequence[str], language: str = "") -> dict[str, float]:
    """Every matcher's verdict (1.0/0.0) and the token F1 for one prediction."""
    return {
        "contains": float(contains_answer(prediction, answers, language)),
        "em": float(exact_match(prediction, answers, language)),
        "f1": token_f1(prediction, answers, language),
    }
