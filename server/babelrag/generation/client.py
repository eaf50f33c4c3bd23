"""Asyncio client for the streaming ``generator`` model on Triton (used by the gateway).

::

    generator = TritonGenerator("127.0.0.1:8001")
    async with generator.stream(prompt, images=[png], max_tokens=256, language="zh") as answer:
        async for event in answer:
            if isinstance(event, TextDelta):
                send(event.text)
            else:                       # Finished, always last
                log(event.finish_reason, event.prompt_tokens, event.completion_tokens)

The request travels over ``tritonclient.grpc.aio``'s bidirectional ``stream_infer``; the model
answers with one response per text delta and a final one carrying the finish reason and token
counts (see :mod:`babelrag.generation.triton_model` for the tensors).

Cancellation
    Leaving the iteration early cancels the gRPC call, and Triton then cancels the request: the
    model stops before its next token. This happens when the task iterating is cancelled (the
    gateway's caller went away), when the ``async with`` block exits, on :meth:`GenerationStream.
    cancel`, and when an unfinished stream object is garbage-collected (``break`` out of a loop
    over a stream nobody else holds).

Deadlines
    ``timeout_s`` bounds the whole generation (the gRPC deadline of the stream); past it the
    stream fails with :class:`~babelrag.triton.errors.TritonUnavailable` and the model stops.

Errors
    Every failure is one of :mod:`babelrag.triton.errors`, translated in
    :func:`babelrag.triton.client.translate_error`: InferenceRejected (bad prompt, corrupt
    image, unknown script, images for a text-only model, MAX_TOKENS over the server's limit),
    ModelNotReady, TritonUnavailable (unreachable, deadline), TritonError (anything else).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import Sequence
from typing import Any, Literal

import grpc
import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from babelrag.triton.client import translate_error
from babelrag.triton.errors import InferenceRejected, ModelNotReady, TritonError, TritonUnavailable

GENERATOR_MODEL = "generator"
#: Prefix of the model's messages for requests it refuses (stream errors carry no status code).
INVALID_ARGUMENT_PREFIX = "invalid argument: "

FinishReason = Literal["stop", "length", "cancelled"]
_OUTPUTS = ("TEXT", "FINISH_REASON", "PROMPT_TOKENS", "COMPLETION_TOKENS")


@dataclasses.dataclass(frozen=True)
class TextDelta:
    """The next piece of the answer (never empty)."""

    text: str


@dataclasses.dataclass(frozen=True)
class Finished:
    """The last event of a stream.

    ``completion_tokens`` counts every token the model produced (an end-of-sequence token
    included); ``prompt_tokens`` the prompt after image placeholders were expanded.
    ``first_text_s`` is the time from sending the request to the first text delta (None when
    there was none), ``total_s`` to this event, both measured here.
    """

    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    first_text_s: float | None
    total_s: float


GenerationEvent = TextDelta | Finished


@dataclasses.dataclass(frozen=True)
class Completion:
    """A whole answer (:meth:`TritonGenerator.generate`)."""

    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    first_text_s: float | None
    total_s: float


class GenerationStream:
    """One streaming generation: an async iterator of :class:`TextDelta` then one :class:`Finished`.

    Also an async context manager; leaving it (or :meth:`cancel`) before the end cancels the
    request on Triton.
    """

    def __init__(self, owner: TritonGenerator, request: dict[str, Any], timeout_s: float | None) -> None:
        self._owner = owner
        self._request = request
        self._timeout_s = timeout_s
        self._responses: Any = None
        self._done = asyncio.Event()
        self._ended = False
        self._pending: list[GenerationEvent] = []
        self._started = 0.0
        self._first_text: float | None = None

    @property
    def request_id(self) -> str:
        return self._request["request_id"]

    @property
    def finished(self) -> bool:
        return self._ended

    def __aiter__(self) -> GenerationStream:
        return self

    async def __aenter__(self) -> GenerationStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cancel()

    async def aclose(self) -> None:
        self.cancel()

    def cancel(self) -> None:
        """Stop the generation (no-op once the stream has ended)."""
        if self._ended:
            return
        self._ended = True
        self._done.set()
        if self._responses is not None:
            with contextlib.suppress(Exception):
                self._responses.cancel()

    def __del__(self) -> None:
        if not self._ended and self._responses is not None:
            with contextlib.suppress(Exception):
                self._responses.cancel()

    def _start(self) -> None:
        request = self._request
        done = self._done

        async def requests() -> Any:
            yield request
            # Keep our side of the stream open until the final response arrived: the stream
            # then closes cleanly instead of racing the server's last responses.
            await done.wait()

        self._started = time.perf_counter()
        self._responses = self._owner._client.stream_infer(requests(), stream_timeout=self._timeout_s)

    async def __anext__(self) -> GenerationEvent:
        if self._pending:
            return self._pending.pop(0)
        if self._ended:
            raise StopAsyncIteration
        if self._responses is None:
            self._start()
        while True:
            try:
                result, error = await self._responses.__anext__()
            except asyncio.CancelledError:
                self.cancel()
                raise
            except StopAsyncIteration:
                self.cancel()
                raise TritonUnavailable(
                    f"the stream from '{self._owner.model}' at {self._owner.url} ended before its final response"
                ) from None
            except grpc.aio.AioRpcError as exc:
                self.cancel()
                raise self._owner._translate(InferenceServerException(msg=exc.details() or str(exc.code()), status=str(exc.code()))) from None
            except InferenceServerException as exc:
                self.cancel()
                raise self._owner._translate(exc) from None
            if error is not None:
                self.cancel()
                raise self._owner._translate(_classify_stream_error(error)) from None
            event = self._event(result)
            if event is not None:
                return event

    def _event(self, result: Any) -> GenerationEvent | None:
        text_array = result.as_numpy("TEXT")
        text = bytes(text_array.reshape(-1)[0]).decode("utf-8") if text_array is not None and text_array.size else ""
        reason = result.as_numpy("FINISH_REASON")
        delta = None
        if text:
            if self._first_text is None:
                self._first_text = time.perf_counter() - self._started
            delta = TextDelta(text)
        if reason is None:
            return delta
        self._ended = True
        self._done.set()
        finished = Finished(
            finish_reason=bytes(reason.reshape(-1)[0]).decode("ascii"),  # type: ignore[arg-type]
            prompt_tokens=int(result.as_numpy("PROMPT_TOKENS").reshape(-1)[0]),
            completion_tokens=int(result.as_numpy("COMPLETION_TOKENS").reshape(-1)[0]),
            first_text_s=self._first_text,
            total_s=time.perf_counter() - self._started,
        )
        if delta is None:
            return finished
        self._pending.append(finished)
        return delta


def _classify_stream_error(error: InferenceServerException) -> InferenceServerException:
    """Stream responses carry only a message; restore the status the model meant."""
    message = str(error.message() or error)
    if error.status() is None and INVALID_ARGUMENT_PREFIX in message:
        return InferenceServerException(msg=message.split(INVALID_ARGUMENT_PREFIX, 1)[1], status="StatusCode.INVALID_ARGUMENT")
    return error


class TritonGenerator:
    """Streaming answers from the ``generator`` model."""

    def __init__(self, url: str, *, model: str = GENERATOR_MODEL, timeout_s: float = 300.0) -> None:
        self.url = url
        self.model = model
        self.timeout_s = timeout_s
        self._client = grpcclient.InferenceServerClient(url)

    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> TritonGenerator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _translate(self, exc: InferenceServerException) -> TritonError:
        return translate_error(exc, self.model, self.url)

    async def check_ready(self) -> None:
        """Raise TritonUnavailable / ModelNotReady unless the server and the generator are ready."""
        try:
            live = await self._client.is_server_live(client_timeout=min(self.timeout_s, 30.0))
            ready = live and await self._client.is_model_ready(self.model, client_timeout=min(self.timeout_s, 30.0))
        except InferenceServerException as exc:
            raise self._translate(exc) from None
        if not live:
            raise TritonUnavailable(f"Triton at {self.url} is not live")
        if not ready:
            raise ModelNotReady(f"model '{self.model}' is not loaded on Triton at {self.url}")

    def stream(
        self,
        prompt: str,
        *,
        images: Sequence[bytes] = (),
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop: Sequence[str] = (),
        script: str | None = None,
        language: str | None = None,
        request_id: str | None = None,
        timeout_s: float | None = None,
    ) -> GenerationStream:
        """Start generating the answer to ``prompt`` (nothing is sent before the first ``anext``).

        ``images``: encoded images for a vision-language generator (the prompt holds one
        ``<image>`` placeholder per image, or none and they are prepended). ``script`` (ISO 15924,
        e.g. "Hani") or ``language`` (BCP 47, e.g. "zh") confines the answer to a writing system;
        give at most one. ``stop``: strings that end the answer (not included). ``timeout_s``
        overrides the client's deadline for this generation. Argument errors raise
        InferenceRejected here; everything else surfaces while iterating.
        """
        if not isinstance(prompt, str) or not prompt.strip():
            raise InferenceRejected("prompt is empty")
        if script is not None and language is not None:
            raise InferenceRejected("give script or language, not both")
        if isinstance(images, (bytes, str)) or isinstance(stop, str):
            raise TypeError("images and stop are sequences (of bytes / of str), not a single value")
        for index, image in enumerate(images):
            if not isinstance(image, (bytes, bytearray, memoryview)) or len(image) == 0:
                raise InferenceRejected(f"image {index}: empty or not bytes", index=index)
        try:
            tensors = [_bytes_input("PROMPT", [prompt.encode("utf-8")])]
            if images:
                tensors.append(_bytes_input("IMAGES", [bytes(image) for image in images]))
            if stop:
                tensors.append(_bytes_input("STOP", [s.encode("utf-8") for s in stop]))
            constraint = script if script is not None else language
            if constraint:
                tensors.append(_bytes_input("SCRIPT", [constraint.encode("utf-8")]))
        except UnicodeEncodeError:
            raise InferenceRejected("prompt, stop strings or script are not valid Unicode (lone surrogate)") from None
        if max_tokens is not None:
            tensors.append(_number_input("MAX_TOKENS", max_tokens, np.int32, "INT32"))
        if temperature is not None:
            tensors.append(_number_input("TEMPERATURE", temperature, np.float32, "FP32"))
        if top_p is not None:
            tensors.append(_number_input("TOP_P", top_p, np.float32, "FP32"))
        if seed is not None:
            tensors.append(_number_input("SEED", seed, np.int64, "INT64"))
        request = {
            "model_name": self.model,
            "inputs": tensors,
            "outputs": [grpcclient.InferRequestedOutput(name) for name in _OUTPUTS],
            "request_id": request_id or uuid.uuid4().hex,
        }
        return GenerationStream(self, request, self.timeout_s if timeout_s is None else timeout_s)

    async def generate(self, prompt: str, **kwargs: Any) -> Completion:
        """The whole answer at once (same arguments as :meth:`stream`)."""
        pieces: list[str] = []
        async with self.stream(prompt, **kwargs) as answer:
            async for event in answer:
                if isinstance(event, TextDelta):
                    pieces.append(event.text)
                else:
                    return Completion(
                        "".join(pieces),
                        event.finish_reason,
                        event.prompt_tokens,
                        event.completion_tokens,
                        event.first_text_s,
                        event.total_s,
                    )
        raise TritonUnavailable(f"the stream from '{self.model}' ended without a final response")  # pragma: no cover


def _bytes_input(name: str, values: list[bytes]) -> grpcclient.InferInput:
    array = np.array(values, dtype=np.object_)
    tensor = grpcclient.InferInput(name, [len(values)], "BYTES")
    tensor.set_data_from_numpy(array)
    return tensor


def _number_input(name: str, value: float, dtype: Any, triton_type: str) -> grpcclient.InferInput:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InferenceRejected(f"{name.lower()} must be a number, not {value!r}")
    if np.issubdtype(dtype, np.integer) and not isinstance(value, (int, np.integer)):
        raise InferenceRejected(f"{name.lower()} must be an integer, not {value!r}")
    if np.issubdtype(dtype, np.integer) and not np.iinfo(dtype).min <= int(value) <= np.iinfo(dtype).max:
        raise InferenceRejected(f"{name.lower()} {value} is out of range")
    tensor = grpcclient.InferInput(name, [1], triton_type)
    tensor.set_data_from_numpy(np.array([value], dtype=dtype))
    return tensor
