"""Text tokenization for the E5 and CLIP text towers and the cross-encoder reranker, with HF
``tokenizers`` (Rust, no torch).

Texts follow the recipe of :mod:`babelrag.modelbuild.textprep` (which the build checks against
the reference tokenizers): clean, prefix, encode with specials, truncate to ``max_length``, pad.
A reranker's (query, passage) pairs use the tokenizer's pair template and ``longest_first``
truncation, so a long passage is cut to what the query leaves of the window.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

#: Texts are cut to this many characters per token of budget before tokenizing: a token covers at
#: least one character, so the model's window is always filled, while a 1 MB text costs
#: microseconds instead of tokenizing a quarter of a million pieces only to drop them.
CHARS_PER_TOKEN_BOUND = 16

_WHITESPACE = re.compile(r"\s+")


class TokenizationError(ValueError):
    """The input cannot be tokenized (empty, not UTF-8, unknown kind)."""


@dataclasses.dataclass(frozen=True)
class TokenizerConfig:
    max_length: int
    prefixes: dict[str, str]
    pad_id: int
    pad_to_max_length: bool = False
    clean: str = "none"  # "none" | "whitespace" (open_clip's HFTokenizer default cleaning)

    @classmethod
    def load(cls, path: Path) -> TokenizerConfig:
        raw = json.loads(Path(path).read_text())
        return cls(
            max_length=int(raw["max_length"]),
            prefixes=dict(raw.get("prefixes", {})),
            pad_id=int(raw["pad_id"]),
            pad_to_max_length=bool(raw.get("pad_to_max_length", False)),
            clean=str(raw.get("clean", "none")),
        )


def clean_text(text: str, mode: str) -> str:
    if mode == "none":
        return text
    if mode == "whitespace":
        # open_clip: whitespace_clean(basic_clean(text)); basic_clean also runs ftfy, which is a
        # no-op on well-formed text and is not a serving dependency.
        text = html.unescape(html.unescape(text)).strip()
        return _WHITESPACE.sub(" ", text).strip()
    raise ValueError(f"unknown clean mode {mode!r}")


class TextTokenizer:
    """Turns texts into padded ``input_ids`` / ``attention_mask`` arrays for an encoder."""

    def __init__(self, tokenizer_json: Path, config: TokenizerConfig) -> None:
        self.config = config
        self._tokenizer = Tokenizer.from_file(str(tokenizer_json))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=config.max_length)

    @classmethod
    def from_dir(cls, directory: Path) -> TextTokenizer:
        directory = Path(directory)
        return cls(directory / "tokenizer.json", TokenizerConfig.load(directory / "tokenizer_config.json"))

    def prepare(self, raw_texts: Sequence[bytes | str], kinds: Sequence[bytes | str] | None) -> list[str]:
        """Validate and decode one request's texts; raises TokenizationError naming the bad item."""
        if len(raw_texts) == 0:
            raise TokenizationError("no texts given")
        if kinds is not None and len(kinds) not in (1, len(raw_texts)):
            raise TokenizationError(f"got {len(kinds)} kinds for {len(raw_texts)} texts")
        prepared = []
        for index, raw in enumerate(raw_texts):
            text = self._text(raw, f"text {index}", allow_empty=False)
            prefix = ""
            if self.config.prefixes:
                if kinds is None:
                    raise TokenizationError(f"a kind is required: one of {sorted(self.config.prefixes)}")
                kind = _decode(kinds[index if len(kinds) > 1 else 0], f"kind {index}").strip().lower()
                if kind not in self.config.prefixes:
                    raise TokenizationError(f"unknown kind {kind!r}; expected one of {sorted(self.config.prefixes)}")
                prefix = self.config.prefixes[kind]
            prepared.append(prefix + text)
        return prepared

    def prepare_pairs(
        self, raw_queries: Sequence[bytes | str], raw_passages: Sequence[bytes | str]
    ) -> list[tuple[str, str]]:
        """Validate and decode one request's (query, passage) pairs.

        A query must say something; a passage may be empty (an image without a caption still
        gets a score).
        """
        if len(raw_queries) == 0:
            raise TokenizationError("no (query, passage) pairs given")
        if len(raw_queries) != len(raw_passages):
            raise TokenizationError(f"got {len(raw_queries)} queries for {len(raw_passages)} passages")
        return [
            (self._text(query, f"query {index}", allow_empty=False), self._text(passage, f"passage {index}", allow_empty=True))
            for index, (query, passage) in enumerate(zip(raw_queries, raw_passages))
        ]

    def _text(self, raw: bytes | str, what: str, *, allow_empty: bool) -> str:
        text = _decode(raw, what)
        if not allow_empty and not text.strip():
            raise TokenizationError(f"{what} is empty")
        return clean_text(text[: self.config.max_length * CHARS_PER_TOKEN_BOUND], self.config.clean)

    def encode(self, items: Sequence[str | tuple[str, str]]) -> list[list[int]]:
        """Token ids per text or (query, passage) pair (truncated to max_length, specials added)."""
        return [encoding.ids for encoding in self._tokenizer.encode_batch(list(items))]

    def pad(self, ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        width = self.config.max_length if self.config.pad_to_max_length else max(len(row) for row in ids)
        input_ids = np.full((len(ids), width), self.config.pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, tokens in enumerate(ids):
            input_ids[row, : len(tokens)] = tokens
            attention_mask[row, : len(tokens)] = 1
        return input_ids, attention_mask

    def __call__(self, raw_texts: Sequence[bytes | str], kinds: Sequence[bytes | str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.pad(self.encode(self.prepare(raw_texts, kinds)))


def _decode(raw: bytes | str, what: str) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TokenizationError(f"{what} is not valid UTF-8 (byte {exc.start})") from None
