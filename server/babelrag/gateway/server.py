"""Assemble and run the gateway: gRPC server, interceptor, services, health, reflection, metrics.

:class:`Gateway` owns the process-level lifecycle: it starts a local Triton on the profile's
repository unless ``triton_url`` names one, opens the store and the control plane, serves, keeps
the health status true (SERVING only while Triton and the store answer), and shuts down
gracefully: health NOT_SERVING first, then in-flight calls get ``shutdown_grace_s`` to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from babelrag.control.admin_credential import AdminCredential, load_admin_credential
from babelrag.control.ratelimit import InMemoryRateLimiter
from babelrag.control.sqlite_registry import SqliteTenantRegistry
from babelrag.gateway.admin_service import AdminService
from babelrag.gateway.ask import AskPipeline
from babelrag.gateway.auth import GatewayInterceptor
from babelrag.gateway.ingest import IngestPipeline
from babelrag.gateway.ledger import DocumentLedger
from babelrag.gateway.metrics import GatewayMetrics
from babelrag.gateway.retrieval import Retriever
from babelrag.gateway.runtime import GeneratorInfo, Runtime, load_manifest
from babelrag.gateway.services import AskService, DocumentService, IngestService, SearchService
from babelrag.gateway.settings import Settings
from babelrag.gateway.tenant_storage import StoreTenantStorage
from babelrag.paths import ProfileLayout
from babelrag.rag.rerank import FallbackReranker, FusedScoreReranker, LexicalOverlapReranker, Reranker
from babelrag.store.base import AsyncVectorStore
from babelrag.store.types import VectorDims
from babelrag.text.langid import get_detector
from babelrag.triton.client import TritonEncoders
from babelrag.triton.launcher import TritonPorts, TritonServer
from babelrag.triton.reranker import RERANKER_MODEL, TritonReranker
from babelrag.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    ask_pb2,
    ask_pb2_grpc,
    documents_pb2,
    documents_pb2_grpc,
    ingest_pb2,
    ingest_pb2_grpc,
    search_pb2,
    search_pb2_grpc,
)

log = logging.getLogger("babelrag.gateway")

SERVICE_NAMES = (
    ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name,
    search_pb2.DESCRIPTOR.services_by_name["SearchService"].full_name,
    ask_pb2.DESCRIPTOR.services_by_name["AskService"].full_name,
    documents_pb2.DESCRIPTOR.services_by_name["DocumentService"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
)
#: What health and readiness wait for (the generator only where one is built). Never the reranker:
#: its failures are answered by the fused-score fallback, so it cannot make the gateway unready.
GATEWAY_MODELS = ("text_embedding", "image_embedding", "clip_text_embedding", "generator")
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def open_store(settings: Settings, dims: VectorDims):  # noqa: ANN201
    if settings.store == "lancedb":
        from babelrag.store.lancedb_store import LanceDBConfig, LanceDBStore

        return LanceDBStore(LanceDBConfig(data_dir=Path(settings.data_dir) / "lancedb", dims=dims))
    if settings.store == "weaviate":
        from babelrag.store.weaviate_store import WeaviateConfig, WeaviateStore

        if not settings.weaviate_url:
            raise ValueError("store = 'weaviate' needs weaviate_url (BABELRAG_WEAVIATE_URL)")
        config = WeaviateConfig.from_url(settings.weaviate_url, api_key_env=settings.weaviate_api_key_env, dims=dims)
        return WeaviateStore(config)
    raise ValueError(f"unknown store {settings.store!r}: use 'lancedb' or 'weaviate'")


def check_reranker_available(settings: Settings, manifest: dict) -> None:
    """Refuse ``reranker = "triton"`` on a profile that built no reranker model."""
    if settings.reranker == "triton" and "reranker" not in manifest.get("models", {}):
        raise RuntimeError(
            f"reranker = 'triton' needs a reranker model, but profile {settings.profile!r} has none "
            f"(no 'reranker' in {settings.profile_root / 'manifest.json'}); use reranker = 'fused' or "
            "'lexical', or a profile that builds one ('tiny', 'full')"
        )


def build_reranker(settings: Settings, triton_url: str, metrics: GatewayMetrics) -> tuple[Reranker, TritonReranker | None]:
    """The configured reranker, and the Triton client inside it (to close) when there is one."""
    if settings.reranker == "lexical":
        return LexicalOverlapReranker(), None
    if settings.reranker == "triton":
        model = TritonReranker(triton_url, timeout_s=settings.triton_timeout_s)

        def count_fallback(reason: str) -> None:
            metrics.reranker_fallbacks.labels(reason).inc()

        return FallbackReranker(model, FusedScoreReranker(), on_fallback=count_fallback), model
    return FusedScoreReranker(), None


def vector_dims(manifest: dict) -> VectorDims:
    """Vector sizes of the built profile (E5 for ``text``, CLIP for ``image`` and ``clip_text``)."""
    models = manifest.get("models", {})
    try:
        e5 = int(models["e5"]["dims"]["embedding_dim"])
        clip = int(models["clip"]["dims"]["embedding_dim"])
    except (KeyError, TypeError, ValueError):
        raise RuntimeError("the model manifest has no embedding dimensions; run 'babelrag-server models build'") from None
    return VectorDims(text=e5, image=clip, clip_text=clip)


class Gateway:
    def __init__(self, settings: Settings, *, triton: TritonServer | None = None) -> None:
        self.settings = settings
        self.metrics = GatewayMetrics()
        self.layout = ProfileLayout(settings.profile_root)
        self._triton = triton
        self._owns_triton = False
        self._server: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer()
        self._health_task: asyncio.Task | None = None
        self.port: int | None = None
        self.runtime: Runtime | None = None
        self._triton_reranker: TritonReranker | None = None
        self.admin_credential: AdminCredential | None = None

    @property
    def triton_url(self) -> str:
        if self.settings.triton_url:
            return self.settings.triton_url
        if self._triton is None:
            raise RuntimeError("no Triton: set triton_url or start the gateway with a local server")
        return self._triton.grpc_url

    async def start(self) -> int:
        """Start everything; on any failure, stop what was started (Triton included) and raise."""
        try:
            return await self._start()
        except BaseException:
            await self.stop(grace_s=0)
            raise

    async def _start(self) -> int:
        settings = self.settings
        manifest = load_manifest(self.layout.manifest)
        check_reranker_available(settings, manifest)
        if not settings.triton_url and self._triton is None:
            models = served_models(self.layout, reranker=settings.reranker == "triton")
            self._triton = TritonServer(self.layout.repository, models=models, ports=TritonPorts.free(), runtime_dir=self.layout.runtime)
            log.info("starting Triton on %s", self.layout.repository)
            await asyncio.to_thread(self._triton.start)
            self._owns_triton = True

        registry = SqliteTenantRegistry.in_data_dir(settings.data_dir)
        self.admin_credential = load_admin_credential(settings.data_dir)
        store = AsyncVectorStore(await asyncio.to_thread(open_store, settings, vector_dims(manifest)))
        tokenizer = _load_tokenizer(self.layout)
        reranker, self._triton_reranker = build_reranker(settings, self.triton_url, self.metrics)
        self.runtime = Runtime(
            settings=settings,
            metrics=self.metrics,
            encoders=TritonEncoders(self.triton_url, timeout_s=settings.triton_timeout_s),
            generator=_generator_client(self.triton_url, settings) if "generator" in manifest.get("models", {}) else None,
            store=store,
            registry=registry,
            rate_limiter=InMemoryRateLimiter(),
            ledger=DocumentLedger(settings.data_dir / "documents.sqlite3"),
            detector=get_detector(settings.language_detector),
            reranker=reranker,
            tokenizer=tokenizer,
            generator_info=GeneratorInfo.from_artifacts(self.layout.artifacts),
        )
        if settings.reranker == "triton" and not await self.runtime.encoders.is_ready([RERANKER_MODEL]):
            log.warning(
                "reranker = 'triton' but model '%s' is not loaded on Triton at %s: searches and answers use "
                "the fused order until it is (babelrag_reranker_fallbacks_total counts them)",
                RERANKER_MODEL, self.triton_url,
            )
        retriever = Retriever(self.runtime)
        server = grpc.aio.server(
            interceptors=[GatewayInterceptor(self.runtime.authorize, self.metrics)],
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.so_reuseport", 0),  # a second gateway on our port must fail, not share it
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ],
        )
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(IngestService(self.runtime, IngestPipeline(self.runtime)), server)
        search_pb2_grpc.add_SearchServiceServicer_to_server(SearchService(self.runtime, retriever), server)
        ask_pb2_grpc.add_AskServiceServicer_to_server(AskService(self.runtime, AskPipeline(self.runtime, retriever)), server)
        documents_pb2_grpc.add_DocumentServiceServicer_to_server(DocumentService(self.runtime), server)
        admin_pb2_grpc.add_AdminServiceServicer_to_server(
            AdminService(registry, self.admin_credential, StoreTenantStorage(self.runtime), rate_limiter=self.runtime.rate_limiter),
            server,
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection((*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        self.port = server.add_insecure_port(f"{settings.host}:{settings.port}")
        if self.port == 0:
            raise RuntimeError(f"cannot listen on {settings.host}:{settings.port}")
        if settings.metrics_port:
            self.metrics.serve(settings.metrics_port, settings.host)
        self._server = server
        await self._update_health()  # set every service's status before the first call can arrive
        await server.start()
        self._health_task = asyncio.create_task(self._watch_health())
        return self.port

    async def _update_health(self) -> bool:
        assert self.runtime is not None
        models = GATEWAY_MODELS if self.runtime.generator is not None else GATEWAY_MODELS[:-1]
        ready = await self.runtime.encoders.is_ready(models)
        if ready:
            try:
                await self.runtime.store.list_tenants()
            except Exception:  # noqa: BLE001 - any store failure means not ready
                ready = False
        status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", *SERVICE_NAMES):
            await _set_health(self._health, name, status)
        return ready

    async def _watch_health(self, interval_s: float = 2.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            with contextlib.suppress(Exception):
                await self._update_health()

    async def stop(self, grace_s: float | None = None) -> None:
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        if self._health_task is not None:
            self._health_task.cancel()
        await self._health.enter_graceful_shutdown()  # NOT_SERVING for every service, for good
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace)
        runtime, self.runtime = self.runtime, None
        triton_reranker, self._triton_reranker = self._triton_reranker, None
        if triton_reranker is not None:
            await triton_reranker.close()
        if runtime is not None:
            await runtime.encoders.close()
            if runtime.generator is not None:
                await runtime.generator.close()
            await runtime.store.close()
            runtime.registry.close()
            runtime.ledger.close()
        self.metrics.close()
        if self._owns_triton and self._triton is not None:
            self._owns_triton = False
            await asyncio.to_thread(self._triton.stop)

    async def wait(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()


async def _set_health(servicer: health.aio.HealthServicer, name: str, status: int) -> None:
    await servicer.set(name, status)


def _generator_client(url: str, settings: Settings):  # noqa: ANN202
    from babelrag.generation.client import TritonGenerator

    return TritonGenerator(url, timeout_s=max(settings.triton_timeout_s, 120.0))


def served_models(layout: ProfileLayout, *, reranker: bool = False) -> list[str]:
    """The models a local Triton loads for the gateway; the reranker's only when asked for (and
    built: :func:`check_reranker_available` refuses the setting otherwise)."""
    from babelrag.triton.launcher import ENCODER_MODELS, RERANKER_MODELS
    from babelrag.triton.repository import reranker_built

    models = list(ENCODER_MODELS)
    if (layout.artifacts / "generator").is_dir():  # built: the committed config alone is not enough
        models.append("generator")
    if reranker and reranker_built(layout.artifacts):
        models.extend(RERANKER_MODELS)
    return models


def _load_tokenizer(layout: ProfileLayout):  # noqa: ANN202
    path = layout.artifacts / "e5_tokenizer" / "tokenizer.json"
    if not path.is_file():
        log.warning("no E5 tokenizer at %s: token counts are estimated", path)
        return None
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()  # counting, not encoding: long texts must not be capped at 512
    tokenizer.no_padding()
    return tokenizer
