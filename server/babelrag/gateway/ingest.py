"""Ingestion: items (documents or images) -> parsed, chunked, embedded, durably stored chunks.

Text:  parse -> language-aware chunks (token budget from the E5 tokenizer, overlap) -> exact
       duplicates dropped -> language per chunk -> E5 "passage:" vectors -> upsert.
Image: decode check + CLIP image vector (Triton) -> caption's E5 and CLIP-text vectors -> upsert.

Items are ingested in groups (:meth:`IngestPipeline.ingest_group`; the Ingest servicer groups
consecutive items of a stream): the texts of a group are embedded in shared Triton batches and its
documents written with one store upsert, i.e. one commit instead of one per document (a LanceDB
commit with fsync costs about 100 ms). Each item still succeeds or fails on its own.

Passage vectors are remembered by text (``passage_cache_size``): re-ingesting unchanged content
(a folder synced again, the same paragraphs in another tenant) costs no embedding. Like the query
cache it is shared by tenants: the vector depends only on the model and the text.

Quotas are reserved for the net change before the write and given back if the write fails, so a
tenant is never over quota and never half-written: the store writes a document all-or-nothing,
and re-ingesting a document id replaces the previous version (idempotent chunk ids).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import numpy as np

from babelrag.control.errors import QuotaExceeded
from babelrag.gateway.caches import LruCache, digest
from babelrag.gateway.errors import InvalidRequest, PayloadTooLarge
from babelrag.gateway.metrics import StageClock
from babelrag.gateway.runtime import Runtime
from babelrag.store.types import Chunk, ItemError, Modality, Source
from babelrag.triton.errors import InferenceRejected
from babelrag.text import chunking, parsing
from babelrag.text.langid import UNKNOWN, is_valid_language_code

#: Texts per E5 request of an ingest group. A group's requests go one after another, so a request
#: queues behind at most one of its own group's (plus other callers'), never behind the whole
#: group: on a loaded 2-core machine (about 7 passages/s) four streams with 32-item groups sent
#: all at once made requests wait past the Triton deadline (30 s).
EMBED_REQUEST_TEXTS = 16
IMAGE_MIME_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
_DOCUMENT_ID_RE = re.compile(r"^[\w.\-:/@+ ]{1,256}$", re.UNICODE)
_UNSAFE_ID_CHARS = re.compile(r"[^\w.\-:/@+ ]", re.UNICODE)


@dataclasses.dataclass
class IngestItem:
    """One item as received: its header fields and its complete content."""

    index: int
    content: bytes
    document_id: str = ""
    filename: str = ""
    mime_type: str = ""
    title: str = ""
    uri: str = ""
    language: str = ""
    tags: tuple[str, ...] = ()
    valid_at: datetime | None = None
    caption: str = ""


@dataclasses.dataclass
class IngestOutcome:
    document_id: str
    modality: Modality
    mime_type: str
    language: str
    chunks: int
    duplicate_chunks: int
    bytes: int
    timings: dict[str, float]


def derive_document_id(item: IngestItem) -> str:
    """The client's id (validated as given), else one derived from the file name or the content."""
    if item.document_id:
        document_id = item.document_id.strip()
    elif item.filename:
        name = item.filename.strip().replace("\\", "/").rsplit("/", 1)[-1]
        document_id = _UNSAFE_ID_CHARS.sub("_", name)[:256].strip() or "sha256:" + hashlib.sha256(item.content).hexdigest()[:32]
    else:
        document_id = "sha256:" + hashlib.sha256(item.content).hexdigest()[:32]
    if not _DOCUMENT_ID_RE.match(document_id):
        raise InvalidRequest(
            f"invalid document id {document_id[:80]!r}: 1-256 letters, digits, spaces or . _ - : / @ +"
        )
    return document_id


@dataclasses.dataclass
class _Document:
    """One item on its way to the store: its chunks (text chunks get their E5 vectors from the
    group's shared embedding), and what its outcome reports."""

    item: IngestItem
    document_id: str
    chunks: list[Chunk]
    duplicates: int
    clock: StageClock
    needs_text_vectors: bool = False

    @property
    def size(self) -> int:
        return len(self.item.content)


@dataclasses.dataclass(frozen=True)
class _Reservation:
    """The quota taken for one document's net change (new minus its previous footprint)."""

    chunks: int
    size: int
    documents: int


Result = IngestOutcome | Exception


class IngestPipeline:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        settings = runtime.settings
        self.chunking = chunking.ChunkingConfig(
            target_tokens=settings.chunk_tokens,
            max_tokens=max(settings.chunk_tokens, 480),
            overlap_tokens=settings.chunk_overlap_tokens,
        )
        self._passages: LruCache[np.ndarray] = LruCache(settings.passage_cache_size, "passage_embedding", runtime.metrics)

    async def ingest(self, tenant: str, item: IngestItem) -> IngestOutcome:
        """Ingest one item; raises its error."""
        result = (await self.ingest_group(tenant, [item]))[0]
        if isinstance(result, Exception):
            raise result
        return result

    async def ingest_group(self, tenant: str, items: Sequence[IngestItem]) -> list[Result]:
        """Ingest ``items`` together: one result per item, in order, each an outcome or the
        exception that failed that item alone. Returns once every stored item is durable.

        Parsing runs per item; the E5 passage vectors of all text items are requested together
        (the client splits them into Triton batches); the documents are written with one store
        upsert per wave of distinct document ids (a document id given twice in a group is written
        twice, in order, so the later version wins as it would one item at a time).
        """
        group_clock = StageClock(self.rt.metrics)
        results: list[Result | None] = list(await asyncio.gather(*(_settle(self._prepare(item)) for item in items)))
        documents = {i: r for i, r in enumerate(results) if isinstance(r, _Document)}
        if any(d.needs_text_vectors for d in documents.values()):
            with group_clock.stage("embed"):
                failures = await self._embed_texts([(i, d) for i, d in documents.items() if d.needs_text_vectors])
            for i, error in failures.items():
                results[i] = error
                del documents[i]
        with group_clock.stage("store"):
            for wave in _waves(list(documents.items())):
                for i, error in (await self._write_wave(tenant, wave)).items():
                    results[i] = error
                    del documents[i]
        for i, document in documents.items():
            results[i] = self._outcome(document, group_clock)
        return results  # type: ignore[return-value]

    # -- preparing one item --------------------------------------------------------------------
    async def _prepare(self, item: IngestItem) -> _Document:
        clock = StageClock(self.rt.metrics)
        if len(item.content) > self.rt.settings.max_item_bytes:
            raise PayloadTooLarge(
                f"item is {len(item.content)} bytes, over the limit of {self.rt.settings.max_item_bytes}"
            )
        if not item.content:
            raise InvalidRequest("item has no content")
        if item.language and not is_valid_language_code(item.language):
            raise InvalidRequest(f"invalid language code {item.language!r}: use an ISO 639-1 code such as 'de'")
        document_id = derive_document_id(item)
        mime_type = (item.mime_type or parsing.sniff_mime(item.content, item.filename) or "").lower()
        if mime_type in IMAGE_MIME_TYPES:
            return _Document(item, document_id, await self._image_chunks(document_id, mime_type, item, clock), 0, clock)
        chunks, duplicates = await self._text_chunks(document_id, mime_type, item, clock)
        return _Document(item, document_id, chunks, duplicates, clock, needs_text_vectors=True)

    async def _text_chunks(self, document_id: str, mime_type: str, item: IngestItem, clock: StageClock) -> tuple[list[Chunk], int]:
        """The document's chunks, without vectors yet (see :meth:`_embed_texts`)."""
        with clock.stage("parse"):
            parsed = await asyncio.to_thread(parsing.parse_document, item.content, mime_type or None, item.filename or None)
        with clock.stage("chunk"):
            pieces, duplicates = await asyncio.to_thread(self._chunk, parsed.text)
        if not pieces:
            raise InvalidRequest("the document contains no text")
        texts = [piece.text for piece in pieces]
        with clock.stage("detect"):
            languages = [item.language] * len(texts) if item.language else [d.code for d in await self.rt.detect(texts)]
        source = Source(title=item.title or parsed.title or item.filename or document_id, uri=item.uri, mime_type=parsed.mime_type)
        return [
            Chunk(
                document_id=document_id,
                chunk_index=piece.index,
                text=piece.text,
                language=language,
                modality=Modality.TEXT,
                source=source,
                valid_at=item.valid_at,
                tags=item.tags,
            )
            for piece, language in zip(pieces, languages)
        ], duplicates

    def _chunk(self, text: str) -> tuple[list[chunking.Chunk], int]:
        return chunking.chunk_and_dedupe(text, self.chunking, count_tokens=self.rt.count_tokens)

    async def _image_chunks(self, document_id: str, mime_type: str, item: IngestItem, clock: StageClock) -> list[Chunk]:
        caption = item.caption.strip()
        with clock.stage("embed"):
            image_vector = (await self.rt.encoders.embed_images([item.content]))[0]
            vectors: dict[str, np.ndarray] = {"image": image_vector}
            if caption:
                text_vector, clip_vector = await asyncio.gather(
                    self.rt.encoders.embed_texts([caption], kind="passage"), self.rt.encoders.embed_clip_texts([caption])
                )
                vectors.update(text=text_vector[0], clip_text=clip_vector[0])
        with clock.stage("detect"):
            language = item.language or ((await self.rt.detect([caption]))[0].code if caption else UNKNOWN)
        source = Source(title=item.title or item.filename or document_id, uri=item.uri, mime_type=mime_type)
        return [
            Chunk(
                document_id=document_id,
                chunk_index=0,
                text=caption,
                language=language,
                modality=Modality.IMAGE,
                source=source,
                valid_at=item.valid_at,
                tags=item.tags,
                vectors=vectors,
            )
        ]

    # -- the group's shared steps --------------------------------------------------------------
    async def _embed_texts(self, documents: list[tuple[int, _Document]]) -> dict[int, Exception]:
        """Give every chunk of ``documents`` its E5 passage vector, all texts in one request set.

        If Triton rejects the shared request (one bad input), each document is embedded on its
        own so that only the bad one fails; returns {position: error} of the documents that did.
        """

        async def embed(group: list[tuple[int, _Document]]) -> None:
            vectors = iter(await self._passage_vectors([chunk.text for _, document in group for chunk in document.chunks]))
            for _, document in group:
                document.chunks = [dataclasses.replace(c, vectors={"text": next(vectors)}) for c in document.chunks]

        try:
            await embed(documents)
            return {}
        except InferenceRejected:
            if len(documents) == 1:
                raise
        outcomes = await asyncio.gather(*(_settle(embed([entry])) for entry in documents))
        return {i: error for (i, _), error in zip(documents, outcomes) if isinstance(error, Exception)}

    async def _passage_vectors(self, texts: list[str]) -> list[np.ndarray]:
        """E5 passage vectors of ``texts``: remembered ones from the cache, the others from Triton
        in requests of :data:`EMBED_REQUEST_TEXTS`, one after another (see there)."""
        keys = [digest("passage", text) for text in texts]
        vectors = [self._passages.get(key) for key in keys]
        missing = [i for i, vector in enumerate(vectors) if vector is None]
        for start in range(0, len(missing), EMBED_REQUEST_TEXTS):
            part = missing[start : start + EMBED_REQUEST_TEXTS]
            for i, vector in zip(part, await self.rt.encoders.embed_texts([texts[i] for i in part], kind="passage")):
                vectors[i] = vector
                self._passages.put(keys[i], vector)
        return vectors  # type: ignore[return-value]

    async def _write_wave(self, tenant: str, wave: list[tuple[int, _Document]]) -> dict[int, Exception]:
        """Reserve quota for each document's net change, write the documents with one upsert,
        give back the reservations of those not written; {position: error} of the failed ones."""
        footprints = await self.rt.document_footprints(tenant, [d.document_id for _, d in wave])
        reservations = {
            i: _Reservation(
                len(d.chunks) - footprints[d.document_id][0],
                d.size - footprints[d.document_id][1],
                0 if footprints[d.document_id][0] else 1,
            )
            for i, d in wave
        }
        failed = await self._reserve(tenant, reservations)
        reserved = [(i, d) for i, d in wave if i not in failed]
        try:
            failed.update(await self._upsert(tenant, reserved))
        except BaseException:
            await self._release(tenant, [reservations[i] for i, _ in reserved])
            raise
        await self._release(tenant, [reservations[i] for i, _ in reserved if i in failed])
        written = [(d.document_id, len(d.chunks), d.size) for i, d in reserved if i not in failed]
        if written:
            await self.rt.record_writes(tenant, written)
        return failed

    async def _reserve(self, tenant: str, reservations: dict[int, _Reservation]) -> dict[int, Exception]:
        """Reserve all at once; if that is refused, one at a time in order, so that the documents
        that fit are still taken, as they would be item by item. {position: error} of the refused."""
        if not reservations:
            return {}
        total = _Reservation(*(sum(r) for r in zip(*(dataclasses.astuple(r) for r in reservations.values()))))
        try:
            await self.rt.reserve_storage(tenant, total.chunks, total.size, total.documents)
            return {}
        except QuotaExceeded:
            if len(reservations) == 1:
                raise
        failed: dict[int, Exception] = {}
        for i, r in reservations.items():
            try:
                await self.rt.reserve_storage(tenant, r.chunks, r.size, r.documents)
            except Exception as exc:  # noqa: BLE001 - this document's own error
                failed[i] = exc
        return failed

    async def _release(self, tenant: str, reservations: list[_Reservation]) -> None:
        if reservations:
            await self.rt.release_storage(
                tenant, sum(r.chunks for r in reservations), sum(r.size for r in reservations), sum(r.documents for r in reservations)
            )

    async def _upsert(self, tenant: str, documents: list[tuple[int, _Document]]) -> dict[int, Exception]:
        """One store upsert of every chunk of ``documents``; {position: error} of those not stored.

        The store rejects invalid documents on their own; should the whole write fail, each
        document is written alone so that only the one the store cannot take fails.
        """
        if not documents:
            return {}
        try:
            result = await self.rt.store.upsert(tenant, [c for _, d in documents for c in d.chunks])
        except Exception:
            if len(documents) == 1:
                raise
            failed: dict[int, Exception] = {}
            for entry in documents:
                try:
                    failed.update(await self._upsert(tenant, [entry]))
                except Exception as exc:  # noqa: BLE001 - this document's own error
                    failed[entry[0]] = exc
            return failed
        errors: dict[str, list[ItemError]] = {}
        for error in result.errors:
            errors.setdefault(error.document_id, []).append(error)
        return {i: _not_stored(d.document_id, errors[d.document_id]) for i, d in documents if d.document_id in errors}

    def _outcome(self, document: _Document, group_clock: StageClock) -> IngestOutcome:
        chunks = document.chunks
        self.rt.metrics.ingested_chunks.inc(len(chunks))
        languages = [c.language for c in chunks if c.language != UNKNOWN]
        timings = dict(document.clock.ms)
        for stage, ms in group_clock.ms.items():  # the group's shared stages took this long for each of its items
            timings[stage] = timings.get(stage, 0.0) + ms
        return IngestOutcome(
            document_id=document.document_id,
            modality=chunks[0].modality,
            mime_type=chunks[0].source.mime_type,
            language=max(set(languages), key=languages.count) if languages else UNKNOWN,
            chunks=len(chunks),
            duplicate_chunks=document.duplicates,
            bytes=document.size,
            timings=timings,
        )


def _waves(documents: list[tuple[int, _Document]]) -> list[list[tuple[int, _Document]]]:
    """Consecutive runs of ``documents`` in which no document id repeats (a repeat starts a new run)."""
    waves: list[list[tuple[int, _Document]]] = []
    seen: set[str] = set()
    for entry in documents:
        if not waves or entry[1].document_id in seen:
            waves.append([])
            seen = set()
        waves[-1].append(entry)
        seen.add(entry[1].document_id)
    return waves


def _not_stored(document_id: str, errors: list[ItemError]) -> InvalidRequest:
    details = "; ".join(f"chunk {e.chunk_index}: {e.message}" if e.chunk_index is not None else e.message for e in errors[:3])
    return InvalidRequest(f"document {document_id!r} was not stored: {details}")


async def _settle(awaitable: Awaitable) -> object:
    """The awaitable's result, or the Exception it raised (cancellation still propagates)."""
    try:
        return await awaitable
    except Exception as exc:  # noqa: BLE001 - handed back as that item's result
        return exc


ProgressCallback = Callable[[int, IngestOutcome | Exception], None]
