"""Static checks of the committed model repository: every config parses as Triton's own proto."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from babelrag.triton.launcher import ALL_MODELS, ENCODER_MODELS, RERANKER_MODELS
from babelrag.triton.repository import assemble, model_names, set_instance_count, source_repository

SOURCE = source_repository()
ONNX_ENCODERS = ["e5_encoder", "clip_text_encoder", "clip_image_encoder", "reranker_encoder"]
#: Each ensemble-served group: an ensemble's steps must come from its own group.
GROUPS = [ENCODER_MODELS, RERANKER_MODELS]


def load(path: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def test_every_served_model_is_committed():
    assert sorted(ALL_MODELS) == model_names(SOURCE)


@pytest.mark.parametrize("name", sorted(ENCODER_MODELS + RERANKER_MODELS))
def test_cpu_config(name):
    config = load(SOURCE / name / "config.pbtxt")
    assert config.name == name
    assert config.max_batch_size > 0
    if config.platform == "ensemble":
        steps = [step.model_name for step in config.ensemble_scheduling.step]
        group = next(g for g in GROUPS if name in g)
        assert all(step in group for step in steps)
        assert all(step.model_version == -1 for step in config.ensemble_scheduling.step)
        return
    assert config.backend == "python"
    assert (SOURCE / name / "1" / "model.py").is_file()
    assert config.dynamic_batching.max_queue_delay_microseconds <= 5000
    assert list(config.dynamic_batching.preferred_batch_size)
    assert [group.kind for group in config.instance_group] == [model_config_pb2.ModelInstanceGroup.KIND_CPU]


@pytest.mark.parametrize("name", ONNX_ENCODERS)
def test_gpu_variant_mirrors_cpu_io(name):
    cpu = load(SOURCE / name / "config.pbtxt")
    gpu = load(SOURCE / name / "configs" / "gpu.pbtxt")
    assert gpu.name == name and gpu.backend == "onnxruntime"
    assert [group.kind for group in gpu.instance_group] == [model_config_pb2.ModelInstanceGroup.KIND_GPU]
    assert [(i.name, i.data_type, list(i.dims)) for i in gpu.input] == [(i.name, i.data_type, list(i.dims)) for i in cpu.input]
    assert [(o.name, o.data_type) for o in gpu.output] == [(o.name, o.data_type) for o in cpu.output]
    assert gpu.max_batch_size == cpu.max_batch_size


def test_ensemble_wiring_matches_step_io():
    for name in ("text_embedding", "image_embedding", "clip_text_embedding", "reranker"):
        ensemble = load(SOURCE / name / "config.pbtxt")
        for step in ensemble.ensemble_scheduling.step:
            model = load(SOURCE / step.model_name / "config.pbtxt")
            assert set(step.input_map) <= {i.name for i in model.input}
            required = {i.name for i in model.input if not i.optional}
            assert required <= set(step.input_map), f"{name} -> {step.model_name} misses {required - set(step.input_map)}"
            assert set(step.output_map) <= {o.name for o in model.output}


def test_instance_count_override():
    text = (SOURCE / "e5_encoder" / "config.pbtxt").read_text()
    config = text_format.Parse(set_instance_count(text, 3), model_config_pb2.ModelConfig())
    assert [group.count for group in config.instance_group] == [3]
    with pytest.raises(ValueError):
        set_instance_count(text, 0)


def test_reranker_is_assembled_only_where_built(tmp_path):
    built = tmp_path / "built"
    (built / "reranker_encoder").mkdir(parents=True)
    (built / "reranker_encoder" / "model.onnx").write_bytes(b"stand-in")
    with_reranker = assemble(built, tmp_path / "repo-with")
    assert all((with_reranker / name / "config.pbtxt").is_file() for name in RERANKER_MODELS)
    assert (with_reranker / "reranker_encoder" / "1" / "model.onnx").read_bytes() == b"stand-in"

    (tmp_path / "none").mkdir()
    without = assemble(tmp_path / "none", tmp_path / "repo-without")
    assert not any((without / name).exists() for name in RERANKER_MODELS)
    assert (without / "text_embedding" / "config.pbtxt").is_file()
