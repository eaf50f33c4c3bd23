"""CLIP image preprocessing, identical to open_clip's eval transform, in Pillow + numpy.

open_clip (``image_transform(..., is_train=False)``, resize_mode "shortest") does, for a square
target: torchvision ``Resize(size)`` on the shorter side with bicubic resampling, ``CenterCrop``,
``convert("RGB")``, ``ToTensor`` (/255, CHW) and ``Normalize(mean, std)``. The same steps are done
here, in the same order, so the served embeddings equal the reference ones (tested).

Images are checked before they are decoded: only JPEG, PNG, WebP and GIF (first frame) are
accepted, and an image with more pixels than ``max_pixels`` is refused from its header alone, so a
decompression bomb never gets decoded.
"""

from __future__ import annotations

import dataclasses
import io
import json
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
DEFAULT_MAX_PIXELS = 40_000_000  # e.g. 8000 x 5000; larger images are refused, not shrunk


class ImageDecodeError(ValueError):
    """The bytes are not an image we accept."""


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"
    max_pixels: int = DEFAULT_MAX_PIXELS

    @classmethod
    def load(cls, path: Path, max_pixels: int | None = None) -> PreprocessConfig:
        raw = json.loads(Path(path).read_text())
        size = raw["image_size"]
        if isinstance(size, (list, tuple)):
            if size[0] != size[1]:
                raise ValueError("only square CLIP input sizes are supported")
            size = size[0]
        config = cls(
            image_size=int(size),
            mean=tuple(float(v) for v in raw["mean"]),
            std=tuple(float(v) for v in raw["std"]),
            interpolation=raw.get("interpolation", "bicubic"),
            resize_mode=raw.get("resize_mode", "shortest"),
            max_pixels=int(max_pixels or raw.get("max_pixels", DEFAULT_MAX_PIXELS)),
        )
        if config.resize_mode != "shortest":
            raise ValueError(f"resize_mode {config.resize_mode!r} is not supported (only 'shortest')")
        if config.interpolation not in _RESAMPLE:
            raise ValueError(f"interpolation {config.interpolation!r} is not supported")
        return config


_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


class ImagePreprocessor:
    def __init__(self, config: PreprocessConfig) -> None:
        self.config = config
        self._mean = np.asarray(config.mean, dtype=np.float32).reshape(3, 1, 1)
        self._std = np.asarray(config.std, dtype=np.float32).reshape(3, 1, 1)

    def decode(self, data: bytes) -> Image.Image:
        if not data:
            raise ImageDecodeError("image is empty")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError:
            raise ImageDecodeError(
                f"image refused: its header claims far more pixels than it can hold, over the limit of "
                f"{self.config.max_pixels} pixels (a decompression bomb?)"
            ) from None
        except (Image.UnidentifiedImageError, OSError, Image.DecompressionBombWarning, SyntaxError, ValueError):
            raise ImageDecodeError("bytes are not a readable image") from None
        if image.format not in SUPPORTED_FORMATS:
            raise ImageDecodeError(
                f"unsupported image format {image.format}; supported: {', '.join(SUPPORTED_FORMATS)}"
            )
        width, height = image.size
        if width <= 0 or height <= 0:
            raise ImageDecodeError("image has no pixels")
        if width * height > self.config.max_pixels:
            raise ImageDecodeError(
                f"image is {width}x{height} = {width * height} pixels, over the limit of {self.config.max_pixels}"
            )
        try:
            image.load()  # the first frame for GIF / animated WebP
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageDecodeError(f"image data is corrupt or truncated ({exc})") from None
        return image

    def transform(self, image: Image.Image) -> np.ndarray:
        """One decoded image -> float32 [3, size, size]."""
        size = self.config.image_size
        width, height = image.size
        # torchvision Resize(int): the shorter side becomes `size`, the longer one is truncated.
        if width <= height:
            new_w, new_h = size, int(size * height / width)
        else:
            new_w, new_h = int(size * width / height), size
        if (new_w, new_h) != (width, height):
            image = image.resize((new_w, new_h), _RESAMPLE[self.config.interpolation])
        # torchvision CenterCrop offsets.
        top = int(round((new_h - size) / 2.0))
        left = int(round((new_w - size) / 2.0))
        image = image.crop((left, top, left + size, top + size))
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        chw = rgb.transpose(2, 0, 1)
        return ((chw - self._mean) / self._std).astype(np.float32)

    def __call__(self, data: bytes) -> np.ndarray:
        return self.transform(self.decode(data))
