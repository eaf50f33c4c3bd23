"""Answer-language control: keep generation inside one writing system.

Users of RAG systems keep reporting answers in the wrong language (FINDINGS: ragflow #5507,
#8104, #9734). A prompt instruction alone does not hold a small model; a logits processor does.
For a language with its own script (Chinese, Japanese, Korean, Russian, Arabic, Hindi, Thai, ...)
:class:`ScriptLogitsProcessor` masks every vocabulary token whose text contains a *letter* (Unicode
categories L and M) of any other script. Digits, punctuation, symbols, whitespace and letters of
the Common / Inherited scripts (e.g. the Japanese prolonged-sound mark, combining accents, ZWNJ)
stay allowed, so citation markers such as ``[1]`` can always be written; so does every end-of-
sequence token.

Scripts are named by ISO 15924 codes (``Hani``, ``Cyrl``, ``Arab``, ...) plus the composites
``Jpan`` (Han + Hiragana + Katakana) and ``Kore`` (Hangul + Han); :func:`resolve_script` also takes
a BCP 47 language tag (``zh``, ``ja-JP``, ``sr-Cyrl``). Languages written in Latin script resolve
to *no* constraint (pass ``Latn`` explicitly to confine an answer to Latin letters).

Byte-level tokenizers
    Byte-level BPE vocabularies (GPT-2 style, e.g. SmolVLM's) and SentencePiece byte fallback
    (``<0xE4>``, Gemma) split one CJK character into several tokens that are not valid UTF-8 on
    their own. Each token is therefore classified on its *bytes*: complete characters are checked,
    and an incomplete trailing sequence is allowed when some character it can still complete to is
    allowed. While such a sequence is pending, only tokens that continue it legally (and to an
    allowed character) are allowed (:meth:`ScriptMasker.mask_after`). The processor tracks the
    pending bytes from the tokens generated so far.

Cost
    :class:`TokenScriptTable` classifies the whole vocabulary once (about a second for 262k tokens;
    the build stores it next to the model, ``token_scripts.npz``); each script's mask is then one
    vectorised numpy expression, computed on first use and cached.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import regex

# --------------------------------------------------------------------------- scripts

#: ISO 15924 code -> Unicode Script property value (as the ``regex`` module spells it).
SCRIPTS: dict[str, str] = {
    "Latn": "Latin",
    "Grek": "Greek",
    "Cyrl": "Cyrillic",
    "Armn": "Armenian",
    "Geor": "Georgian",
    "Hebr": "Hebrew",
    "Arab": "Arabic",
    "Syrc": "Syriac",
    "Thaa": "Thaana",
    "Deva": "Devanagari",
    "Beng": "Bengali",
    "Guru": "Gurmukhi",
    "Gujr": "Gujarati",
    "Orya": "Oriya",
    "Taml": "Tamil",
    "Telu": "Telugu",
    "Knda": "Kannada",
    "Mlym": "Malayalam",
    "Sinh": "Sinhala",
    "Thai": "Thai",
    "Laoo": "Lao",
    "Tibt": "Tibetan",
    "Mymr": "Myanmar",
    "Khmr": "Khmer",
    "Ethi": "Ethiopic",
    "Mong": "Mongolian",
    "Hang": "Hangul",
    "Hira": "Hiragana",
    "Kana": "Katakana",
    "Hani": "Han",
    "Bopo": "Bopomofo",
}

#: Scripts written with several Unicode scripts (ISO 15924 composite codes and aliases).
COMPOSITES: dict[str, tuple[str, ...]] = {
    "Jpan": ("Hani", "Hira", "Kana"),
    "Kore": ("Hang", "Hani"),
    "Hans": ("Hani",),
    "Hant": ("Hani",),
    "Hrkt": ("Hira", "Kana"),
}

#: Bit positions: one per script, then "a letter of a script not listed" and "no script".
_SCRIPT_BITS: dict[str, int] = {code: index for index, code in enumerate(SCRIPTS)}
OTHER_BIT = len(SCRIPTS)  # a letter of a script we do not list: never allowed under a constraint
NEUTRAL_BIT = len(SCRIPTS) + 1  # not a letter, or a Common / Inherited one: always allowed
if NEUTRAL_BIT >= 64:  # pragma: no cover - guards future edits of SCRIPTS
    raise RuntimeError("too many scripts for a 64-bit script set")

#: BCP 47 primary language subtag -> script code, for languages not written in Latin script.
LANGUAGE_SCRIPTS: dict[str, str] = {
    "zh": "Hani", "yue": "Hani", "wuu": "Hani",
    "ja": "Jpan",
    "ko": "Hang",
    "ru": "Cyrl", "uk": "Cyrl", "bg": "Cyrl", "be": "Cyrl", "mk": "Cyrl", "kk": "Cyrl", "ky": "Cyrl",
    "tg": "Cyrl", "mn": "Cyrl", "tt": "Cyrl", "ba": "Cyrl", "cv": "Cyrl", "sah": "Cyrl",
    "el": "Grek",
    "hy": "Armn",
    "ka": "Geor",
    "he": "Hebr", "iw": "Hebr", "yi": "Hebr",
    "ar": "Arab", "fa": "Arab", "ur": "Arab", "ps": "Arab", "ug": "Arab", "sd": "Arab", "ckb": "Arab",
    "arz": "Arab",
    "syr": "Syrc",
    "dv": "Thaa",
    "hi": "Deva", "mr": "Deva", "ne": "Deva", "sa": "Deva", "mai": "Deva", "bho": "Deva",
    "bn": "Beng", "as": "Beng",
    "pa": "Guru",
    "gu": "Gujr",
    "or": "Orya",
    "ta": "Taml",
    "te": "Telu",
    "kn": "Knda",
    "ml": "Mlym",
    "si": "Sinh",
    "th": "Thai",
    "lo": "Laoo",
    "bo": "Tibt", "dz": "Tibt",
    "my": "Mymr",
    "km": "Khmr",
    "am": "Ethi", "ti": "Ethi",
}  # fmt: skip

_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")


def resolve_script(value: str | None) -> str | None:
    """The script code that constrains an answer for ``value``, or None for no constraint.

    ``value`` is an ISO 15924 script code (any case: ``Hani``, ``cyrl``, ``Jpan``) or a BCP 47
    language tag (``zh``, ``zh-TW``, ``ja_JP``, ``sr-Cyrl``). A script subtag inside a language tag
    wins over the language's usual script. Languages written in Latin script, and languages this
    table does not know, give None. Raises ValueError for a value that is neither.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    code = text[:1].upper() + text[1:].lower()
    if code in SCRIPTS or code in COMPOSITES:
        return code
    if not _LANGUAGE_TAG.match(text):
        raise ValueError(f"{value!r} is neither an ISO 15924 script code nor a BCP 47 language tag")
    subtags = re.split(r"[-_]", text)
    for subtag in subtags[1:]:
        if len(subtag) == 4 and subtag.isalpha():
            script = subtag[:1].upper() + subtag[1:].lower()
            if script in SCRIPTS or script in COMPOSITES:
                return None if script == "Latn" else script
    return LANGUAGE_SCRIPTS.get(subtags[0].lower())


def script_members(script: str) -> tuple[str, ...]:
    """The Unicode scripts (ISO 15924 codes) that ``script`` allows."""
    if script in COMPOSITES:
        return COMPOSITES[script]
    if script in SCRIPTS:
        return (script,)
    raise ValueError(f"unknown script code {script!r}")


def allowed_bits(script: str) -> int:
    bits = 1 << NEUTRAL_BIT
    for member in script_members(script):
        bits |= 1 << _SCRIPT_BITS[member]
    return bits


# --------------------------------------------------------------------------- characters

#: Characters that belong to a script: letters, marks and decimal digits (Bengali ৬ or Thai ๖ are
#: as foreign in a Russian answer as letters; ASCII digits are Common, so always allowed).
_LETTER = regex.compile(r"[\p{L}\p{M}\p{Nd}]")
_NOT_TEXT = regex.compile(r"[\p{Cn}\p{Co}\p{Cs}]")  # unassigned, private use, surrogates
_SCRIPT_OF = regex.compile("|".join(f"(?P<{code}>\\p{{Script={name}}})" for code, name in SCRIPTS.items()))
_NEUTRAL_SCRIPT = regex.compile(r"[\p{Script=Common}\p{Script=Inherited}]")


@functools.lru_cache(maxsize=1 << 17)
def char_bit(char: str) -> int:
    """The script bit of one character (NEUTRAL for non-letters and Common/Inherited letters)."""
    if _NOT_TEXT.match(char):
        return OTHER_BIT
    if not _LETTER.match(char) or _NEUTRAL_SCRIPT.match(char):
        return NEUTRAL_BIT
    match = _SCRIPT_OF.match(char)
    return _SCRIPT_BITS[match.lastgroup] if match else OTHER_BIT


_CHAR_MASKS: dict[str, int] = {}


def text_bits(text: str) -> int:
    """OR of ``1 << char_bit(c)`` over the characters of ``text``."""
    masks = _CHAR_MASKS
    bits = 0
    for char in text:
        mask = masks.get(char)
        if mask is None:
            mask = masks[char] = 1 << char_bit(char)
        bits |= mask
    return bits


def _utf8_length(lead: int) -> int:
    """Sequence length announced by a UTF-8 lead byte; 0 for a continuation or invalid byte."""
    if lead < 0x80:
        return 1
    if 0xC2 <= lead <= 0xDF:
        return 2
    if 0xE0 <= lead <= 0xEF:
        return 3
    if 0xF0 <= lead <= 0xF4:
        return 4
    return 0


#: Legal second bytes after the UTF-8 lead bytes that restrict them (overlong forms, surrogates,
#: code points above U+10FFFF are not UTF-8).
_SECOND_BYTE = {0xE0: (0xA0, 0xBF), 0xED: (0x80, 0x9F), 0xF0: (0x90, 0xBF), 0xF4: (0x80, 0x8F)}


def _completion_range(prefix: bytes) -> tuple[int, int] | None:
    """First and last code point an incomplete UTF-8 sequence can still become; None when it is
    not the start of any legal sequence."""
    need = _utf8_length(prefix[0])
    if need <= 1 or len(prefix) >= need:
        return None
    second_lo, second_hi = _SECOND_BYTE.get(prefix[0], (0x80, 0xBF))
    if len(prefix) >= 2 and not second_lo <= prefix[1] <= second_hi:
        return None
    if any(not 0x80 <= b <= 0xBF for b in prefix[2:]):
        return None
    low, high = bytearray(prefix), bytearray(prefix)
    if len(prefix) == 1:
        low.append(second_lo)
        high.append(second_hi)
    while len(low) < need:
        low.append(0x80)
        high.append(0xBF)
    return ord(bytes(low).decode("utf-8")), ord(bytes(high).decode("utf-8"))


_NEUTRAL_CHAR = regex.compile(r"[^\p{L}\p{M}\p{Nd}\p{Cn}\p{Co}\p{Cs}]|[\p{Script=Common}\p{Script=Inherited}]")
_OTHER_LETTER = regex.compile(
    r"[[\p{L}\p{M}\p{Nd}]--[\p{Script=Common}\p{Script=Inherited}"
    + "".join(f"\\p{{Script={name}}}" for name in SCRIPTS.values())
    + "]]",
    flags=regex.V1,
)


@functools.lru_cache(maxsize=4096)
def _range_bits(low: int, high: int) -> int:
    """Script bits of the characters between two code points (inclusive): what an incomplete
    sequence covering that range may turn into. Unassigned and private-use code points count as
    "other" (never allowed under a constraint)."""
    text = "".join(chr(cp) for cp in range(low, high + 1) if not 0xD800 <= cp <= 0xDFFF)
    bits = 0
    for match in _SCRIPT_OF.finditer(text):
        if not _NEUTRAL_CHAR.match(match.group()):
            bits |= 1 << _SCRIPT_BITS[match.lastgroup]
    if _NEUTRAL_CHAR.search(text):
        bits |= 1 << NEUTRAL_BIT
    if _OTHER_LETTER.search(text) or _NOT_TEXT.search(text):
        bits |= 1 << OTHER_BIT
    return bits


def classify_bytes(data: bytes) -> tuple[int, int, bool]:
    """``(letter_bits, tail_bits, valid)`` of a token's bytes standing on their own.

    ``letter_bits``: scripts of its complete characters; ``tail_bits``: scripts an incomplete
    trailing sequence can still complete to (0 when it ends on a character boundary); ``valid``:
    False when the bytes start inside a character or hold an invalid sequence.
    """
    try:
        return text_bits(data.decode("utf-8")), 0, True
    except UnicodeDecodeError:
        pass
    letters = 0
    index = 0
    while index < len(data):
        need = _utf8_length(data[index])
        if need == 0:
            return 0, 0, False
        if index + need > len(data):
            rest = data[index:]
            if any(not 0x80 <= b <= 0xBF for b in rest[1:]):
                return 0, 0, False
            bounds = _completion_range(rest)
            tail = 0 if bounds is None else _range_bits(*bounds)
            if tail == 0:
                return 0, 0, False
            return letters, tail, True
        try:
            char = data[index : index + need].decode("utf-8")
        except UnicodeDecodeError:
            return 0, 0, False
        letters |= 1 << char_bit(char)
        index += need
    return letters, 0, True


# --------------------------------------------------------------------------- token bytes


@functools.lru_cache(maxsize=1)
def _byte_level_decoder() -> dict[str, int]:
    """GPT-2's printable-character -> byte table (the inverse of ``bytes_to_unicode``)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {chr(code): byte for byte, code in zip(printable, codes)}


_BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def _decoder_kinds(decoder: dict[str, Any] | None) -> set[str]:
    if not decoder:
        return set()
    kinds = {decoder.get("type", "")}
    for child in decoder.get("decoders") or ():
        kinds |= _decoder_kinds(child)
    return kinds


class TokenBytes:
    """The bytes each token id writes into decoded text; None for special (control) tokens.

    ``tokenizer`` is a ``tokenizers.Tokenizer`` (a transformers fast tokenizer's
    ``backend_tokenizer``). Three vocabulary families are understood: byte-level BPE (GPT-2's
    printable-byte alphabet), SentencePiece (``▁`` for a space, optional ``<0xNN>`` byte-fallback
    pieces) and WordPiece (``##`` continuation pieces).
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        decoder = tokenizer.decoder
        kinds = _decoder_kinds(json.loads(decoder.__getstate__())) if decoder is not None else set()
        model_type = type(tokenizer.model).__name__
        if "ByteLevel" in kinds:
            self.family = "byte_level"
        elif model_type == "WordPiece" or "WordPiece" in kinds:
            self.family = "wordpiece"
        else:
            self.family = "sentencepiece"
        self.byte_fallback = bool(getattr(tokenizer.model, "byte_fallback", False)) or "ByteFallback" in kinds
        self.size = tokenizer.get_vocab_size(with_added_tokens=True)
        self._added = tokenizer.get_added_tokens_decoder()
        self._byte_table = _byte_level_decoder()
        self._cache: dict[int, bytes | None] = {}

    def __call__(self, token_id: int) -> bytes | None:
        try:
            return self._cache[token_id]
        except KeyError:
            pass
        data = self._compute(token_id)
        if len(self._cache) < 65536:
            self._cache[token_id] = data
        return data

    def _compute(self, token_id: int) -> bytes | None:
        added = self._added.get(token_id)
        if added is not None:
            return None if added.special else added.content.encode("utf-8")
        piece = self.tokenizer.id_to_token(token_id)
        if piece is None:
            return None
        if self.family == "byte_level":
            try:
                return bytes(self._byte_table[ch] for ch in piece)
            except KeyError:
                return piece.encode("utf-8")
        if self.family == "wordpiece":
            return (piece[2:] if piece.startswith("##") else " " + piece).encode("utf-8")
        match = _BYTE_PIECE.match(piece) if self.byte_fallback else None
        return bytes([int(match.group(1), 16)]) if match else piece.replace("\u2581", " ").encode("utf-8")

    def all(self) -> list[bytes | None]:
        return [self._compute(token_id) for token_id in range(self.size)]


def tokenizer_fingerprint(tokenizer_json: Path) -> str:
    """sha256 of a ``tokenizer.json``: keys a stored :class:`TokenScriptTable` to its vocabulary."""
    digest = hashlib.sha256()
    with open(tokenizer_json, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- per-vocabulary table


class TokenScriptTable:
    """Script classification of every token of one vocabulary.

    Arrays, one entry per token id: ``letter_bits`` (uint64: scripts of its complete characters),
    ``tail_bits`` (uint64: scripts its trailing incomplete character can become), ``valid`` (bool:
    starts on a character boundary and holds legal UTF-8), ``special`` (bool: a control token that
    never appears in text), ``continuation`` (bool: starts with a UTF-8 continuation byte; such a
    token is only legal right after an incomplete character). The raw bytes of the continuation
    tokens are kept for :meth:`ScriptMasker.mask_after`.
    """

    FORMAT = 2

    def __init__(
        self,
        letter_bits: np.ndarray,
        tail_bits: np.ndarray,
        valid: np.ndarray,
        special: np.ndarray,
        continuation_ids: np.ndarray,
        continuation_bytes: Sequence[bytes],
        fingerprint: str,
        token_bytes: TokenBytes | None = None,
    ) -> None:
        self.letter_bits = letter_bits
        self.tail_bits = tail_bits
        self.valid = valid
        self.special = special
        self.continuation_ids = continuation_ids
        self.continuation_bytes = list(continuation_bytes)
        self.fingerprint = fingerprint
        self._token_bytes = token_bytes

    @property
    def size(self) -> int:
        return int(self.letter_bits.shape[0])

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, fingerprint: str = "") -> TokenScriptTable:
        """Classify every token of ``tokenizer`` (a ``tokenizers.Tokenizer``); ``fingerprint``
        names the vocabulary (see :func:`tokenizer_fingerprint`) for :meth:`load`."""
        reader = TokenBytes(tokenizer)
        size = reader.size
        letter_bits = np.zeros(size, dtype=np.uint64)
        tail_bits = np.zeros(size, dtype=np.uint64)
        valid = np.zeros(size, dtype=bool)
        special = np.zeros(size, dtype=bool)
        continuation_ids: list[int] = []
        continuation_bytes: list[bytes] = []
        for token_id, data in enumerate(reader.all()):
            if data is None:
                special[token_id] = True
                continue
            if not data:
                valid[token_id] = True  # an empty piece writes nothing
                continue
            if 0x80 <= data[0] <= 0xBF:
                continuation_ids.append(token_id)
                continuation_bytes.append(data)
                continue
            letters, tail, ok = classify_bytes(data)
            letter_bits[token_id] = letters
            tail_bits[token_id] = tail
            valid[token_id] = ok
        return cls(
            letter_bits,
            tail_bits,
            valid,
            special,
            np.asarray(continuation_ids, dtype=np.int64),
            continuation_bytes,
            fingerprint,
            reader,
        )

    def token_bytes(self, token_id: int) -> bytes | None:
        """The bytes a token writes (None for control tokens)."""
        if self._token_bytes is None:
            raise RuntimeError("token bytes are unknown: build the table with from_tokenizer() or load(..., tokenizer)")
        if not 0 <= token_id < self._token_bytes.size:
            return None
        return self._token_bytes(token_id)

    def save(self, path: Path) -> None:
        blob = b"".join(self.continuation_bytes)
        lengths = np.asarray([len(b) for b in self.continuation_bytes], dtype=np.int32)
        with open(path, "wb") as fh:
            np.savez_compressed(
                fh,
                format=np.asarray([self.FORMAT]),
                fingerprint=np.frombuffer(self.fingerprint.encode("ascii"), dtype=np.uint8),
                letter_bits=self.letter_bits,
                tail_bits=self.tail_bits,
                valid=self.valid,
                special=self.special,
                continuation_ids=self.continuation_ids,
                continuation_lengths=lengths,
                continuation_blob=np.frombuffer(blob, dtype=np.uint8),
            )

    @classmethod
    def load(cls, path: Path, tokenizer: Any, fingerprint: str) -> TokenScriptTable:
        """The table stored at ``path`` when it was made for the vocabulary ``fingerprint`` names;
        otherwise (missing, stale or unreadable) a fresh one computed from ``tokenizer``."""
        try:
            with np.load(path, allow_pickle=False) as data:
                stored = bytes(data["fingerprint"]).decode("ascii")
                if int(data["format"][0]) != cls.FORMAT or not fingerprint or stored != fingerprint:
                    raise ValueError("stale token script table")
                blob = bytes(data["continuation_blob"])
                offsets = np.concatenate([[0], np.cumsum(data["continuation_lengths"])]).astype(np.int64)
                pieces = [blob[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
                reader = TokenBytes(tokenizer)
                if data["letter_bits"].shape[0] != reader.size:
                    raise ValueError("token script table size differs from the tokenizer's")
                return cls(
                    data["letter_bits"].astype(np.uint64),
                    data["tail_bits"].astype(np.uint64),
                    data["valid"].astype(bool),
                    data["special"].astype(bool),
                    data["continuation_ids"].astype(np.int64),
                    pieces,
                    stored,
                    reader,
                )
        except (OSError, ValueError, KeyError):
            return cls.from_tokenizer(tokenizer, fingerprint)


# --------------------------------------------------------------------------- masks


class ScriptMasker:
    """Boolean "may be generated" masks over one vocabulary, one per script, cached.

    ``always_allowed`` (the end-of-sequence ids) are allowed under every script and state. The mask
    length is ``vocab_size`` (the model's logit width, which may exceed the tokenizer's size: the
    padding ids are never allowed).
    """

    def __init__(self, table: TokenScriptTable, always_allowed: Iterable[int], vocab_size: int | None = None) -> None:
        self.table = table
        self.always_allowed = sorted({int(i) for i in always_allowed})
        self.vocab_size = int(vocab_size or table.size)
        if self.vocab_size < table.size:
            raise ValueError(f"vocab_size {self.vocab_size} is smaller than the tokenizer's {table.size} tokens")
        self._static: dict[str, np.ndarray] = {}
        self._after: OrderedDict[tuple[str, bytes], np.ndarray] = OrderedDict()

    def _finish(self, allowed: np.ndarray) -> np.ndarray:
        mask = np.zeros(self.vocab_size, dtype=bool)
        mask[: allowed.shape[0]] = allowed
        for token_id in self.always_allowed:
            if token_id < self.vocab_size:
                mask[token_id] = True
        mask.flags.writeable = False
        return mask

    def mask(self, script: str) -> np.ndarray:
        """Tokens allowed at a character boundary (nothing pending) for ``script``."""
        cached = self._static.get(script)
        if cached is not None:
            return cached
        table = self.table
        ok_bits = np.uint64(allowed_bits(script))
        letters_ok = (table.letter_bits & ~ok_bits) == 0
        tail_ok = (table.tail_bits == 0) | ((table.tail_bits & ok_bits) != 0)
        allowed = table.valid & ~table.special & letters_ok & tail_ok
        mask = self._finish(allowed)
        self._static[script] = mask
        return mask

    def mask_after(self, script: str, pending: bytes) -> np.ndarray:
        """Tokens allowed while ``pending`` (an incomplete UTF-8 sequence) waits to be completed."""
        if not pending:
            return self.mask(script)
        key = (script, bytes(pending))
        cached = self._after.get(key)
        if cached is not None:
            self._after.move_to_end(key)
            return cached
        ok_bits = allowed_bits(script)
        allowed = np.zeros(self.table.size, dtype=bool)
        for token_id, data in zip(self.table.continuation_ids.tolist(), self.table.continuation_bytes):
            letters, tail, valid = classify_bytes(pending + data)
            if valid and not letters & ~ok_bits and (tail == 0 or tail & ok_bits):
                allowed[token_id] = True
        mask = self._finish(allowed)
        self._after[key] = mask
        if len(self._after) > 1024:
            self._after.popitem(last=False)
        return mask


def additive_bias(allowed: np.ndarray, like: Any, *, beyond: bool = False) -> Any:
    """A [vocab] tensor, 0 where ``allowed`` and -inf elsewhere, on the device and in the dtype of
    the logits ``like``. Logit ids past the end of ``allowed`` (padded output rows) are allowed
    when ``beyond``, masked otherwise."""
    import torch  # noqa: PLC0415 - the generator's dependency, not this module's

    width = like.shape[-1]
    full = np.full(width, beyond, dtype=bool)
    full[: min(width, allowed.shape[0])] = allowed[:width]
    values = np.where(full, np.float32(0.0), np.float32(-np.inf)).astype(np.float32)
    return torch.from_numpy(values).to(device=like.device, dtype=like.dtype)


def pending_bytes(data: bytes) -> bytes:
    """The incomplete UTF-8 sequence at the end of ``data`` (empty when it ends on a boundary)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if 0x80 <= byte <= 0xBF:
            continue
        need = _utf8_length(byte)
        return data[-back:] if need > back else b""
    return b""


class ScriptLogitsProcessor:
    """Sets the logits of tokens outside ``script`` to -inf.

    Use it in two ways: :meth:`apply` with the ids generated so far (the runtime's decode loop), or
    as a ``transformers`` logits processor, ``processor(input_ids, scores)``, in which case
    ``prompt_length`` tells where the generated part of ``input_ids`` starts.
    """

    def __init__(self, masker: ScriptMasker, script: str, *, prompt_length: int = 0) -> None:
        script_members(script)  # validates
        self.masker = masker
        self.script = script
        self.prompt_length = prompt_length
        self._device_masks: dict[tuple[bytes, Any], Any] = {}

    def pending(self, generated: Sequence[int]) -> bytes:
        tail = b""
        for token_id in reversed(generated[-4:]):
            data = self.masker.table.token_bytes(int(token_id))
            if data is None:
                break
            tail = data + tail
            if len(tail) >= 4:
                break
        return pending_bytes(tail)

    def allowed(self, generated: Sequence[int]) -> np.ndarray:
        return self.masker.mask_after(self.script, self.pending(generated))

    def apply(self, scores: Any, generated: Sequence[int]) -> Any:
        """``scores``: a torch tensor [vocab] or [1, vocab]; returns the masked tensor.

        The mask is applied as an additive 0 / -inf bias, cached per pending state, device and
        dtype (one fused add, far cheaper than ``masked_fill`` over a 262k vocabulary).
        """
        pending = self.pending(generated)
        key = (pending, scores.device, scores.dtype)
        bias = self._device_masks.get(key)
        if bias is None:
            bias = additive_bias(self.masker.mask_after(self.script, pending), scores)
            if len(self._device_masks) > 64:
                self._device_masks.clear()
            self._device_masks[key] = bias
        return scores + bias

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        rows = [self.apply(scores[row], input_ids[row, self.prompt_length :].tolist()) for row in range(scores.shape[0])]
        import torch  # noqa: PLC0415

        return torch.stack(rows)
