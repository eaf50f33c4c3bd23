"""The in-process PyTorch reference for a built model directory.

Tests (and the build's own parity checks) compare what Triton serves against this. It is built
only from the files of the build and the libraries' *own* code paths, never from the export code:

* E5: ``transformers.AutoModel`` loaded from ``reference/e5`` (``config.json`` +
  ``model.safetensors``), tokenised by transformers' ``XLMRobertaTokenizerFast`` loaded from the
  built ``artifacts/e5_tokenizer/tokenizer.json``, mean-pooled over the attention mask and
  L2-normalised (the recipe of the multilingual-e5 model card).
* reranker: ``transformers.AutoModelForSequenceClassification`` loaded from ``reference/reranker``,
  pairs tokenised by ``XLMRobertaTokenizerFast(queries, passages, truncation=True)`` from the built
  ``artifacts/reranker_tokenizer/tokenizer.json``; the score is the raw logit.
* CLIP: ``open_clip.create_model_and_transforms("local-dir:...")`` on ``reference/clip``
  (``open_clip_config.json`` + ``open_clip_model.safetensors`` + the HF text tower's config and
  tokenizer in ``hf_text/``), images through open_clip's own eval transform, texts through
  ``open_clip.get_tokenizer`` and ``encode_text(..., normalize=True)``.

``reference/clip/open_clip_config.json`` names the text tower by the relative path ``hf_text``;
open_clip wants a path it can open, so loading stages a private directory with the path resolved
(the reference directory itself stays relocatable).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from babelrag.modelbuild.errors import ArtifactError
from babelrag.modelbuild.manifest import Manifest
from babelrag.modelbuild.textprep import TOKENIZER_FILE, TokenizerConfig

if TYPE_CHECKING:
    from PIL import Image

E5_TOKENIZER_DIR = "artifacts/e5_tokenizer"
E5_ENCODER_DIR = "artifacts/e5_encoder"
CLIP_PREPROCESS_DIR = "artifacts/clip_image_preprocess"
CLIP_IMAGE_ENCODER_DIR = "artifacts/clip_image_encoder"
CLIP_TOKENIZER_DIR = "artifacts/clip_text_tokenizer"
CLIP_TEXT_ENCODER_DIR = "artifacts/clip_text_encoder"
RERANKER_TOKENIZER_DIR = "artifacts/reranker_tokenizer"
RERANKER_ENCODER_DIR = "artifacts/reranker_encoder"
E5_REFERENCE_DIR = "reference/e5"
CLIP_REFERENCE_DIR = "reference/clip"
RERANKER_REFERENCE_DIR = "reference/reranker"

OPEN_CLIP_CONFIG = "open_clip_config.json"
OPEN_CLIP_WEIGHTS = "open_clip_model.safetensors"
HF_TEXT_DIR = "hf_text"

_BATCH = 16

TextKind = Literal["query", "passage"]


@contextlib.contextmanager
def open_clip_local_dir(reference_dir: Path) -> Iterator[str]:
    """Yield an open_clip ``local-dir:`` model name for ``reference/clip``.

    The staged directory holds ``open_clip_config.json`` with the text tower's relative paths made
    absolute, plus links to the weights (when present) and to the tokenizer files, which is what
    ``create_model`` and ``get_tokenizer`` read for a ``local-dir:`` model.
    """
    reference_dir = Path(reference_dir).resolve()
    config_path = reference_dir / OPEN_CLIP_CONFIG
    if not config_path.is_file():
        raise ArtifactError(f"{config_path} is missing")
    with config_path.open(encoding="utf-8") as fh:
        config = json.load(fh)
    text_cfg = config["model_cfg"]["text_cfg"]
    for key in ("hf_model_name", "hf_tokenizer_name"):
        value = text_cfg.get(key)
        if value and not Path(value).is_absolute() and (reference_dir / value).is_dir():
            text_cfg[key] = str(reference_dir / value)
    with tempfile.TemporaryDirectory(prefix="babelrag-open-clip-") as tmp:
        staged = Path(tmp)
        with (staged / OPEN_CLIP_CONFIG).open("w", encoding="utf-8") as fh:
            json.dump(config, fh)
        weights = reference_dir / OPEN_CLIP_WEIGHTS
        if weights.is_file():
            (staged / OPEN_CLIP_WEIGHTS).symlink_to(weights)
        tokenizer_dir = Path(text_cfg.get("hf_tokenizer_name") or "")
        if tokenizer_dir.is_dir():
            for item in tokenizer_dir.iterdir():
                if item.is_file() and item.name != "config.json" and not (staged / item.name).exists():
                    (staged / item.name).symlink_to(item)
        yield f"local-dir:{staged}"


def average_pool(last_hidden_state, attention_mask):
    """Mean over the unmasked tokens (the multilingual-e5 model card's ``average_pool``)."""
    hidden = last_hidden_state.masked_fill(~attention_mask[..., None].bool(), 0.0)
    return hidden.sum(dim=1) / attention_mask.sum(dim=1)[..., None]


class E5Reference:
    def __init__(self, root: Path) -> None:
        import torch
        from transformers import AutoModel, XLMRobertaTokenizerFast

        tokenizer_dir = root / E5_TOKENIZER_DIR
        model_dir = root / E5_REFERENCE_DIR
        for required in (tokenizer_dir / TOKENIZER_FILE, model_dir / "config.json"):
            if not required.is_file():
                raise ArtifactError(f"E5 reference needs {required}, which is missing")
        self.config = TokenizerConfig.load(tokenizer_dir)
        self.tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(tokenizer_dir / TOKENIZER_FILE))
        self.model = AutoModel.from_pretrained(str(model_dir), add_pooling_layer=False).eval()
        self.model.to(torch.float32)
        self.dim = int(self.model.config.hidden_size)

    def prefixed(self, texts: Sequence[str], kind: str) -> list[str]:
        if kind not in self.config.prefixes:
            raise ValueError(f"kind must be one of {sorted(self.config.prefixes)}, got {kind!r}")
        return [self.config.prefixes[kind] + t for t in texts]

    def tokenize(self, texts: Sequence[str], kind: str) -> list[list[int]]:
        enc = self.tokenizer(self.prefixed(texts, kind), truncation=True, max_length=self.config.max_length)
        return [list(ids) for ids in enc["input_ids"]]

    def embed(self, texts: Sequence[str], kind: str) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        prefixed = self.prefixed(texts, kind)
        out = []
        with torch.inference_mode():
            for start in range(0, len(prefixed), _BATCH):
                batch = self.tokenizer(
                    prefixed[start : start + _BATCH],
                    truncation=True,
                    max_length=self.config.max_length,
                    padding=True,
                    return_tensors="pt",
                )
                hidden = self.model(
                    input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
                ).last_hidden_state
                pooled = average_pool(hidden, batch["attention_mask"])
                out.append(F.normalize(pooled, p=2, dim=1).numpy())
        return np.concatenate(out, axis=0) if out else np.zeros((0, self.dim), np.float32)


class RerankerReference:
    def __init__(self, root: Path) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, XLMRobertaTokenizerFast

        tokenizer_dir = root / RERANKER_TOKENIZER_DIR
        model_dir = root / RERANKER_REFERENCE_DIR
        for required in (tokenizer_dir / TOKENIZER_FILE, model_dir / "config.json"):
            if not required.is_file():
                raise ArtifactError(f"reranker reference needs {required}, which is missing")
        self.config = TokenizerConfig.load(tokenizer_dir)
        self.tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(tokenizer_dir / TOKENIZER_FILE))
        self.model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).eval()
        self.model.to(torch.float32)

    def _encode(self, queries: Sequence[str], passages: Sequence[str], **kwargs):  # noqa: ANN202
        if len(queries) != len(passages):
            raise ValueError(f"{len(queries)} queries for {len(passages)} passages")
        return self.tokenizer(list(queries), list(passages), truncation=True, max_length=self.config.max_length, **kwargs)

    def tokenize(self, queries: Sequence[str], passages: Sequence[str]) -> list[list[int]]:
        return [list(ids) for ids in self._encode(queries, passages)["input_ids"]]

    def score(self, queries: Sequence[str], passages: Sequence[str]) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(queries), _BATCH):
                end = start + _BATCH
                batch = self._encode(queries[start:end], passages[start:end], padding=True, return_tensors="pt")
                logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                out.append(logits.numpy().astype(np.float32))
        return np.concatenate(out, axis=0) if out else np.zeros((0, 1), np.float32)


class ClipReference:
    def __init__(self, root: Path) -> None:
        import open_clip

        reference_dir = root / CLIP_REFERENCE_DIR
        if not (reference_dir / OPEN_CLIP_WEIGHTS).is_file():
            raise ArtifactError(f"CLIP reference needs {reference_dir / OPEN_CLIP_WEIGHTS}, which is missing")
        with open_clip_local_dir(reference_dir) as name:
            model, _, preprocess = open_clip.create_model_and_transforms(name)
            self.tokenizer = open_clip.get_tokenizer(name)
        self.model = model.eval()
        self.preprocess = preprocess
        self.preprocess_cfg = dict(open_clip.get_model_preprocess_cfg(model))
        self.dim = int(self.model.text.output_dim)

    def preprocess_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        import torch

        if not images:
            size = self.preprocess_cfg["size"]
            h, w = (size, size) if isinstance(size, int) else tuple(size)
            return np.zeros((0, 3, h, w), np.float32)
        return torch.stack([self.preprocess(img) for img in images]).numpy().astype(np.float32)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(images), _BATCH):
                pixels = torch.from_numpy(self.preprocess_images(images[start : start + _BATCH]))
                out.append(self.model.encode_image(pixels, normalize=True).numpy())
        return np.concatenate(out, axis=0) if out else np.zeros((0, self.dim), np.float32)

    def tokenize(self, texts: Sequence[str]) -> np.ndarray:
        return self.tokenizer(list(texts)).numpy().astype(np.int64)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), _BATCH):
                ids = self.tokenizer(list(texts[start : start + _BATCH]))
                out.append(self.model.encode_text(ids, normalize=True).numpy())
        return np.concatenate(out, axis=0) if out else np.zeros((0, self.dim), np.float32)


class Reference:
    """PyTorch reference embeddings for one built directory; each model loads on first use."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self._lock = threading.Lock()
        self._e5: E5Reference | None = None
        self._clip: ClipReference | None = None
        self._reranker: RerankerReference | None = None

    @property
    def manifest(self) -> Manifest | None:
        return Manifest.load(self.out_dir)

    def _get_e5(self) -> E5Reference:
        with self._lock:
            if self._e5 is None:
                self._e5 = E5Reference(self.out_dir)
            return self._e5

    def _get_clip(self) -> ClipReference:
        with self._lock:
            if self._clip is None:
                self._clip = ClipReference(self.out_dir)
            return self._clip

    def _get_reranker(self) -> RerankerReference:
        with self._lock:
            if self._reranker is None:
                self._reranker = RerankerReference(self.out_dir)
            return self._reranker

    # ---- E5 text embeddings

    @property
    def e5_dim(self) -> int:
        return self._get_e5().dim

    def tokenize_e5(self, texts: Sequence[str], kind: TextKind) -> list[list[int]]:
        """input_ids (prefix, specials, truncation to max_length; unpadded) per text."""
        return self._get_e5().tokenize(_as_list(texts), kind)

    def embed_texts(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        """L2-normalised E5 embeddings ``[n, d]`` (float32)."""
        return self._get_e5().embed(_as_list(texts), kind)

    # ---- CLIP image and text embeddings

    @property
    def clip_dim(self) -> int:
        return self._get_clip().dim

    @property
    def clip_preprocess_cfg(self) -> dict:
        return dict(self._get_clip().preprocess_cfg)

    def preprocess_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """open_clip's eval transform applied to each image: float32 ``[n, 3, H, W]``."""
        return self._get_clip().preprocess_images(list(images))

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """L2-normalised CLIP image embeddings ``[n, d_clip]`` through open_clip's eval transform."""
        return self._get_clip().embed_images(list(images))

    def tokenize_clip(self, texts: Sequence[str]) -> np.ndarray:
        """open_clip's tokenizer output, int64 ``[n, context_length]`` (padded)."""
        return self._get_clip().tokenize(_as_list(texts))

    def embed_clip_texts(self, texts: Sequence[str]) -> np.ndarray:
        """``model.encode_text(open_clip_tokenizer(texts), normalize=True)`` as float32 ``[n, d_clip]``."""
        return self._get_clip().embed_texts(_as_list(texts))


    # ---- cross-encoder reranker

    def tokenize_pairs(self, queries: Sequence[str], passages: Sequence[str]) -> list[list[int]]:
        """input_ids (pair template, ``longest_first`` truncation to max_length; unpadded) per pair."""
        return self._get_reranker().tokenize(_as_list(queries), _as_list(passages))

    def rerank_logits(self, queries: Sequence[str], passages: Sequence[str]) -> np.ndarray:
        """The cross-encoder's raw relevance logits ``[n, 1]`` (float32) of (query, passage) pairs."""
        return self._get_reranker().score(_as_list(queries), _as_list(passages))


def _as_list(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("pass a list of strings, not a single string")
    return list(texts)


def load_reference(out_dir: Path) -> Reference:
    """The PyTorch reference for the build in ``out_dir`` (models load lazily, on first use)."""
    out_dir = Path(out_dir)
    if not (out_dir / "reference").is_dir():
        raise ArtifactError(f"{out_dir} holds no reference/ directory; run `babelrag-server models build` first")
    return Reference(out_dir)
