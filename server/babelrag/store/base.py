"""The :class:`VectorStore` protocol, and the validation every backend shares.

Both backends (:mod:`~babelrag.store.lancedb_store`, :mod:`~babelrag.store.weaviate_store`)
implement :class:`VectorStore`, validate input with the functions below, and
fuse with :mod:`babelrag.store.fusion`, so they accept and reject the same
input and rank the same way. The contract suite in ``tests/store`` runs
against each backend.

The API is synchronous and thread-safe; async code calls it through
:class:`AsyncVectorStore` (``asyncio.to_thread``), which adds no logic.
"""

from __future__ import annotations

import asyncio
import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np

from babelrag.store.errors import InvalidQuery, InvalidTenantName
from babelrag.store.filters import LANGUAGE_RE, SearchFilter, check_text_value, from_epoch_us, to_epoch_us
from babelrag.store.types import (
    Chunk,
    DocumentInfo,
    DocumentPage,
    ItemError,
    ItemErrorCode,
    Modality,
    SearchRequest,
    SearchResult,
    Source,
    StoredChunk,
    TenantInfo,
    UpsertResult,
    VectorDims,
    VectorName,
    chunk_id,
    utc_now,
)

__all__ = [
    "VectorStore",
    "AsyncVectorStore",
    "TENANT_NAME_RE",
    "validate_tenant_name",
    "PreparedChunk",
    "PreparedDocument",
    "prepare_upsert",
    "check_search_request",
    "check_ids",
    "check_document_ids",
    "MAX_CHUNKS_PER_DOCUMENT",
    "MAX_TEXT_CHARS",
    "MAX_TAGS",
]

#: Tenant names: what Weaviate accepts, and safe as a file name (no dots, no slashes).
TENANT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: Weaviate's default QUERY_MAXIMUM_RESULTS; one document's chunks must fit one read.
MAX_CHUNKS_PER_DOCUMENT = 10_000
MAX_TEXT_CHARS = 200_000
MAX_TAGS = 64
_MAX_CHUNK_INDEX = 1_000_000
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def validate_tenant_name(name: object) -> str:
    """Return ``name`` if it is a valid tenant name, else raise InvalidTenantName."""
    if not isinstance(name, str) or not TENANT_NAME_RE.match(name):
        raise InvalidTenantName(
            f"invalid tenant name {name!r}: use 1-64 characters from [A-Za-z0-9_-], starting with a letter or digit"
        )
    return name


@runtime_checkable
class VectorStore(Protocol):
    """A multi-tenant store of chunks with vector, keyword and hybrid search.

    **Tenants** are physically separate (a table or a shard each). Every data
    call names one tenant and can only see that tenant's chunks, whatever ids
    or filters it passes. Names follow :data:`TENANT_NAME_RE`, else
    :class:`~babelrag.store.errors.InvalidTenantName`. A data call on a tenant
    that does not exist raises :class:`~babelrag.store.errors.TenantNotFound`;
    on one that is not ACTIVE, :class:`~babelrag.store.errors.TenantInactive`.

    **Errors**: only the :class:`~babelrag.store.errors.StoreError` family is
    raised. Problems with individual chunks are reported in the
    :class:`UpsertResult`, not raised.
    """

    @property
    def dims(self) -> VectorDims:
        """The vector dimensions this store enforces."""
        ...

    # -- tenants ----------------------------------------------------------
    def ensure_tenant(self, tenant: str) -> TenantInfo:
        """Create the tenant if missing (ACTIVE); return its current info. Idempotent.

        An existing tenant keeps its status (this does not activate it).
        """
        ...

    def get_tenant(self, tenant: str) -> TenantInfo:
        """The tenant's info. Raises TenantNotFound."""
        ...

    def list_tenants(self) -> list[TenantInfo]:
        """All tenants, sorted by name."""
        ...

    def delete_tenant(self, tenant: str) -> bool:
        """Delete the tenant and all its data, whatever its status. False if it did not exist."""
        ...

    def deactivate_tenant(self, tenant: str, *, offload: bool = False) -> TenantInfo:
        """Stop serving the tenant: INACTIVE, or OFFLOADED (cold storage) with ``offload``.

        The data is kept. The status survives restarts. Reads and writes then
        raise TenantInactive until :meth:`activate_tenant`. Raises TenantNotFound.
        """
        ...

    def activate_tenant(self, tenant: str) -> TenantInfo:
        """Serve the tenant again (ACTIVE). Idempotent. Raises TenantNotFound."""
        ...

    # -- writes -----------------------------------------------------------
    def upsert(self, tenant: str, chunks: Sequence[Chunk]) -> UpsertResult:
        """Write chunks, replacing each document present in the batch as a whole.

        Chunks are grouped by ``document_id``. For each document, the batch's
        chunks become the document's complete set of chunks: existing chunks
        of that document that are not in the batch are removed; ids are
        :func:`~babelrag.store.types.chunk_id`, so writing the same document
        twice leaves the same rows.

        All or nothing per document: if any chunk of a document is invalid
        (missing/ill-typed field, unknown vector name, wrong dimension, NaN or
        infinity, all-zero vector, duplicate chunk index, too many chunks) or
        the backend rejects any of them, nothing of that document is written
        and its previous version stays; every problem is listed in
        ``UpsertResult.errors``. Other documents of the batch are written.
        When the call returns, written data is durable and visible to reads.
        Raises TenantNotFound / TenantInactive, or BackendError /
        BackendUnavailable if the backend fails for the whole batch.
        """
        ...

    def delete_documents(self, tenant: str, document_ids: Sequence[str]) -> int:
        """Delete every chunk of these documents; return how many chunks were deleted.

        After it returns the chunks appear in no vector, keyword, get or count result.
        """
        ...

    # -- reads ------------------------------------------------------------
    def get(self, tenant: str, ids: Sequence[str], *, include_vectors: bool = False) -> list[StoredChunk]:
        """Chunks by id, in the order asked; ids not in this tenant are left out.

        Ids must be UUID strings (InvalidArgument otherwise).
        """
        ...

    def count(self, tenant: str, filters: SearchFilter | None = None) -> int:
        """Number of chunks in the tenant that match ``filters``."""
        ...

    def list_documents(self, tenant: str, *, limit: int = 100, after: str | None = None) -> DocumentPage:
        """Documents ordered by id, ``limit`` (1..1000) at a time, after the id ``after``.

        Keyset paging: pages stay consistent while documents are added or removed.
        """
        ...

    def search(self, tenant: str, request: SearchRequest) -> SearchResult:
        """Hybrid, vector-only or keyword-only search, fused as :mod:`babelrag.store.fusion` says.

        Filters apply before ranking. Raises InvalidQuery when a query vector's
        dimension differs from :attr:`dims`.
        """
        ...

    def close(self) -> None:
        """Release connections and handles. The store is unusable afterwards."""
        ...


class AsyncVectorStore:
    """Awaitable facade over a :class:`VectorStore`: each call runs in a worker thread.

    It adds no behaviour, so there is nothing to keep in sync with the sync API.
    """

    def __init__(self, store: VectorStore) -> None:
        self.store = store

    async def _call(self, name: str, *args, **kwargs):
        return await asyncio.to_thread(getattr(self.store, name), *args, **kwargs)

    async def ensure_tenant(self, tenant: str) -> TenantInfo:
        return await self._call("ensure_tenant", tenant)

    async def get_tenant(self, tenant: str) -> TenantInfo:
        return await self._call("get_tenant", tenant)

    async def list_tenants(self) -> list[TenantInfo]:
        return await self._call("list_tenants")

    async def delete_tenant(self, tenant: str) -> bool:
        return await self._call("delete_tenant", tenant)

    async def deactivate_tenant(self, tenant: str, *, offload: bool = False) -> TenantInfo:
        return await self._call("deactivate_tenant", tenant, offload=offload)

    async def activate_tenant(self, tenant: str) -> TenantInfo:
        return await self._call("activate_tenant", tenant)

    async def upsert(self, tenant: str, chunks: Sequence[Chunk]) -> UpsertResult:
        return await self._call("upsert", tenant, chunks)

    async def delete_documents(self, tenant: str, document_ids: Sequence[str]) -> int:
        return await self._call("delete_documents", tenant, document_ids)

    async def get(self, tenant: str, ids: Sequence[str], *, include_vectors: bool = False) -> list[StoredChunk]:
        return await self._call("get", tenant, ids, include_vectors=include_vectors)

    async def count(self, tenant: str, filters: SearchFilter | None = None) -> int:
        return await self._call("count", tenant, filters)

    async def list_documents(self, tenant: str, *, limit: int = 100, after: str | None = None) -> DocumentPage:
        return await self._call("list_documents", tenant, limit=limit, after=after)

    async def search(self, tenant: str, request: SearchRequest) -> SearchResult:
        return await self._call("search", tenant, request)

    async def close(self) -> None:
        await self._call("close")


# ---------------------------------------------------------------------------
# Shared validation
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PreparedChunk:
    """A validated chunk, ready for a backend: id derived, vectors as float32, times in µs."""

    id: str
    chunk: Chunk  #: with ``created_at`` filled and ``tags`` a tuple
    vectors: Mapping[str, np.ndarray]  #: only the vectors present, keyed by VectorName value
    created_us: int
    valid_us: int | None


@dataclass(frozen=True, eq=False)
class PreparedDocument:
    document_id: str
    chunks: tuple[PreparedChunk, ...]  #: sorted by chunk index

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.chunks]


class _Reject(Exception):
    def __init__(self, code: ItemErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def _check_datetime(value: object, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise _Reject(ItemErrorCode.INVALID_FIELD, f"{what} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise _Reject(ItemErrorCode.INVALID_FIELD, f"{what} must be timezone-aware")
    return value


def _check_str(value: object, what: str, max_chars: int) -> str:
    if not isinstance(value, str):
        raise _Reject(ItemErrorCode.INVALID_FIELD, f"{what} must be a string")
    if len(value) > max_chars:
        raise _Reject(ItemErrorCode.INVALID_FIELD, f"{what} is longer than {max_chars} characters")
    if "\x00" in value:
        raise _Reject(ItemErrorCode.INVALID_FIELD, f"{what} contains a NUL character")
    return value


def _check_vectors(raw: object, dims: VectorDims) -> dict[str, np.ndarray]:
    if not isinstance(raw, Mapping):
        raise _Reject(ItemErrorCode.INVALID_FIELD, "vectors must be a mapping of vector name to vector")
    out: dict[str, np.ndarray] = {}
    for key, value in raw.items():
        try:
            name = VectorName(key.value if isinstance(key, enum.Enum) else key).value
        except ValueError:
            raise _Reject(
                ItemErrorCode.UNKNOWN_VECTOR,
                f"unknown vector {key!r}; known: {[v.value for v in VectorName]}",
            ) from None
        if value is None:
            continue
        if name in out:
            raise _Reject(ItemErrorCode.INVALID_FIELD, f"vector {name!r} given twice")
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise _Reject(ItemErrorCode.INVALID_FIELD, f"vector {name!r} is not a sequence of numbers") from None
        want = dims.of(name)
        if arr.ndim != 1 or arr.shape[0] != want:
            got = arr.shape[0] if arr.ndim == 1 else f"shape {arr.shape}"
            raise _Reject(ItemErrorCode.DIMENSION_MISMATCH, f"vector {name!r} has dimension {got}, store expects {want}")
        if not np.all(np.isfinite(arr)):
            raise _Reject(ItemErrorCode.NON_FINITE_VECTOR, f"vector {name!r} contains NaN or infinity")
        if float(np.max(np.abs(arr))) > float(np.finfo(np.float32).max):
            raise _Reject(ItemErrorCode.NON_FINITE_VECTOR, f"vector {name!r} overflows float32")
        arr32 = arr.astype(np.float32)
        if not np.any(arr32):
            raise _Reject(ItemErrorCode.ZERO_VECTOR, f"vector {name!r} is all zeros")
        arr32.setflags(write=False)
        out[name] = arr32
    return out


def _prepare_chunk(tenant: str, c: Chunk, dims: VectorDims, now: datetime) -> PreparedChunk:
    if not isinstance(c, Chunk):
        raise _Reject(ItemErrorCode.INVALID_FIELD, f"expected a Chunk, got {type(c).__name__}")
    idx = c.chunk_index
    if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < _MAX_CHUNK_INDEX:
        raise _Reject(ItemErrorCode.INVALID_FIELD, f"chunk_index must be an int in 0..{_MAX_CHUNK_INDEX - 1}")
    try:
        modality = Modality(c.modality)
    except ValueError:
        raise _Reject(ItemErrorCode.INVALID_FIELD, f"modality must be one of {[m.value for m in Modality]}") from None
    text = _check_str(c.text, "text", MAX_TEXT_CHARS)
    if modality is Modality.TEXT and not text.strip():
        raise _Reject(ItemErrorCode.INVALID_FIELD, "a text chunk needs non-blank text")
    if not isinstance(c.language, str) or not LANGUAGE_RE.match(c.language):
        raise _Reject(ItemErrorCode.INVALID_FIELD, f"language {c.language!r} is not an ISO 639-1 code (or 'und')")
    src = c.source
    if not isinstance(src, Source):
        raise _Reject(ItemErrorCode.INVALID_FIELD, "source must be a Source")
    source = Source(
        title=_check_str(src.title, "source.title", 2_000),
        uri=_check_str(src.uri, "source.uri", 8_192),
        mime_type=_check_str(src.mime_type, "source.mime_type", 255),
    )
    created = now if c.created_at is None else _check_datetime(c.created_at, "created_at")
    valid = None if c.valid_at is None else _check_datetime(c.valid_at, "valid_at")
    tags_raw = c.tags
    if isinstance(tags_raw, str) or not isinstance(tags_raw, (list, tuple, set, frozenset)):
        raise _Reject(ItemErrorCode.INVALID_FIELD, "tags must be a list of strings")
    try:
        tags = tuple(dict.fromkeys(check_text_value(t, "tag", max_chars=128) for t in tags_raw))
    except ValueError as exc:
        raise _Reject(ItemErrorCode.INVALID_FIELD, str(exc)) from None
    if len(tags) > MAX_TAGS:
        raise _Reject(ItemErrorCode.INVALID_FIELD, f"more than {MAX_TAGS} tags")
    vectors = _check_vectors(c.vectors, dims)
    try:
        created_us, valid_us = to_epoch_us(created), None if valid is None else to_epoch_us(valid)
    except OverflowError:
        raise _Reject(ItemErrorCode.INVALID_FIELD, "datetime out of range") from None
    clean = replace(
        c,
        modality=modality,
        source=source,
        created_at=created,
        tags=tags,
        vectors=vectors,
    )
    return PreparedChunk(
        id=chunk_id(tenant, c.document_id, idx),
        chunk=clean,
        vectors=vectors,
        created_us=created_us,
        valid_us=valid_us,
    )


def prepare_upsert(
    tenant: str,
    chunks: Sequence[Chunk],
    dims: VectorDims,
    *,
    max_chunks_per_document: int = MAX_CHUNKS_PER_DOCUMENT,
    now: datetime | None = None,
) -> tuple[list[PreparedDocument], list[ItemError]]:
    """Validate a batch and group it by document, all or nothing per document.

    Returns the documents that passed (in first-seen order) and one ItemError
    per problem. A rejected document also gets a DOCUMENT_REJECTED entry for
    each of its chunks that was itself fine, so every chunk is accounted for.
    """
    if isinstance(chunks, (str, bytes)) or not isinstance(chunks, Sequence):
        raise InvalidQuery("chunks must be a sequence of Chunk")
    now = now or utc_now()
    by_doc: dict[str, list[object]] = {}
    errors: list[ItemError] = []
    for c in chunks:
        raw_doc = getattr(c, "document_id", None)
        try:
            doc = check_text_value(raw_doc, "document_id")
        except ValueError as exc:
            label = raw_doc if isinstance(raw_doc, str) else repr(raw_doc)
            errors.append(ItemError(label, _safe_index(c), ItemErrorCode.INVALID_FIELD, str(exc)))
            continue
        by_doc.setdefault(doc, []).append(c)

    ready: list[PreparedDocument] = []
    for doc, items in by_doc.items():
        doc_errors: list[ItemError] = []
        prepared: list[PreparedChunk] = []
        if len(items) > max_chunks_per_document:
            doc_errors.append(
                ItemError(doc, None, ItemErrorCode.TOO_MANY_CHUNKS, f"{len(items)} chunks; at most {max_chunks_per_document} per document")
            )
        seen: set[int] = set()
        for c in items:
            try:
                p = _prepare_chunk(tenant, c, dims, now)  # type: ignore[arg-type]
            except _Reject as rej:
                doc_errors.append(ItemError(doc, _safe_index(c), rej.code, str(rej)))
                continue
            idx = p.chunk.chunk_index
            if idx in seen:
                doc_errors.append(ItemError(doc, idx, ItemErrorCode.DUPLICATE_CHUNK, f"chunk index {idx} appears twice"))
                continue
            seen.add(idx)
            prepared.append(p)
        if doc_errors:
            failed = {e.chunk_index for e in doc_errors}
            for p in prepared:
                if p.chunk.chunk_index not in failed:
                    doc_errors.append(
                        ItemError(doc, p.chunk.chunk_index, ItemErrorCode.DOCUMENT_REJECTED, "another chunk of this document is invalid")
                    )
            errors.extend(doc_errors)
            continue
        prepared.sort(key=lambda p: p.chunk.chunk_index)
        ready.append(PreparedDocument(doc, tuple(prepared)))
    return ready, errors


def _safe_index(c: object) -> int | None:
    idx = getattr(c, "chunk_index", None)
    return idx if isinstance(idx, int) and not isinstance(idx, bool) else None


def check_search_request(request: SearchRequest, dims: VectorDims) -> None:
    """Raise InvalidQuery unless every query vector matches its target's dimension."""
    if not isinstance(request, SearchRequest):
        raise InvalidQuery("request must be a SearchRequest")
    for v in request.vectors:
        want = dims.of(v.target)
        if v.vector.shape[0] != want:
            raise InvalidQuery(
                f"query vector {v.name!r} has dimension {v.vector.shape[0]}, named vector {v.target.value!r} has {want}"
            )


def check_ids(ids: Sequence[str]) -> list[str]:
    """Validate chunk ids (canonical lower-case UUID strings); de-duplicated, order kept."""
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
        raise InvalidQuery("ids must be a sequence of UUID strings")
    out: dict[str, None] = {}
    for i in ids:
        if not isinstance(i, str) or not _UUID_RE.match(i):
            raise InvalidQuery(f"chunk id {i!r} is not a lower-case UUID string")
        out.setdefault(i, None)
    if len(out) > 10_000:
        raise InvalidQuery("at most 10000 ids per call")
    return list(out)


def check_document_ids(document_ids: Sequence[str]) -> list[str]:
    if isinstance(document_ids, (str, bytes)) or not isinstance(document_ids, Sequence):
        raise InvalidQuery("document_ids must be a sequence of strings")
    out: dict[str, None] = {}
    for d in document_ids:
        try:
            out.setdefault(check_text_value(d, "document id"), None)
        except ValueError as exc:
            raise InvalidQuery(str(exc)) from None
    return list(out)


def check_page_args(limit: int, after: str | None) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise InvalidQuery(f"limit must be an int in 1..1000, got {limit!r}")
    if after is not None:
        try:
            check_text_value(after, "after")
        except ValueError as exc:
            raise InvalidQuery(str(exc)) from None


#: What a document listing reads of each document's first chunk (:func:`document_info`).
DOCUMENT_HEAD_FIELDS = ("title", "uri", "mime_type", "language", "tags", "created_us")


def document_info(document_id: str, chunks: int, head: Mapping[str, object] | None) -> DocumentInfo:
    """A listed document, described by its first chunk's stored fields (``head``; any backend)."""
    if head is None:
        return DocumentInfo(document_id, chunks, Source())
    created = head.get("created_us")
    return DocumentInfo(
        document_id,
        chunks,
        Source(str(head.get("title") or ""), str(head.get("uri") or ""), str(head.get("mime_type") or "")),
        language=str(head.get("language") or ""),
        tags=tuple(head.get("tags") or ()),  # type: ignore[arg-type]
        created_at=None if created is None else from_epoch_us(int(created)),  # type: ignore[arg-type]
    )
