"""Typed asyncio client for the encoder models served by Triton.

Wraps ``tritonclient.grpc.aio``: splits large inputs into batches no larger than each model's
``max_batch_size`` and sends them concurrently (Triton's dynamic batcher merges them again across
callers), applies a deadline to every call, and translates every tritonclient error into the
:mod:`babelrag.triton.errors` family in :func:`translate_error`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal

import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from babelrag.triton.errors import InferenceRejected, ModelNotReady, TritonError, TritonUnavailable

TEXT_MODEL = "text_embedding"
IMAGE_MODEL = "image_embedding"
CLIP_TEXT_MODEL = "clip_text_embedding"

TextKind = Literal["query", "passage"]


def translate_error(exc: InferenceServerException, model: str, url: str) -> TritonError:
    status = str(exc.status() or "")
    message = str(exc.message() or exc)
    lowered = message.lower()
    if "unknown model" in lowered or "is not found" in lowered or "not ready" in lowered or "not loaded" in lowered:
        return ModelNotReady(f"model '{model}' is not ready on Triton at {url}: {message}")
    if status in ("StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED", "StatusCode.CANCELLED") or "deadline" in lowered:
        return TritonUnavailable(f"Triton at {url} is unavailable ({status or 'no status'}): {message}")
    if status == "StatusCode.INVALID_ARGUMENT" or "in ensemble" in lowered:
        return InferenceRejected(message)
    return TritonError(f"Triton call to '{model}' failed ({status or 'no status'}): {message}")


class TritonEncoders:
    """``embed_texts`` (E5), ``embed_clip_texts`` (multilingual CLIP text), ``embed_images`` (CLIP)."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 30.0,
        text_batch: int = 64,
        image_batch: int = 32,
        max_in_flight: int = 64,
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.text_batch = text_batch
        self.image_batch = image_batch
        self._client = grpcclient.InferenceServerClient(url)
        self._in_flight = asyncio.Semaphore(max_in_flight)

    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> TritonEncoders:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- readiness -----------------------------------------------------------------------------

    async def check_ready(self, models: Sequence[str] = (TEXT_MODEL, IMAGE_MODEL, CLIP_TEXT_MODEL)) -> None:
        """Raise TritonUnavailable / ModelNotReady unless the server and every model are ready."""
        try:
            live = await self._client.is_server_live(client_timeout=self.timeout_s)
        except InferenceServerException as exc:
            raise translate_error(exc, "(server)", self.url) from None
        if not live:
            raise TritonUnavailable(f"Triton at {self.url} is not live")
        for model in models:
            try:
                ready = await self._client.is_model_ready(model, client_timeout=self.timeout_s)
            except InferenceServerException as exc:
                raise translate_error(exc, model, self.url) from None
            if not ready:
                raise ModelNotReady(f"model '{model}' is not loaded on Triton at {self.url}")

    async def is_ready(self, models: Sequence[str] = (TEXT_MODEL, IMAGE_MODEL, CLIP_TEXT_MODEL)) -> bool:
        try:
            await self.check_ready(models)
        except TritonError:
            return False
        return True

    # -- embeddings ----------------------------------------------------------------------------

    async def embed_texts(self, texts: Sequence[str], kind: TextKind = "passage") -> np.ndarray:
        if kind not in ("query", "passage"):
            raise ValueError(f"kind must be 'query' or 'passage', not {kind!r}")
        encoded = encode_texts(texts)
        batches = [
            {"TEXT": batch, "KIND": np.full(batch.shape, kind.encode(), dtype=object)}
            for batch in chunks(encoded, self.text_batch)
        ]
        return await self._infer_all(TEXT_MODEL, batches)

    async def embed_clip_texts(self, texts: Sequence[str]) -> np.ndarray:
        encoded = encode_texts(texts)
        return await self._infer_all(CLIP_TEXT_MODEL, [{"TEXT": b} for b in chunks(encoded, self.text_batch)])

    async def embed_images(self, images: Sequence[bytes]) -> np.ndarray:
        """Embeddings of encoded images; raises InferenceRejected naming the first bad image."""
        results = await self.embed_images_each(images)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return np.stack(results) if results else np.zeros((0, 0), dtype=np.float32)

    async def embed_images_each(self, images: Sequence[bytes]) -> list[np.ndarray | InferenceRejected]:
        """One result per image: its embedding, or the InferenceRejected that refused it.

        Each image is its own request, so one corrupt file fails alone; Triton's dynamic batcher
        still runs them through the vision tower together. Unavailability still raises.
        """

        async def one(index: int, data: bytes) -> np.ndarray | InferenceRejected:
            if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
                return InferenceRejected(f"image {index}: empty or not bytes", index=index)
            try:
                batch = np.array([[bytes(data)]], dtype=object)
                return (await self._infer(IMAGE_MODEL, {"IMAGE": batch}))[0]
            except InferenceRejected as exc:
                return InferenceRejected(f"image {index}: {_short(str(exc))}", index=index)

        return list(await asyncio.gather(*(one(i, data) for i, data in enumerate(images))))

    async def _infer_all(self, model: str, batches: list[dict[str, np.ndarray]]) -> np.ndarray:
        if not batches:
            return np.zeros((0, 0), dtype=np.float32)
        outputs = await asyncio.gather(*(self._infer(model, batch) for batch in batches))
        return np.concatenate(outputs, axis=0)

    async def _infer(self, model: str, inputs: dict[str, np.ndarray]) -> np.ndarray:
        async with self._in_flight:
            return await infer_bytes(self._client, self.url, model, inputs, "EMBEDDING", timeout_s=self.timeout_s)

    async def model_statistics(self, model: str) -> dict:
        stats = await self._client.get_inference_statistics(model, as_json=True)
        return stats["model_stats"][0] if stats.get("model_stats") else {}


async def infer_bytes(
    client: grpcclient.InferenceServerClient,
    url: str,
    model: str,
    inputs: dict[str, np.ndarray],
    output: str,
    *,
    timeout_s: float,
) -> np.ndarray:
    """One inference call with BYTES inputs; returns ``output``, tritonclient errors translated."""
    tensors = []
    for name, array in inputs.items():
        tensor = grpcclient.InferInput(name, list(array.shape), "BYTES")
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    try:
        result = await client.infer(
            model, tensors, outputs=[grpcclient.InferRequestedOutput(output)], client_timeout=timeout_s
        )
    except InferenceServerException as exc:
        raise translate_error(exc, model, url) from None
    return result.as_numpy(output)


def encode_texts(texts: Sequence[str], *, what: str = "text", allow_empty: bool = False) -> np.ndarray:
    """UTF-8 ``[n, 1]`` BYTES column; raises InferenceRejected naming the first bad item."""
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not a single string")
    encoded = []
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise InferenceRejected(f"{what} {index} is not a string", index=index)
        if not allow_empty and not text.strip():
            raise InferenceRejected(f"{what} {index} is empty", index=index)
        try:
            encoded.append(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise InferenceRejected(f"{what} {index} is not valid Unicode (lone surrogate)", index=index) from None
    return np.array(encoded, dtype=object).reshape(-1, 1)


def chunks(array: np.ndarray, size: int) -> list[np.ndarray]:
    return [array[start : start + size] for start in range(0, len(array), size)]


def _short(message: str) -> str:
    """Triton prefixes ensemble errors with routing noise; keep the model's own words."""
    for marker in ("image 0: ",):
        if marker in message:
            return message.split(marker, 1)[1]
    return message
