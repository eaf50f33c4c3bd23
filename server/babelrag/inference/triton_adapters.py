"""Triton python-backend adapters around the plain inference classes.

``model_repository/<model>/1/model.py`` subclasses one of these and sets ``pb`` to the
``triton_python_backend_utils`` module (importable only inside the Triton stub). The shared
:class:`BatchedModel` gives every model the same request handling: each request is validated on
its own, a bad one gets its own error response, and all valid requests of a dynamic batch are
computed together.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from babelrag.inference.image_preprocess import ImagePreprocessor, PreprocessConfig
from babelrag.inference.onnx_encoder import OnnxEncoder
from babelrag.inference.tokenization import TextTokenizer


class BatchedModel:
    pb: ClassVar[Any] = None  # triton_python_backend_utils, set by model.py

    def initialize(self, args: dict[str, str]) -> None:
        self.model_dir = Path(args["model_repository"]) / args["model_version"]
        self.config = json.loads(args["model_config"])
        self.parameters = {k: v["string_value"] for k, v in self.config.get("parameters", {}).items()}
        self.load()

    def load(self) -> None:
        raise NotImplementedError

    def parse(self, request: Any) -> Any:
        """Validate one request; raise ValueError with a message for the caller."""
        raise NotImplementedError

    def compute(self, parsed: list[Any]) -> list[dict[str, np.ndarray]]:
        """Outputs for each valid request, computed together."""
        raise NotImplementedError

    def execute(self, requests: list[Any]) -> list[Any]:
        responses: list[Any] = [None] * len(requests)
        valid: list[tuple[int, Any]] = []
        for index, request in enumerate(requests):
            try:
                valid.append((index, self.parse(request)))
            except ValueError as exc:
                responses[index] = self._error(str(exc), invalid_argument=True)
        if valid:
            try:
                outputs = self.compute([parsed for _, parsed in valid])
            except Exception as exc:  # noqa: BLE001 - reported to each caller, the model keeps serving
                for index, _ in valid:
                    responses[index] = self._error(f"{type(exc).__name__}: {exc}", invalid_argument=False)
            else:
                for (index, _), named in zip(valid, outputs):
                    tensors = [self.pb.Tensor(name, array) for name, array in named.items()]
                    responses[index] = self.pb.InferenceResponse(output_tensors=tensors)
        return responses

    def _error(self, message: str, *, invalid_argument: bool) -> Any:
        error_cls = self.pb.TritonError
        code = getattr(error_cls, "INVALID_ARG" if invalid_argument else "INTERNAL", None)
        error = error_cls(message, code) if code is not None else error_cls(message)
        return self.pb.InferenceResponse(output_tensors=[], error=error)

    def input(self, request: Any, name: str) -> np.ndarray | None:
        tensor = self.pb.get_input_tensor_by_name(request, name)
        return None if tensor is None else tensor.as_numpy()

    def finalize(self) -> None:
        pass


class TokenizerModel(BatchedModel):
    """TEXT [n,1] BYTES (+ optional KIND [n,1]) -> input_ids, attention_mask INT64 [n, seq]."""

    def load(self) -> None:
        self.tokenizer = TextTokenizer.from_dir(self.model_dir)

    def parse(self, request: Any) -> list[str]:
        texts = self.input(request, "TEXT")
        kinds = self.input(request, "KIND")
        return self.tokenizer.prepare(texts.reshape(-1).tolist(), None if kinds is None else kinds.reshape(-1).tolist())

    def compute(self, parsed: list[list[str]]) -> list[dict[str, np.ndarray]]:
        ids = self.tokenizer.encode([text for texts in parsed for text in texts])
        outputs, offset = [], 0
        for texts in parsed:
            input_ids, attention_mask = self.tokenizer.pad(ids[offset : offset + len(texts)])
            offset += len(texts)
            outputs.append({"input_ids": input_ids, "attention_mask": attention_mask})
        return outputs


class PairTokenizerModel(TokenizerModel):
    """QUERY, PASSAGE [n,1] BYTES (one pair per row) -> input_ids, attention_mask INT64 [n, seq].

    For a cross-encoder: each pair is encoded with the tokenizer's pair template, the passage
    truncated first so the pair fits the model's window; ``compute`` is the text tokenizer's.
    """

    def parse(self, request: Any) -> list[tuple[str, str]]:
        queries = self.input(request, "QUERY")
        passages = self.input(request, "PASSAGE")
        return self.tokenizer.prepare_pairs(queries.reshape(-1).tolist(), passages.reshape(-1).tolist())


class TextEncoderModel(BatchedModel):
    """input_ids, attention_mask -> the ONNX graph's one output FP32 [n, ...], under its own name.

    E5 and CLIP text: ``embedding`` [n, d] (L2-normalised in the graph); the cross-encoder:
    ``logit`` [n, 1]. Naming the output after the graph keeps the CPU config (this model) and the
    GPU config (Triton's onnxruntime backend, which names outputs after the graph) interchangeable.
    """

    def load(self) -> None:
        threads = int(self.parameters.get("intra_op_threads", "0"))
        self.encoder = OnnxEncoder(self.model_dir / "model.onnx", threads=threads)
        self.pad_id = int(self.parameters.get("pad_id", "1"))

    def parse(self, request: Any) -> tuple[np.ndarray, np.ndarray]:
        ids = self.input(request, "input_ids")
        mask = self.input(request, "attention_mask")
        if ids.shape != mask.shape:
            raise ValueError(f"input_ids {ids.shape} and attention_mask {mask.shape} differ in shape")
        return ids, mask

    def compute(self, parsed: list[tuple[np.ndarray, np.ndarray]]) -> list[dict[str, np.ndarray]]:
        return [{self.encoder.output_name: out} for out in self.encoder.run_sequences(parsed, self.pad_id)]


class ImagePreprocessModel(BatchedModel):
    """IMAGE [n,1] BYTES (encoded JPEG/PNG/WebP/GIF) -> pixel_values FP32 [n, 3, H, W]."""

    def load(self) -> None:
        max_pixels = self.parameters.get("max_pixels")
        config = PreprocessConfig.load(self.model_dir / "preprocess_config.json", int(max_pixels) if max_pixels else None)
        self.preprocessor = ImagePreprocessor(config)

    def parse(self, request: Any) -> np.ndarray:
        images = self.input(request, "IMAGE").reshape(-1)
        if images.size == 0:
            raise ValueError("no images given")
        arrays = []
        for index, data in enumerate(images.tolist()):
            try:
                arrays.append(self.preprocessor(bytes(data)))
            except ValueError as exc:
                raise ValueError(f"image {index}: {exc}") from None
        return np.stack(arrays)

    def compute(self, parsed: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
        return [{"pixel_values": pixels} for pixels in parsed]


class ImageEncoderModel(BatchedModel):
    """pixel_values FP32 [n, 3, H, W] -> embedding FP32 [n, d] (L2-normalised in the graph)."""

    def load(self) -> None:
        threads = int(self.parameters.get("intra_op_threads", "0"))
        self.encoder = OnnxEncoder(self.model_dir / "model.onnx", threads=threads)

    def parse(self, request: Any) -> np.ndarray:
        pixels = self.input(request, "pixel_values")
        if pixels.ndim != 4 or pixels.shape[1] != 3:
            raise ValueError(f"pixel_values must be [n, 3, H, W], got {list(pixels.shape)}")
        return pixels

    def compute(self, parsed: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
        return [{"embedding": out} for out in self.encoder.run_images(parsed)]
