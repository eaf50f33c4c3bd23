"""The Ask pipeline: detect -> retrieve -> rerank -> assemble -> prompt -> generate (streamed) -> check.

Yields :class:`Delta` events while the generator streams, then one :class:`Final`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator

from babelrag.gateway.errors import InvalidRequest, Unsupported
from babelrag.logs import request_id_var
from babelrag.gateway.metrics import StageClock
from babelrag.gateway.retrieval import RetrievalQuery, Retriever
from babelrag.gateway.runtime import Runtime
from babelrag.rag.answer_language import check_answer_language
from babelrag.rag.assembly import assemble_context
from babelrag.rag.citations import extract_citation_numbers
from babelrag.rag.passages import Passage
from babelrag.rag.prompting import build_prompt
from babelrag.generation.client import TextDelta
from babelrag.store.filters import SearchFilter
from babelrag.store.types import SearchHit, SearchMode
from babelrag.text.langid import is_valid_language_code, language_name

MAX_TOP_K = 50
MAX_ANSWER_TOKENS = 1024
#: Context assembly with deduplication off (setting ``context_dedupe = false``): only exact copies
#: count as duplicates and the selection does not weigh redundancy (no MMR diversity).
NO_DEDUPE = {"near_duplicate_threshold": 1.0, "near_duplicate_cosine": 1.0, "diversity": 0.0}


def _request_id() -> str | None:
    rid = request_id_var.get()
    return None if rid in ("", "-") else rid


@dataclasses.dataclass(frozen=True)
class AskQuery:
    question: str
    images: tuple[bytes, ...] = ()
    answer_language: str = ""
    top_k: int = 8
    alpha: float = 0.7
    mode: SearchMode = SearchMode.HYBRID
    filters: SearchFilter | None = None
    max_tokens: int = 256
    temperature: float = 0.0


@dataclasses.dataclass(frozen=True)
class Delta:
    text: str


@dataclasses.dataclass(frozen=True)
class Final:
    answer: str
    citations: list[tuple[int, Passage]]
    context: list[tuple[int, Passage]]
    question_language: str
    question_language_confidence: float
    answer_language: str
    detected_answer_language: str
    answer_language_ok: bool
    timings_ms: dict[str, float]
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    no_answer_in_sources: bool
    model: str
    images_seen: int


def passage_from_hit(hit: SearchHit) -> Passage:
    chunk = hit.chunk
    vector = chunk.vectors.get("text") if chunk.vectors else None
    return Passage(
        chunk_id=hit.id,
        document_id=chunk.document_id,
        chunk_index=chunk.chunk_index,
        text=chunk.text,
        language=chunk.language,
        modality=chunk.modality.value,
        title=chunk.source.title,
        uri=chunk.source.uri,
        mime_type=chunk.source.mime_type,
        score=float(hit.score),
        valid_at=chunk.valid_at,
        created_at=chunk.created_at,
        vector=vector,
        tags=tuple(chunk.tags),
    )


class AskPipeline:
    def __init__(self, runtime: Runtime, retriever: Retriever) -> None:
        self.rt = runtime
        self.retriever = retriever

    def validate(self, query: AskQuery) -> None:
        settings = self.rt.settings
        if not query.question.strip():
            raise InvalidRequest("the question is empty")
        if len(query.question) > settings.max_question_chars:
            raise InvalidRequest(
                f"the question is {len(query.question)} characters long; the limit is {settings.max_question_chars}"
            )
        if query.answer_language and not is_valid_language_code(query.answer_language):
            raise InvalidRequest(f"invalid answer language {query.answer_language!r}: use an ISO 639-1 code such as 'de'")
        if len(query.images) > settings.max_images:
            raise InvalidRequest(f"{len(query.images)} images given; at most {settings.max_images} are accepted")
        for index, image in enumerate(query.images):
            if len(image) > settings.max_image_bytes:
                raise InvalidRequest(f"image {index} is {len(image)} bytes; the limit is {settings.max_image_bytes}")
        if not 1 <= query.top_k <= MAX_TOP_K:
            raise InvalidRequest(f"top_k must be between 1 and {MAX_TOP_K}, got {query.top_k}")
        if not 1 <= query.max_tokens <= MAX_ANSWER_TOKENS:
            raise InvalidRequest(f"max_tokens must be between 1 and {MAX_ANSWER_TOKENS}, got {query.max_tokens}")
        if not 0.0 <= query.temperature <= 2.0:
            raise InvalidRequest(f"temperature must be between 0 and 2, got {query.temperature}")

    async def run(self, tenant: str, query: AskQuery, *, deadline_s: float | None = None) -> AsyncIterator[Delta | Final]:
        self.validate(query)
        if self.rt.generator is None:
            raise Unsupported("this deployment has no generator model: Ask is not available (Search works)")
        clock = StageClock(self.rt.metrics)
        with clock.stage("detect"):
            detected = (await self.rt.detect([query.question]))[0]
        answer_language = (query.answer_language or detected.code).lower()
        if answer_language == "und":
            answer_language = "en"

        hits, _ = await self.retriever.retrieve(
            tenant,
            RetrievalQuery(query.question, query.images, query.mode, query.top_k, 0, query.alpha, query.filters),
            clock,
        )
        with clock.stage("rerank"):
            ranked = await self.rt.reranker.rerank(query.question, [passage_from_hit(hit) for hit in hits])
        with clock.stage("assemble"):
            context = assemble_context(
                ranked,
                budget_tokens=self.rt.settings.context_budget_for(instruction_tuned=self.rt.generator_instruction_tuned),
                count_tokens=self.rt.count_tokens,
                min_relative_relevance=self.rt.settings.context_min_relevance,
                **({} if self.rt.settings.context_dedupe else NO_DEDUPE),
            )
        image_note = None
        if query.images and not self.rt.generator_sees_images:
            image_sources = [cp.number for cp in context.passages if cp.passage.modality == "image"]
            image_note = (
                "The user attached an image, which you cannot see"
                + (f"; the closest matching images in the sources are {', '.join(f'[{n}]' for n in image_sources)}." if image_sources else ".")
            )
        prompt = build_prompt(
            query.question,
            context,
            answer_language=answer_language,
            language_name=language_name(answer_language),
            image_note=image_note,
            instruction_tuned=self.rt.generator_instruction_tuned,
            opener=self.rt.settings.answer_opener,
        )

        pieces: list[str] = []
        if prompt.answer_prefix:  # the answer's opening, written into the prompt: the user sees it first
            yield Delta(prompt.answer_prefix)
        generation_started = time.perf_counter()
        finished = None
        images = list(query.images) if self.rt.generator_sees_images else []
        async with self.rt.generator.stream(
            prompt.text,
            images=images,
            max_tokens=query.max_tokens,
            temperature=query.temperature,
            stop=prompt.stop,
            language=answer_language,
            timeout_s=deadline_s,
            request_id=_request_id(),  # the same id in the gateway's and Triton's logs
        ) as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    if not pieces:
                        clock.record("first_token", time.perf_counter() - generation_started)
                    pieces.append(event.text)
                    self.rt.metrics.tokens_streamed.inc()
                    yield Delta(event.text)
                else:
                    finished = event
        clock.record("generate", time.perf_counter() - generation_started)

        answer = prompt.answer("".join(pieces))
        numbered = dict(prompt.sources)
        cited = extract_citation_numbers(answer, numbered.keys())
        check = check_answer_language(
            answer, answer_language, self.rt.detect_code, source_titles=[p.title for p in numbered.values() if p.title]
        )
        yield Final(
            answer=answer,
            citations=[(n, numbered[n]) for n in cited],
            context=sorted(numbered.items()),
            question_language=detected.code,
            question_language_confidence=detected.confidence,
            answer_language=answer_language,
            detected_answer_language=check.detected,
            answer_language_ok=check.ok,
            timings_ms=clock.ms,
            prompt_tokens=finished.prompt_tokens if finished else 0,
            completion_tokens=finished.completion_tokens if finished else len(pieces),
            finish_reason=finished.finish_reason if finished else "cancelled",
            no_answer_in_sources=not numbered,
            model=self.rt.generator_model,
            images_seen=len(images),
        )
