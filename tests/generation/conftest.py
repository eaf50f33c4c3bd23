"""Fixtures for the answer generator: one tiny build, one loaded runtime, one Triton server."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import TEST_DATA

#: The generator's test builds live beside (not inside) the profile builds of the orchestrator.
GENERATION_DATA = TEST_DATA / "generation"


@pytest.fixture(autouse=True)
def _no_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing here reaches for the model hub (the default profile builds from PyPI packages)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def png(seed: int, size: tuple[int, int] = (80, 60)) -> bytes:
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8), "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def tiny_generator_artifacts() -> Path:
    """``<data>/generation/tiny/artifacts`` holding ``generator/`` (built once, then incremental)."""
    from babelrag.generation.build import build_generator

    artifacts = GENERATION_DATA / "tiny" / "artifacts"
    build_generator("tiny", artifacts, progress=lambda line: print(line, flush=True))
    return artifacts


@pytest.fixture(scope="session")
def tiny_generator(tiny_generator_artifacts: Path):
    """The tiny generator loaded in-process, on CPU with as many threads as a single Triton
    instance uses (same reduction order, so greedy answers match the served ones)."""
    from babelrag.generation.runtime import Generator

    return Generator.load(tiny_generator_artifacts / "generator", device="cpu", threads=0)


@pytest.fixture(scope="session")
def generator_server(tiny_generator_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A real tritonserver serving only the tiny ``generator`` model."""
    from babelrag.triton.launcher import TritonPorts, TritonServer
    from babelrag.triton.repository import assemble

    root = tmp_path_factory.mktemp("generator-triton")
    repository = assemble(tiny_generator_artifacts, root / "repository")
    server = TritonServer(repository, models=["generator"], ports=TritonPorts.free(), runtime_dir=root / "runtime")
    server.start()
    yield server
    server.stop()
