"""The python-backend model logic, tested in-process (no Triton) against the reference libraries."""

from __future__ import annotations

import json

import numpy as np
import pytest

from babelrag.inference.image_preprocess import ImageDecodeError, ImagePreprocessor, PreprocessConfig
from babelrag.inference.tokenization import TextTokenizer, TokenizationError
from tests.serving.images import decompression_bomb_png, encode, gradient, variety


@pytest.fixture(scope="module")
def e5_tokenizer(tiny_layout) -> TextTokenizer:
    return TextTokenizer.from_dir(tiny_layout.artifacts / "e5_tokenizer")


@pytest.fixture(scope="module")
def preprocessor(tiny_layout) -> ImagePreprocessor:
    return ImagePreprocessor(PreprocessConfig.load(tiny_layout.artifacts / "clip_image_preprocess" / "preprocess_config.json"))


def test_e5_prefix_and_special_tokens(e5_tokenizer, tiny_reference):
    texts = ["Wie hoch ist der Eiffelturm?", "光合作用是什么", "  spaced   out  "]
    ids, mask = e5_tokenizer(texts, ["query"] * 3)
    expected = tiny_reference.tokenize_e5(texts, "query")
    for row, reference in enumerate(expected):
        assert ids[row, : mask[row].sum()].tolist() == list(reference)
    assert (ids[mask == 0] == e5_tokenizer.config.pad_id).all()


def test_query_and_passage_prefixes_differ(e5_tokenizer):
    query, _ = e5_tokenizer(["Paris"], ["query"])
    passage, _ = e5_tokenizer(["Paris"], ["passage"])
    assert query.tolist() != passage.tolist()


def test_long_text_truncated_to_model_window(e5_tokenizer):
    ids, mask = e5_tokenizer(["word " * 300_000], ["passage"])  # ~1.5 MB
    assert ids.shape == (1, e5_tokenizer.config.max_length)
    assert mask.sum() == e5_tokenizer.config.max_length


@pytest.mark.parametrize(
    ("texts", "kinds", "message"),
    [
        ([b""], [b"query"], "text 0 is empty"),
        ([b"ok", b"   "], [b"query"], "text 1 is empty"),
        ([b"\xff\xfe bad"], [b"query"], "not valid UTF-8"),
        ([b"ok"], [b"question"], "unknown kind 'question'"),
        ([b"ok"], None, "a kind is required"),
    ],
)
def test_tokenizer_rejects_bad_input(e5_tokenizer, texts, kinds, message):
    with pytest.raises(TokenizationError, match=message):
        e5_tokenizer(texts, kinds)


def test_preprocessing_equals_open_clip_eval_transform(preprocessor, tiny_layout):
    import io

    import open_clip
    from PIL import Image

    config = json.loads((tiny_layout.artifacts / "clip_image_preprocess" / "preprocess_config.json").read_text())
    reference = open_clip.image_transform(
        config["image_size"], is_train=False, mean=config["mean"], std=config["std"],
        interpolation=config.get("interpolation"), resize_mode=config.get("resize_mode"),
    )
    for name, data in variety().items():
        ours = preprocessor(data)
        theirs = reference(Image.open(io.BytesIO(data))).numpy()
        assert ours.shape == theirs.shape == (3, config["image_size"], config["image_size"]), name
        assert np.abs(ours - theirs).max() < 1e-5, name


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"definitely not an image", "not a readable image"),
        (encode(gradient(64, 64), "PNG")[:200], "corrupt or truncated"),
        (encode(gradient(64, 64), "BMP"), "unsupported image format BMP"),
        (encode(gradient(64, 64), "TIFF"), "unsupported image format TIFF"),
        (decompression_bomb_png(), "over the limit"),
    ],
)
def test_preprocessing_refuses_bad_images(preprocessor, data, message):
    with pytest.raises(ImageDecodeError, match=message):
        preprocessor(data)


@pytest.fixture(scope="module")
def pair_tokenizer(tiny_layout) -> TextTokenizer:
    return TextTokenizer.from_dir(tiny_layout.artifacts / "reranker_tokenizer")


def test_pairs_match_the_reference_pair_tokenization(pair_tokenizer, tiny_reference):
    queries = ["Wie hoch ist der Eiffelturm?", "埃菲尔铁塔有多高？", "long"]
    passages = ["Der Eiffelturm ist 330 Meter hoch.", "", "Paris " * 2000]
    ids, mask = pair_tokenizer.pad(pair_tokenizer.encode(pair_tokenizer.prepare_pairs(queries, passages)))
    for row, reference in enumerate(tiny_reference.tokenize_pairs(queries, passages)):
        assert ids[row, : mask[row].sum()].tolist() == list(reference)
    assert int(mask[2].sum()) == 512


@pytest.mark.parametrize(
    ("queries", "passages", "message"),
    [
        ([], [], "no \\(query, passage\\) pairs"),
        (["q", "q"], ["p"], "2 queries for 1 passages"),
        ([" "], ["p"], "query 0 is empty"),
        (["q", b"\xff"], ["p", "p"], "query 1 is not valid UTF-8"),
        (["q"], [b"\xc3\x28"], "passage 0 is not valid UTF-8"),
    ],
)
def test_bad_pairs_name_the_item(pair_tokenizer, queries, passages, message):
    with pytest.raises(TokenizationError, match=message):
        pair_tokenizer.prepare_pairs(queries, passages)
