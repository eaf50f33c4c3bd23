"""build_generator: layout, manifest entry, incremental and atomic behaviour, profile sources."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from babelrag.generation import build as gbuild
from babelrag.generation.runtime import SPEC_FILE, TOKEN_SCRIPTS_FILE, RuntimeSpec
from babelrag.modelbuild.errors import SourceUnavailable, UnknownProfile
from babelrag.modelbuild.manifest import ModelEntry
from babelrag.modelbuild.sources import HubProbe
from babelrag.triton.repository import source_repository


def test_tiny_layout_is_flat_and_complete(tiny_generator_artifacts):
    out = tiny_generator_artifacts / "generator"
    names = {p.name for p in out.iterdir()}
    assert all(p.is_file() for p in out.iterdir())  # the repository assembler copies files only
    assert {"config.json", "model.safetensors", "tokenizer.json", "processor_config.json", SPEC_FILE, TOKEN_SCRIPTS_FILE} <= names
    spec = RuntimeSpec.load(out)
    assert spec.vision and spec.image_placeholder == "<image>" and spec.max_images == 4
    assert not any(p.name.startswith(".generator-") for p in tiny_generator_artifacts.iterdir())  # no staging left


def test_entry_is_a_manifest_entry_and_up_to_date(tiny_generator_artifacts):
    lines: list[str] = []
    entry = gbuild.build_generator("tiny", tiny_generator_artifacts, progress=lines.append)
    assert lines == [f"[generator] up to date (recipe {entry['recipe_hash'][:12]})"]
    model_entry = ModelEntry.from_json("generator", entry)
    assert model_entry.verify(tiny_generator_artifacts.parent) == []
    assert set(entry["files"]) >= {f"artifacts/generator/{name}" for name in ("model.safetensors", SPEC_FILE)}
    assert entry["capabilities"] == {"vision": True, "prompt_format": "base", "context_length": 4096}
    assert entry["parity"]["image_logit_change_max_abs"] > 0
    assert entry["recipe"]["profile"] == "tiny" and entry["licence"]


def test_changed_files_or_recipe_are_noticed(tiny_generator_artifacts, tmp_path):
    copy = tmp_path / "artifacts"
    shutil.copytree(tiny_generator_artifacts / "generator", copy / "generator")
    digest = gbuild.recipe_hash(gbuild.recipe_for("tiny", gbuild.source_for("tiny")))
    entry, why = gbuild._existing_entry(copy / "generator", digest, "artifacts/generator")
    assert entry is not None and why == "up to date"
    assert gbuild._existing_entry(copy / "generator", "0" * 64, "x")[1] == "recipe changed"
    with (copy / "generator" / "config.json").open("a") as fh:
        fh.write(" ")
    assert gbuild._existing_entry(copy / "generator", digest, "x") == (None, "config.json changed on disk")
    (copy / "generator" / SPEC_FILE).unlink()
    assert gbuild._existing_entry(copy / "generator", digest, "x") == (None, "not built")


def test_failed_build_keeps_the_previous_generator(tiny_generator_artifacts, tmp_path, monkeypatch):
    artifacts = tmp_path / "artifacts"
    shutil.copytree(tiny_generator_artifacts / "generator", artifacts / "generator")
    before = {p.name: p.stat().st_mtime_ns for p in (artifacts / "generator").iterdir()}

    def broken(self, out: Path, steps):
        (out / "model.safetensors").write_bytes(b"half a model")
        raise RuntimeError("disk full")

    monkeypatch.setattr(gbuild.TinyVlmSource, "build", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        gbuild.build_generator("tiny", artifacts, force=True, progress=lambda _: None)
    assert {p.name: p.stat().st_mtime_ns for p in (artifacts / "generator").iterdir()} == before
    assert sorted(p.name for p in artifacts.iterdir()) == [".generator.lock", "generator"]


def test_full_profile_without_hub_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "babelrag.modelbuild.sources.probe_hub", lambda repo_id, timeout_s=6.0: HubProbe(repo_id, False, "no route to host")
    )
    with pytest.raises(SourceUnavailable, match=r"HuggingFaceTB/SmolVLM-256M-Instruct.*no route to host") as info:
        gbuild.build_generator("full", tmp_path / "artifacts", progress=lambda _: None)
    assert info.value.missing == (gbuild.SMOLVLM_HUB_ID,)
    assert not (tmp_path / "artifacts" / "generator").exists()


def test_unknown_profile():
    with pytest.raises(UnknownProfile):
        gbuild.build_generator("huge", Path("/nonexistent"))


def test_default_recipe_names_the_packages():
    recipe = gbuild.recipe_for("default", gbuild.source_for("default"))
    assert set(recipe["source"]["packages"]) == {gbuild.GEMMA_GGUF_PACKAGE, *gbuild.GEMMA_GGUF_PARTS}
    assert recipe["source"]["checkpoint_dtype"] == "float32"


def test_component_protocol():
    component = gbuild.GeneratorComponent("tiny")
    assert component.owned_dirs == ("artifacts/generator",)
    assert component.recipe() == gbuild.recipe_for("tiny", gbuild.source_for("tiny"))
    assert "Idefics3" in component.summary()


# --------------------------------------------------------------------------- committed configs


def _config(path: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def test_committed_configs():
    source = source_repository() / "generator"
    cpu = _config(source / "config.pbtxt")
    gpu = _config(source / "configs" / "gpu.pbtxt")
    assert (source / "1" / "model.py").is_file()
    for config in (cpu, gpu):
        assert config.name == "generator" and config.backend == "python"
        assert config.model_transaction_policy.decoupled
        assert config.max_batch_size == 0
        assert [i.name for i in config.input if not i.optional] == ["PROMPT"]
        assert [o.name for o in config.output] == ["TEXT", "FINISH_REASON", "PROMPT_TOKENS", "COMPLETION_TOKENS"]
    assert [g.kind for g in cpu.instance_group] == [model_config_pb2.ModelInstanceGroup.KIND_CPU]
    assert [g.kind for g in gpu.instance_group] == [model_config_pb2.ModelInstanceGroup.KIND_GPU]
    assert [(i.name, i.data_type, list(i.dims)) for i in gpu.input] == [(i.name, i.data_type, list(i.dims)) for i in cpu.input]
    assert dict(cpu.parameters) == dict(gpu.parameters)


def test_spec_file_is_plain_json(tiny_generator_artifacts):
    data = json.loads((tiny_generator_artifacts / "generator" / SPEC_FILE).read_text())
    assert data["format"] == 1 and set(data) >= {"runtime", "recipe_hash", "recipe", "files", "entry"}
    assert SPEC_FILE not in data["files"]


def test_hub_source_path_with_a_local_snapshot(tiny_generator_artifacts, tmp_path, monkeypatch):
    """The ``full`` profile's code path (download, save, spec, smoke test), fed a local copy of a
    SmolVLM-architecture checkpoint instead of the hub."""
    monkeypatch.setattr("babelrag.modelbuild.sources.probe_hub", lambda repo_id, timeout_s=6.0: HubProbe(repo_id, True))
    snapshot = tmp_path / "snapshot"
    shutil.copytree(tiny_generator_artifacts / "generator", snapshot)
    monkeypatch.setattr(gbuild, "source_for", lambda profile: gbuild.HubVlmSource(str(snapshot)))
    entry = gbuild.build_generator("full", tmp_path / "artifacts", progress=lambda _: None)
    spec = RuntimeSpec.load(tmp_path / "artifacts" / "generator")
    assert spec.vision and spec.prompt_format == "chat" and spec.image_placeholder == "<image>"
    assert set(spec.stop_token_ids) == set(RuntimeSpec.load(snapshot).stop_token_ids)
    assert entry["licence"] == "Apache-2.0" and entry["parity"]["image_logit_change_max_abs"] > 0
