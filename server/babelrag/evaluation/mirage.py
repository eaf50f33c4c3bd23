"""MIRAGE-style RAG adaptability metrics of the generator.

MIRAGE (Park, Moon, Park and Lim: "MIRAGE: A Metric-Intensive Benchmark for Retrieval-Augmented
Generation Evaluation", Findings of NAACL 2025, arXiv:2504.17137) asks the generator every
question in three settings and compares, per question, whether each answer is correct:

``base``    closed book: the question alone (no sources);
``oracle``  the gold passage only;
``mixed``   the gold passage among noise: passages that resemble it but lack the answer
            (MIRAGE's "fixed" set is 1 positive + 4 negatives; its main tables use the top 5
            chunks of a real retriever instead, which we report separately as ``rag`` when Ask
            answers for the same questions are available).

The four metrics, as defined by the authors' reference code (``evaluation.py``,
``Metrics.get_analysis_and_report`` in github.com/nlpai-lab/MIRAGE): for each question the first
rule that applies assigns it to one category, and each metric is the share of questions in it,
so the four sum to 1:

1. noise vulnerability (NV):      correct with oracle, wrong with mixed   - noise broke it;
2. context acceptability (CA):    correct with oracle and with mixed      - used the context;
3. context insensitivity (CI):    wrong with oracle and wrong in base     - context did not help;
4. context misinterpretation (CM): wrong with oracle, correct in base    - the context misled it.

Their overall score is ``CA - NV - CI - CM`` (higher is better). A correct answer is, as in
MIRAGE, one that *contains* a gold answer (their "EM_loose"; here token-aware and normalised,
:func:`babelrag.evaluation.metrics.contains_answer`); the metrics are also reported with exact
match and with token F1 >= 0.5 as the correctness test. The paper's text, as we recall it,
describes the same four categories; where its prose and its code might differ, this module follows
the code, which is what produced the paper's numbers.

Added here (not MIRAGE's): the ``noise`` condition, noise passages only, gives
``noise_only_accuracy`` (answered right with nothing relevant: parametric knowledge or luck) and
``noise_only_abstention`` (said the localised "the sources do not contain the answer" sentence of
the prompt, which is the right reaction).

How the generator is called: exactly as the gateway's Ask calls it, with the contexts chosen here.
Passages go through :func:`babelrag.rag.assembly.assemble_context` (same token budget, the E5
tokenizer as the token counter, as in the gateway) and :func:`babelrag.rag.prompting.build_prompt`
(same instruction, source blocks, localised answer cue and stop strings), and the prompt goes to
the ``generator`` model on Triton through :class:`babelrag.generation.client.TritonGenerator` with
the answer-language control set to the question's language, greedy decoding. The closed-book
prompt is the same prompt without the instruction and sources (MIRAGE's base prompt is likewise
"Question: ... Answer:"). The answer language is the dataset's language, not a detected one, so
language identification errors do not leak into these metrics.

Noise passages are hard negatives: the paragraphs the gateway's own hybrid search ranks highest
for the question, skipping the gold paragraph and any paragraph that contains a gold answer. The
gold passage's position among them is drawn at random (seeded per question), since a fixed
position would bias the result. When the sources do not all fit the token budget, noise passages
are dropped (never the gold one).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from babelrag.evaluation.metrics import ANSWER_MATCHERS, contains_answer, normalize_answer
from babelrag.evaluation.squad import Paragraph, Question, SquadDataset
from babelrag.rag.assembly import AssembledContext, assemble_context
from babelrag.rag.passages import Passage
from babelrag.rag.prompting import Prompt, build_prompt, phrases_for
from babelrag.text.langid import language_name

__all__ = [
    "CONDITIONS",
    "MirageItem",
    "MirageResult",
    "PromptKit",
    "TextGenerator",
    "categorize",
    "choose_noise",
    "mirage_scores",
    "run_mirage",
    "summarize_mirage",
]

#: The contexts each question is answered under (``rag``, from the gateway's Ask, is optional).
CONDITIONS = ("base", "oracle", "mixed", "noise")
METRICS = ("noise_vulnerability", "context_acceptability", "context_insensitivity", "context_misinterpretation")
ANSWER_CHARS = 400
_SPACES = re.compile(r"\s+")


def categorize(base: bool, oracle: bool, mixed: bool) -> str:
    """The MIRAGE category of one question from its three correctness labels (first rule wins)."""
    if oracle and not mixed:
        return "noise_vulnerability"
    if oracle and mixed:
        return "context_acceptability"
    if not base:
        return "context_insensitivity"
    return "context_misinterpretation"


def mirage_scores(labels: Sequence[tuple[bool, bool, bool]]) -> dict[str, float]:
    """NV, CA, CI, CM (shares of questions; they sum to 1) and ``score`` = CA - NV - CI - CM.

    ``labels``: one (base correct, oracle correct, mixed correct) triple per question.
    """
    counts = Counter(categorize(*triple) for triple in labels)
    n = len(labels)
    scores = {name: (counts[name] / n if n else 0.0) for name in METRICS}
    scores["score"] = (
        scores["context_acceptability"]
        - scores["noise_vulnerability"]
        - scores["context_insensitivity"]
        - scores["context_misinterpretation"]
    )
    scores["questions"] = float(n)
    return scores


# ---------------------------------------------------------------------------------------------
# Items: the question, its gold passage and its noise


@dataclasses.dataclass(frozen=True)
class MirageItem:
    question: Question
    language: str
    gold: Paragraph
    noise: tuple[Paragraph, ...]


def choose_noise(
    dataset: SquadDataset, question: Question, ranked_keys: Sequence[str], count: int
) -> tuple[Paragraph, ...]:
    """Up to ``count`` hard negatives: highest-ranked first, then (if retrieval gave too few) other
    paragraphs of the file in a seeded order; never the gold one nor one holding a gold answer."""
    by_key = {p.key: p for p in dataset.paragraphs}
    rng = random.Random(zlib.crc32(question.id.encode()))
    fallback = [p.key for p in dataset.paragraphs]
    rng.shuffle(fallback)
    chosen: list[Paragraph] = []
    for key in [*ranked_keys, *fallback]:
        if len(chosen) >= count:
            break
        paragraph = by_key.get(key)
        if paragraph is None or key == question.paragraph_key or paragraph in chosen:
            continue
        if question.answers and contains_answer(paragraph.context, question.answers, dataset.language):
            continue
        chosen.append(paragraph)
    return tuple(chosen)


# ---------------------------------------------------------------------------------------------
# Prompts, as the gateway writes them


class PromptKit:
    """Builds the prompts of each condition with the gateway's own assembly and prompt code.

    ``count_tokens``: the gateway's token counter (the E5 tokenizer; :meth:`from_profile`).
    ``budget_tokens``: the context budget (``Settings.context_budget_tokens``).
    """

    def __init__(self, *, count_tokens: Callable[[str], int], budget_tokens: int, instruction_tuned: bool = False) -> None:
        self.count_tokens = count_tokens
        self.budget_tokens = budget_tokens
        self.instruction_tuned = instruction_tuned

    @classmethod
    def from_profile(cls, profile_root: Path, *, budget_tokens: int) -> PromptKit:
        """Token counting and prompt format of a built profile, as the gateway sets them up."""
        from babelrag.gateway.runtime import GeneratorInfo
        from babelrag.text.chunking import estimate_tokens

        path = Path(profile_root) / "artifacts" / "e5_tokenizer" / "tokenizer.json"
        count: Callable[[str], int] = estimate_tokens
        if path.is_file():
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(path))
            tokenizer.no_truncation()
            tokenizer.no_padding()

            def count(text: str) -> int:
                return len(tokenizer.encode(text, add_special_tokens=False).ids)

        return cls(
            count_tokens=count,
            budget_tokens=budget_tokens,
            instruction_tuned=GeneratorInfo.from_artifacts(Path(profile_root) / "artifacts").instruction_tuned,
        )

    def closed_book(self, question: str, language: str) -> tuple[str, tuple[str, ...]]:
        """The base condition's prompt: the answer-language line, the question and the cue."""
        phrases = phrases_for(language, language_name(language))
        gap = "" if phrases.question.endswith("：") else " "
        one_line = _SPACES.sub(" ", question).strip()
        question_line = f"{phrases.question}{gap}{one_line}"
        if self.instruction_tuned:
            return f"{question_line}\n{phrases.answer_in}", ()
        return f"{phrases.answer_in}\n\n{question_line}\n{phrases.answer}", (f"\n{phrases.question}", f"\n{phrases.answer}")

    def with_sources(
        self, question: str, language: str, gold: Paragraph | None, noise: Sequence[Paragraph], seed: int
    ) -> tuple[Prompt, int]:
        """A prompt with ``gold`` (if any) among ``noise``, in a seeded random order.

        Returns the prompt (its text, stop strings, the sentence meaning "not in the sources" and
        the answer's opening) and the noise passages used. Noise passages that do not fit the
        budget are dropped, the gold one never.
        """
        noise = list(noise)
        while True:
            context = self._assemble(gold, noise, language, seed)
            kept = {cp.passage.document_id for cp in context.passages}
            if gold is None or gold.key in kept or not noise:
                break
            noise.pop()  # the gold passage did not fit: make room
        prompt = build_prompt(
            question,
            context,
            answer_language=language,
            language_name=language_name(language),
            instruction_tuned=self.instruction_tuned,
        )
        used_noise = sum(1 for cp in context.passages if gold is None or cp.passage.document_id != gold.key)
        return prompt, used_noise

    def _assemble(self, gold: Paragraph | None, noise: Sequence[Paragraph], language: str, seed: int) -> AssembledContext:
        paragraphs = ([gold] if gold is not None else []) + list(noise)
        order = list(range(len(paragraphs)))
        random.Random(seed).shuffle(order)
        passages = []
        for rank, index in enumerate(order):
            paragraph = paragraphs[index]
            passages.append(
                Passage(
                    chunk_id=f"{paragraph.key}#0",
                    document_id=paragraph.key,
                    chunk_index=0,
                    text=paragraph.context,
                    language=language,
                    title=paragraph.title,
                    score=0.9 - 0.1 * rank,  # the drawn order becomes the relevance order
                )
            )
        return assemble_context(passages, budget_tokens=self.budget_tokens, count_tokens=self.count_tokens)


# ---------------------------------------------------------------------------------------------
# Running the conditions


@dataclasses.dataclass
class MirageResult:
    """One question's answers and verdicts per condition."""

    item: MirageItem
    answers: dict[str, str] = dataclasses.field(default_factory=dict)
    abstained: dict[str, bool] = dataclasses.field(default_factory=dict)
    noise_used: dict[str, int] = dataclasses.field(default_factory=dict)
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    errors: dict[str, str] = dataclasses.field(default_factory=dict)

    def correct(self, condition: str, matcher: str = "contains") -> bool:
        q = self.item.question
        return bool(ANSWER_MATCHERS[matcher](self.answers.get(condition, ""), q.answers, self.item.language))

    def to_dict(self) -> dict[str, Any]:
        q = self.item.question
        return {
            "question_id": q.id,
            "language": self.item.language,
            "question": q.text,
            "gold_answers": list(q.answers),
            "gold_paragraph": self.item.gold.key,
            "noise_paragraphs": [p.key for p in self.item.noise],
            "answers": {c: a[:ANSWER_CHARS] for c, a in self.answers.items()},
            "correct": {c: self.correct(c) for c in self.answers},
            "abstained": dict(self.abstained),
            "noise_used": dict(self.noise_used),
            "errors": dict(self.errors),
        }


class TextGenerator(Protocol):
    """What :func:`run_mirage` needs of the generator: :class:`~babelrag.generation.client.
    TritonGenerator`'s ``generate`` (keyword arguments ``max_tokens``, ``temperature``, ``stop``,
    ``language``, ``timeout_s``), returning an object with the answer as ``text``."""

    async def generate(self, prompt: str, **kwargs: Any) -> Any: ...


async def run_mirage(
    items: Sequence[MirageItem],
    generator: TextGenerator,
    kit: PromptKit,
    *,
    max_tokens: int = 32,
    concurrency: int = 2,
    timeout_s: float = 600.0,
    rag_answers: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    conditions: Sequence[str] = CONDITIONS,
) -> list[MirageResult]:
    """Answer every item under ``conditions`` (default: all); ``rag_answers`` (question id -> the
    gateway's Ask answer) adds the ``rag`` condition without generating again."""
    unknown = set(conditions) - set(CONDITIONS)
    if unknown:
        raise ValueError(f"unknown MIRAGE condition(s): {', '.join(sorted(unknown))}")
    semaphore = asyncio.Semaphore(concurrency)
    results = [MirageResult(item) for item in items]
    report = progress or (lambda line: None)
    done = 0

    async def generate(result: MirageResult, condition: str) -> None:
        item = result.item
        seed = zlib.crc32(f"{item.question.id}/{condition}".encode())
        not_in_sources, whole_answer = "", str  # closed book: the answer is what the model wrote
        if condition == "base":
            prompt, stop = kit.closed_book(item.question.text, item.language)
        else:
            gold = item.gold if condition in ("oracle", "mixed") else None
            noise = item.noise if condition in ("mixed", "noise") else ()
            built, used = kit.with_sources(item.question.text, item.language, gold, noise, seed)
            prompt, stop, not_in_sources, whole_answer = built.text, built.stop, built.not_in_sources, built.answer
            result.noise_used[condition] = used
        async with semaphore:
            started = time.perf_counter()
            try:
                completion = await generator.generate(
                    prompt, max_tokens=max_tokens, temperature=0.0, stop=stop, language=item.language, timeout_s=timeout_s
                )
            except Exception as error:  # noqa: BLE001 - recorded per condition; the run goes on
                result.errors[condition] = f"{type(error).__name__}: {error}"
                result.answers[condition] = ""
                return
            finally:
                result.seconds[condition] = time.perf_counter() - started
        result.answers[condition] = whole_answer(completion.text)  # as the gateway's Ask would answer
        if not_in_sources:
            result.abstained[condition] = normalize_answer(not_in_sources, item.language) in normalize_answer(
                completion.text, item.language
            )

    async def one(result: MirageResult) -> None:
        nonlocal done
        for condition in conditions:
            await generate(result, condition)
        if rag_answers is not None and result.item.question.id in rag_answers:
            result.answers["rag"] = rag_answers[result.item.question.id]
        done += 1
        report(f"[mirage] {done}/{len(results)} questions answered under {len(conditions)} conditions")

    await asyncio.gather(*(one(r) for r in results))
    return results


def summarize_mirage(results: Sequence[MirageResult]) -> dict[str, Any]:
    """MIRAGE metrics (per matcher; with mixed = gold+noise and, if present, mixed = rag),
    accuracy per condition, and the noise-only extras."""
    usable = [r for r in results if not any(c in r.errors for c in ("base", "oracle", "mixed"))]
    out: dict[str, Any] = {"questions": len(results), "failed": len(results) - len(usable)}
    for matcher in ANSWER_MATCHERS:
        out[matcher] = mirage_scores([(r.correct("base", matcher), r.correct("oracle", matcher), r.correct("mixed", matcher)) for r in usable])
        with_rag = [r for r in usable if "rag" in r.answers]
        if with_rag:
            out[f"{matcher}_rag"] = mirage_scores(
                [(r.correct("base", matcher), r.correct("oracle", matcher), r.correct("rag", matcher)) for r in with_rag]
            )
    conditions = [*CONDITIONS, *(["rag"] if any("rag" in r.answers for r in usable) else [])]
    out["accuracy"] = {
        condition: {
            matcher: (sum(r.correct(condition, matcher) for r in usable if condition in r.answers) / max(1, sum(condition in r.answers for r in usable)))
            for matcher in ANSWER_MATCHERS
        }
        for condition in conditions
    }
    noise_only = [r for r in usable if "noise" in r.answers and "noise" not in r.errors]
    out["noise_only_accuracy"] = sum(r.correct("noise") for r in noise_only) / len(noise_only) if noise_only else 0.0
    out["noise_only_abstention"] = sum(r.abstained.get("noise", False) for r in noise_only) / len(noise_only) if noise_only else 0.0
    out["oracle_abstention"] = sum(r.abstained.get("oracle", False) for r in usable) / len(usable) if usable else 0.0
    mixed_noise = [r.noise_used.get("mixed", 0) for r in usable]
    out["mean_noise_passages_in_mixed"] = sum(mixed_noise) / len(mixed_noise) if mixed_noise else 0.0
    seconds = [s for r in results for s in r.seconds.values()]
    out["seconds_per_generation"] = sum(seconds) / len(seconds) if seconds else 0.0
    return out
