"""Tokenise text exactly as the built tokenizer artifacts prescribe — no torch, no transformers.

A tokenizer artifact directory holds ``tokenizer.json`` (Hugging Face ``tokenizers`` format) and
``tokenizer_config.json``::

    {"max_length": 512, "prefixes": {"query": "query: ", "passage": "passage: "},
     "pad_id": 1, "pad_to_max_length": false, "clean": "none"}

The recipe, applied in this order, is the contract between the build and the serving side:

1. ``clean`` the raw text (:func:`clean_text`): ``"none"`` leaves it alone; ``"whitespace"`` is what
   open_clip's ``HFTokenizer`` does by default (``clean='whitespace'``): ``ftfy.fix_text``, then
   ``html.unescape`` twice, strip, and collapse every run of whitespace to one space.
2. prepend ``prefixes[kind]`` (E5 needs ``"query: "`` / ``"passage: "``; CLIP has none).
3. encode with ``tokenizer.json`` including its special tokens (``<s> ... </s>``), truncated to
   ``max_length`` tokens *including* the specials (the end token is kept).
4. pad with ``pad_id`` to ``max_length`` when ``pad_to_max_length`` is true, else to the longest
   sequence in the batch; ``attention_mask`` is 1 on real tokens and 0 on padding.

Text *pairs* (a cross-encoder's query and passage) are cleaned the same way, encoded with the
tokenizer's pair template (``<s> query </s></s> passage </s>`` for XLM-R) and truncated with the
``longest_first`` strategy: tokens are taken from the longer of the two until the pair fits, so a
long passage is cut to what the query leaves of the window, exactly as transformers'
``tokenizer(queries, passages, truncation=True)`` does (the cross-encoder model cards' recipe).

The model build checks, for every build, that this recipe reproduces the ids of the reference
tokenizers (transformers' ``XLMRobertaTokenizerFast`` for E5, open_clip's ``HFTokenizer`` for CLIP)
on a fixed multilingual batch. The serving side may import this module (it needs only
``tokenizers``, ``numpy`` and, for ``clean="whitespace"``, ``ftfy``).
"""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from babelrag.modelbuild.errors import SourceUnavailable

if TYPE_CHECKING:
    import tokenizers

TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"
CLEAN_MODES = ("none", "whitespace")


@dataclasses.dataclass(frozen=True)
class TokenizerConfig:
    max_length: int
    prefixes: dict[str, str]
    pad_id: int
    pad_to_max_length: bool
    clean: str

    def __post_init__(self) -> None:
        if self.max_length < 2:
            raise ValueError(f"max_length must be at least 2, got {self.max_length}")
        if self.clean not in CLEAN_MODES:
            raise ValueError(f"clean must be one of {CLEAN_MODES}, got {self.clean!r}")

    def to_json(self) -> dict:
        return {
            "max_length": self.max_length,
            "prefixes": dict(self.prefixes),
            "pad_id": self.pad_id,
            "pad_to_max_length": self.pad_to_max_length,
            "clean": self.clean,
        }

    @classmethod
    def from_json(cls, data: dict) -> TokenizerConfig:
        return cls(
            max_length=int(data["max_length"]),
            prefixes={str(k): str(v) for k, v in (data.get("prefixes") or {}).items()},
            pad_id=int(data["pad_id"]),
            pad_to_max_length=bool(data["pad_to_max_length"]),
            clean=str(data.get("clean", "none")),
        )

    @classmethod
    def load(cls, directory: Path) -> TokenizerConfig:
        with (directory / CONFIG_FILE).open(encoding="utf-8") as fh:
            return cls.from_json(json.load(fh))


def clean_text(text: str, mode: str) -> str:
    """Apply a ``clean`` mode; ``"whitespace"`` equals open_clip's ``_clean_whitespace``."""
    if mode == "none":
        return text
    if mode == "whitespace":
        try:
            import ftfy
        except ImportError as exc:  # pragma: no cover - ftfy is an open_clip dependency
            raise RuntimeError("clean='whitespace' needs the 'ftfy' package (as open_clip does)") from exc
        text = ftfy.fix_text(text)
        text = html.unescape(html.unescape(text))
        text = text.strip()
        return " ".join(text.split()).strip()
    raise ValueError(f"unknown clean mode {mode!r}")


def write_tokenizer_dir(
    tokenizer: tokenizers.Tokenizer, directory: Path, *, max_length: int, prefixes: dict[str, str] | None = None
) -> TokenizerConfig:
    """Write ``tokenizer.json`` (truncation and padding switched off: the config decides them) and
    ``tokenizer_config.json`` for a model that pads to the longest sequence and cleans nothing."""
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    tokenizer.save(str(directory / TOKENIZER_FILE))
    pad_id = tokenizer.token_to_id("<pad>")
    if pad_id is None:
        raise SourceUnavailable(f"the tokenizer for {directory.name} has no <pad> token")
    config = TokenizerConfig(max_length, dict(prefixes or {}), int(pad_id), False, "none")
    with (directory / CONFIG_FILE).open("w", encoding="utf-8") as fh:
        json.dump(config.to_json(), fh, indent=2)
        fh.write("\n")
    return config


class ArtifactTokenizer:
    """Tokeniser for one built tokenizer directory (``tokenizer.json`` + ``tokenizer_config.json``)."""

    def __init__(self, directory: Path) -> None:
        from tokenizers import Tokenizer

        self.directory = Path(directory)
        self.config = TokenizerConfig.load(self.directory)
        self._tokenizer = Tokenizer.from_file(str(self.directory / TOKENIZER_FILE))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=self.config.max_length)

    @property
    def vocab_size(self) -> int:
        return int(self._tokenizer.get_vocab_size())

    def prepare(self, texts: Sequence[str], kind: str | None = None) -> list[str]:
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not a string")
        if kind is None:
            prefix = ""
        elif kind in self.config.prefixes:
            prefix = self.config.prefixes[kind]
        else:
            raise ValueError(f"unknown kind {kind!r}; this tokenizer knows {sorted(self.config.prefixes)}")
        return [prefix + clean_text(text, self.config.clean) for text in texts]

    def ids(self, texts: Sequence[str], kind: str | None = None) -> list[list[int]]:
        """Token ids per text, with specials and truncation, without padding."""
        encodings = self._tokenizer.encode_batch(self.prepare(texts, kind), add_special_tokens=True)
        return [list(enc.ids) for enc in encodings]

    def pair_ids(self, queries: Sequence[str], passages: Sequence[str]) -> list[list[int]]:
        """Token ids per (query, passage) pair: the pair template, ``longest_first`` truncation."""
        pairs = list(zip(self.prepare(queries), self.prepare(passages), strict=True))
        encodings = self._tokenizer.encode_batch(pairs, add_special_tokens=True)
        return [list(enc.ids) for enc in encodings]

    def __call__(self, texts: Sequence[str], kind: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(input_ids, attention_mask)``, both int64 ``[batch, seq]``, padded per the config."""
        return self.pad(self.ids(texts, kind))

    def pairs(self, queries: Sequence[str], passages: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(input_ids, attention_mask)`` of (query, passage) pairs, padded per the config."""
        return self.pad(self.pair_ids(queries, passages))

    def pad(self, rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        longest = max((len(r) for r in rows), default=0)
        width = self.config.max_length if self.config.pad_to_max_length else longest
        input_ids = np.full((len(rows), width), self.config.pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = row
            attention_mask[i, : len(row)] = 1
        return input_ids, attention_mask
