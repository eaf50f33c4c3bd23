"""Prometheus metrics of the gateway (served on ``metrics_port``).

Each metric is labelled by what an operator filters on: the RPC method and status, the pipeline
stage, the cache. Per-tenant labels are deliberately absent (unbounded cardinality); per-tenant
usage lives in the control plane.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

STAGES = ("detect", "embed", "retrieve", "rerank", "assemble", "first_token", "generate", "parse", "chunk", "store")
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "babelrag_requests_total", "RPCs handled", ["method", "code"], registry=self.registry
        )
        self.request_latency = Histogram(
            "babelrag_request_seconds", "RPC latency", ["method"], buckets=_LATENCY_BUCKETS, registry=self.registry
        )
        self.stage_latency = Histogram(
            "babelrag_stage_seconds", "Pipeline stage latency", ["stage"], buckets=_LATENCY_BUCKETS, registry=self.registry
        )
        self.cache_events = Counter(
            "babelrag_cache_events_total", "Cache lookups", ["cache", "result"], registry=self.registry
        )
        self.triton_errors = Counter(
            "babelrag_triton_errors_total", "Failed calls to Triton", ["kind"], registry=self.registry
        )
        self.tokens_streamed = Counter(
            "babelrag_tokens_streamed_total", "Answer tokens streamed to clients", registry=self.registry
        )
        self.reranker_fallbacks = Counter(
            "babelrag_reranker_fallbacks_total",
            "Rerank calls answered by the fused-score fallback because the configured reranker failed",
            ["reason"],  # the failure's exception class: a handful of values
            registry=self.registry,
        )
        self.ingested_chunks = Counter(
            "babelrag_ingested_chunks_total", "Chunks written by ingestion", registry=self.registry
        )

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve ``/metrics`` on ``host:port`` until :meth:`close`."""
        self._http_server, self._http_thread = start_http_server(port, addr=host, registry=self.registry)

    def close(self) -> None:
        server = getattr(self, "_http_server", None)
        if server is not None:
            server.shutdown()
            server.server_close()
            self._http_thread.join(5)
            self._http_server = None


class StageClock:
    """Times the stages of one request; feeds the histogram and the response's timings map."""

    def __init__(self, metrics: GatewayMetrics | None) -> None:
        self._metrics = metrics
        self.ms: dict[str, float] = {}
        self._started = time.perf_counter()

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.record(name, time.perf_counter() - start)

    def record(self, name: str, seconds: float) -> None:
        self.ms[name] = self.ms.get(name, 0.0) + seconds * 1000.0
        if self._metrics is not None:
            self._metrics.stage_latency.labels(name).observe(seconds)

    def since_start(self) -> float:
        return time.perf_counter() - self._started
