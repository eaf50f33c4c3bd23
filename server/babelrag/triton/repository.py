"""Assemble a servable Triton model repository from the committed sources and built artifacts.

The committed ``model_repository/`` holds each model's ``config.pbtxt`` (CPU), optional
``configs/gpu.pbtxt`` (GPU, chosen with ``tritonserver --model-config-name=gpu``) and
``1/model.py``. ``babelrag-server models build`` writes weights, ONNX files and tokenizer files
under ``<profile dir>/artifacts/<model>/``. This module lays both out as
``<profile dir>/repository/<model>/...`` — a self-contained directory that the local Triton serves
and that can be mounted as-is into an NGC Triton container.

The reranker's models are left out when the profile did not build a reranker (``default``): a
config without its ONNX file would fail to load the moment anyone asked for it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from google.protobuf import text_format

import babelrag
from babelrag.triton.launcher import RERANKER_MODELS

SOURCE_REPOSITORY_ENV = "BABELRAG_MODEL_REPOSITORY_SRC"


def source_repository() -> Path:
    """The committed ``model_repository/`` (override with $BABELRAG_MODEL_REPOSITORY_SRC)."""
    if os.environ.get(SOURCE_REPOSITORY_ENV):
        return Path(os.environ[SOURCE_REPOSITORY_ENV])
    return Path(babelrag.__file__).resolve().parents[2] / "model_repository"


def model_names(source: Path | None = None) -> list[str]:
    source = source or source_repository()
    return sorted(p.name for p in source.iterdir() if (p / "config.pbtxt").is_file())


def reranker_built(artifacts: Path) -> bool:
    """Whether the build in ``artifacts`` made the cross-encoder the reranker models serve."""
    return (artifacts / "reranker_encoder" / "model.onnx").is_file()


def assemble(
    artifacts: Path,
    destination: Path,
    *,
    source: Path | None = None,
    instances: Mapping[str, int] | None = None,
) -> Path:
    """(Re)build ``destination`` from ``source`` configs + ``artifacts``; returns destination.

    Artifacts are hard-linked when possible (they can be hundreds of MB), copied otherwise.
    ``instances`` overrides the instance count of named models.
    """
    source = source or source_repository()
    instances = dict(instances or {})
    unknown = set(instances) - set(model_names(source))
    if unknown:
        raise ValueError(f"unknown model(s) in instance overrides: {', '.join(sorted(unknown))}")
    staging = destination.with_name(destination.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    skipped = set() if reranker_built(artifacts) else set(RERANKER_MODELS)
    for name in model_names(source):
        if name in skipped:
            continue
        model_src, model_dst = source / name, staging / name
        version_dir = model_dst / "1"
        version_dir.mkdir(parents=True)
        config = (model_src / "config.pbtxt").read_text()
        if name in instances:
            config = set_instance_count(config, instances[name])
        (model_dst / "config.pbtxt").write_text(config)
        if (model_src / "configs").is_dir():
            shutil.copytree(model_src / "configs", model_dst / "configs")
        for file in (model_src / "1").iterdir():
            if file.is_file() and file.name != ".gitkeep":
                shutil.copy2(file, version_dir / file.name)
        built = artifacts / name
        if built.is_dir():
            for file in built.iterdir():
                _link_or_copy(file, version_dir / file.name)
    shutil.rmtree(destination, ignore_errors=True)
    staging.rename(destination)
    return destination


def set_instance_count(config_text: str, count: int) -> str:
    """Return ``config_text`` with every instance group's count set to ``count``."""
    from tritonclient.grpc import model_config_pb2

    if count < 1:
        raise ValueError("instance count must be >= 1")
    config = text_format.Parse(config_text, model_config_pb2.ModelConfig())
    if not config.instance_group:
        config.instance_group.add(kind=model_config_pb2.ModelInstanceGroup.KIND_CPU)
    for group in config.instance_group:
        group.count = count
    return text_format.MessageToString(config)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
