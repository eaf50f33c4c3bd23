"""The system under evaluation: the real gateway (and Triton) or one already running.

Every evaluation talks to a gateway over gRPC through the Python SDK, so what is measured is what
users get: the gateway's own ingestion (parsing, chunking, E5 passage vectors, LanceDB writes and
its keyword index) and its own retrieval (query embedding, BM25 + vector signals, fusion, caches,
reranker). Nothing of retrieval is re-implemented here.

:class:`EvalStack` (``async with``) builds the profile's models if needed
(:func:`babelrag.cli.ensure_models`, incremental), starts ``tritonserver`` on them and runs
:class:`babelrag.gateway.server.Gateway` on the running event loop, with its data (tenants,
LanceDB tables) in a temporary directory that is removed afterwards. This mirrors the few lines of
``tests/gateway_harness.py``; server code does not import the tests.

:class:`Endpoint` is what the evaluations need: the gateway's address and admin key, and for the
MIRAGE conditions (which call the generator with contexts they choose) the Triton serving the
generator and the built profile (its manifest says what the generator can do; its E5 tokenizer
counts tokens for the context budget, as the gateway's does).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from babelrag.gateway.settings import Settings
from babelrag.paths import ProfileLayout

__all__ = ["Endpoint", "EvalStack", "EvaluationError", "load_profile_manifest"]

log = logging.getLogger("babelrag.evaluation")


class EvaluationError(RuntimeError):
    """An evaluation cannot run or went wrong (the message says what to do)."""


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A gateway to evaluate.

    ``settings`` are the gateway's settings where known (an in-process stack), else the defaults:
    the MIRAGE conditions take the context budget and answer length from them. ``triton_url`` and
    ``profile_root`` are needed only to call the generator directly (MIRAGE).
    """

    address: str
    admin_key: str
    triton_url: str = ""
    profile_root: Path | None = None
    settings: Settings = dataclasses.field(default_factory=Settings)

    def __repr__(self) -> str:  # the admin key stays out of logs
        return f"Endpoint(address={self.address!r}, triton_url={self.triton_url!r}, profile_root={self.profile_root!r})"

    @property
    def manifest(self) -> dict[str, Any]:
        return load_profile_manifest(self.profile_root) if self.profile_root else {}

    @property
    def has_generator(self) -> bool:
        return "generator" in self.manifest.get("models", {})


def load_profile_manifest(profile_root: Path) -> dict[str, Any]:
    path = ProfileLayout(Path(profile_root)).manifest
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


class EvalStack:
    """Triton + the gateway, in this process, for one evaluation run (``async with``).

    ``models_data``: the data directory whose ``models/<profile>`` holds (or receives) the build.
    ``overrides``: gateway settings to change (by name, as in the settings file), e.g.
    ``{"language_detector": "lingua"}``. ``build``: run the incremental model build first (else
    only an existing build is used). ``triton_url``: use that Triton instead of starting one.
    """

    def __init__(
        self,
        profile: str,
        models_data: Path,
        *,
        overrides: dict[str, Any] | None = None,
        build: bool = True,
        triton_url: str = "",
        work_dir: Path | None = None,
    ) -> None:
        self.profile = profile
        self.models_data = Path(models_data).resolve()
        self.overrides = dict(overrides or {})
        self.build = build
        self.triton_url = triton_url
        self.work_dir = work_dir
        self.layout = ProfileLayout.of(self.models_data, profile)
        self._tmp: Path | None = None
        self._triton = None
        self._gateway = None
        self._initial_settings: Settings | None = None
        self.endpoint: Endpoint | None = None

    async def __aenter__(self) -> Endpoint:
        try:
            return await self._start()
        except BaseException:
            await self._stop()
            raise

    async def __aexit__(self, *exc: object) -> None:
        await self._stop()

    async def _start(self) -> Endpoint:
        from babelrag.gateway.server import served_models
        from babelrag.triton.launcher import TritonPorts, TritonServer, free_port

        await asyncio.to_thread(self._prepare_models)
        self._tmp = Path(tempfile.mkdtemp(prefix="babelrag-eval-", dir=self.work_dir))
        triton_url = self.triton_url
        if not triton_url:
            self._triton = TritonServer(
                self.layout.repository,
                models=served_models(self.layout),
                ports=TritonPorts.free(),
                runtime_dir=self._tmp / "triton",
            )
            log.info("starting Triton (%s profile, models: %s)", self.profile, ", ".join(self._triton.models))
            await asyncio.to_thread(self._triton.start)
            triton_url = self._triton.grpc_url
        settings = Settings.load(
            None,
            data_dir=self._tmp / "gateway",
            models_dir=self.layout.root.parent,
            profile=self.profile,
            port=free_port(),
            metrics_port=0,
            triton_url=triton_url,
            **self.overrides,
        )
        self._initial_settings = settings
        return await self._start_gateway(settings)

    async def reconfigure(self, overrides: dict[str, Any]) -> Endpoint:
        """Restart the gateway with ``overrides`` on top of the stack's own settings (those it
        started with: earlier calls' overrides do not carry over).

        Same data directory (tenants, API keys, ingested documents), same Triton, same address:
        clients connected before reconnect by themselves. Used to compare pipeline settings
        (``babelrag-eval ablation``) without ingesting again.
        """
        if self._gateway is None or self._initial_settings is None:
            raise EvaluationError("the stack is not running")
        base = self._initial_settings
        fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(Settings)}
        settings = Settings.load(None, **{**fields, **overrides})
        await self._gateway.stop(grace_s=1.0)
        self._gateway = None
        return await self._start_gateway(settings)

    async def _start_gateway(self, settings: Settings) -> Endpoint:
        from babelrag.control.admin_credential import ENV_VAR
        from babelrag.gateway.server import Gateway

        self._gateway = Gateway(settings)
        await self._gateway.start()
        credential = self._gateway.admin_credential
        if credential is None:  # pragma: no cover - start() always sets it
            raise EvaluationError("the gateway started without an admin credential")
        if credential.source == "environment":
            admin_key = os.environ[ENV_VAR]
        else:
            admin_key = Path(credential.path).read_text().strip()
        self.endpoint = Endpoint(
            address=f"{settings.host}:{self._gateway.port}",
            admin_key=admin_key,
            triton_url=settings.triton_url,
            profile_root=self.layout.root,
            settings=settings,
        )
        log.info("gateway on %s, Triton on %s", self.endpoint.address, settings.triton_url)
        return self.endpoint

    async def compact(self, tenant: str) -> None:
        """Run the store's own maintenance (compaction, keyword-index update) on ``tenant`` now.

        The LanceDB store writes one commit per ingested document and, as of this writing, only
        compacts a tenant once 2,000 rows are unindexed (its every-64-commits trigger never fires
        for a tenant it has not optimised before), so a freshly ingested small corpus is read
        from hundreds of fragments: measured on XQuAD (240 paragraphs) vector search took twice
        as long, with the same top-1 document for every query; keyword rankings below the top
        differ a little (rows not yet in the BM25 index are scored with other statistics).
        Searches then measure the store in its maintained state (``--no-compact``: as ingested).
        A store without ``optimize`` (Weaviate) is left alone.
        """
        if self._gateway is None or self._gateway.runtime is None:
            raise EvaluationError("the stack is not running")
        store = self._gateway.runtime.store.store
        optimize = getattr(store, "optimize", None)
        if optimize is not None:
            await asyncio.to_thread(optimize, tenant)

    def _prepare_models(self) -> None:
        from babelrag.cli import ensure_models, ensure_repository

        # The build tool reports on stdout; the evaluation keeps stdout for its results.
        with contextlib.redirect_stdout(sys.stderr):
            if self.build:
                ensure_models(self.profile, self.models_data)
            elif self.layout.is_built():
                ensure_repository(self.profile, self.models_data)
            else:
                raise EvaluationError(
                    f"no '{self.profile}' build in {self.layout.root}: run 'babelrag-server models build --profile {self.profile}'"
                )

    async def _stop(self) -> None:
        if self._gateway is not None:
            with contextlib.suppress(Exception):
                await self._gateway.stop(grace_s=1.0)
            self._gateway = None
        if self._triton is not None:
            await asyncio.to_thread(self._triton.stop)
            self._triton = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
