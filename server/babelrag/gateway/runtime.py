"""The gateway's composition root: every long-lived component, built once from the settings.

Pipelines (ingest, retrieval, ask) and servicers receive a :class:`Runtime` and use only what it
exposes, so swapping a backend (Weaviate for LanceDB, a shared registry for SQLite, a remote
Triton) happens here and nowhere else. Blocking libraries (SQLite, LanceDB, lingua) are called
through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from babelrag.control.errors import TenantOffloaded
from babelrag.control.ratelimit import RateLimiter
from babelrag.control.registry import TenantRegistry, TenantState
from babelrag.gateway.caches import LruCache
from babelrag.gateway.ledger import DocumentLedger
from babelrag.gateway.metrics import GatewayMetrics
from babelrag.gateway.settings import Settings
from babelrag.store.base import AsyncVectorStore
from babelrag.text.chunking import estimate_tokens
from babelrag.text.langid import DetectedLanguage, LanguageDetector
from babelrag.triton.client import TritonEncoders

#: Detected languages of up to this many recent texts of at most this length are remembered.
DETECTION_CACHE_SIZE = 20_000
DETECTION_CACHE_MAX_CHARS = 1_000

log = logging.getLogger("babelrag.gateway")


@dataclasses.dataclass(frozen=True)
class GeneratorInfo:
    """What the profile's generator can do, from the build manifest."""

    model: str = "generator"
    sees_images: bool = False
    instruction_tuned: bool = False

    @classmethod
    def from_artifacts(cls, artifacts: Path) -> GeneratorInfo:
        """Read ``generator/generator.json``, the generator build's description of itself."""
        described = load_manifest(artifacts / "generator" / "generator.json").get("runtime", {})
        return cls(
            model=str(described.get("display_name", "generator")),
            sees_images=described.get("kind") == "vision_language",
            instruction_tuned=described.get("prompt_format") == "chat",
        )


class Runtime:
    def __init__(
        self,
        *,
        settings: Settings,
        metrics: GatewayMetrics,
        encoders: TritonEncoders,
        generator: Any,
        store: AsyncVectorStore,
        registry: TenantRegistry,
        rate_limiter: RateLimiter,
        ledger: DocumentLedger,
        detector: LanguageDetector,
        reranker: Any,
        tokenizer: Any | None = None,
        generator_info: GeneratorInfo = GeneratorInfo(),
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.encoders = encoders
        self.generator = generator
        self.store = store
        self.registry = registry
        self.rate_limiter = rate_limiter
        self.ledger = ledger
        self.detector = detector
        self.reranker = reranker
        self._tokenizer = tokenizer
        self.generator_info = generator_info
        self._detected: LruCache[DetectedLanguage] = LruCache(DETECTION_CACHE_SIZE, "language", metrics)

    # -- generator capabilities ------------------------------------------------------------
    @property
    def generator_model(self) -> str:
        return self.generator_info.model

    @property
    def generator_sees_images(self) -> bool:
        return self.generator_info.sees_images

    @property
    def generator_instruction_tuned(self) -> bool:
        return self.generator_info.instruction_tuned

    # -- text helpers --------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` in the E5 (XLM-R) tokenizer, or an estimate without it."""
        if self._tokenizer is None:
            return estimate_tokens(text)
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    async def detect(self, texts: Sequence[str]) -> list[DetectedLanguage]:
        """Languages of ``texts``; short texts (questions, queries) are remembered, since the
        same question is often asked again and detection costs milliseconds of CPU each."""
        texts = list(texts)
        found: list[DetectedLanguage | None] = [
            self._detected.get(t) if len(t) <= DETECTION_CACHE_MAX_CHARS else None for t in texts
        ]
        missing = [i for i, result in enumerate(found) if result is None]
        if missing:
            detected = await asyncio.to_thread(self.detector.detect_many, [texts[i] for i in missing])
            for i, result in zip(missing, detected):
                found[i] = result
                if len(texts[i]) <= DETECTION_CACHE_MAX_CHARS:
                    self._detected.put(texts[i], result)
        return found  # type: ignore[return-value]

    def detect_code(self, text: str) -> tuple[str, float]:
        result = self.detector.detect(text)
        return result.code, result.confidence

    # -- tenancy -------------------------------------------------------------------------------
    async def authorize(self, raw_key: str) -> tuple[str, str]:
        """Authenticate an API key and admit the call: tenant served, under its rate limit."""
        principal = await asyncio.to_thread(self.registry.authenticate, raw_key)
        if principal.state is not TenantState.ACTIVE:
            raise TenantOffloaded(f"tenant '{principal.tenant}' is offloaded; an administrator must activate it")
        await self.rate_limiter.check(principal.tenant, principal.quotas)
        return principal.tenant, principal.key_id

    async def data_version(self, tenant: str) -> int:
        return await asyncio.to_thread(self.registry.data_version, tenant)

    async def document_footprint(self, tenant: str, document_id: str) -> tuple[int, int]:
        return await asyncio.to_thread(self.ledger.footprint, tenant, document_id)

    async def reserve_storage(self, tenant: str, chunks: int, size: int, documents: int) -> None:
        await asyncio.to_thread(
            self.registry.reserve_storage, tenant, chunks=chunks, bytes=size, documents=documents
        )

    async def release_storage(self, tenant: str, chunks: int, size: int, documents: int) -> None:
        await asyncio.to_thread(
            self.registry.release_storage, tenant, chunks=chunks, bytes=size, documents=documents
        )

    async def document_footprints(self, tenant: str, document_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        return await asyncio.to_thread(self.ledger.footprints, tenant, list(document_ids))

    async def record_writes(self, tenant: str, written: Sequence[tuple[str, int, int]]) -> None:
        """Note documents just stored together ((document id, chunks, bytes) each): their ledger
        rows in one transaction, then one data-version bump (cache invalidation) for all."""
        await asyncio.to_thread(self.ledger.record_many, tenant, list(written))
        await asyncio.to_thread(self.registry.bump_data_version, tenant)

    async def record_delete(self, tenant: str, document_id: str) -> None:
        chunks, size = await asyncio.to_thread(self.ledger.forget, tenant, document_id)
        if chunks or size:
            await self.release_storage(tenant, chunks, size, 1)
        await asyncio.to_thread(self.registry.bump_data_version, tenant)


def load_manifest(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
