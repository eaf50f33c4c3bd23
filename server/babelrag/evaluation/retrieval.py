"""Retrieval evaluation through the gateway: monolingual, cross-lingual and pooled (XQuAD-R).

Everything goes through the SDK's :class:`~babelrag_client.AsyncClient` against a real gateway:
paragraphs are ingested with ``ingest`` (one tenant per corpus), questions are run with
``search(query, top_k=, mode=, alpha=)``, and the ranked hits are scored with
:mod:`babelrag.evaluation.metrics`. Searches run concurrently (``concurrency`` in flight), so
Triton's dynamic batcher merges the query embeddings.

Settings
  monolingual   each language's questions against its own paragraphs, for every method
                (keyword-only, vector-only, hybrid at each alpha of the sweep).
  cross-lingual questions in X against the pivot language's paragraphs (X -> en), and the pivot's
                questions against X's paragraphs (en -> X). The files must be parallel
                (:func:`~babelrag.evaluation.squad.check_parallel`): the gold paragraph is the
                one at the question's position in the other file.
  pooled        all languages' paragraphs in one tenant (XQuAD-R, Roy et al. 2020); a hit counts
                if it is the gold paragraph in any language. Adds mAP@20 with all translations
                relevant (LAReQA's measure) and the language bias: the share of the top 10 (and
                of the top 1) in the query's own language.

Documents and hits. A paragraph is stored as one document, id ``<language>:<position key>``; the
gateway may split a long paragraph into several chunks. Hits are chunks, so a ranking is the
hits' document ids in order with repeats dropped (a document ranks where its best chunk does).
Enough hits are requested for that: ``depth x`` the most chunks any document of the corpus got
(capped at the gateway's maximum of 100).

Gateway behaviour that matters here: query embeddings are cached (so the alpha sweep embeds each
question once); whole retrievals are cached per (mode, alpha, query), so distinct methods never
share a fused result, but the embedded store caches each signal's candidates per table version, so
keyword, vector and every hybrid alpha of one question run one BM25 and one vector query between
them (:mod:`babelrag.store.signal_cache`). Questions are therefore searched question by question,
all methods in a row. Tenants have no rate limit unless one is set. The gateway's default reranker
(the fused score) is left on, as users get it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from babelrag_client import AsyncClient, BabelRAGError, TextDocument, Timeouts

from babelrag.evaluation.metrics import RANKING_METRICS, macro_average, summarize_rankings
from babelrag.evaluation.squad import SquadDataset, check_parallel
from babelrag.evaluation.stack import Endpoint, EvaluationError

__all__ = [
    "Corpus",
    "GatewaySession",
    "Method",
    "Query",
    "Ranking",
    "default_methods",
    "evaluate_crosslingual",
    "evaluate_monolingual",
    "evaluate_pooled",
    "parse_methods",
]

Progress = Callable[[str], None]
MAX_TOP_K = 100  # the gateway's limit (babelrag.gateway.retrieval.MAX_TOP_K)
INGEST_RETRIES = 3  # rounds of re-sending documents the gateway answered UNAVAILABLE
_TENANT_UNSAFE = re.compile(r"[^a-z0-9_-]+")


@dataclasses.dataclass(frozen=True, order=True)
class Method:
    """A search configuration: ``mode`` keyword / vector / hybrid, and hybrid's ``alpha``."""

    mode: str
    alpha: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("keyword", "vector", "hybrid"):
            raise ValueError(f"unknown search mode {self.mode!r}: keyword, vector or hybrid")
        if self.mode == "hybrid":
            if self.alpha is None or not 0.0 <= self.alpha <= 1.0:
                raise ValueError(f"hybrid needs an alpha in [0, 1], got {self.alpha!r}")
        elif self.alpha is not None:
            raise ValueError(f"{self.mode} takes no alpha")

    @property
    def name(self) -> str:
        return f"hybrid@{self.alpha:g}" if self.mode == "hybrid" else self.mode

    @classmethod
    def parse(cls, text: str, default_alpha: float = 0.7) -> Method:
        """``keyword``, ``vector``, ``hybrid`` (the default alpha) or ``hybrid@0.5``."""
        mode, _, alpha = text.strip().lower().partition("@")
        if mode == "hybrid":
            try:
                return cls("hybrid", float(alpha) if alpha else default_alpha)
            except ValueError:
                raise ValueError(f"bad alpha in {text!r}") from None
        if alpha:
            raise ValueError(f"{mode} takes no alpha: {text!r}")
        return cls(mode)


def parse_methods(text: str, default_alpha: float = 0.7) -> list[Method]:
    """A comma-separated list of methods (:meth:`Method.parse`), duplicates dropped."""
    methods = [Method.parse(part, default_alpha) for part in text.split(",") if part.strip()]
    if not methods:
        raise ValueError("no search method given")
    return list(dict.fromkeys(methods))


def default_methods(alphas: Sequence[float] = (0.3, 0.5, 0.7, 0.9)) -> list[Method]:
    return [Method("keyword"), Method("vector"), *(Method("hybrid", a) for a in alphas)]


@dataclasses.dataclass(frozen=True)
class Query:
    id: str
    text: str
    language: str
    relevant: frozenset[str]


@dataclasses.dataclass(frozen=True)
class Ranking:
    """One query's result: document ids best first (deduplicated) and their languages."""

    query: Query
    documents: tuple[str, ...]
    languages: tuple[str, ...]
    error: str = ""


@dataclasses.dataclass
class Corpus:
    """A tenant holding one corpus, and the client that searches it."""

    name: str
    tenant: str
    client: AsyncClient
    languages: dict[str, str]  # document id -> language
    chunks: int = 0
    max_chunks: int = 1
    ingest_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "documents": len(self.languages),
            "chunks": self.chunks,
            "max_chunks_per_document": self.max_chunks,
            "ingest_s": round(self.ingest_s, 2),
        }


def corpus_documents(dataset: SquadDataset) -> list[TextDocument]:
    return [
        TextDocument(
            text=p.context,
            document_id=dataset.document_id(p.key),
            title=p.title,
            language=dataset.language,
            tags=(dataset.name,),
        )
        for p in dataset.paragraphs
    ]


class GatewaySession:
    """Tenants, clients and bounded-concurrency searches on one gateway (``async with``).

    Tenants are named ``eval-<run id>-<corpus>``; they are deleted on exit unless ``keep_tenants``
    (an in-process stack throws its whole data directory away anyway). ``after_ingest(tenant)``
    runs once a corpus is stored, before it is searched (:meth:`EvalStack.compact`).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        concurrency: int = 8,
        ingest_streams: int = 2,
        keep_tenants: bool = False,
        insecure: bool | None = None,
        progress: Progress | None = None,
        after_ingest: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        if concurrency < 1 or ingest_streams < 1:
            raise ValueError("concurrency and ingest_streams must be at least 1")
        self.endpoint = endpoint
        self.concurrency = concurrency
        self.ingest_streams = ingest_streams
        self.keep_tenants = keep_tenants
        self.insecure = insecure
        self.run_id = secrets.token_hex(3)
        self.progress = progress or (lambda line: None)
        self.after_ingest = after_ingest
        self._admin: AsyncClient | None = None
        self._corpora: list[Corpus] = []
        self._semaphore = asyncio.Semaphore(concurrency)

    async def __aenter__(self) -> GatewaySession:
        self._admin = AsyncClient(self.endpoint.address, api_key=None, admin_key=self.endpoint.admin_key, insecure=self.insecure)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for corpus in self._corpora:
            await corpus.client.aclose()
            if not self.keep_tenants and self._admin is not None:
                try:
                    await self._admin.admin.delete_tenant(corpus.tenant)
                except BabelRAGError as error:
                    self.progress(f"could not delete tenant {corpus.tenant}: {error}")
        self._corpora.clear()
        if self._admin is not None:
            await self._admin.aclose()
            self._admin = None

    def client_for(self, api_key: str) -> AsyncClient:
        # Uploads take as long as they take; a search waits behind the others in flight on a
        # busy machine; Ask generates (answers pass their own deadline).
        timeouts = Timeouts(search=300.0, ask=900.0, ingest=None, documents=120.0, admin=120.0)
        return AsyncClient(self.endpoint.address, api_key=api_key, admin_key=None, insecure=self.insecure, timeout=timeouts)

    async def create_tenant(self, name: str) -> tuple[str, str]:
        """A new tenant for ``name``; returns (tenant, API key)."""
        if self._admin is None:
            raise EvaluationError("the session is not open (use 'async with')")
        tenant = _TENANT_UNSAFE.sub("-", f"eval-{self.run_id}-{name}".lower())[:63].rstrip("-_")
        created = await self._admin.admin.create_tenant(tenant, key_label="babelrag-eval")
        return tenant, created.api_key

    async def corpus(self, name: str, documents: Sequence[TextDocument]) -> Corpus:
        """Ingest ``documents`` into a new tenant (``ingest_streams`` uploads at once).

        The gateway embeds and commits the items of one stream in groups, so a stream keeps it
        busy; more streams only queue more work on Triton at once (each stream's group is
        embedded while the next one arrives)."""
        tenant, api_key = await self.create_tenant(name)
        client = self.client_for(api_key)
        corpus = Corpus(name=name, tenant=tenant, client=client, languages={d.document_id: d.language for d in documents})
        self._corpora.append(corpus)
        started = time.perf_counter()
        by_id = {d.document_id: d for d in documents}
        results = {r.source: r for report in await self._upload(client, documents) for r in report.results}
        for attempt in range(1, INGEST_RETRIES + 1):
            # The gateway answers UNAVAILABLE when Triton misses its deadline (a loaded machine);
            # sending a document again is safe: its id is replaced, never duplicated.
            retry = [by_id[s] for s, r in results.items() if r.error is not None and r.error.code == "UNAVAILABLE" and s in by_id]
            if not retry:
                break
            self.progress(f"{name}: {len(retry)} documents answered UNAVAILABLE; sending them again ({attempt}/{INGEST_RETRIES})")
            await asyncio.sleep(2.0 * attempt)
            results.update({r.source: r for report in await self._upload(client, retry) for r in report.results})
        corpus.ingest_s = time.perf_counter() - started
        failed = [r for r in results.values() if not r.ok]
        if failed:
            examples = "; ".join(f"{r.source}: {r.error}" for r in failed[:3])
            raise EvaluationError(f"{len(failed)} of {len(documents)} documents of {name} were not ingested: {examples}")
        if self.after_ingest is not None:
            await self.after_ingest(tenant)
        chunk_counts = [result.chunks for result in results.values()]
        corpus.chunks = sum(chunk_counts)
        corpus.max_chunks = max(chunk_counts, default=1) or 1
        self.progress(
            f"ingested {name}: {len(documents)} documents, {corpus.chunks} chunks in {corpus.ingest_s:.1f} s"
        )
        return corpus

    async def _upload(self, client: AsyncClient, documents: Sequence[TextDocument]) -> list:
        streams = min(self.ingest_streams, max(1, len(documents)))
        slices = [list(documents[i::streams]) for i in range(streams)]
        return list(await asyncio.gather(*(client.ingest(part) for part in slices if part)))

    async def rank(self, corpus: Corpus, queries: Sequence[Query], method: Method, depth: int = 10) -> list[Ranking]:
        """Search every query in ``corpus`` with ``method``; rankings in query order (:meth:`rank_methods`)."""
        return (await self.rank_methods(corpus, queries, [method], depth))[method]

    async def rank_methods(
        self, corpus: Corpus, queries: Sequence[Query], methods: Sequence[Method], depth: int = 10
    ) -> dict[Method, list[Ranking]]:
        """Search every query in ``corpus`` with each method; {method: rankings of ``depth``
        documents, in query order}.

        Question by question: one query's searches by all methods follow each other, so the
        gateway's caches (the query's embedding, and the store's per-signal candidates, which
        keyword, vector and every hybrid alpha share) are hit while the entries are fresh.

        The first search asks for about as many chunks as ``depth`` documents usually have in this
        corpus (plus slack); only when that yields fewer than ``depth`` distinct documents while
        more hits exist is the query repeated with ``depth x`` the largest chunk count of a
        document, which always suffices. Fetching every chunk the worst case could need would
        make each search several times slower (the store materialises every returned row).
        """
        documents = max(1, len(corpus.languages))
        first_k = min(MAX_TOP_K, math.ceil(depth * corpus.chunks / documents) + 5) if corpus.chunks else depth
        full_k = min(MAX_TOP_K, max(first_k, depth * corpus.max_chunks))

        async def search(query: Query, method: Method, top_k: int) -> tuple[tuple[str, ...], int]:
            result = await corpus.client.search(query.text, top_k=top_k, mode=method.mode, alpha=method.alpha)
            return tuple(dict.fromkeys(hit.document_id for hit in result.hits)), len(result.hits)

        async def one(query: Query, method: Method) -> Ranking:
            try:
                ranked, hits = await search(query, method, first_k)
                if len(ranked) < depth and hits >= first_k and full_k > first_k:
                    ranked, hits = await search(query, method, full_k)
            except BabelRAGError as error:
                return Ranking(query, (), (), error=f"{type(error).__name__}: {error}")
            ranked = ranked[:depth]
            return Ranking(query, ranked, tuple(corpus.languages.get(d, "") for d in ranked))

        async def every_method(query: Query) -> list[Ranking]:
            async with self._semaphore:
                return [await one(query, method) for method in methods]

        per_query = await asyncio.gather(*(every_method(q) for q in queries))
        rankings = {method: [row[i] for row in per_query] for i, method in enumerate(methods)}
        for method, ranked in rankings.items():
            failed = [r for r in ranked if r.error]
            if failed and len(failed) == len(ranked):
                raise EvaluationError(f"every search of {corpus.name} with {method.name} failed, e.g. {failed[0].error}")
        return rankings


def questions_as_queries(dataset: SquadDataset, gold: Callable[[str], frozenset[str]]) -> list[Query]:
    return [Query(q.id, q.text, dataset.language, gold(q.paragraph_key)) for q in dataset.questions]


def _score(rankings: Sequence[Ranking], *, pooled: bool = False) -> dict[str, float]:
    summary = summarize_rankings(
        ((r.documents, r.query.relevant) for r in rankings),
        languages=((r.languages, r.query.language) for r in rankings) if pooled else None,
        map_k=20 if pooled else None,
    )
    summary["failed_queries"] = float(sum(1 for r in rankings if r.error))
    return summary


async def _run_methods(
    session: GatewaySession,
    corpus: Corpus,
    queries: Sequence[Query],
    methods: Sequence[Method],
    label: str,
    *,
    depth: int = 10,
    pooled: bool = False,
) -> tuple[dict[str, dict[str, float]], float]:
    """{method: metrics} for one query set against one corpus, and the seconds all methods took."""
    started = time.perf_counter()
    rankings = await session.rank_methods(corpus, queries, methods, depth)
    seconds = time.perf_counter() - started
    scores = {}
    for method, ranked in rankings.items():
        scores[method.name] = _score(ranked, pooled=pooled)
        failed = int(scores[method.name]["failed_queries"])
        session.progress(
            f"{label} {method.name}: R@1 {scores[method.name]['recall@1']:.3f}" + (f", {failed} FAILED" if failed else "")
        )
    searches = len(queries) * len(methods)
    session.progress(f"{label} {searches} searches ({len(queries)} queries x {len(methods)} methods) in {seconds:.1f} s ({searches / max(seconds, 1e-9):.0f}/s)")
    return scores, seconds


def _by_method(per_language: Mapping[str, Mapping[str, Mapping[str, float]]]) -> dict[str, dict[str, dict[str, float]]]:
    """{language: {method: m}} -> {method: {language: m}}."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for language, methods in per_language.items():
        for method, metrics in methods.items():
            out.setdefault(method, {})[language] = dict(metrics)
    return out


def _means(by_method: Mapping[str, Mapping[str, Mapping[str, float]]], extra: Sequence[str] = ()) -> dict[str, dict[str, float]]:
    names = [*RANKING_METRICS, *extra]
    return {method: macro_average(languages, names) for method, languages in by_method.items()}


async def ingest_languages(session: GatewaySession, datasets: Sequence[SquadDataset]) -> dict[str, Corpus]:
    """One tenant per language, two languages ingested at a time (the embedder stays busy)."""
    corpora: dict[str, Corpus] = {}
    lock = asyncio.Semaphore(2)

    async def one(dataset: SquadDataset) -> None:
        async with lock:
            corpora[dataset.language] = await session.corpus(f"{dataset.name}-{dataset.language}", corpus_documents(dataset))

    await asyncio.gather(*(one(d) for d in datasets))
    return {d.language: corpora[d.language] for d in datasets}


async def evaluate_monolingual(
    session: GatewaySession, datasets: Sequence[SquadDataset], corpora: Mapping[str, Corpus], methods: Sequence[Method]
) -> dict[str, Any]:
    """Each language's questions against its own corpus, for every method."""
    per_language, timing = {}, {}
    for dataset in datasets:
        corpus = corpora[dataset.language]
        queries = questions_as_queries(dataset, lambda key, d=dataset: frozenset({d.document_id(key)}))
        per_language[dataset.language], timing[dataset.language] = await _run_methods(
            session, corpus, queries, methods, f"[{dataset.language}]"
        )
    by_method = _by_method(per_language)
    return {
        "methods": [m.name for m in methods],
        "languages": [d.language for d in datasets],
        "questions": {d.language: len(d.questions) for d in datasets},
        "corpora": {language: corpus.summary() for language, corpus in corpora.items()},
        "per_language": by_method,
        "mean": _means(by_method),
        "seconds": {language: round(seconds, 2) for language, seconds in timing.items()},
    }


async def evaluate_crosslingual(
    session: GatewaySession,
    datasets: Sequence[SquadDataset],
    corpora: Mapping[str, Corpus],
    methods: Sequence[Method],
    pivot: str = "en",
) -> dict[str, Any]:
    """X -> pivot (questions in X, pivot corpus) and pivot -> Y (pivot questions, corpus Y)."""
    check_parallel(datasets)
    by_language = {d.language: d for d in datasets}
    if pivot not in by_language:
        raise EvaluationError(f"cross-lingual evaluation needs the pivot language {pivot!r} among the files")
    pivot_data = by_language[pivot]
    to_pivot, from_pivot = {}, {}
    for dataset in datasets:
        if dataset.language == pivot:
            continue
        queries = questions_as_queries(dataset, lambda key: frozenset({pivot_data.document_id(key)}))
        to_pivot[dataset.language], _ = await _run_methods(
            session, corpora[pivot], queries, methods, f"[{dataset.language}->{pivot}]"
        )
        queries = questions_as_queries(pivot_data, lambda key, d=dataset: frozenset({d.document_id(key)}))
        from_pivot[dataset.language], _ = await _run_methods(
            session, corpora[dataset.language], queries, methods, f"[{pivot}->{dataset.language}]"
        )
    to_by_method, from_by_method = _by_method(to_pivot), _by_method(from_pivot)
    return {
        "pivot": pivot,
        "methods": [m.name for m in methods],
        "to_pivot": to_by_method,
        "to_pivot_mean": _means(to_by_method),
        "from_pivot": from_by_method,
        "from_pivot_mean": _means(from_by_method),
    }


async def evaluate_pooled(session: GatewaySession, datasets: Sequence[SquadDataset], methods: Sequence[Method]) -> dict[str, Any]:
    """All languages' paragraphs in one tenant; any translation of the gold paragraph counts."""
    check_parallel(datasets)
    documents = [doc for dataset in datasets for doc in corpus_documents(dataset)]
    corpus = await session.corpus(f"{datasets[0].name}-pooled", documents)

    def gold(key: str) -> frozenset[str]:
        return frozenset(d.document_id(key) for d in datasets)

    per_language = {}
    for dataset in datasets:
        per_language[dataset.language], _ = await _run_methods(
            session, corpus, questions_as_queries(dataset, gold), methods, f"[{dataset.language}->pooled]", depth=20, pooled=True
        )
    by_method = _by_method(per_language)
    return {
        "methods": [m.name for m in methods],
        "corpus": corpus.summary(),
        "languages": [d.language for d in datasets],
        "no_bias_share": 1.0 / len(datasets),
        "per_language": by_method,
        "mean": _means(by_method, ("map@20", "own_language@1", "own_language@10")),
    }
