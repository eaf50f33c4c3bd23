"""Test images made on the fly, in every accepted format and a few refused ones."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def gradient(width: int, height: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, width * height * 3).reshape(height, width, 3)
    noise = rng.integers(0, 40, size=(height, width, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB").convert(mode)


def variety() -> dict[str, bytes]:
    """Odd sizes and modes, each a real path through the preprocessing code."""
    return {
        "png_rgb_wide": encode(gradient(320, 200), "PNG"),
        "jpeg_tall": encode(gradient(150, 400, seed=1), "JPEG", quality=90),
        "png_rgba": encode(gradient(256, 256, "RGBA", seed=2), "PNG"),
        "png_palette": encode(gradient(300, 180, seed=3).convert("P"), "PNG"),
        "jpeg_gray": encode(gradient(224, 230, "L", seed=4), "JPEG"),
        "webp": encode(gradient(333, 222, seed=5), "WEBP"),
        "gif": encode(gradient(240, 260, seed=6).convert("P"), "GIF"),
        "tiny_png": encode(gradient(7, 5, seed=7), "PNG"),
    }


def decompression_bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid, highly compressible 1-bit PNG whose header claims ``width x height`` pixels."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
