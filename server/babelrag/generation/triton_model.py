"""The ``generator`` Triton model: a decoupled (streaming) python-backend model.

``model_repository/generator/1/model.py`` subclasses :class:`GeneratorModel` and sets ``pb`` to
``triton_python_backend_utils`` (importable only inside the Triton stub); everything else is here
and in :mod:`babelrag.generation.runtime`.

Protocol (one request -> several responses on the same gRPC stream)
    inputs   PROMPT       BYTES [1]    UTF-8 prompt, written by the gateway (required)
             IMAGES       BYTES [-1]   encoded JPEG/PNG/WebP/GIF images (vision models only)
             MAX_TOKENS   INT32 [1]    answer tokens at most (default: parameter default_max_tokens)
             TEMPERATURE  FP32  [1]    0 = greedy (default)
             TOP_P        FP32  [1]    nucleus sampling (default 1)
             SEED         INT64 [1]    sampling seed (default: random)
             STOP         BYTES [-1]   stop strings; the answer ends before the first one
             SCRIPT       BYTES [1]    ISO 15924 script or BCP 47 language tag for the answer
    outputs  TEXT               BYTES [1]  every response: the next piece of the answer (UTF-8)
             FINISH_REASON      BYTES [1]  final response only: "stop" | "length" | "cancelled"
             PROMPT_TOKENS      INT32 [1]  final response only
             COMPLETION_TOKENS  INT32 [1]  final response only

    Every response but the last carries a non-empty TEXT delta. The last one is flagged
    ``TRITONSERVER_RESPONSE_COMPLETE_FINAL`` and carries FINISH_REASON, the token counts and an
    empty TEXT. A request the model refuses gets a single final response holding an INVALID_ARG
    error whose message starts with ``invalid argument:`` (Triton's stream responses carry only
    the message, so the client classifies it by that prefix). A request cancelled by the client
    (the stream was cancelled, or its deadline passed) stops generating before the next token.

One request is generated at a time per model instance (``execute`` serves its requests in
turn); scale with the instance count. Torch's intra-op threads per CPU instance: the config
parameter ``torch_threads``, else $BABELRAG_GENERATOR_THREADS, else the usable cores divided by
the CPU instance count.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from babelrag.generation.runtime import (
    Finished,
    GenerationInputError,
    Generator,
    SamplingParams,
    TextDelta,
    usable_cpus,
)

INVALID_PREFIX = "invalid argument: "
#: Torch threads per CPU instance when the config's ``torch_threads`` parameter is 0.
THREADS_ENV = "BABELRAG_GENERATOR_THREADS"


class _Parsed:
    __slots__ = ("prompt", "images", "params")

    def __init__(self, prompt: str, images: list[bytes], params: SamplingParams) -> None:
        self.prompt = prompt
        self.images = images
        self.params = params


class GeneratorModel:
    pb: ClassVar[Any] = None  # triton_python_backend_utils, set by model.py

    # -- life cycle -------------------------------------------------------------------------------

    def initialize(self, args: dict[str, str]) -> None:
        self.model_config = json.loads(args["model_config"])
        if not self.pb.using_decoupled_model_transaction_policy(self.model_config):
            raise RuntimeError("the generator must be configured with model_transaction_policy { decoupled: true }")
        self.name = args.get("model_name", "generator")
        self.model_dir = Path(args["model_repository"]) / args["model_version"]
        params = {k: v["string_value"] for k, v in self.model_config.get("parameters", {}).items()}
        self.default_max_tokens = int(params.get("default_max_tokens", "512"))
        self.max_tokens_limit = int(params.get("max_tokens_limit", "2048"))
        max_input = int(params.get("max_input_tokens", "0")) or None
        kind = args.get("model_instance_kind", "CPU")
        if kind == "GPU":
            device = f"cuda:{args.get('model_instance_device_id', '0')}"
            threads = 1
        else:
            device = params.get("device", "cpu") or "cpu"
            threads = (
                int(params.get("torch_threads", "0"))
                or int(os.environ.get(THREADS_ENV, "0") or 0)
                or max(1, usable_cpus() // self._cpu_instances())
            )
        dtype = params.get("dtype") or None
        started = time.perf_counter()
        self.generator = Generator.load(self.model_dir, device=device, threads=threads, max_input_tokens=max_input, dtype=dtype)
        self.pb.Logger.log_info(
            f"{self.name}: loaded {self.generator.spec.display_name or self.generator.spec.architecture} on {device} "
            f"({threads} torch threads) in {time.perf_counter() - started:.1f}s"
        )

    def _cpu_instances(self) -> int:
        groups = self.model_config.get("instance_group") or [{"count": 1}]
        return max(1, sum(int(g.get("count", 1)) for g in groups if g.get("kind", "KIND_CPU") in ("KIND_CPU", "KIND_AUTO")))

    def finalize(self) -> None:
        self.generator = None

    # -- requests -----------------------------------------------------------------------------------

    def execute(self, requests: list[Any]) -> None:
        for request in requests:
            self._serve(request)
        return None

    def _serve(self, request: Any) -> None:
        sender = request.get_response_sender()
        request_id = request.request_id() or "-"
        final = self.pb.TRITONSERVER_RESPONSE_COMPLETE_FINAL
        try:
            parsed = self.parse(request)
            prepared = self.generator.prepare(parsed.prompt, parsed.images)
        except GenerationInputError as exc:
            self._send_quietly(sender, self._error(INVALID_PREFIX + str(exc), invalid_argument=True), final)
            return
        except Exception as exc:  # noqa: BLE001 - reported to the caller, the model keeps serving
            self.pb.Logger.log_error(f"{self.name} [{request_id}]: preparing the prompt failed:\n{traceback.format_exc()}")
            self._send_quietly(sender, self._error(f"{type(exc).__name__}: {exc}", invalid_argument=False), final)
            return

        started = time.perf_counter()
        first_token: float | None = None
        finished: Finished | None = None
        produced = [0]  # tokens generated so far, for the log when the client leaves mid-stream
        events = self.generator.stream(
            prepared,
            parsed.params,
            should_stop=sender.is_cancelled,
            on_token=lambda _: produced.__setitem__(0, produced[0] + 1),
        )
        try:
            for event in events:
                if not isinstance(event, TextDelta):
                    finished = event
                    continue
                if first_token is None:
                    first_token = time.perf_counter() - started
                try:
                    sender.send(self.pb.InferenceResponse(output_tensors=[self._text(event.text)]))
                except Exception:
                    if not sender.is_cancelled():
                        raise
                    break  # the client went away between two tokens
        except Exception as exc:  # noqa: BLE001 - reported to the caller, the model keeps serving
            self.pb.Logger.log_error(f"{self.name} [{request_id}]: generation failed:\n{traceback.format_exc()}")
            self._send_quietly(sender, self._error(f"generation failed: {type(exc).__name__}: {exc}", invalid_argument=False), final)
            return
        finally:
            events.close()
        if finished is None:  # the client left while a delta was being sent
            finished = Finished("cancelled", prepared.prompt_tokens, produced[0])
        elapsed = time.perf_counter() - started
        self.pb.Logger.log_info(
            f"{self.name} [{request_id}]: {finished.finish_reason} after {finished.completion_tokens} tokens "
            f"(prompt {finished.prompt_tokens}) in {elapsed:.2f}s, first text after "
            f"{'-' if first_token is None else f'{first_token:.3f}s'}"
        )
        if finished.finish_reason == "cancelled" and sender.is_cancelled():
            # Nobody is listening; Triton still expects the request to be closed.
            self._send_quietly(sender, None, final)
            return
        self._send_quietly(sender, self._final(finished), final)

    def parse(self, request: Any) -> _Parsed:
        """Validate one request's tensors; GenerationInputError names the bad input."""
        prompt_values = self._bytes_list(request, "PROMPT")
        if prompt_values is None or len(prompt_values) != 1:
            raise GenerationInputError("PROMPT must hold exactly one UTF-8 string")
        prompt = self._utf8(prompt_values[0], "PROMPT")
        images = self._bytes_list(request, "IMAGES") or []
        max_tokens = self._scalar(request, "MAX_TOKENS", int)
        if max_tokens is None:
            max_tokens = self.default_max_tokens
        if max_tokens > self.max_tokens_limit:
            raise GenerationInputError(f"MAX_TOKENS {max_tokens} is over this server's limit of {self.max_tokens_limit}")
        temperature = self._scalar(request, "TEMPERATURE", float)
        top_p = self._scalar(request, "TOP_P", float)
        seed = self._scalar(request, "SEED", int)
        stop = [self._utf8(value, "STOP") for value in self._bytes_list(request, "STOP") or []]
        script_values = self._bytes_list(request, "SCRIPT")
        script = self._utf8(script_values[0], "SCRIPT") if script_values else None
        params = SamplingParams(
            max_tokens=max_tokens,
            temperature=0.0 if temperature is None else temperature,
            top_p=1.0 if top_p is None else top_p,
            seed=seed,
            stop=tuple(stop),
            script=script or None,
        )
        return _Parsed(prompt, [bytes(image) for image in images], params)

    # -- tensors --------------------------------------------------------------------------------

    def _input(self, request: Any, name: str) -> np.ndarray | None:
        tensor = self.pb.get_input_tensor_by_name(request, name)
        return None if tensor is None else tensor.as_numpy()

    def _bytes_list(self, request: Any, name: str) -> list[bytes] | None:
        array = self._input(request, name)
        if array is None:
            return None
        values = array.reshape(-1).tolist()
        if any(not isinstance(v, (bytes, bytearray)) for v in values):
            raise GenerationInputError(f"{name} must be BYTES")
        return values

    def _scalar(self, request: Any, name: str, cast: type) -> Any:
        array = self._input(request, name)
        if array is None:
            return None
        if array.size != 1:
            raise GenerationInputError(f"{name} must hold one value, not {array.size}")
        value = array.reshape(-1)[0]
        return cast(value.item() if hasattr(value, "item") else value)

    @staticmethod
    def _utf8(value: bytes, name: str) -> str:
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise GenerationInputError(f"{name} is not valid UTF-8") from None

    def _text(self, text: str) -> Any:
        return self.pb.Tensor("TEXT", np.array([text.encode("utf-8")], dtype=np.object_))

    def _final(self, finished: Finished) -> Any:
        return self.pb.InferenceResponse(
            output_tensors=[
                self._text(""),
                self.pb.Tensor("FINISH_REASON", np.array([finished.finish_reason.encode("ascii")], dtype=np.object_)),
                self.pb.Tensor("PROMPT_TOKENS", np.array([finished.prompt_tokens], dtype=np.int32)),
                self.pb.Tensor("COMPLETION_TOKENS", np.array([finished.completion_tokens], dtype=np.int32)),
            ]
        )

    def _error(self, message: str, *, invalid_argument: bool) -> Any:
        error_cls = self.pb.TritonError
        code = getattr(error_cls, "INVALID_ARG" if invalid_argument else "INTERNAL", None)
        error = error_cls(message, code) if code is not None else error_cls(message)
        return self.pb.InferenceResponse(output_tensors=[], error=error)

    def _send_quietly(self, sender: Any, response: Any, flags: int) -> None:
        """Send, tolerating a client that is already gone (cancelled stream)."""
        try:
            if response is None:
                sender.send(flags=flags)
            else:
                sender.send(response, flags=flags)
        except Exception as exc:  # noqa: BLE001 - the request is over either way
            self.pb.Logger.log_verbose(f"{self.name}: could not send the final response: {exc}")
