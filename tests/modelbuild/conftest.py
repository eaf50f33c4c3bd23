"""Shared fixtures: one tiny build per test session, private copies for tests that modify it."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import pytest
from babelrag.modelbuild import Manifest, Reference, build, load_reference


@dataclasses.dataclass(frozen=True)
class TinyBuild:
    out_dir: Path
    manifest: Manifest
    lines: tuple[str, ...]
    seconds: float

    def file_sha(self) -> dict[str, str]:
        return reproducible_shas(self.manifest)


#: Files that record when they were built (the generator's own description), so differ per build.
TIMESTAMPED = {"artifacts/generator/generator.json"}


def reproducible_shas(manifest) -> dict[str, str]:  # noqa: ANN001
    """sha256 of every built file that a rebuild must reproduce byte for byte."""
    return {
        rel: meta["sha256"]
        for entry in manifest.models.values()
        for rel, meta in entry.files.items()
        if rel not in TIMESTAMPED
    }


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory: pytest.TempPathFactory) -> TinyBuild:
    out_dir = tmp_path_factory.mktemp("modelbuild") / "tiny"
    lines: list[str] = []
    start = time.perf_counter()
    manifest = build("tiny", out_dir, progress=lines.append)
    return TinyBuild(out_dir, manifest, tuple(lines), time.perf_counter() - start)


@pytest.fixture(scope="session")
def tiny_reference(tiny_build: TinyBuild) -> Reference:
    return load_reference(tiny_build.out_dir)


@pytest.fixture
def tiny_copy(tiny_build: TinyBuild, tmp_path: Path) -> Path:
    """A private copy of the session's tiny build, for tests that rebuild or damage it."""
    dest = tmp_path / "tiny"
    shutil.copytree(tiny_build.out_dir, dest)
    return dest


@pytest.fixture(autouse=True)
def _no_hub_unless_default_profile(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests other than the default-profile ones never reach for the model hub."""
    if request.node.get_closest_marker("default_profile") is None:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
