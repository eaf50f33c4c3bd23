"""The public names of babelrag.rag: changing them is an API change, so it must show up here."""

from __future__ import annotations

import babelrag.rag as rag

EXPORTED = {
    "PHRASES",
    "AnswerLanguageCheck",
    "AssembledContext",
    "ContextPassage",
    "DropReason",
    "DroppedPassage",
    "FallbackReranker",
    "FusedScoreReranker",
    "LanguagePhrases",
    "LexicalOverlapReranker",
    "Passage",
    "Prompt",
    "Reranker",
    "assemble_context",
    "build_prompt",
    "by_relevance",
    "check_answer_language",
    "content_similarity",
    "extract_citation_numbers",
    "format_source",
    "phrases_for",
    "query_term_coverage",
    "strip_citation_markers",
}


def test_exported_members() -> None:
    assert set(rag.__all__) == EXPORTED
    for name in EXPORTED - {"PHRASES"}:
        assert getattr(rag, name).__module__.startswith("babelrag.rag"), name


def test_drop_reasons_are_the_documented_strings() -> None:
    assert {r.value for r in rag.DropReason} == {
        "near_duplicate",
        "older_version",
        "budget",
        "per_document_limit",
        "max_passages",
        "low_relevance",
    }
