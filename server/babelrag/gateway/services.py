"""The data-plane gRPC servicers: thin translations between messages and the pipelines.

The caller's tenant comes only from :func:`babelrag.gateway.auth.current_call` (the API key);
errors are raised as domain exceptions and mapped to statuses by the interceptor.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator

import grpc

from babelrag.gateway import convert
from babelrag.gateway.ask import AskPipeline, AskQuery, Delta
from babelrag.gateway.auth import current_call
from babelrag.gateway.errors import InvalidRequest, PayloadTooLarge, status_for
from babelrag.gateway.ingest import IngestItem, IngestOutcome, IngestPipeline
from babelrag.gateway.ingest_groups import GroupQueue
from babelrag.gateway.metrics import StageClock
from babelrag.gateway.retrieval import RetrievalQuery, Retriever
from babelrag.gateway.runtime import Runtime
from babelrag.store.errors import InvalidArgument as StoreInvalidArgument
from babelrag.v1 import (
    ask_pb2,
    ask_pb2_grpc,
    common_pb2,
    documents_pb2,
    documents_pb2_grpc,
    ingest_pb2,
    ingest_pb2_grpc,
    search_pb2,
    search_pb2_grpc,
)

log = logging.getLogger("babelrag.gateway")


def _remaining(context: grpc.aio.ServicerContext) -> float | None:
    remaining = context.time_remaining()
    return None if remaining is None else max(0.05, remaining)


@dataclasses.dataclass
class _Received:
    """An item read off the stream, or the reason it was refused before ingestion (``error``)."""

    item: IngestItem
    error: Exception | None = None


class IngestService(ingest_pb2_grpc.IngestServiceServicer):
    """Reads items off the stream while earlier ones are ingested, and ingests them in groups
    (:mod:`babelrag.gateway.ingest_groups`); each item's result is sent, in order, once its
    group's store write is durable."""

    def __init__(self, runtime: Runtime, pipeline: IngestPipeline) -> None:
        self.rt = runtime
        self.pipeline = pipeline

    async def Ingest(self, request_iterator, context) -> AsyncIterator[ingest_pb2.IngestResponse]:  # noqa: N802, ANN001
        tenant = current_call().tenant
        settings = self.rt.settings
        queue: GroupQueue[_Received] = GroupQueue(
            max_items=settings.ingest_group_items,
            max_bytes=settings.ingest_group_bytes,
            max_wait_s=settings.ingest_group_wait_ms / 1000,
            size_of=lambda received: len(received.item.content),
        )
        reader = asyncio.create_task(self._read(request_iterator, queue))
        try:
            while group := await queue.next_group():
                for response in await self._ingest_group(tenant, group):
                    yield response
            await reader  # a broken stream (e.g. too many items) fails the call after the results sent
        finally:
            reader.cancel()

    async def _read(self, request_iterator, queue: GroupQueue[_Received]) -> None:  # noqa: ANN001
        """Assemble items from headers and data pieces; an oversized item is read through but not kept."""
        limit = self.rt.settings.max_item_bytes
        header: ingest_pb2.ItemHeader | None = None
        pieces: list[bytes] = []
        size, index, oversize = 0, -1, False

        def received() -> _Received:
            item = _item(index, header, b"".join(pieces))
            if oversize:
                return _Received(item, PayloadTooLarge(f"item is over the limit of {limit} bytes"))
            if header.size_bytes and size != header.size_bytes:  # e.g. the client's read failed part-way
                return _Received(item, InvalidRequest(f"received {size} bytes but the header declared {header.size_bytes}: item not stored"))
            return _Received(item)

        try:
            async for request in request_iterator:
                part = request.WhichOneof("part")
                if part == "header":
                    if header is not None:
                        await queue.put(received())
                    index += 1
                    if index >= self.rt.settings.max_ingest_items:
                        raise InvalidRequest(f"at most {self.rt.settings.max_ingest_items} items per Ingest call")
                    header, pieces = request.header, [request.header.content] if request.header.content else []
                    size = len(request.header.content)
                    oversize = size > limit or request.header.size_bytes > limit
                elif part == "data":
                    if header is None:
                        raise InvalidRequest("data sent before any item header")
                    size += len(request.data)
                    if size > limit:
                        oversize, pieces = True, []  # keep reading the item, but do not hold it
                    elif not oversize:
                        pieces.append(request.data)
                else:
                    raise InvalidRequest("empty IngestRequest: send a header or data")
            if header is not None:
                await queue.put(received())
        finally:
            await queue.end()

    async def _ingest_group(self, tenant: str, group: list[_Received]) -> list[ingest_pb2.IngestResponse]:
        accepted = [r.item for r in group if r.error is None]
        try:
            outcomes = iter(await self.pipeline.ingest_group(tenant, accepted) if accepted else ())
        except Exception as exc:  # noqa: BLE001 - e.g. the registry is down: every item of the group fails with it
            outcomes = iter([exc] * len(accepted))
        return [_failed(r.item, r.error) if r.error is not None else _response(r.item, next(outcomes)) for r in group]


def _response(item: IngestItem, outcome: IngestOutcome | Exception) -> ingest_pb2.IngestResponse:
    if isinstance(outcome, Exception):
        return _failed(item, outcome)
    return ingest_pb2.IngestResponse(
        index=item.index,
        document_id=outcome.document_id,
        filename=item.filename,
        status=ingest_pb2.INGEST_STATUS_STORED,
        chunks=outcome.chunks,
        duplicate_chunks=outcome.duplicate_chunks,
        modality=convert.modality(outcome.modality),
        language=outcome.language,
        mime_type=outcome.mime_type,
        bytes=outcome.bytes,
        timings=common_pb2.StageTimings(ms=outcome.timings),
    )


def _item(index: int, header: ingest_pb2.ItemHeader, content: bytes) -> IngestItem:
    return IngestItem(
        index=index,
        content=content,
        document_id=header.document_id,
        filename=header.filename,
        mime_type=header.mime_type,
        title=header.title,
        uri=header.uri,
        language=header.language.strip().lower(),
        tags=tuple(header.tags),
        valid_at=convert.timestamp_to_datetime(header.valid_at) if header.HasField("valid_at") else None,
        caption=header.caption,
    )


def _failed(item: IngestItem, exc: Exception) -> ingest_pb2.IngestResponse:
    mapped = status_for(exc)
    if mapped is None:
        log.exception("ingest of item %d failed unexpectedly", item.index)
        mapped = (grpc.StatusCode.INTERNAL, "internal error while ingesting this item")
    code, message = mapped
    return ingest_pb2.IngestResponse(
        index=item.index,
        document_id=item.document_id,
        filename=item.filename,
        status=ingest_pb2.INGEST_STATUS_FAILED,
        bytes=len(item.content),
        error=ingest_pb2.ItemError(code=code.name, message=message),
    )


class SearchService(search_pb2_grpc.SearchServiceServicer):
    def __init__(self, runtime: Runtime, retriever: Retriever) -> None:
        self.rt = runtime
        self.retriever = retriever

    async def Search(self, request: search_pb2.SearchRequest, context) -> search_pb2.SearchResponse:  # noqa: N802, ANN001
        tenant = current_call().tenant
        clock = StageClock(self.rt.metrics)
        settings = self.rt.settings
        if len(request.query) > settings.max_question_chars:
            raise InvalidRequest(f"the query is {len(request.query)} characters long; the limit is {settings.max_question_chars}")
        if len(request.images) > settings.max_images:
            raise InvalidRequest(f"{len(request.images)} images given; at most {settings.max_images} are accepted")
        query = RetrievalQuery(
            text=request.query,
            images=tuple(request.images),
            mode=convert.search_mode(request.mode),
            top_k=request.top_k or 10,
            offset=request.offset,
            alpha=request.alpha if request.HasField("alpha") else settings.alpha,
            filters=convert.filters(request.filters if request.HasField("filters") else None),
            include_vectors=False,  # the response carries none, and no reranker reads them
        )
        with clock.stage("detect"):
            language = (await self.rt.detect([request.query]))[0].code if request.query.strip() else "und"
        hits, cached = await self.retriever.retrieve(tenant, query, clock)
        rerank_scores: dict[str, float] = {}
        if not request.HasField("rerank") or request.rerank:
            from babelrag.gateway.ask import passage_from_hit

            with clock.stage("rerank"):
                ranked = await self.rt.reranker.rerank(request.query, [passage_from_hit(h) for h in hits])
            order = {p.chunk_id: i for i, p in enumerate(ranked)}
            rerank_scores = {p.chunk_id: p.rerank_score for p in ranked if p.rerank_score is not None}
            hits = tuple(sorted(hits, key=lambda h: order.get(h.id, len(order))))
        return search_pb2.SearchResponse(
            hits=[convert.hit(h, rerank_scores.get(h.id)) for h in hits],
            query_language=language,
            timings=common_pb2.StageTimings(ms=clock.ms),
            cached=cached,
        )


class AskService(ask_pb2_grpc.AskServiceServicer):
    def __init__(self, runtime: Runtime, pipeline: AskPipeline) -> None:
        self.rt = runtime
        self.pipeline = pipeline

    async def Ask(self, request: ask_pb2.AskRequest, context) -> AsyncIterator[ask_pb2.AskResponse]:  # noqa: N802, ANN001
        tenant = current_call().tenant
        options = request.options
        settings = self.rt.settings
        query = AskQuery(
            question=request.question,
            images=tuple(request.images),
            answer_language=request.answer_language.strip().lower(),
            top_k=options.top_k or settings.top_k,
            alpha=options.alpha if options.HasField("alpha") else settings.alpha,
            mode=convert.search_mode(options.mode),
            filters=convert.filters(options.filters if options.HasField("filters") else None),
            max_tokens=options.max_tokens or settings.max_tokens,
            temperature=options.temperature if options.HasField("temperature") else 0.0,
        )
        async for event in self.pipeline.run(tenant, query, deadline_s=_remaining(context)):
            if isinstance(event, Delta):
                yield ask_pb2.AskResponse(delta=ask_pb2.AnswerDelta(text=event.text))
                continue
            yield ask_pb2.AskResponse(
                final=ask_pb2.AnswerFinal(
                    answer=event.answer,
                    citations=[convert.citation(n, p) for n, p in event.citations],
                    context=[convert.citation(n, p) for n, p in event.context],
                    question_language=event.question_language,
                    question_language_confidence=event.question_language_confidence,
                    answer_language=event.answer_language,
                    detected_answer_language=event.detected_answer_language,
                    answer_language_ok=event.answer_language_ok,
                    timings=common_pb2.StageTimings(ms=event.timings_ms),
                    prompt_tokens=event.prompt_tokens,
                    completion_tokens=event.completion_tokens,
                    finish_reason=event.finish_reason,
                    no_answer_in_sources=event.no_answer_in_sources,
                    model=event.model,
                    images_seen=event.images_seen,
                )
            )


class DocumentService(documents_pb2_grpc.DocumentServiceServicer):
    MAX_PAGE = 500

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def ListDocuments(self, request, context) -> documents_pb2.ListDocumentsResponse:  # noqa: N802, ANN001
        tenant = current_call().tenant
        size = request.page_size or 50
        if not 1 <= size <= self.MAX_PAGE:
            raise InvalidRequest(f"page_size must be between 1 and {self.MAX_PAGE}")
        page = await self.rt.store.list_documents(tenant, limit=size, after=request.page_token or None)
        footprints = {d.document_id: await self.rt.document_footprint(tenant, d.document_id) for d in page.documents}
        return documents_pb2.ListDocumentsResponse(
            documents=[
                documents_pb2.DocumentInfo(
                    document_id=d.document_id,
                    source=convert.source(d.source.title, d.source.uri, d.source.mime_type),
                    modality=common_pb2.MODALITY_IMAGE if d.source.mime_type.startswith("image/") else common_pb2.MODALITY_TEXT,
                    language=d.language,
                    chunks=d.chunk_count,
                    tags=list(d.tags),
                    created_at=convert.datetime_to_timestamp(d.created_at) if d.created_at else None,
                    bytes=footprints[d.document_id][1],
                )
                for d in page.documents
            ],
            next_page_token=page.next_after or "",
            total=page.total if page.total is not None else 0,
        )

    async def DeleteDocument(self, request, context) -> documents_pb2.DeleteDocumentResponse:  # noqa: N802, ANN001
        tenant = current_call().tenant
        if not request.document_id.strip():
            raise InvalidRequest("document_id is required")
        try:
            deleted = await self.rt.store.delete_documents(tenant, [request.document_id])
        except StoreInvalidArgument as exc:
            raise InvalidRequest(str(exc)) from None
        if deleted == 0:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"document {request.document_id!r} not found")
        await self.rt.record_delete(tenant, request.document_id)
        return documents_pb2.DeleteDocumentResponse(chunks_deleted=deleted)
