"""Cross-lingual, cross-modal retrieval for a query of text and/or images.

Signals (each a ranked list, fused by the store with relative-score fusion):
- ``keyword``     BM25 over the language-aware keyword index (text and captions),
- ``text``        the E5 query vector against chunk E5 vectors (any language: E5 is multilingual),
- ``clip_text``   the multilingual CLIP text vector of the query against image vectors, so a
                  question in any language finds pictures,
- ``image``       each query image's CLIP vector against image vectors,
- ``image_caption`` each query image's CLIP vector against the CLIP vectors of captions.
Query embeddings are cached (by text / image digest); whole retrievals are cached per tenant and
data version (see :mod:`babelrag.gateway.caches`). A tenant without images gets no ``clip_text``
signal and so no CLIP text embedding of its queries: on a text-only tenant that Triton call (a
third of a query's embedding work on CPU) could never find anything. Whether a tenant has images
is read from the store once per data version.
"""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np

from babelrag.gateway.caches import LruCache, digest
from babelrag.gateway.errors import InvalidRequest
from babelrag.gateway.metrics import StageClock
from babelrag.gateway.runtime import Runtime
from babelrag.store.filters import SearchFilter
from babelrag.store.types import SearchHit, SearchMode, SearchRequest, VectorName, VectorQuery

MAX_TOP_K = 100
#: Relative weights of the vector signals (they share alpha). Min-max normalisation lifts the best
#: candidate of every list to 1 however weak it is, so the cross-modal signals (a text query
#: against images, an image against captions) weigh less than the same-modality ones.
WEIGHTS = {"text": 1.0, "clip_text": 0.5, "image": 1.0, "image_caption": 0.3}


@dataclasses.dataclass(frozen=True)
class RetrievalQuery:
    text: str
    images: tuple[bytes, ...] = ()
    mode: SearchMode = SearchMode.HYBRID
    top_k: int = 10
    offset: int = 0
    alpha: float = 0.7
    filters: SearchFilter | None = None
    #: Read the hits' vectors too (Ask compares passages by them; Search returns none, and reading
    #: them was a fifth of a LanceDB search's time).
    include_vectors: bool = True

    def cache_key(self, tenant: str, data_version: int) -> tuple:
        return (
            tenant,
            data_version,
            self.mode.value,
            self.text,
            digest(*self.images) if self.images else "",
            self.top_k,
            self.offset,
            round(self.alpha, 4),
            repr(self.filters),
            self.include_vectors,
        )


class Retriever:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._query_vectors: LruCache[np.ndarray] = LruCache(runtime.settings.embedding_cache_size, "query_embedding", runtime.metrics)
        self._results: LruCache[tuple[SearchHit, ...]] = LruCache(runtime.settings.retrieval_cache_size, "retrieval", runtime.metrics)
        self._has_images: LruCache[bool] = LruCache(runtime.settings.retrieval_cache_size, "tenant_has_images", runtime.metrics)

    async def retrieve(self, tenant: str, query: RetrievalQuery, clock: StageClock) -> tuple[tuple[SearchHit, ...], bool]:
        """The fused hits for ``query`` in ``tenant``, and whether they came from the cache."""
        if not 1 <= query.top_k <= MAX_TOP_K:
            raise InvalidRequest(f"top_k must be between 1 and {MAX_TOP_K}, got {query.top_k}")
        if not query.text.strip() and not query.images:
            raise InvalidRequest("a query needs text or at least one image")
        if query.mode is SearchMode.KEYWORD and not query.text.strip():
            raise InvalidRequest("a keyword search needs query text")
        version = await self.rt.data_version(tenant)
        key = query.cache_key(tenant, version)
        cached = self._results.get(key)
        if cached is not None:
            return cached, True
        with clock.stage("embed"):
            vectors = await self._query_vectors_for(query, tenant, version)
        request = self._request(query, vectors)
        with clock.stage("retrieve"):
            result = await self.rt.store.search(tenant, request)
        self._results.put(key, result.hits)
        return result.hits, False

    def _request(self, query: RetrievalQuery, vectors: list[VectorQuery]) -> SearchRequest:
        common = {"filters": query.filters, "limit": query.top_k, "offset": query.offset, "include_vectors": query.include_vectors}
        text = query.text.strip()
        if query.mode is SearchMode.KEYWORD:
            return SearchRequest.keyword(text, **common)
        if query.mode is SearchMode.VECTOR or not text:
            return SearchRequest.vector(vectors, **common)
        return SearchRequest.hybrid(text, vectors, alpha=query.alpha, **common)

    async def _tenant_has_images(self, tenant: str, data_version: int) -> bool:
        key = (tenant, data_version)
        known = self._has_images.get(key)
        if known is None:
            known = await self.rt.store.count(tenant, SearchFilter(modalities=("image",))) > 0
            self._has_images.put(key, known)
        return known

    async def _query_vectors_for(self, query: RetrievalQuery, tenant: str, data_version: int) -> list[VectorQuery]:
        if query.mode is SearchMode.KEYWORD:
            return []
        jobs = []
        text = query.text.strip()
        # Only a text query has a clip_text signal, so only it asks whether the tenant has images.
        tenant_has_images = bool(text) and await self._tenant_has_images(tenant, data_version)
        if text:
            jobs.append(self._cached(("e5", text), lambda: self.rt.encoders.embed_texts([text], kind="query")))
            if tenant_has_images:
                jobs.append(self._cached(("clip", text), lambda: self.rt.encoders.embed_clip_texts([text])))
        for image in query.images:
            jobs.append(self._cached(("image", digest(image)), lambda image=image: self.rt.encoders.embed_images([image])))
        embedded = await asyncio.gather(*jobs)
        vectors = []
        if text:
            vectors.append(VectorQuery(VectorName.TEXT, embedded[0], weight=WEIGHTS["text"], name="text"))
            if tenant_has_images:
                vectors.append(VectorQuery(VectorName.IMAGE, embedded[1], weight=WEIGHTS["clip_text"], name="clip_text"))
            embedded = embedded[1 + tenant_has_images :]
        for index, image_vector in enumerate(embedded):
            vectors += [
                VectorQuery(VectorName.IMAGE, image_vector, weight=WEIGHTS["image"], name=f"image{index}"),
                VectorQuery(VectorName.CLIP_TEXT, image_vector, weight=WEIGHTS["image_caption"], name=f"image{index}_caption"),
            ]
        return vectors

    async def _cached(self, key: tuple, compute) -> np.ndarray:  # noqa: ANN001
        vector = self._query_vectors.get(key)
        if vector is None:
            vector = (await compute())[0]
            self._query_vectors.put(key, vector)
        return vector
