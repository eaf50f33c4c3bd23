"""Incremental builds: up-to-date skips, corruption detection, forced rebuilds, failures, locking."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.modelbuild.conftest import reproducible_shas
from babelrag.modelbuild import BuildLocked, Manifest, ParityError, build
from babelrag.modelbuild import e5 as e5_module
from babelrag.modelbuild import manifest as manifest_mod

E5_ONNX = "artifacts/e5_encoder/model.onnx"
CLIP_ONNX = ("artifacts/clip_image_encoder/model.onnx", "artifacts/clip_text_encoder/model.onnx")
REPO_ROOT = Path(__file__).resolve().parents[2]


def _mtimes(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): p.stat().st_mtime_ns
        for p in root.rglob("*")
        if p.is_file() and p.name != "manifest.json" and not p.name.startswith(".")
    }


def _shas(root: Path) -> dict[str, str]:
    manifest = Manifest.load(root)
    assert manifest is not None
    return reproducible_shas(manifest)


def test_second_build_is_up_to_date_and_fast(tiny_build, tiny_copy):
    before = _mtimes(tiny_copy)
    manifest_bytes = (tiny_copy / "manifest.json").read_bytes()
    lines: list[str] = []
    start = time.perf_counter()
    manifest = build("tiny", tiny_copy, progress=lines.append)
    elapsed = time.perf_counter() - start
    assert any(line.startswith("[e5] up to date") for line in lines)
    assert any(line.startswith("[clip] up to date") for line in lines)
    assert not any("building from" in line for line in lines)
    assert _mtimes(tiny_copy) == before
    assert (tiny_copy / "manifest.json").read_bytes() == manifest_bytes  # not even rewritten
    assert manifest.complete
    assert elapsed < tiny_build.seconds / 3, (elapsed, tiny_build.seconds)


def test_corrupted_artifact_is_detected_and_rebuilt(tiny_build, tiny_copy):
    target = tiny_copy / E5_ONNX
    stat = target.stat()
    with target.open("r+b") as fh:  # flip bytes in place: same size, same mtime
        fh.seek(stat.st_size // 2)
        chunk = fh.read(16)
        fh.seek(stat.st_size // 2)
        fh.write(bytes(b ^ 0xFF for b in chunk))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    clip_before = {rel: (tiny_copy / rel).stat().st_mtime_ns for rel in CLIP_ONNX}

    lines: list[str] = []
    manifest = build("tiny", tiny_copy, progress=lines.append)
    assert any(line.startswith("[e5] files changed on disk") and "sha256 mismatch" in line for line in lines)
    assert any(line.startswith("[clip] up to date") for line in lines)
    assert manifest_mod.sha256_file(target) == tiny_build.file_sha()[E5_ONNX]  # deterministic rebuild
    assert {rel: (tiny_copy / rel).stat().st_mtime_ns for rel in CLIP_ONNX} == clip_before
    assert manifest.models["e5"].verify(tiny_copy) == []


def test_missing_file_is_rebuilt(tiny_copy):
    (tiny_copy / "artifacts/e5_tokenizer/tokenizer_config.json").unlink()
    lines: list[str] = []
    build("tiny", tiny_copy, progress=lines.append)
    assert any(line.startswith("[e5] files changed on disk") and "missing" in line for line in lines)
    assert any(line.startswith("[clip] up to date") for line in lines)
    assert (tiny_copy / "artifacts/e5_tokenizer/tokenizer_config.json").is_file()


def test_force_rebuilds_everything_deterministically(tiny_build, tiny_copy):
    before = _mtimes(tiny_copy)
    lines: list[str] = []
    build("tiny", tiny_copy, force=True, progress=lines.append)
    assert any(line == "[e5] rebuilding (forced)" for line in lines)
    assert any(line == "[clip] rebuilding (forced)" for line in lines)
    after = _mtimes(tiny_copy)
    for rel in (E5_ONNX, *CLIP_ONNX):
        assert after[rel] != before[rel]
    # torch's TorchScript exporter is byte-deterministic here: a rebuild reproduces every file.
    assert _shas(tiny_copy) == tiny_build.file_sha()


def test_failed_parity_leaves_no_claim(tiny_build, tiny_copy, monkeypatch):
    def fail(tag, figures, tolerance=1e-4):
        raise ParityError(f"[{tag}] injected failure", figures)

    monkeypatch.setattr(e5_module, "check_parity", fail)
    with pytest.raises(ParityError, match="injected failure"):
        build("tiny", tiny_copy, force=True, progress=lambda _line: None)
    manifest = Manifest.load(tiny_copy)
    assert manifest is not None
    assert manifest.complete is False
    assert "injected failure" in (manifest.error or "")
    assert "e5" not in manifest.models
    assert manifest.models["clip"].verify(tiny_copy) == []
    assert not (tiny_copy / ".staging").exists()
    # The old files were never replaced.
    assert manifest_mod.sha256_file(tiny_copy / E5_ONNX) == tiny_build.file_sha()[E5_ONNX]

    monkeypatch.undo()
    lines: list[str] = []
    healed = build("tiny", tiny_copy, progress=lines.append)
    assert any(line.startswith("[e5] building from") for line in lines)
    assert any(line.startswith("[clip] up to date") for line in lines)
    assert healed.complete and healed.error is None


def test_leftover_staging_is_removed(tiny_copy):
    junk = tiny_copy / ".staging" / "e5-deadbeef" / "artifacts" / "e5_encoder"
    junk.mkdir(parents=True)
    (junk / "model.onnx").write_bytes(b"half a model")
    build("tiny", tiny_copy, progress=lambda _line: None)
    assert not (tiny_copy / ".staging").exists()


def test_concurrent_build_is_refused(tiny_copy):
    with (tiny_copy / ".build.lock").open("a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            with pytest.raises(BuildLocked):
                build("tiny", tiny_copy, progress=lambda _line: None)
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@pytest.mark.slow
def test_separate_process_build_is_byte_identical(tiny_build, tmp_path):
    """Two tiny builds in different processes produce identical files (ONNX included)."""
    out_dir = tmp_path / "again"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "server"), HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "babelrag.modelbuild", "--profile", "tiny", "--out-dir", str(out_dir), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _shas(out_dir) == tiny_build.file_sha()
