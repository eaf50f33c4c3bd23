"""Runs the real gateway in a background thread (its own event loop) for tests and examples."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import grpc

from babelrag.gateway.server import Gateway
from babelrag.gateway.settings import Settings
from babelrag.triton.launcher import free_port
from babelrag.v1 import admin_pb2, admin_pb2_grpc

ADMIN_KEY = "bra_test-admin-key-for-the-suite-0123456789abcdef"


_shared_loop: asyncio.AbstractEventLoop | None = None
_shared_lock = threading.Lock()


def shared_loop() -> asyncio.AbstractEventLoop:
    """One event loop thread for every gateway of the process: grpc.aio supports a single loop."""
    global _shared_loop
    with _shared_lock:
        if _shared_loop is None:
            _shared_loop = asyncio.new_event_loop()
            threading.Thread(target=_shared_loop.run_forever, name="gateway-loop", daemon=True).start()
        return _shared_loop


class GatewayHandle:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.admin_key = ADMIN_KEY
        self._loop = shared_loop()
        self.gateway: Gateway | None = None

    @classmethod
    def launch(cls, data_dir: Path, models_dir: Path, triton_url: str, *, profile: str = "tiny", **overrides) -> GatewayHandle:
        settings = Settings(
            data_dir=data_dir,
            models_dir=models_dir,
            profile=profile,
            port=free_port(),
            metrics_port=free_port(),
            triton_url=triton_url,
            **{"max_item_bytes": 2 * 1024 * 1024, **overrides},
        )
        handle = cls(settings)
        handle.start()
        return handle

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def run(self, coroutine, timeout: float = 120.0):  # noqa: ANN001, ANN201
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def start(self) -> None:
        import os

        os.environ["BABELRAG_ADMIN_KEY"] = self.admin_key
        self.gateway = Gateway(self.settings)
        self.run(self.gateway.start())

    def stop(self) -> None:
        if self.gateway is not None:
            self.run(self.gateway.stop(grace_s=1.0))
            self.gateway = None

    def restart(self, downtime_s: float = 1.0) -> None:
        self.stop()
        time.sleep(downtime_s)
        self.start()

    def close(self) -> None:
        self.stop()

    # -- admin helpers -------------------------------------------------------------------------
    def admin(self) -> tuple[admin_pb2_grpc.AdminServiceStub, grpc.Channel]:
        channel = grpc.insecure_channel(self.address)
        return admin_pb2_grpc.AdminServiceStub(channel), channel

    def create_tenant(self, name: str, **quotas) -> str:
        stub, channel = self.admin()
        with channel:
            response = stub.CreateTenant(
                admin_pb2.CreateTenantRequest(name=name, quotas=admin_pb2.Quotas(**quotas)),
                metadata=(("authorization", f"Bearer {self.admin_key}"),),
                timeout=30,
            )
        return response.api_key
