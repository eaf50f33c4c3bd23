"""Which pipeline choices move the answers: the same questions asked under varied gateway settings.

MIRAGE's metrics (:mod:`babelrag.evaluation.mirage`) describe the generator; this module asks which
of the gateway's own choices — how many passages it retrieves (``top_k``), how it reranks them,
whether it drops near-duplicates, how large a context budget it gives them, the relevance floor,
the answer opener — change what users get. Each :class:`Variant` is a set of gateway settings;
for each, the gateway is restarted with them (same data, same Triton: nothing is ingested again)
and every sampled question is asked through Ask, exactly as users ask.

Per variant the report gives the answer measures of :func:`babelrag.evaluation.answers.
summarize_answers` (containment, F1, answer language, gold paragraph in the context, passages and
prompt tokens, seconds per answer) and MIRAGE's four metrics with the variant's Ask answers as the
"mixed" condition: a question's ``base`` (closed book) and ``oracle`` (gold passage only) answers
do not depend on the gateway's settings, so they are generated once, by the generator itself, and
each variant contributes its own answer in the third place (as the ``rag`` column of the MIRAGE
section does for the defaults). Noise vulnerability then reads "right with the gold passage alone,
wrong with what this pipeline retrieved and assembled". By MIRAGE's rules a question the generator
gets wrong with the gold passage alone is context insensitivity or misinterpretation whatever the
pipeline does, so only questions the oracle answers right can move between variants: with a
generator that mostly ignores its context (gemma-3-270m) the answer measures, containment first,
say more than the four metrics.

Greedy decoding makes each answer a function of the prompt, so differences between variants come
from their contexts and prompts, not from sampling; with a few dozen questions, read differences of
one or two questions as noise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from babelrag.evaluation.metrics import ANSWER_MATCHERS
from babelrag.evaluation.mirage import mirage_scores

__all__ = ["ABLATION_SETTINGS", "DEFAULT_VARIANTS", "VARIANTS", "Variant", "parse_variants", "summarize_ablation"]


@dataclasses.dataclass(frozen=True)
class Variant:
    """A named set of gateway settings (by setting name, values as in the settings file)."""

    name: str
    settings: Mapping[str, str]
    description: str
    needs_reranker: bool = False  # only where the profile has a cross-encoder on Triton


#: Every variant ``--variants`` can name; each changes one choice from the defaults.
VARIANTS: Mapping[str, Variant] = {
    v.name: v
    for v in (
        Variant(
            "default", {}, "the gateway's defaults (top_k 8, fused order, dedupe, budget 256 tokens for a base model / 1024 instruction-tuned, floor 0.4, opener)"
        ),
        Variant("top_k=3", {"top_k": "3"}, "retrieve 3 passages instead of 8"),
        Variant("top_k=16", {"top_k": "16"}, "retrieve 16 candidates (the context still holds at most 8)"),
        Variant("rerank=lexical", {"reranker": "lexical"}, "rerank by query-term coverage blended with the fused score"),
        Variant("rerank=triton", {"reranker": "triton"}, "rerank with the profile's cross-encoder on Triton", needs_reranker=True),
        Variant("no_dedupe", {"context_dedupe": "false"}, "keep near-duplicates; no MMR diversity in the selection"),
        Variant("budget=256", {"generator_context_tokens": "512"}, "a context budget of 256 tokens for any generator (instruction-tuned ones get 1024)"),
        Variant("budget=1024", {"base_model_context_tokens": "0"}, "a base-model generator gets the instruction-tuned budget, 1024 tokens, instead of 256"),
        Variant("no_floor", {"context_min_relevance": "0"}, "no relevance floor (weak passages stay in)"),
        Variant("no_opener", {"answer_opener": "false"}, "no answer opener after the cue (base models)"),
    )
}

DEFAULT_VARIANTS = ",".join(VARIANTS)

#: The gateway settings the variants change; the report records each variant's values as read back.
ABLATION_SETTINGS = tuple(dict.fromkeys(name for v in VARIANTS.values() for name in v.settings))


def parse_variants(text: str) -> list[Variant]:
    """The variants named in a comma-separated list (``"default,top_k=3"``); ValueError if unknown."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown ablation variant(s) {', '.join(unknown)}: choose from {', '.join(VARIANTS)}")
    if not names:
        raise ValueError("no ablation variants given")
    return [VARIANTS[n] for n in dict.fromkeys(names)]


def summarize_ablation(
    answers: Mapping[str, Sequence[Mapping[str, Any]]],
    labels: Mapping[str, Mapping[tuple[str, str], tuple[bool, bool]]],
    summaries: Mapping[str, Mapping[str, float]],
) -> dict[str, Any]:
    """One row per variant: its answer summary plus MIRAGE with its answers as "mixed".

    ``answers``: variant -> records (``question_id``, ``answer``, ``gold_answers``, ``language``,
    ``error``) as :meth:`babelrag.evaluation.answers.AskRecord.to_dict` writes them.
    ``labels``: matcher -> {(language, question id): (base correct, oracle correct)} (parallel
    datasets such as XQuAD share question ids across languages). ``summaries``: variant ->
    :func:`babelrag.evaluation.answers.summarize_answers` of its records (macro-averaged over
    languages or not, as the caller chooses). Questions without base/oracle labels are left out
    of the MIRAGE part.
    """
    rows: dict[str, Any] = {}
    for variant, records in answers.items():
        row: dict[str, Any] = dict(summaries.get(variant, {}))
        for matcher, match in ANSWER_MATCHERS.items():
            by_question = labels.get(matcher, {})
            triples = [
                (*by_question[(r["language"], r["question_id"])], bool(match(r["answer"], r["gold_answers"], r["language"])))
                for r in records
                if not r.get("error") and (r["language"], r["question_id"]) in by_question
            ]
            row[f"mirage_{matcher}"] = mirage_scores(triples)
        rows[variant] = row
    return rows
