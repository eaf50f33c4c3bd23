"""Embedded :class:`~babelrag.store.base.VectorStore` on LanceDB (no server).

Layout on disk (``LanceDBConfig.data_dir``, default ``./data``)::

    <data_dir>/<collection>/tenants.json    tenant registry: status, index bookkeeping
    <data_dir>/<collection>/.registry.lock  flock taken while the registry changes
    <data_dir>/<collection>/tables/<tenant>.lance   one Lance table per tenant

One table per tenant keeps tenants physically apart: a query runs against one
tenant's table, so no filter or id can reach another tenant's rows. Tenant
names are checked against :data:`~babelrag.store.base.TENANT_NAME_RE` (no dots,
no slashes) before they touch the file system.

**Tenant status** lives in ``tenants.json``, replaced atomically (write, fsync,
rename) under an exclusive ``flock``, and re-read whenever its file changes, so
a deactivation made by one process (or before a restart) is seen by every
other. LanceDB has no cold tier: OFFLOADED is recorded and behaves like INACTIVE.

**Writes**: an upsert is one ``merge_insert`` on ``id``: matched rows are
updated, new ones inserted, and rows of the batch's documents that the batch
no longer contains are deleted, in a single commit, so readers see a document's
old or new version, never a mix. Writes to one tenant are serialised by a
per-tenant lock (in this process; Lance's commit protocol arbitrates between
processes); readers take no lock and are never blocked (Lance is MVCC).
With ``fsync=True`` (default) the files of each commit are fsynced before the
call returns, so acknowledged writes survive power loss, not just a crash.

**Indexes and maintenance** (after a write, in the writer's thread, under the
tenant's write lock; ``auto_maintenance=False`` leaves it to :meth:`optimize`):

* a BM25 full-text index on the ``fts`` column, created with the first rows;
* an ANN index (IVF_SQ, cosine) on each vector column once it holds
  ``ann_min_rows`` vectors (10,000 by default), queried with ``nprobes`` 20 and
  ``refine_factor`` 5 (exact re-ranking of 5x candidates). Below the threshold a
  flat scan is exact and fast enough; the index is retrained when the column
  has grown 4x since training. Rows not yet in an index are still searched
  (Lance scans them flat), so results are complete at all times;
* ``optimize()`` (compaction, incremental index update, removal of versions
  older than ``cleanup_older_than``) once an index has ``reindex_min_rows``
  unindexed rows (or 10% of its rows) or after ``optimize_every_commits`` commits.

ANN choice, measured on 100k synthetic 384-d vectors on 2 cores: flat scan p50
296 ms; IVF_PQ (LanceDB's default) built in 35 s with recall@10 0.31 even with
refine; IVF_HNSW_SQ built in 91 s, recall 1.0 with refine, p50 5.5 ms; IVF_SQ
built in 5.6 s, recall@10 1.000, p50 5.2 ms. IVF_SQ wins on build time at
equal recall and latency (also 1.0 on isotropic Gaussian vectors, the hardest
case; expect it to fall below 1 at millions of rows: re-run the bench).

Whole-store figures from ``bench/store_bench.py`` (bench/results/store_lancedb.json;
384-d text + 512-d image vectors, fsync on, 1,000-chunk batches), p50 / p99 ms:

=====================  ================  ================
                       10k chunks        100k chunks
=====================  ================  ================
vector (text), flat    18 / 31           141 / 275
vector (text), ANN     12 / 36           29 / 92
hybrid 2 vec + BM25,   36 / 64 flat      281 / 347 flat
                       26 / 57 ANN       51 / 126 ANN
ANN recall@10          1.0               1.0
bulk upsert            2,320 chunks/s    1,064 chunks/s
upsert into indexed    1,419 chunks/s    416 chunks/s
ANN build (2 columns)  0.4 s             13.5 s
=====================  ================  ================

About a third of a search's time is the final fetch of the page's rows by id.

**Signal cache**: each signal's candidates (ids, scores and the rows read with them) are kept per
table version (:mod:`babelrag.store.signal_cache`, ``signal_cache_bytes``, 64 MiB by default), so
searches that differ only in fusion (another alpha, keyword- or vector-only after hybrid, the next
page) run no query again. A LanceDB query costs about 6 ms of CPU however small the table (2
cores, 240 XQuAD paragraphs: keyword 5.9 ms, vector 6.2 ms, hybrid 10.8 ms per search); a hybrid
search whose two signals are cached takes 1.3 ms. Any write makes a new version, so a cached entry
is never read after one.

**Keyword search** indexes a shadow column ``fts``: the chunk text segmented by
:func:`babelrag.store.tokenize.segment` (Han/kana/Hangul -> unigrams + bigrams,
Thai/Lao/Khmer/Myanmar -> bigrams + trigrams, other scripts -> lower-cased
words), indexed with LanceDB's ``whitespace`` tokenizer; the query is segmented
the same way. BM25 on XQuAD (240 paragraphs, 1190 questions per language; each
question's paragraph is the only relevant document), R@1 / R@10:

===================  =============  =============  =============  =================
LanceDB tokenizer    zh             th             en             ko word in a run
===================  =============  =============  =============  =================
simple (default)     0.098 / 0.126  0.564 / 0.738  0.919 / 0.992  missed
ngram 1-2            0.937 / 0.993  0.889 / 0.983  0.685 / 0.896  found
ngram 2              0.931 / 0.992  0.891 / 0.983  0.701 / 0.900  found
ngram 3              0.835 / 0.929  0.938 / 0.997  0.924 / 0.994  missed (2 syllables)
icu                  0.923 / 0.993  0.937 / 0.992  0.919 / 0.990  **missed**
shadow column (ours) 0.932 / 0.993  0.924 / 0.998  0.919 / 0.992  found
===================  =============  =============  =============  =================

``icu`` drops unspaced Korean entirely (a Hangul run becomes one over-long
token); 1-2-grams wreck space-delimited languages (en 0.685, ru 0.587 vs 0.800
with ``simple``); trigrams lose zh (0.835) and every two-character CJK word.
The shadow column is within 0.013 of the best per-language choice on
zh and th and equal to ``simple`` on ar, de, el, en, hi, ru, tr, vi, so one index
serves a mixed-language tenant.

**Filters** are rendered to SQL from :class:`~babelrag.store.filters.SearchFilter`
only: column names are constants, values were validated by type, strings are
quoted with ``'`` doubled (the SQL standard escape; backslashes are literal in
DataFusion), times are integer microseconds. No user text reaches a predicate
any other way.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from babelrag.store.base import (
    DOCUMENT_HEAD_FIELDS,
    PreparedDocument,
    check_document_ids,
    check_ids,
    check_page_args,
    check_search_request,
    document_info,
    prepare_upsert,
    validate_tenant_name,
)
from babelrag.store.errors import (
    BackendError,
    InvalidQuery,
    StoreConfigError,
    StoreError,
    TenantInactive,
    TenantNotFound,
)
from babelrag.store.filters import SearchFilter, from_epoch_us
from babelrag.store.fusion import SignalList, candidate_count, fuse, signal_weights
from babelrag.store.signal_cache import CachedSignal, SignalCache
from babelrag.store.tokenize import segment_to_text
from babelrag.store.types import (
    KEYWORD_SIGNAL,
    Chunk,
    DocumentInfo,
    DocumentPage,
    Modality,
    SearchHit,
    SearchRequest,
    SearchResult,
    Source,
    StoredChunk,
    TenantInfo,
    TenantStatus,
    UpsertResult,
    VectorDims,
    VectorName,
    freeze_mapping,
)

__all__ = ["LanceDBConfig", "LanceDBStore", "render_filter", "sql_string"]

log = logging.getLogger(__name__)

_COLLECTION_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_SCHEMA_VERSION = "1"
_FTS_COLUMN = "fts"
_VECTOR_COLUMNS = {v.value: f"vec_{v.value}" for v in VectorName}


@dataclass(frozen=True)
class _TableShape:
    """What a search needs to know of one table version (:meth:`LanceDBStore._shape`)."""

    version: int
    indexed: frozenset[str]
    filled: frozenset[str]
    #: Which opening of the tenant's table this is: a table deleted and created again starts
    #: its versions anew, so cache keys carry the generation too.
    generation: int


_NO_CANDIDATES = CachedSignal((), None)

_SCALAR_COLUMNS = [
    "id",
    "document_id",
    "chunk_index",
    "modality",
    "language",
    "text",
    "title",
    "uri",
    "mime_type",
    "tags",
    "created_us",
    "valid_us",
]


@dataclass(frozen=True)
class LanceDBConfig:
    """Settings of a :class:`LanceDBStore`. See the module docstring for what each tunes."""

    data_dir: Path | str = Path("./data")
    collection: str = "chunks"
    dims: VectorDims = field(default_factory=VectorDims)
    candidate_floor: int = 50
    ann_min_rows: int = 10_000
    ann_nprobes: int = 20
    ann_refine_factor: int = 5
    ann_retrain_growth: float = 4.0
    reindex_min_rows: int = 2_000
    optimize_every_commits: int = 64
    cleanup_older_than: timedelta = timedelta(minutes=10)
    #: How stale a read may be w.r.t. writes by *other* processes (0 = always latest).
    read_consistency_interval: timedelta | None = timedelta(0)
    fsync: bool = True
    auto_maintenance: bool = True
    #: Memory for re-using signal candidates across searches of one table version
    #: (:mod:`babelrag.store.signal_cache`); 0 turns the cache off.
    signal_cache_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if not isinstance(self.collection, str) or not _COLLECTION_RE.match(self.collection):
            raise StoreConfigError(f"invalid collection name {self.collection!r}: [A-Za-z][A-Za-z0-9_]{{0,63}}")
        if not isinstance(self.dims, VectorDims):
            raise StoreConfigError("dims must be a VectorDims")
        for name in ("candidate_floor", "ann_min_rows", "ann_nprobes", "reindex_min_rows", "optimize_every_commits"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise StoreConfigError(f"{name} must be a positive int, got {v!r}")
        if isinstance(self.ann_refine_factor, bool) or not isinstance(self.ann_refine_factor, int) or self.ann_refine_factor < 0:
            raise StoreConfigError("ann_refine_factor must be an int >= 0")
        if not self.ann_retrain_growth > 1.0:
            raise StoreConfigError("ann_retrain_growth must be > 1")
        if isinstance(self.signal_cache_bytes, bool) or not isinstance(self.signal_cache_bytes, int) or self.signal_cache_bytes < 0:
            raise StoreConfigError("signal_cache_bytes must be an int >= 0")

    @property
    def root(self) -> Path:
        return Path(self.data_dir) / self.collection


# ---------------------------------------------------------------------------
# SQL rendering of the filter model
# ---------------------------------------------------------------------------


def sql_string(value: str) -> str:
    """A SQL string literal of an already-validated value: quotes doubled, nothing else special.

    Values reaching here passed :func:`~babelrag.store.filters.check_text_value`
    (no control characters), and DataFusion's default dialect treats backslash
    literally, so doubling ``'`` is the complete escape.
    """
    if not isinstance(value, str) or "\x00" in value:
        raise InvalidQuery("internal: SQL literal must be a NUL-free string")
    return "'" + value.replace("'", "''") + "'"


def _in_list(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(sql_string(v) for v in values)})"


def render_filter(f: SearchFilter | None) -> str | None:
    """The SQL predicate of a filter, or None when it constrains nothing."""
    if f is None or f.is_empty:
        return None
    parts: list[str] = []
    if f.document_ids is not None:
        parts.append(_in_list("document_id", f.document_ids))
    if f.languages is not None:
        parts.append(_in_list("language", f.languages))
    if f.modalities is not None:
        parts.append(_in_list("modality", f.modalities))
    if f.tags_any is not None:
        parts.append(f"array_has_any(tags, [{', '.join(sql_string(t) for t in f.tags_any)}])")
    if f.tags_all is not None:
        parts.append(f"array_has_all(tags, [{', '.join(sql_string(t) for t in f.tags_all)}])")
    for column, rng in (("valid_us", f.valid_at), ("created_us", f.created_at)):
        if rng is None:
            continue
        if rng.start_us is not None:
            parts.append(f"{column} >= {int(rng.start_us)}")
        if rng.end_us is not None:
            parts.append(f"{column} < {int(rng.end_us)}")
    return " AND ".join(f"({p})" for p in parts)


def _and(*preds: str | None) -> str | None:
    ps = [p for p in preds if p]
    return " AND ".join(f"({p})" for p in ps) if ps else None


# ---------------------------------------------------------------------------
# Error translation: the one place where LanceDB / Arrow / OS errors become StoreErrors
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def _translate_errors(what: str) -> Iterator[None]:
    try:
        yield
    except StoreError:
        raise
    except (OSError, RuntimeError, ValueError, TypeError, KeyError, pa.ArrowException) as exc:
        raise BackendError(f"LanceDB failed to {what}: {type(exc).__name__}: {exc}") from exc


# ---------------------------------------------------------------------------
# Tenant registry (persistent status)
# ---------------------------------------------------------------------------


class _Registry:
    """``tenants.json``: tenant -> {status, ann_rows}. Atomic replace, flock for changes."""

    def __init__(self, root: Path) -> None:
        self.path = root / "tenants.json"
        self.lock_path = root / ".registry.lock"
        self._mutex = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._data: dict[str, dict] = {}

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load_locked(self) -> None:
        stamp = self._stat()
        if stamp == self._stamp:
            return
        if stamp is None:
            self._data = {}
        else:
            with open(self.path, encoding="utf-8") as fh:
                doc = json.load(fh)
            if doc.get("format") != 1:
                raise StoreConfigError(f"{self.path}: unknown registry format {doc.get('format')!r}")
            self._data = dict(doc.get("tenants", {}))
        self._stamp = stamp

    def snapshot(self) -> dict[str, dict]:
        with self._mutex:
            self._load_locked()
            return {k: dict(v) for k, v in self._data.items()}

    def get(self, tenant: str) -> dict | None:
        with self._mutex:
            self._load_locked()
            entry = self._data.get(tenant)
            return None if entry is None else dict(entry)

    @contextlib.contextmanager
    def edit(self) -> Iterator[dict[str, dict]]:
        """Exclusive (threads and processes) read-modify-write of the registry."""
        with self._mutex:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.lock_path, "a+") as lock_fh:
                fcntl.flock(lock_fh.fileno(), fcntl.LOCK_EX)
                try:
                    self._stamp = None  # always re-read under the lock
                    self._load_locked()
                    data = {k: dict(v) for k, v in self._data.items()}
                    yield data
                    self._write(data)
                finally:
                    fcntl.flock(lock_fh.fileno(), fcntl.LOCK_UN)

    def _write(self, data: dict[str, dict]) -> None:
        tmp = self.path.with_name(f".tenants.{os.getpid()}.{threading.get_ident()}.tmp")
        payload = json.dumps({"format": 1, "tenants": data}, indent=1, sort_keys=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        self._data = data
        self._stamp = self._stat()


def _vector_rows(column: pa.ChunkedArray) -> list[np.ndarray | None]:
    """A fixed-size-list column as one read-only float32 array per row (None where null), decoded
    in one piece: ``to_pylist`` built a Python float per component, the larger part of a read."""
    array = column.combine_chunks()
    if isinstance(array, pa.ExtensionArray):
        array = array.storage
    dim = array.type.list_size
    # values of the rows in view, nulls included (their slots are zero-filled or garbage)
    flat = array.values.slice(array.offset * dim, len(array) * dim)
    matrix = flat.to_numpy(zero_copy_only=False).astype(np.float32, copy=True).reshape(len(array), dim)
    matrix.setflags(write=False)
    valid = array.is_valid().to_numpy(zero_copy_only=False)
    return [matrix[i] if valid[i] else None for i in range(len(array))]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_new_files(root: Path, since_ns: int) -> None:
    """fsync every file under ``root`` modified at or after ``since_ns``, and their directories."""
    dirty_dirs: set[str] = set()
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            p = os.path.join(dirpath, name)
            try:
                st = os.stat(p)
            except FileNotFoundError:
                continue  # removed by a concurrent cleanup
            if st.st_mtime_ns >= since_ns:
                try:
                    fd = os.open(p, os.O_RDONLY)
                except FileNotFoundError:
                    continue
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                dirty_dirs.add(dirpath)
    for d in dirty_dirs | {str(root)}:
        with contextlib.suppress(FileNotFoundError):
            _fsync_dir(Path(d))


# ---------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------


class LanceDBStore:
    """LanceDB implementation of :class:`~babelrag.store.base.VectorStore`. Thread-safe."""

    def __init__(self, config: LanceDBConfig | None = None) -> None:
        import lancedb  # local: keeps `import babelrag.store` light

        self.config = config or LanceDBConfig()
        self._dims = self.config.dims
        root = self.config.root
        with _translate_errors("open the data directory"):
            (root / "tables").mkdir(parents=True, exist_ok=True)
            self._db = lancedb.connect(
                str(root / "tables"), read_consistency_interval=self.config.read_consistency_interval
            )
        self._registry = _Registry(root)
        self._schema = self._make_schema()
        self._lock = threading.RLock()
        self._tables: dict[str, object] = {}
        self._shapes: dict[str, _TableShape] = {}
        self._write_locks: dict[str, threading.Lock] = {}
        self._last_optimized: dict[str, int] = {}
        self._generations: dict[str, int] = {}
        self._next_generation = 0
        self.signal_cache = SignalCache(self.config.signal_cache_bytes)
        self._closed = False

    # -- schema -------------------------------------------------------------
    def _make_schema(self) -> pa.Schema:
        d = self._dims
        fields = [
            pa.field("id", pa.string(), nullable=False),
            pa.field("document_id", pa.string(), nullable=False),
            pa.field("chunk_index", pa.int32(), nullable=False),
            pa.field("modality", pa.string(), nullable=False),
            pa.field("language", pa.string(), nullable=False),
            pa.field("text", pa.string(), nullable=False),
            pa.field(_FTS_COLUMN, pa.string(), nullable=False),
            pa.field("title", pa.string(), nullable=False),
            pa.field("uri", pa.string(), nullable=False),
            pa.field("mime_type", pa.string(), nullable=False),
            pa.field("tags", pa.list_(pa.string()), nullable=False),
            pa.field("created_us", pa.int64(), nullable=False),
            pa.field("valid_us", pa.int64(), nullable=True),
        ]
        for v in VectorName:
            fields.append(pa.field(_VECTOR_COLUMNS[v.value], pa.list_(pa.float32(), d.of(v)), nullable=True))
        meta = {"babelrag.schema_version": _SCHEMA_VERSION, "babelrag.dims": json.dumps(d.as_dict(), sort_keys=True)}
        return pa.schema(fields, metadata=meta)

    def _check_schema(self, tenant: str, table) -> None:
        schema = table.schema
        for v in VectorName:
            col = _VECTOR_COLUMNS[v.value]
            if col not in schema.names:
                raise StoreConfigError(f"tenant {tenant!r}: table has no column {col!r}")
            t = schema.field(col).type
            size = getattr(t, "list_size", None)
            if size != self._dims.of(v):
                raise StoreConfigError(
                    f"tenant {tenant!r}: stored {v.value!r} vectors have dimension {size}, "
                    f"this store is configured for {self._dims.of(v)}"
                )

    @property
    def dims(self) -> VectorDims:
        return self._dims

    # -- handles --------------------------------------------------------------
    def _ensure_open(self) -> None:
        if self._closed:
            raise StoreError("store is closed")

    def _write_lock(self, tenant: str) -> threading.Lock:
        with self._lock:
            return self._write_locks.setdefault(tenant, threading.Lock())

    def _status(self, tenant: str) -> TenantStatus:
        entry = self._registry.get(tenant)
        if entry is None:
            raise TenantNotFound(tenant)
        return TenantStatus(entry["status"])

    def _open_table(self, tenant: str):
        """The tenant's table if it exists and is ACTIVE (else TenantNotFound / TenantInactive)."""
        self._ensure_open()
        validate_tenant_name(tenant)
        status = self._status(tenant)
        if status is not TenantStatus.ACTIVE:
            with self._lock:
                self._tables.pop(tenant, None)
                self._shapes.pop(tenant, None)
            raise TenantInactive(tenant, status)
        with self._lock:
            table = self._tables.get(tenant)
            if table is None:
                with _translate_errors(f"open tenant {tenant!r}"):
                    table = self._db.open_table(tenant)
                self._check_schema(tenant, table)
                self._tables[tenant] = table
                self._next_generation += 1
                self._generations[tenant] = self._next_generation
                self._last_optimized.setdefault(tenant, table.version)
            return table

    # -- tenants --------------------------------------------------------------
    def _table_names(self) -> set[str]:
        names: set[str] = set()
        token = None
        while True:
            page = self._db.list_tables(page_token=token)
            names.update(page.tables)
            token = page.page_token
            if not token:
                return names

    def ensure_tenant(self, tenant: str) -> TenantInfo:
        self._ensure_open()
        validate_tenant_name(tenant)
        with self._write_lock(tenant), self._registry.edit() as reg:
            entry = reg.get(tenant)
            with _translate_errors(f"create tenant {tenant!r}"):
                if tenant not in self._table_names():
                    # A registry entry without a table (a crash inside delete_tenant)
                    # gets a fresh empty table; a table without an entry is adopted.
                    self._db.create_table(tenant, schema=self._schema)
                    if self.config.fsync:
                        _fsync_new_files(self._table_dir(tenant), 0)
                elif tenant not in self._tables:
                    self._check_schema(tenant, self._db.open_table(tenant))
            if entry is None:
                entry = {"status": TenantStatus.ACTIVE.value, "ann_rows": {}}
                reg[tenant] = entry
            return TenantInfo(tenant, TenantStatus(entry["status"]))

    def get_tenant(self, tenant: str) -> TenantInfo:
        self._ensure_open()
        validate_tenant_name(tenant)
        return TenantInfo(tenant, self._status(tenant))

    def list_tenants(self) -> list[TenantInfo]:
        self._ensure_open()
        snap = self._registry.snapshot()
        return [TenantInfo(name, TenantStatus(snap[name]["status"])) for name in sorted(snap)]

    def delete_tenant(self, tenant: str) -> bool:
        self._ensure_open()
        validate_tenant_name(tenant)
        with self._write_lock(tenant), self._registry.edit() as reg:
            existed = reg.pop(tenant, None) is not None
            with self._lock:
                self._tables.pop(tenant, None)
                self._shapes.pop(tenant, None)
                self._last_optimized.pop(tenant, None)
            self.signal_cache.forget(tenant)
            with _translate_errors(f"delete tenant {tenant!r}"):
                if tenant in self._table_names():
                    self._db.drop_table(tenant)
                    existed = True
            return existed

    def _set_status(self, tenant: str, status: TenantStatus) -> TenantInfo:
        self._ensure_open()
        validate_tenant_name(tenant)
        with self._registry.edit() as reg:
            entry = reg.get(tenant)
            if entry is None:
                raise TenantNotFound(tenant)
            entry["status"] = status.value
        if status is not TenantStatus.ACTIVE:
            with self._lock:
                self._tables.pop(tenant, None)  # release the handle and its caches
                self._shapes.pop(tenant, None)
            self.signal_cache.forget(tenant)
        return TenantInfo(tenant, status)

    def deactivate_tenant(self, tenant: str, *, offload: bool = False) -> TenantInfo:
        return self._set_status(tenant, TenantStatus.OFFLOADED if offload else TenantStatus.INACTIVE)

    def activate_tenant(self, tenant: str) -> TenantInfo:
        return self._set_status(tenant, TenantStatus.ACTIVE)

    # -- writes -----------------------------------------------------------------
    def _table_dir(self, tenant: str) -> Path:
        return self.config.root / "tables" / f"{tenant}.lance"

    def _to_arrow(self, docs: Sequence[PreparedDocument]) -> pa.Table:
        cols: dict[str, list] = {name: [] for name in self._schema.names}
        for doc in docs:
            for p in doc.chunks:
                c = p.chunk
                cols["id"].append(p.id)
                cols["document_id"].append(c.document_id)
                cols["chunk_index"].append(c.chunk_index)
                cols["modality"].append(Modality(c.modality).value)
                cols["language"].append(c.language)
                cols["text"].append(c.text)
                cols[_FTS_COLUMN].append(segment_to_text(c.text))
                cols["title"].append(c.source.title)
                cols["uri"].append(c.source.uri)
                cols["mime_type"].append(c.source.mime_type)
                cols["tags"].append(list(c.tags))
                cols["created_us"].append(p.created_us)
                cols["valid_us"].append(p.valid_us)
        arrays = []
        for f in self._schema:
            if f.name.startswith("vec_"):
                name = f.name[4:]
                dim = f.type.list_size
                rows = [p.vectors.get(name) for doc in docs for p in doc.chunks]
                present = np.array([r is not None for r in rows], dtype=bool)
                flat = np.zeros((len(rows), dim), dtype=np.float32)
                for i, r in enumerate(rows):
                    if r is not None:
                        flat[i] = r
                values = pa.array(flat.reshape(-1), type=pa.float32())
                arr = pa.FixedSizeListArray.from_arrays(values, dim, mask=pa.array(~present))
                arrays.append(arr.cast(f.type))
            else:
                arrays.append(pa.array(cols[f.name], type=f.type))
        return pa.Table.from_arrays(arrays, schema=self._schema)

    def upsert(self, tenant: str, chunks: Sequence[Chunk]) -> UpsertResult:
        table = self._open_table(tenant)
        docs, errors = prepare_upsert(tenant, chunks, self._dims)
        if not docs:
            return UpsertResult((), 0, tuple(errors))
        data = self._to_arrow(docs)
        doc_pred = _in_list("document_id", [d.document_id for d in docs])
        with self._write_lock(tenant):
            started = time.time_ns() - 1_000_000  # 1 ms slack for coarse file-system clocks
            with _translate_errors(f"write to tenant {tenant!r}"):
                (
                    table.merge_insert("id")
                    .when_matched_update_all()
                    .when_not_matched_insert_all()
                    .when_not_matched_by_source_delete(doc_pred)
                    # Vectors were validated already; this only stops LanceDB from
                    # treating absent (null) vectors of width >= 10 as malformed.
                    .execute(data, on_bad_vectors="null")
                )
                if self.config.auto_maintenance:
                    self._maintain(tenant, table)
                if self.config.fsync:
                    _fsync_new_files(self._table_dir(tenant), started)
        written = tuple(d.document_id for d in docs)
        return UpsertResult(written, data.num_rows, tuple(errors))

    def delete_documents(self, tenant: str, document_ids: Sequence[str]) -> int:
        table = self._open_table(tenant)
        ids = check_document_ids(document_ids)
        if not ids:
            return 0
        pred = _in_list("document_id", ids)
        with self._write_lock(tenant):
            started = time.time_ns() - 1_000_000
            with _translate_errors(f"delete from tenant {tenant!r}"):
                n = table.count_rows(pred)
                if n:
                    table.delete(pred)
                    if self.config.fsync:
                        _fsync_new_files(self._table_dir(tenant), started)
        return n

    # -- maintenance --------------------------------------------------------------
    def optimize(self, tenant: str) -> None:
        """Build missing indexes, fold new rows into them, compact, and drop old versions."""
        table = self._open_table(tenant)
        with self._write_lock(tenant):
            started = time.time_ns() - 1_000_000
            with _translate_errors(f"optimize tenant {tenant!r}"):
                self._maintain(tenant, table, force_optimize=True)
                if self.config.fsync:
                    _fsync_new_files(self._table_dir(tenant), started)

    def index_status(self, tenant: str) -> dict[str, dict[str, int]]:
        """Per index: indexed and unindexed row counts (for monitoring and tests)."""
        table = self._open_table(tenant)
        out: dict[str, dict[str, int]] = {}
        with _translate_errors(f"read index stats of tenant {tenant!r}"):
            for idx in table.list_indices():
                st = table.index_stats(idx.name)
                if st is not None:
                    out[idx.columns[0]] = {
                        "indexed": int(st.num_indexed_rows),
                        "unindexed": int(st.num_unindexed_rows),
                        "type": str(st.index_type),
                    }
        return out

    def _maintain(self, tenant: str, table, *, force_optimize: bool = False) -> None:
        """Called with the tenant's write lock held."""
        from lancedb.index import FTS, IvfSq

        indices = {idx.columns[0]: idx for idx in table.list_indices()}
        total = table.count_rows()
        if total == 0:
            return
        if _FTS_COLUMN not in indices:
            table.create_index(
                _FTS_COLUMN,
                config=FTS(
                    base_tokenizer="whitespace",
                    lower_case=False,
                    stem=False,
                    remove_stop_words=False,
                    ascii_folding=False,
                    max_token_length=64,
                ),
            )
        entry = self._registry.get(tenant) or {}
        ann_rows: dict[str, int] = dict(entry.get("ann_rows", {}))
        trained: dict[str, int] = {}
        for col in _VECTOR_COLUMNS.values():
            present = table.count_rows(f"{col} IS NOT NULL")
            have = col in indices
            if present < self.config.ann_min_rows:
                continue
            if have and present < self.config.ann_retrain_growth * ann_rows.get(col, present):
                continue
            log.info("tenant %s: %s ANN index on %s (%d vectors)", tenant, "retraining" if have else "building", col, present)
            table.create_index(col, config=IvfSq(distance_type="cosine"), replace=True)
            trained[col] = present
        if trained:
            with self._registry.edit() as reg:
                if tenant in reg:
                    reg[tenant].setdefault("ann_rows", {}).update(trained)
        need = force_optimize or (table.version - self._last_optimized.get(tenant, table.version)) >= self.config.optimize_every_commits
        if not need:
            for idx in table.list_indices():
                st = table.index_stats(idx.name)
                if st is None:
                    continue
                threshold = max(self.config.reindex_min_rows, st.num_indexed_rows // 10)
                if st.num_unindexed_rows >= threshold:
                    need = True
                    break
        if need:
            table.optimize(cleanup_older_than=self.config.cleanup_older_than)
            self._last_optimized[tenant] = table.version

    # -- reads --------------------------------------------------------------------
    def _rows_to_chunks(self, tbl: pa.Table, include_vectors: bool) -> dict[str, StoredChunk]:
        out: dict[str, StoredChunk] = {}
        cols = {name: tbl.column(name).to_pylist() for name in _SCALAR_COLUMNS}
        vecs = {name: _vector_rows(tbl.column(col)) for name, col in _VECTOR_COLUMNS.items()} if include_vectors else {}
        for i, cid in enumerate(cols["id"]):
            vectors = {name: rows[i] for name, rows in vecs.items() if rows[i] is not None}
            valid = cols["valid_us"][i]
            chunk = Chunk(
                document_id=cols["document_id"][i],
                chunk_index=int(cols["chunk_index"][i]),
                text=cols["text"][i],
                language=cols["language"][i],
                modality=Modality(cols["modality"][i]),
                source=Source(title=cols["title"][i], uri=cols["uri"][i], mime_type=cols["mime_type"][i]),
                created_at=from_epoch_us(cols["created_us"][i]),
                valid_at=None if valid is None else from_epoch_us(valid),
                tags=tuple(cols["tags"][i] or ()),
                vectors=freeze_mapping(vectors),
            )
            out[cid] = StoredChunk(id=cid, chunk=chunk)
        return out

    def _fetch(self, table, ids: Sequence[str], include_vectors: bool) -> dict[str, StoredChunk]:
        if not ids:
            return {}
        columns = list(_SCALAR_COLUMNS)
        if include_vectors:
            columns += list(_VECTOR_COLUMNS.values())
        result: dict[str, StoredChunk] = {}
        for start in range(0, len(ids), 1000):
            part = ids[start : start + 1000]
            tbl = table.search().where(_in_list("id", part)).select(columns).limit(len(part)).to_arrow()
            result.update(self._rows_to_chunks(tbl, include_vectors))
        return result

    def get(self, tenant: str, ids: Sequence[str], *, include_vectors: bool = False) -> list[StoredChunk]:
        table = self._open_table(tenant)
        wanted = check_ids(ids)
        with _translate_errors(f"read tenant {tenant!r}"):
            found = self._fetch(table, wanted, include_vectors)
        return [found[i] for i in wanted if i in found]

    def count(self, tenant: str, filters: SearchFilter | None = None) -> int:
        table = self._open_table(tenant)
        if filters is not None and not isinstance(filters, SearchFilter):
            raise InvalidQuery("filters must be a SearchFilter")
        pred = render_filter(filters)
        with _translate_errors(f"count tenant {tenant!r}"):
            return int(table.count_rows(pred)) if pred else int(table.count_rows())

    def list_documents(self, tenant: str, *, limit: int = 100, after: str | None = None) -> DocumentPage:
        table = self._open_table(tenant)
        check_page_args(limit, after)
        with _translate_errors(f"list documents of tenant {tenant!r}"):
            all_ids = table.search().select(["document_id"]).limit(None).to_arrow().column("document_id")
            counts = pa.table({"d": all_ids}).group_by("d").aggregate([("d", "count")]).sort_by("d")
            total = counts.num_rows
            if after is not None:
                counts = counts.filter(pc.greater(counts.column("d"), pa.scalar(after, pa.string())))
            if counts.num_rows == 0:
                return DocumentPage((), None, total)
            more = counts.num_rows > limit
            page = counts.slice(0, limit)
            doc_ids = page.column("d").to_pylist()
            n = page.column("d_count").to_pylist()
            first = (
                table.search()
                .where(_and(_in_list("document_id", doc_ids)))
                .select(["document_id", "chunk_index", *DOCUMENT_HEAD_FIELDS])
                .limit(None)
                .to_arrow()
            )
        first = first.sort_by([("document_id", "ascending"), ("chunk_index", "ascending")])
        heads: dict[str, dict] = {}
        for row in first.to_pylist():
            heads.setdefault(row["document_id"], row)
        docs = tuple(document_info(d, int(c), heads.get(d)) for d, c in zip(doc_ids, n))
        return DocumentPage(docs, doc_ids[-1] if more else None, total)

    def _shape(self, tenant: str, table) -> _TableShape:
        """Which columns of ``table`` are indexed and which vector columns hold any vector.

        Read once per table version: a search then skips signals that cannot match (the image
        vector column of a text-only tenant) instead of scanning for nothing.
        """
        version = table.version
        with self._lock:
            shape = self._shapes.get(tenant)
            generation = self._generations.get(tenant, 0)
        if shape is None or shape.version != version or shape.generation != generation:
            indexed = frozenset(idx.columns[0] for idx in table.list_indices())
            filled = frozenset(col for col in _VECTOR_COLUMNS.values() if table.count_rows(f"{col} IS NOT NULL") > 0)
            shape = _TableShape(version, indexed, filled, generation)
            with self._lock:
                self._shapes[tenant] = shape
        return shape

    def _signal(
        self, tenant: str, table, shape: _TableShape, request: SearchRequest, name: str, where: str | None, n: int, columns: list[str]
    ) -> CachedSignal:
        """One signal's ranked (id, raw score) candidates and their ``columns`` (the hits' rows,
        so that most searches need no second read), from the signal cache when this table
        version already answered the same signal."""
        if name == KEYWORD_SIGNAL:
            terms = segment_to_text(request.text or "")
            if not terms or _FTS_COLUMN not in shape.indexed:
                return _NO_CANDIDATES  # nothing searchable in the query, or no rows yet
            query: tuple = (_FTS_COLUMN, terms)
        else:
            vq = next(v for v in request.vectors if v.name == name)
            col = _VECTOR_COLUMNS[vq.target.value]
            if col not in shape.filled:
                return _NO_CANDIDATES  # no chunk has this kind of vector
            query = (col, np.ascontiguousarray(vq.vector, dtype=np.float32).tobytes())
        key = (tenant, shape.generation, shape.version, *query, n, where, tuple(columns))
        cached = self.signal_cache.get(key)
        if cached is None:
            cached = self._run_signal(table, shape, query, where, n, columns)
            self.signal_cache.put(key, cached)
        return cached

    def _run_signal(self, table, shape: _TableShape, query: tuple, where: str | None, n: int, columns: list[str]) -> CachedSignal:
        from lancedb.query import MatchQuery

        col, what = query
        if col == _FTS_COLUMN:
            q = table.search(MatchQuery(what, _FTS_COLUMN), query_type="fts").select([*columns, "_score"]).limit(n)
            if where:
                q = q.where(where)
            tbl = q.to_arrow()
            scores = zip(tbl.column("id").to_pylist(), tbl.column("_score").to_pylist())
            return CachedSignal(tuple(scores), tbl.select(columns))
        q = (
            table.search(np.frombuffer(what, dtype=np.float32), vector_column_name=col, query_type="vector")
            .distance_type("cosine")
            .select([*columns, "_distance"])
            .limit(n)
        )
        if col in shape.indexed:
            q = q.nprobes(self.config.ann_nprobes)
            if self.config.ann_refine_factor:
                q = q.refine_factor(self.config.ann_refine_factor)
        if where:
            q = q.where(where, prefilter=True)
        tbl = q.to_arrow()
        scores = ((cid, 1.0 - float(d)) for cid, d in zip(tbl.column("id").to_pylist(), tbl.column("_distance").to_pylist()))
        return CachedSignal(tuple(scores), tbl.select(columns))

    def search(self, tenant: str, request: SearchRequest) -> SearchResult:
        table = self._open_table(tenant)
        check_search_request(request, self._dims)
        weights = signal_weights(request)
        n = candidate_count(request, self.config.candidate_floor)
        where = render_filter(request.filters)
        columns = list(_SCALAR_COLUMNS)
        if request.include_vectors:
            columns += list(_VECTOR_COLUMNS.values())
        with _translate_errors(f"search tenant {tenant!r}"):
            shape = self._shape(tenant, table)
            lists, tables = [], []
            for name, w in weights.items():
                signal = self._signal(tenant, table, shape, request, name, where, n, columns)
                lists.append(SignalList(name, w, signal.candidates))
                if signal.rows is not None and signal.rows.num_rows:
                    tables.append(signal.rows)
            fused = fuse(lists)[request.offset : request.offset + request.limit]
            rows = self._rows_of([h.id for h in fused], tables, request.include_vectors)
            missing = [h.id for h in fused if h.id not in rows]
            if missing:  # not expected: every fused id came from a signal's rows
                rows.update(self._fetch(table, missing, request.include_vectors))
        hits = tuple(
            SearchHit(id=h.id, score=h.score, signals=h.signals, chunk=rows[h.id].chunk) for h in fused if h.id in rows
        )
        return SearchResult(hits=hits, weights=freeze_mapping(weights), candidates=n)

    def _rows_of(self, ids: Sequence[str], tables: list[pa.Table], include_vectors: bool) -> dict[str, StoredChunk]:
        """The rows of ``ids`` among the signals' result tables."""
        if not ids or not tables:
            return {}
        merged = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        wanted = merged.filter(pc.is_in(merged.column("id"), value_set=pa.array(list(ids), type=pa.string())))
        return self._rows_to_chunks(wanted, include_vectors)

    def close(self) -> None:
        with self._lock:
            self._tables.clear()
            self._shapes.clear()
            self._closed = True

    def __enter__(self) -> LanceDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
