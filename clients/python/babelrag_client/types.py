"""The values the client takes and returns: frozen dataclasses and string enums.

Results (built from the server's messages by :mod:`babelrag_client._core`):

* search: :class:`SearchResult` of :class:`Hit` (each with a :class:`Source`);
* ask: :class:`AnswerDelta` events while the answer is generated, then one :class:`Answer` with its
  :class:`Citation` list;
* ingest: an :class:`IngestReport` of :class:`IngestResult` (one per item; failures carry an
  :class:`ItemError`) and :class:`SkippedItem`; :class:`IngestProgress` for progress callbacks;
* documents: :class:`DocumentPage` of :class:`Document`;
* admin: :class:`Tenant` (with :class:`Quotas` and :class:`Usage`), :class:`ApiKey`,
  :class:`CreatedTenant`, :class:`IssuedKey`, :class:`DeletedTenant`.

Inputs to ``ingest``: a path (file or folder), :class:`FileDocument`, :class:`TextDocument`,
:class:`ImageDocument` or :class:`BlobDocument`; search and ask take :class:`Filters` (or a plain
mapping) and :class:`TimeRange`.

Every value has ``to_dict()`` (JSON-ready: enums as strings, datetimes as ISO 8601). Secrets (a new
API key) are left out of ``repr`` so they do not end up in logs by accident.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import IO, Any, Union

__all__ = [
    "Modality",
    "SearchMode",
    "TenantState",
    "IngestStatus",
    "Source",
    "Hit",
    "SearchResult",
    "Citation",
    "AnswerDelta",
    "Answer",
    "ItemError",
    "IngestResult",
    "SkippedItem",
    "IngestReport",
    "IngestProgress",
    "Document",
    "DocumentPage",
    "Quotas",
    "Usage",
    "Tenant",
    "ApiKey",
    "CreatedTenant",
    "IssuedKey",
    "DeletedTenant",
    "TimeRange",
    "Filters",
    "FileDocument",
    "TextDocument",
    "ImageDocument",
    "BlobDocument",
    "ImageInput",
    "IngestInput",
]


class Modality(str, enum.Enum):
    UNSPECIFIED = ""
    TEXT = "text"
    IMAGE = "image"


class SearchMode(str, enum.Enum):
    HYBRID = "hybrid"
    VECTOR = "vector"
    KEYWORD = "keyword"


class TenantState(str, enum.Enum):
    UNSPECIFIED = ""
    ACTIVE = "active"
    OFFLOADED = "offloaded"


class IngestStatus(str, enum.Enum):
    STORED = "stored"
    FAILED = "failed"


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return value.to_dict() if hasattr(value, "to_dict") else dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


class _Value:
    """``to_dict()`` for the dataclasses below (fields in declaration order, JSON-ready)."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


_frozen = dataclasses.dataclass(frozen=True)


# -- search ------------------------------------------------------------------------------------------
@_frozen
class Source(_Value):
    """Where a chunk came from."""

    title: str = ""
    uri: str = ""
    mime_type: str = ""


@_frozen
class Hit(_Value):
    """A retrieved chunk and why it ranked where it did.

    ``score`` is the fused score in [0, 1]; ``signal_scores`` the normalised score per signal
    (e.g. ``{"keyword": 0.8, "vector:text": 0.95}``); ``rerank_score`` is set when the reranker ran.
    """

    chunk_id: str
    document_id: str
    chunk_index: int = 0
    source: Source = Source()
    modality: Modality = Modality.UNSPECIFIED
    language: str = ""
    snippet: str = ""
    score: float = 0.0
    signal_scores: Mapping[str, float] = dataclasses.field(default_factory=dict)
    tags: tuple[str, ...] = ()
    valid_at: datetime | None = None
    rerank_score: float | None = None


@_frozen
class SearchResult(_Value):
    """The hits of a search, best first; iterating the result iterates its hits."""

    hits: tuple[Hit, ...] = ()
    query_language: str = ""
    timings: Mapping[str, float] = dataclasses.field(default_factory=dict)
    cached: bool = False

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    def __getitem__(self, index: int) -> Hit:
        return self.hits[index]


# -- ask ---------------------------------------------------------------------------------------------
@_frozen
class Citation(_Value):
    """A numbered source: ``number`` is the ``[n]`` marker in the answer."""

    number: int
    document_id: str
    chunk_id: str = ""
    source: Source = Source()
    score: float = 0.0
    snippet: str = ""
    modality: Modality = Modality.UNSPECIFIED
    language: str = ""


@_frozen
class AnswerDelta(_Value):
    """A piece of the answer as it is generated (``str(delta)`` is its text)."""

    text: str
    is_final = False  # class attribute, not a field: tells deltas from the final Answer

    def __str__(self) -> str:
        return self.text


@_frozen
class Answer(_Value):
    """The complete answer and what it is based on (the last event of an ``ask`` stream).

    ``citations`` are the sources the answer cites by their ``[n]`` markers; ``context`` every
    numbered source the generator was given. ``answer_language_ok`` says whether the answer came
    out in ``answer_language``; ``no_answer_in_sources`` that retrieval found nothing to answer from.
    """

    text: str
    citations: tuple[Citation, ...] = ()
    context: tuple[Citation, ...] = ()
    question_language: str = ""
    question_language_confidence: float = 0.0
    answer_language: str = ""
    detected_answer_language: str = ""
    answer_language_ok: bool = False
    timings: Mapping[str, float] = dataclasses.field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = ""
    no_answer_in_sources: bool = False
    model: str = ""
    images_seen: int = 0  # images the generator itself received (0: text-only; it got their matches)
    is_final = True  # class attribute, not a field

    def __str__(self) -> str:
        return self.text


# -- ingest ------------------------------------------------------------------------------------------
@_frozen
class ItemError(_Value):
    """Why one ingest item failed.

    ``code`` is a gRPC status name from the server ("INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", ...)
    or one of the client's own: "IO_ERROR" (the file could not be read), "NOT_SENT" (an earlier
    failure of the whole upload stopped it from being sent), "NO_RESULT" (the stream ended without
    a result for it).
    """

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@_frozen
class IngestResult(_Value):
    """The outcome of one ingest item; ``source`` names the input (a path, or a document's id)."""

    source: str
    status: IngestStatus
    document_id: str = ""
    filename: str = ""
    chunks: int = 0
    duplicate_chunks: int = 0
    modality: Modality = Modality.UNSPECIFIED
    language: str = ""
    mime_type: str = ""
    bytes: int = 0
    error: ItemError | None = None
    timings: Mapping[str, float] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is IngestStatus.STORED


@_frozen
class SkippedItem(_Value):
    """A path found while walking a folder that was deliberately not sent, and why."""

    path: str
    reason: str


@_frozen
class IngestReport(_Value):
    """Everything an ``ingest`` call did: one result per item (input order) and what was skipped.

    Failed items are listed, never raised: check ``ok`` or ``failed``.
    """

    results: tuple[IngestResult, ...] = ()
    skipped: tuple[SkippedItem, ...] = ()

    @property
    def stored(self) -> tuple[IngestResult, ...]:
        return tuple(r for r in self.results if r.ok)

    @property
    def failed(self) -> tuple[IngestResult, ...]:
        return tuple(r for r in self.results if not r.ok)

    @property
    def chunks(self) -> int:
        return sum(r.chunks for r in self.results if r.ok)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def __iter__(self) -> Iterator[IngestResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": len(self.results),
            "stored": len(self.stored),
            "failed": len(self.failed),
            "chunks": self.chunks,
            **super().to_dict(),
        }


@_frozen
class IngestProgress(_Value):
    """Where an ingest call stands; passed to the ``progress`` callback.

    Sent when an item starts uploading, after each piece of data, and when an item's result
    arrives (then ``result`` is set). ``bytes_total`` counts the items whose size is known.
    """

    items_total: int
    items_done: int
    items_failed: int
    bytes_sent: int
    bytes_total: int
    current: str | None = None
    result: IngestResult | None = None


# -- documents ---------------------------------------------------------------------------------------
@_frozen
class Document(_Value):
    """A stored document of the tenant."""

    document_id: str
    source: Source = Source()
    modality: Modality = Modality.UNSPECIFIED
    language: str = ""
    chunks: int = 0
    tags: tuple[str, ...] = ()
    created_at: datetime | None = None
    bytes: int = 0


@_frozen
class DocumentPage(_Value):
    """One page of documents; pass ``next_page_token`` to get the next (empty: this is the last)."""

    documents: tuple[Document, ...] = ()
    next_page_token: str = ""
    total: int = 0

    def __iter__(self) -> Iterator[Document]:
        return iter(self.documents)

    def __len__(self) -> int:
        return len(self.documents)


# -- admin -------------------------------------------------------------------------------------------
@_frozen
class Quotas(_Value):
    """Limits of a tenant; 0 means unlimited."""

    requests_per_second: float = 0.0
    burst: int = 0
    max_chunks: int = 0
    max_bytes: int = 0


@_frozen
class Usage(_Value):
    chunks: int = 0
    bytes: int = 0
    documents: int = 0


@_frozen
class Tenant(_Value):
    name: str
    state: TenantState = TenantState.UNSPECIFIED
    quotas: Quotas = Quotas()
    usage: Usage = Usage()
    created_at: datetime | None = None


@_frozen
class ApiKey(_Value):
    """An API key's record (never its secret)."""

    key_id: str
    tenant: str
    label: str = ""
    created_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked: bool = False


@_frozen
class CreatedTenant(_Value):
    """A new tenant and its first API key; ``api_key`` (the secret) is shown only this once."""

    tenant: Tenant
    key: ApiKey
    api_key: str = dataclasses.field(repr=False)


@_frozen
class IssuedKey(_Value):
    """A new API key; ``api_key`` (the secret) is shown only this once."""

    key: ApiKey
    api_key: str = dataclasses.field(repr=False)


@_frozen
class DeletedTenant(_Value):
    chunks_deleted: int = 0
    keys_revoked: int = 0


# -- inputs ------------------------------------------------------------------------------------------
@_frozen
class TimeRange(_Value):
    """Half-open interval [start, end); None is an open bound. Naive datetimes are taken as UTC."""

    start: datetime | None = None
    end: datetime | None = None


@_frozen
class Filters(_Value):
    """Restrict search and ask: every given field must hold (values within one field are alternatives).

    A plain mapping works too: ``{"language": "de", "tag": ["a", "b"], "valid_at": (start, end)}``
    with the field names of the API ("document_id", "language", "tag", "modality", "valid_at",
    "created_at").
    """

    document_ids: Sequence[str] = ()
    languages: Sequence[str] = ()
    tags: Sequence[str] = ()
    modalities: Sequence[Modality | str] = ()
    valid_at: TimeRange | None = None
    created_at: TimeRange | None = None


@_frozen
class FileDocument(_Value):
    """A file on disk with its own metadata (a plain path works too, with none).

    ``caption`` is the alt text of an image file; ``mime_type`` overrides detection.
    """

    path: str | os.PathLike[str]
    document_id: str = ""
    title: str = ""
    uri: str = ""
    language: str = ""
    tags: Sequence[str] = ()
    valid_at: datetime | None = None
    caption: str = ""
    mime_type: str = ""


@_frozen
class TextDocument(_Value):
    """Raw text with metadata; ``document_id`` defaults to a hash of the text (server side)."""

    text: str
    document_id: str = ""
    title: str = ""
    uri: str = ""
    language: str = ""
    tags: Sequence[str] = ()
    valid_at: datetime | None = None
    mime_type: str = "text/plain"


#: An image: a path, encoded bytes (JPEG/PNG/WebP/GIF), a binary file object, or a PIL image.
ImageInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes], Any]


@_frozen
class ImageDocument(_Value):
    """An image (see :data:`ImageInput`) with its caption, stored for search and answers."""

    image: ImageInput
    caption: str = ""
    document_id: str = ""
    title: str = ""
    uri: str = ""
    language: str = ""
    tags: Sequence[str] = ()
    valid_at: datetime | None = None


@_frozen
class BlobDocument(_Value):
    """Content that is not a file: bytes, or a readable binary stream (read in pieces, not at once).

    ``filename`` names it (its extension helps type detection); a stream is read once and so
    cannot be retried. Set ``size`` for a stream when known: the server can then refuse an oversize
    item before it is sent.
    """

    content: bytes | IO[bytes]
    filename: str = ""
    mime_type: str = ""
    document_id: str = ""
    title: str = ""
    uri: str = ""
    language: str = ""
    tags: Sequence[str] = ()
    valid_at: datetime | None = None
    caption: str = ""
    size: int | None = None


#: What ``ingest`` accepts, alone or in a list.
IngestInput = Union[str, "os.PathLike[str]", FileDocument, TextDocument, ImageDocument, BlobDocument]
