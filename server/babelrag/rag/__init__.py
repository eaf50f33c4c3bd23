"""RAG logic between retrieval and generation: pure functions and value types, no I/O.

The Ask pipeline calls, in order::

    passages = [Passage(...) for hit in search_result.hits]          # passages.py
    passages = await reranker.rerank(question, passages)             # rerank.py
    context  = assemble_context(passages, budget_tokens=..., count_tokens=...)   # assembly.py
    prompt   = build_prompt(question, context, answer_language=..., language_name=...)  # prompting.py
    answer   = <generation>
    cited    = extract_citation_numbers(answer, prompt.sources)      # citations.py
    check    = check_answer_language(answer, answer_language, detect)  # answer_language.py
"""

from babelrag.rag.answer_language import AnswerLanguageCheck, check_answer_language
from babelrag.rag.assembly import (
    AssembledContext,
    ContextPassage,
    DropReason,
    DroppedPassage,
    assemble_context,
    content_similarity,
    format_source,
)
from babelrag.rag.citations import extract_citation_numbers, strip_citation_markers
from babelrag.rag.passages import Passage, by_relevance
from babelrag.rag.prompting import PHRASES, LanguagePhrases, Prompt, build_prompt, phrases_for
from babelrag.rag.rerank import (
    FallbackReranker,
    FusedScoreReranker,
    LexicalOverlapReranker,
    Reranker,
    query_term_coverage,
)

__all__ = [
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
]
