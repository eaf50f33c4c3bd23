"""The hub code paths, run against stand-ins (no hub is reachable from the test machines).

``HubSource`` for E5 is given a local directory laid out like a hub repository (transformers
resolves both the same way); ``HubSource`` for CLIP gets open_clip's download functions replaced
by ones returning the tiny model. What is checked is everything after the download: the files
written, the relocatable reference, and parity.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from babelrag.modelbuild import SourceUnavailable, load_reference, profiles, sources
from babelrag.modelbuild.clip import ClipComponent
from babelrag.modelbuild.clip import HubSource as ClipHubSource
from babelrag.modelbuild.component import Steps
from babelrag.modelbuild.e5 import E5Component
from babelrag.modelbuild.e5 import HubSource as E5HubSource
from babelrag.modelbuild.reference import open_clip_local_dir


def test_e5_hub_source_from_a_repository_layout(tiny_build, tmp_path):
    from transformers import AutoModel, XLMRobertaTokenizerFast

    repo = tmp_path / "repo"
    AutoModel.from_pretrained(str(tiny_build.out_dir / "reference/e5")).save_pretrained(str(repo))
    XLMRobertaTokenizerFast(tokenizer_file=str(sources.xlmr_tokenizer_json())).save_pretrained(str(repo))

    stage = tmp_path / "stage"
    lines: list[str] = []
    result = E5Component("test", E5HubSource(str(repo))).build(stage, Steps("e5", lines.append))
    assert result.source["kind"] == "hub" and result.source["id"] == str(repo)
    assert result.parity["onnx_max_abs_diff"] <= 1e-4
    assert result.dims["embedding_dim"] == 32
    # Same weights as the tiny build: the embeddings agree with the tiny reference.
    texts = ["ein kurzer Satz", "a somewhat longer sentence about nothing in particular"]
    np.testing.assert_allclose(
        load_reference(stage).embed_texts(texts, "query"),
        load_reference(tiny_build.out_dir).embed_texts(texts, "query"),
        atol=1e-5,
    )


def test_e5_hub_source_reports_unavailable(tmp_path):
    with pytest.raises(SourceUnavailable, match="no/such-model"):
        E5HubSource("no/such-model").load()


def test_clip_hub_source_offline_names_the_repositories(tmp_path):
    with pytest.raises(SourceUnavailable) as info:
        ClipHubSource().load(tmp_path)
    assert set(info.value.missing) == {profiles.CLIP_WEIGHTS_HUB_ID, profiles.XLMR_BASE_HUB_ID}


def test_clip_hub_source_with_stand_in_download(tiny_build, tmp_path, monkeypatch):
    import open_clip

    reference_dir = tiny_build.out_dir / "reference/clip"
    with open_clip_local_dir(reference_dir) as name:
        tiny_model = open_clip.create_model(name)
        tiny_tokenizer = open_clip.get_tokenizer(name)
        # What get_model_config returns for a built-in name: hub ids, here absolute paths.
        tiny_cfg = open_clip.get_model_config(name)

    calls = []

    def fake_create_model(model_name, pretrained=None, **kwargs):
        calls.append((model_name, pretrained))
        return tiny_model

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # the "downloads" below are stand-ins
    monkeypatch.setattr(open_clip, "create_model", fake_create_model)
    monkeypatch.setattr(open_clip, "get_tokenizer", lambda model_name, **kw: tiny_tokenizer)
    monkeypatch.setattr(open_clip, "get_model_config", lambda model_name: json.loads(json.dumps(tiny_cfg)))

    stage = tmp_path / "stage"
    result = ClipComponent("test", ClipHubSource()).build(stage, Steps("clip", lambda _line: None))
    assert calls == [(profiles.CLIP_MODEL_NAME, profiles.CLIP_PRETRAINED_TAG)]
    assert result.source["kind"] == "hub"
    assert result.parity["onnx_max_abs_diff"] <= 1e-4 and result.parity["tokenizer_mismatches"] == 0

    saved = json.loads((stage / "reference/clip/open_clip_config.json").read_text())
    assert saved["model_cfg"]["text_cfg"]["hf_model_name"] == "hf_text"
    assert saved["model_cfg"]["text_cfg"]["hf_tokenizer_name"] == "hf_text"
    assert saved["preprocess_cfg"]["interpolation"] == "bicubic"
    assert (stage / "reference/clip/hf_text/config.json").is_file()

    monkeypatch.undo()
    texts = ["a red bicycle", "ein rotes Fahrrad"]
    np.testing.assert_allclose(
        load_reference(stage).embed_clip_texts(texts),
        load_reference(tiny_build.out_dir).embed_clip_texts(texts),
        atol=1e-6,
    )
