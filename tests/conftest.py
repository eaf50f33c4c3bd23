"""Suite-wide fixtures: one tiny-profile model build and one real Triton server per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from babelrag.paths import ProfileLayout

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
#: Builds are cached here across runs (incremental); override with $BABELRAG_TEST_DATA.
TEST_DATA = Path(os.environ.get("BABELRAG_TEST_DATA", REPO_ROOT / "data"))


def build_profile(profile: str) -> ProfileLayout:
    from babelrag.cli import ensure_models

    return ensure_models(profile, TEST_DATA)


@pytest.fixture(scope="session")
def tiny_layout() -> ProfileLayout:
    return build_profile("tiny")


@pytest.fixture(scope="session")
def triton_server(tiny_layout: ProfileLayout, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A real tritonserver serving the tiny profile's encoders (and its reranker) on free ports."""
    from babelrag.triton.launcher import TritonPorts, TritonServer

    from babelrag.gateway.server import served_models

    server = TritonServer(
        tiny_layout.repository,
        models=served_models(tiny_layout, reranker=True),
        ports=TritonPorts.free(),
        runtime_dir=tmp_path_factory.mktemp("triton-runtime"),
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tiny_reference(tiny_layout: ProfileLayout):
    from babelrag.modelbuild.reference import load_reference

    return load_reference(tiny_layout.root)


@pytest.fixture(scope="session")
def gateway(triton_server, tiny_layout: ProfileLayout, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """The real gateway (tiny models on the session's Triton, LanceDB in a temp dir), in a thread."""
    from tests.gateway_harness import GatewayHandle

    handle = GatewayHandle.launch(
        tmp_path_factory.mktemp("gateway-data"), tiny_layout.root.parent, triton_server.grpc_url
    )
    yield handle
    handle.close()
