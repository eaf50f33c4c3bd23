"""Answer-language accuracy of Ask: does the gateway answer in the language it was asked in?

Each question is asked through the gateway's Ask (SDK ``ask(question, stream=False)``: its own
language detection, retrieval, context assembly, prompt, generation with answer-language control,
and its answer-language check) against the tenant holding the question's corpus. From the final
message:

``answer_language_accuracy``
    the share of answers whose detected language (``detected_answer_language``) is the question's
    language (the dataset's label, not the gateway's guess): what users see. The gateway's
    answer-language check (:func:`babelrag.rag.answer_language.check_answer_language`) decides
    from the script alone for scripts one language owns (Thai, Greek, Han) and only asks a
    detector for shared scripts; an answer with nothing to detect (digits, names) reports the
    expected language.
``answer_language_undetermined``
    the share whose language could not be told (nothing but digits, punctuation or names).
``answer_language_accuracy_determined``
    ``answer_language_accuracy`` among the answers whose language could be told: a bare "1889"
    answers a Spanish question as well as an English one, so the strict share above counts it
    as wrong and this one leaves it out.
``generated_language_accuracy``
    ``answer_language_accuracy`` of what the generator wrote, without the answer opener the
    gateway puts before it for base models ("Según las fuentes,"; :mod:`babelrag.rag.prompting`),
    judged by the same check (:func:`~babelrag.rag.answer_language.check_answer_language`,
    langdetect for shared scripts): does the model go on in the language it was started in? A
    bare number after the opener counts as undetermined, so as wrong, here too.
``answer_language_ok``
    the share the gateway itself marked ``answer_language_ok`` (not clearly another language).
``question_language_accuracy``
    the share of questions whose language the gateway detected correctly (it answers in the
    detected language unless told otherwise).
``gold_in_context``
    the share of answers whose numbered sources included a chunk of the gold paragraph.
``contains`` / ``em`` / ``f1``
    answer correctness against the SQuAD gold answers (:mod:`babelrag.evaluation.metrics`).
``context_passages`` / ``prompt_tokens`` / ``first_token_ms``
    numbered sources in the prompt, its length in generator tokens, the generator's time to the
    first answer token (means).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import grpc
from babelrag_client import AsyncClient, BabelRAGError

from babelrag.evaluation.metrics import match_answer
from babelrag.evaluation.squad import Question, SquadDataset
from babelrag.rag.answer_language import check_answer_language
from babelrag.rag.prompting import PHRASES

__all__ = ["AskRecord", "GeneratorUnavailable", "ask_questions", "summarize_answers"]

#: Characters of each answer kept in the report.
ANSWER_CHARS = 400


class GeneratorUnavailable(RuntimeError):
    """The gateway has no generator model (Ask is UNIMPLEMENTED there)."""


@dataclasses.dataclass(frozen=True)
class AskRecord:
    question_id: str
    language: str
    question: str
    gold_answers: tuple[str, ...]
    gold_document: str
    answer: str = ""
    question_language: str = ""
    answer_language: str = ""
    detected_answer_language: str = ""
    answer_language_ok: bool = False
    context_documents: tuple[str, ...] = ()
    context_passages: int = 0
    prompt_tokens: int = 0
    first_token_ms: float = 0.0
    finish_reason: str = ""
    completion_tokens: int = 0
    seconds: float = 0.0
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["answer"] = self.answer[:ANSWER_CHARS]
        return data


async def ask_questions(
    client: AsyncClient,
    dataset: SquadDataset,
    questions: Sequence[Question],
    *,
    max_tokens: int = 48,
    top_k: int | None = None,
    concurrency: int = 2,
    timeout: float = 600.0,
) -> list[AskRecord]:
    """Ask every question through the gateway; one record per question (errors recorded).

    Raises :class:`GeneratorUnavailable` when the gateway has no generator.
    """
    semaphore = asyncio.Semaphore(concurrency)

    async def one(question: Question) -> AskRecord:
        base = AskRecord(
            question_id=question.id,
            language=dataset.language,
            question=question.text,
            gold_answers=question.answers,
            gold_document=dataset.document_id(question.paragraph_key),
        )
        async with semaphore:
            started = time.perf_counter()
            try:
                answer = await client.ask(question.text, stream=False, max_tokens=max_tokens, top_k=top_k, timeout=timeout)
            except BabelRAGError as error:
                if error.code is grpc.StatusCode.UNIMPLEMENTED:
                    raise GeneratorUnavailable(str(error.message or error)) from None
                return dataclasses.replace(base, error=f"{type(error).__name__}: {error}", seconds=time.perf_counter() - started)
            seconds = time.perf_counter() - started
        return dataclasses.replace(
            base,
            answer=answer.text,
            question_language=answer.question_language,
            answer_language=answer.answer_language,
            detected_answer_language=answer.detected_answer_language,
            answer_language_ok=answer.answer_language_ok,
            context_documents=tuple(dict.fromkeys(c.document_id for c in answer.context)),
            context_passages=len(answer.context),
            prompt_tokens=answer.prompt_tokens,
            first_token_ms=float(answer.timings.get("first_token", 0.0)),
            finish_reason=answer.finish_reason,
            completion_tokens=answer.completion_tokens,
            seconds=seconds,
        )

    if not questions:
        return []
    first = await one(questions[0])  # fails fast (GeneratorUnavailable) before queueing the rest
    rest = await asyncio.gather(*(one(q) for q in questions[1:]))
    return [first, *rest]


def _share_of(records: Sequence[AskRecord], predicate) -> float:  # noqa: ANN001
    return sum(1 for r in records if predicate(r)) / len(records) if records else 0.0


def generated_language(record: AskRecord, detect) -> str:  # noqa: ANN001
    """The language of the generated part of ``record``'s answer (the opener taken off), or "und"."""
    phrases = PHRASES.get(record.language)
    generated = record.answer.lstrip()
    if phrases is not None and phrases.opener:
        generated = generated.removeprefix(phrases.opener)
    return check_answer_language(generated, record.language, detect).detected


def summarize_answers(records: Sequence[AskRecord], detect=None) -> dict[str, float]:  # noqa: ANN001
    """The shares described in the module docstring, over the records that did not fail.

    ``detect(text) -> (code, confidence)``: the detector for ``generated_language_accuracy``
    (default: the gateway's default detector).
    """
    if detect is None:
        from babelrag.text.langid import get_detector

        detector = get_detector()

        def detect(text: str) -> tuple[str, float]:
            result = detector.detect(text)
            return result.code, result.confidence

    done = [r for r in records if not r.error]
    n = len(done)

    def share(predicate) -> float:  # noqa: ANN001
        return sum(1 for r in done if predicate(r)) / n if n else 0.0

    summary = {
        "questions": float(len(records)),
        "failed": float(len(records) - n),
        "answer_language_accuracy": share(lambda r: r.detected_answer_language == r.language),
        "answer_language_ok": share(lambda r: r.answer_language_ok),
        "answer_language_undetermined": share(lambda r: r.detected_answer_language in ("", "und")),
        "answer_language_accuracy_determined": _share_of(
            [r for r in done if r.detected_answer_language not in ("", "und")], lambda r: r.detected_answer_language == r.language
        ),
        "generated_language_accuracy": share(lambda r: generated_language(r, detect) == r.language),
        "question_language_accuracy": share(lambda r: r.question_language == r.language),
        "gold_in_context": share(lambda r: r.gold_document in r.context_documents),
        "empty_answers": share(lambda r: not r.answer.strip()),
        "seconds_per_answer": sum(r.seconds for r in done) / n if n else 0.0,
        "context_passages": sum(r.context_passages for r in done) / n if n else 0.0,
        "prompt_tokens": sum(r.prompt_tokens for r in done) / n if n else 0.0,
        "first_token_ms": sum(r.first_token_ms for r in done) / n if n else 0.0,
    }
    for name in ("contains", "em", "f1"):
        summary[name] = (
            sum(match_answer(r.answer, r.gold_answers, r.language)[name] for r in done) / n if n else 0.0
        )
    return summary
