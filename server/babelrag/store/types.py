"""Value types of the storage layer: what goes in, what comes out.

All types are immutable dataclasses. They hold no backend objects, so the same
values travel through either backend and across threads.

A *chunk* is the unit that is stored and retrieved: a piece of a document
(a passage of text, or an image with its caption) with up to three named
vectors (:class:`VectorName`). Its id is derived, never chosen by the caller:
:func:`chunk_id` is a UUIDv5 of (tenant, document id, chunk index), so
ingesting the same document twice writes the same ids and replaces, never
duplicates.
"""

from __future__ import annotations

import enum
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Union

import numpy as np

from babelrag.store.errors import InvalidQuery
from babelrag.store.filters import SearchFilter

__all__ = [
    "Modality",
    "VectorName",
    "TenantStatus",
    "SearchMode",
    "VectorDims",
    "Source",
    "Chunk",
    "StoredChunk",
    "ItemErrorCode",
    "ItemError",
    "UpsertResult",
    "TenantInfo",
    "DocumentInfo",
    "DocumentPage",
    "VectorQuery",
    "SearchRequest",
    "SignalScore",
    "SearchHit",
    "SearchResult",
    "CHUNK_ID_NAMESPACE",
    "chunk_id",
    "KEYWORD_SIGNAL",
    "MAX_LIMIT",
    "MAX_OFFSET",
    "DEFAULT_ALPHA",
]

#: Namespace of the UUIDv5 chunk ids. Changing it changes every id: never do.
CHUNK_ID_NAMESPACE = uuid.UUID("6f1c2a4e-9b7d-5e3f-8a21-b4be1a9c0d57")

#: Name of the keyword (BM25) signal in :attr:`SearchHit.signals`.
KEYWORD_SIGNAL = "keyword"

#: Largest ``limit`` a search accepts.
MAX_LIMIT = 1000
#: Largest ``offset`` a search accepts (deep paging belongs to list_documents).
MAX_OFFSET = 10_000
#: Default hybrid weight of the vector signals. 0.7 beat both dense-only and
#: BM25-only on XQuAD in every language (FINDINGS: mean R@1 0.935 vs 0.896).
DEFAULT_ALPHA = 0.7


class Modality(str, enum.Enum):
    """What a chunk holds: a text passage or an image (with its caption as text)."""

    TEXT = "text"
    IMAGE = "image"


class VectorName(str, enum.Enum):
    """The named vectors a chunk may carry.

    * ``text``: multilingual E5 embedding of the chunk's text (or an image's caption);
    * ``image``: CLIP image-tower embedding of an image chunk;
    * ``clip_text``: CLIP text-tower embedding of a text chunk or image caption, so
      a CLIP text query can reach text as well as images.
    """

    TEXT = "text"
    IMAGE = "image"
    CLIP_TEXT = "clip_text"


class TenantStatus(str, enum.Enum):
    """Activity status of a tenant. Only ACTIVE tenants serve reads and writes.

    INACTIVE keeps the data where it is but unloaded; OFFLOADED (Weaviate) moves
    it to cold storage. OFFLOADING / ONLOADING are the transitions between them.
    LanceDB has no cold tier: there OFFLOADED is recorded and behaves like INACTIVE.
    """

    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    OFFLOADED = "OFFLOADED"
    OFFLOADING = "OFFLOADING"
    ONLOADING = "ONLOADING"


class SearchMode(str, enum.Enum):
    """Which signals a search uses; see :mod:`babelrag.store.fusion`."""

    HYBRID = "hybrid"  #: keyword + one or more vectors, mixed by alpha
    VECTOR = "vector"  #: one or more vectors only
    KEYWORD = "keyword"  #: BM25 only


@dataclass(frozen=True, slots=True)
class VectorDims:
    """Dimension of each named vector. The model profile decides them; stores enforce them."""

    text: int = 384
    image: int = 512
    clip_text: int = 512

    def __post_init__(self) -> None:
        for name in ("text", "image", "clip_text"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65_536:
                raise ValueError(f"vector dimension {name!r} must be an int in 1..65536, got {value!r}")

    def of(self, name: VectorName | str) -> int:
        """Dimension of the named vector (``VectorName`` or its string value)."""
        return int(getattr(self, VectorName(name).value))

    def as_dict(self) -> dict[str, int]:
        return {v.value: self.of(v) for v in VectorName}


@dataclass(frozen=True, slots=True)
class Source:
    """Where a chunk's document came from."""

    title: str = ""
    uri: str = ""
    mime_type: str = ""


VectorLike = Union[Sequence[float], np.ndarray]


@dataclass(frozen=True, eq=False)
class Chunk:
    """One chunk as given to ``upsert`` (and returned inside :class:`StoredChunk`).

    ``vectors`` maps a :class:`VectorName` (or its string value) to a vector;
    every vector is optional. ``created_at`` defaults to the time of the upsert;
    ``valid_at`` is the time the content is about (for time-aware questions).
    Datetimes must be timezone-aware; they are stored with microsecond precision.
    Validation happens in the store (dimensions are a store setting), which
    reports problems per item instead of raising.
    """

    document_id: str
    chunk_index: int
    text: str
    language: str
    modality: Modality = Modality.TEXT
    source: Source = field(default_factory=Source)
    created_at: datetime | None = None
    valid_at: datetime | None = None
    tags: tuple[str, ...] = ()
    vectors: Mapping[str, VectorLike] = field(default_factory=dict)

    def vector(self, name: VectorName | str) -> np.ndarray | None:
        """The named vector as float32, or None when the chunk has none."""
        key = VectorName(name).value
        for k, v in self.vectors.items():
            if (k.value if isinstance(k, VectorName) else k) == key:
                return None if v is None else np.asarray(v, dtype=np.float32)
        return None


@dataclass(frozen=True, eq=False)
class StoredChunk:
    """A chunk read back from a store, with its derived id.

    ``chunk.vectors`` is empty unless the read asked for vectors.
    """

    id: str
    chunk: Chunk


class ItemErrorCode(str, enum.Enum):
    """Why a document of an upsert batch was rejected."""

    INVALID_FIELD = "invalid_field"  #: a required field is missing or of the wrong type/format
    UNKNOWN_VECTOR = "unknown_vector"  #: a vector name outside VectorName
    DIMENSION_MISMATCH = "dimension_mismatch"  #: a vector's length differs from the store's dims
    NON_FINITE_VECTOR = "non_finite_vector"  #: NaN or infinity in a vector
    ZERO_VECTOR = "zero_vector"  #: all-zero vector (no cosine similarity exists)
    DUPLICATE_CHUNK = "duplicate_chunk"  #: the same (document, chunk index) twice in one batch
    DOCUMENT_REJECTED = "document_rejected"  #: another chunk of the same document was rejected
    TOO_MANY_CHUNKS = "too_many_chunks"  #: more chunks in one document than a store accepts
    BACKEND_REJECTED = "backend_rejected"  #: the backend refused the write


@dataclass(frozen=True, slots=True)
class ItemError:
    """One problem in an upsert batch. ``chunk_index`` is None for document-wide errors."""

    document_id: str
    chunk_index: int | None
    code: ItemErrorCode
    message: str


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """Outcome of ``upsert``: which documents were written, and every problem found.

    A document is either in ``written_documents`` (all its chunks written) or has
    at least one entry in ``errors`` (none of it written).
    """

    written_documents: tuple[str, ...]
    written_chunks: int
    errors: tuple[ItemError, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def rejected_documents(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for e in self.errors:
            seen.setdefault(e.document_id, None)
        return tuple(seen)


@dataclass(frozen=True, slots=True)
class TenantInfo:
    name: str
    status: TenantStatus


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """A document as listed by ``list_documents``: its id, chunk count, and what its first chunk
    says of it (source, language, tags, when it was stored)."""

    document_id: str
    chunk_count: int
    source: Source
    language: str = ""
    tags: tuple[str, ...] = ()
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DocumentPage:
    """One page of ``list_documents``; pass ``next_after`` as ``after`` for the next page."""

    documents: tuple[DocumentInfo, ...]
    next_after: str | None
    total: int | None = None  # documents of the tenant in all pages, where the backend knows it


def _as_query_vector(name: str, value: VectorLike) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidQuery(f"query vector {name!r} is not a sequence of numbers") from exc
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidQuery(f"query vector {name!r} must be one-dimensional and non-empty")
    if not np.all(np.isfinite(arr)):
        raise InvalidQuery(f"query vector {name!r} contains NaN or infinity")
    if not np.any(arr):
        raise InvalidQuery(f"query vector {name!r} is all zeros")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class VectorQuery:
    """One query vector searched against one named vector: one signal of the search.

    ``name`` labels the signal in the results (default: the target's name); give
    distinct names when two query vectors target the same named vector (a CLIP
    text vector and a CLIP image vector, both against ``image``). ``weight`` is
    relative to the other vector signals (see :mod:`babelrag.store.fusion`).
    """

    target: VectorName
    vector: np.ndarray
    weight: float = 1.0
    name: str = ""

    def __post_init__(self) -> None:
        try:
            target = VectorName(self.target)
        except ValueError as exc:
            raise InvalidQuery(f"unknown vector target {self.target!r}") from exc
        object.__setattr__(self, "target", target)
        name = self.name or target.value
        if not isinstance(name, str) or not name or name == KEYWORD_SIGNAL or len(name) > 64:
            raise InvalidQuery(f"invalid signal name {name!r}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "vector", _as_query_vector(name, self.vector))
        w = self.weight
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
            raise InvalidQuery(f"weight of signal {name!r} must be a finite number > 0, got {w!r}")
        object.__setattr__(self, "weight", float(w))


@dataclass(frozen=True, eq=False)
class SearchRequest:
    """A search. Build it with :meth:`hybrid`, :meth:`vector` or :meth:`keyword`.

    ``limit``/``offset`` page the *fused* ranking. ``candidates`` overrides how
    many results each signal contributes before fusion (default: the store's
    floor, at least ``limit + offset``).
    """

    mode: SearchMode
    text: str | None = None
    vectors: tuple[VectorQuery, ...] = ()
    alpha: float = DEFAULT_ALPHA
    filters: SearchFilter | None = None
    limit: int = 10
    offset: int = 0
    candidates: int | None = None
    include_vectors: bool = False

    def __post_init__(self) -> None:
        try:
            mode = SearchMode(self.mode)
        except ValueError as exc:
            raise InvalidQuery(f"unknown search mode {self.mode!r}") from exc
        object.__setattr__(self, "mode", mode)
        vectors = tuple(self.vectors)
        if not all(isinstance(v, VectorQuery) for v in vectors):
            raise InvalidQuery("vectors must be VectorQuery values")
        object.__setattr__(self, "vectors", vectors)
        names = [v.name for v in vectors]
        if len(set(names)) != len(names):
            raise InvalidQuery(f"signal names must be unique, got {names}")
        text = self.text
        if text is not None and not isinstance(text, str):
            raise InvalidQuery("text must be a string")
        has_text = bool(text and text.strip())
        if mode is SearchMode.HYBRID and not (has_text and vectors):
            raise InvalidQuery("a hybrid search needs query text and at least one query vector")
        if mode is SearchMode.VECTOR and (not vectors or text is not None):
            raise InvalidQuery("a vector search needs query vectors and no text")
        if mode is SearchMode.KEYWORD and (not has_text or vectors):
            raise InvalidQuery("a keyword search needs non-blank query text and no vectors")
        a = self.alpha
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0.0 <= a <= 1.0:
            raise InvalidQuery(f"alpha must be a number in [0, 1], got {a!r}")
        object.__setattr__(self, "alpha", float(a))
        if self.filters is not None and not isinstance(self.filters, SearchFilter):
            raise InvalidQuery("filters must be a SearchFilter")
        for fname, value, lo, hi in (
            ("limit", self.limit, 1, MAX_LIMIT),
            ("offset", self.offset, 0, MAX_OFFSET),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise InvalidQuery(f"{fname} must be an int in {lo}..{hi}, got {value!r}")
        c = self.candidates
        if c is not None and (isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= MAX_LIMIT + MAX_OFFSET):
            raise InvalidQuery(f"candidates must be an int in 1..{MAX_LIMIT + MAX_OFFSET}, got {c!r}")

    @classmethod
    def hybrid(
        cls,
        text: str,
        vectors: Sequence[VectorQuery],
        *,
        alpha: float = DEFAULT_ALPHA,
        filters: SearchFilter | None = None,
        limit: int = 10,
        offset: int = 0,
        candidates: int | None = None,
        include_vectors: bool = False,
    ) -> SearchRequest:
        return cls(SearchMode.HYBRID, text, tuple(vectors), alpha, filters, limit, offset, candidates, include_vectors)

    @classmethod
    def vector(
        cls,
        vectors: Sequence[VectorQuery],
        *,
        filters: SearchFilter | None = None,
        limit: int = 10,
        offset: int = 0,
        candidates: int | None = None,
        include_vectors: bool = False,
    ) -> SearchRequest:
        return cls(SearchMode.VECTOR, None, tuple(vectors), 1.0, filters, limit, offset, candidates, include_vectors)

    @classmethod
    def keyword(
        cls,
        text: str,
        *,
        filters: SearchFilter | None = None,
        limit: int = 10,
        offset: int = 0,
        candidates: int | None = None,
        include_vectors: bool = False,
    ) -> SearchRequest:
        return cls(SearchMode.KEYWORD, text, (), 0.0, filters, limit, offset, candidates, include_vectors)


@dataclass(frozen=True, slots=True)
class SignalScore:
    """How one signal scored a hit.

    ``raw``: cosine similarity (1 - cosine distance) for a vector signal, the
    BM25 score for the keyword signal. ``normalized``: min-max normalised over
    that signal's candidate list. ``weight``: the signal's share of the fused
    score. ``rank``: 1-based position in the signal's own list.
    """

    raw: float
    normalized: float
    weight: float
    rank: int

    @property
    def contribution(self) -> float:
        return self.weight * self.normalized


@dataclass(frozen=True, eq=False)
class SearchHit:
    """One result: the fused score, each signal's part in it, and the chunk."""

    id: str
    score: float
    signals: Mapping[str, SignalScore]
    chunk: Chunk


@dataclass(frozen=True, eq=False)
class SearchResult:
    """A page of fused results plus the weight each signal had."""

    hits: tuple[SearchHit, ...]
    weights: Mapping[str, float]
    candidates: int  #: results requested from each signal before fusion


def chunk_id(tenant: str, document_id: str, chunk_index: int) -> str:
    """The stable id of a chunk: UUIDv5 of tenant, document id and chunk index.

    The tenant is part of the id, so the same document in two tenants never
    shares ids, and an id from one tenant cannot address another's chunk.
    """
    return str(uuid.uuid5(CHUNK_ID_NAMESPACE, f"{tenant}\x1f{document_id}\x1f{int(chunk_index)}"))


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def freeze_mapping(m: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType(dict(m))
