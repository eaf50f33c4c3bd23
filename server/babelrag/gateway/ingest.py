"""Ingestion: one item (document or image) -> parsed, chunked, embedded, durably stored chunks.

Text:  parse -> language-aware chunks (token budget from the E5 tokenizer, overlap) -> exact
       duplicates dropped -> language per chunk -> E5 "passage:" vectors -> upsert.
Image: decode check + CLIP image vector (Triton) -> caption's E5 and CLIP-text vectors -> upsert.

Quotas are reserved for the net change before the write and given back if the write fails, so a
tenant is never over quota and never half-written: the store writes a document all-or-nothing,
and re-ingesting a document id replaces the previous version (idempotent chunk ids).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import re
from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np

from babelrag.gateway.errors import InvalidRequest, PayloadTooLarge
from babelrag.gateway.metrics import StageClock
from babelrag.gateway.runtime import Runtime
from babelrag.store.types import Chunk, Modality, Source, UpsertResult
from babelrag.text import chunking, parsing
from babelrag.text.langid import UNKNOWN, is_valid_language_code

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


class IngestPipeline:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        settings = runtime.settings
        self.chunking = chunking.ChunkingConfig(
            target_tokens=settings.chunk_tokens,
            max_tokens=max(settings.chunk_tokens, 480),
            overlap_tokens=settings.chunk_overlap_tokens,
        )

    async def ingest(self, tenant: str, item: IngestItem) -> IngestOutcome:
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
            chunks, duplicates = await self._image_chunks(document_id, mime_type, item, clock), 0
        else:
            chunks, duplicates = await self._text_chunks(document_id, mime_type, item, clock)
        with clock.stage("store"):
            await self._write(tenant, document_id, chunks, len(item.content))
        self.rt.metrics.ingested_chunks.inc(len(chunks))
        languages = [c.language for c in chunks if c.language != UNKNOWN]
        return IngestOutcome(
            document_id=document_id,
            modality=chunks[0].modality,
            mime_type=chunks[0].source.mime_type,
            language=max(set(languages), key=languages.count) if languages else UNKNOWN,
            chunks=len(chunks),
            duplicate_chunks=duplicates,
            bytes=len(item.content),
            timings=clock.ms,
        )

    async def _text_chunks(self, document_id: str, mime_type: str, item: IngestItem, clock: StageClock) -> tuple[list[Chunk], int]:
        with clock.stage("parse"):
            parsed = await asyncio.to_thread(parsing.parse_document, item.content, mime_type or None, item.filename or None)
        with clock.stage("chunk"):
            pieces, duplicates = await asyncio.to_thread(self._chunk, parsed.text)
        if not pieces:
            raise InvalidRequest("the document contains no text")
        texts = [piece.text for piece in pieces]
        with clock.stage("detect"):
            languages = [item.language] * len(texts) if item.language else [d.code for d in await self.rt.detect(texts)]
        with clock.stage("embed"):
            vectors = await self.rt.encoders.embed_texts(texts, kind="passage")
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
                vectors={"text": vector},
            )
            for piece, language, vector in zip(pieces, languages, vectors)
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

    async def _write(self, tenant: str, document_id: str, chunks: Sequence[Chunk], size: int) -> None:
        """Reserve quota for the net change, write the document, give the reservation back on failure."""
        previous_chunks, previous_bytes = await self.rt.document_footprint(tenant, document_id)
        delta = (len(chunks) - previous_chunks, size - previous_bytes, 0 if previous_chunks else 1)
        await self.rt.reserve_storage(tenant, *delta)
        try:
            result: UpsertResult = await self.rt.store.upsert(tenant, chunks)
        except BaseException:
            await self.rt.release_storage(tenant, *delta)
            raise
        if result.errors:
            await self.rt.release_storage(tenant, *delta)
            details = "; ".join(f"chunk {e.chunk_index}: {e.message}" if e.chunk_index is not None else e.message for e in result.errors[:3])
            raise InvalidRequest(f"document {document_id!r} was not stored: {details}")
        await self.rt.record_write(tenant, document_id, len(chunks), size)


ProgressCallback = Callable[[int, IngestOutcome | Exception], None]
