"""The answer generator, as plain Python: load a built generator directory, prepare a prompt (and
images), and stream the answer as text deltas.

This module is what ``model_repository/generator/1/model.py`` runs inside Triton (through
:mod:`babelrag.generation.triton_model`), and what the unit tests drive directly. It needs torch
and transformers; nothing else in BabelRAG's serving path imports it.

A generator directory (written by :mod:`babelrag.generation.build`) holds a transformers
checkpoint (``config.json``, ``model.safetensors``, tokenizer and, for vision-language models,
processor files), ``token_scripts.npz`` (the script table of :mod:`.script_control`) and
``generator.json``, whose ``runtime`` block tells this module what it is looking at::

    {"format": 1, "runtime": {
        "kind": "vision_language" | "text",     # can it take images?
        "architecture": "Idefics3ForConditionalGeneration",
        "image_placeholder": "<image>",         # one per image in the prompt (vision only)
        "max_images": 4,
        "context_length": 8192,                 # prompt + answer tokens, at most
        "stop_token_ids": [2, 49279],           # end of sequence / end of turn
        "prompt_format": "base" | "chat",       # how the gateway should write prompts
        "display_name": "gemma-3-270m"}, ...}

Decoding is a plain loop over the model's forward pass with a KV cache (no ``generate()``
thread), so every token passes through one place: the script mask, temperature / top-k / top-p
sampling, the end-of-sequence and stop-string checks, the token limit and the cancellation hook.
:func:`Generator.stream` yields :class:`TextDelta` events and one closing :class:`Finished`.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from babelrag.generation.opening import opening_forbidden_mask, starts_answer
from babelrag.generation.script_control import (
    ScriptLogitsProcessor,
    ScriptMasker,
    TokenScriptTable,
    additive_bias,
    resolve_script,
    tokenizer_fingerprint,
)


SPEC_FILE = "generator.json"
TOKEN_SCRIPTS_FILE = "token_scripts.npz"
SPEC_FORMAT = 1

#: Image formats accepted, as for the CLIP image path (babelrag.inference.image_preprocess).
SUPPORTED_IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000

FinishReason = Literal["stop", "length", "cancelled"]


class GenerationInputError(ValueError):
    """The request cannot be served as given (the caller's fault): empty prompt, corrupt image,
    too many tokens, unknown script, images sent to a text-only model, ..."""


# --------------------------------------------------------------------------- spec


@dataclasses.dataclass(frozen=True)
class RuntimeSpec:
    """What the runtime needs to know about a built generator (``generator.json`` "runtime")."""

    kind: Literal["vision_language", "text"]
    architecture: str
    context_length: int
    stop_token_ids: tuple[int, ...]
    prompt_format: Literal["base", "chat"] = "base"
    image_placeholder: str | None = None
    max_images: int = 0
    display_name: str = ""

    @property
    def vision(self) -> bool:
        return self.kind == "vision_language"

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["stop_token_ids"] = list(self.stop_token_ids)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RuntimeSpec:
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        values["stop_token_ids"] = tuple(int(i) for i in values.get("stop_token_ids", ()))
        return cls(**values)

    @classmethod
    def load(cls, model_dir: Path) -> RuntimeSpec:
        path = Path(model_dir) / SPEC_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FileNotFoundError(f"{path} is missing or unreadable; run 'babelrag-server models build' ({exc})") from None
        if int(data.get("format", -1)) != SPEC_FORMAT or "runtime" not in data:
            raise ValueError(f"{path} has format {data.get('format')!r}; this code reads format {SPEC_FORMAT}")
        return cls.from_json(data["runtime"])


# --------------------------------------------------------------------------- requests and events


@dataclasses.dataclass(frozen=True)
class SamplingParams:
    """How to generate one answer. ``temperature`` 0 means greedy decoding."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    script: str | None = None  # ISO 15924 code or BCP 47 language tag; None = no constraint
    ignore_eos: bool = False  # keep going past end-of-sequence tokens (benchmarks)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stop", tuple(self.stop))
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise GenerationInputError(f"max_tokens must be a positive integer, not {self.max_tokens!r}")
        if not (isinstance(self.temperature, (int, float)) and math.isfinite(self.temperature) and 0 <= self.temperature <= 10):
            raise GenerationInputError(f"temperature must be between 0 and 10, not {self.temperature!r}")
        if not (isinstance(self.top_p, (int, float)) and 0 < self.top_p <= 1):
            raise GenerationInputError(f"top_p must be in (0, 1], not {self.top_p!r}")
        if not isinstance(self.top_k, int) or self.top_k < 0:
            raise GenerationInputError(f"top_k must be a non-negative integer, not {self.top_k!r}")
        if self.seed is not None and not (isinstance(self.seed, int) and 0 <= self.seed < 2**63):
            raise GenerationInputError(f"seed must be an integer in [0, 2**63), not {self.seed!r}")
        if len(self.stop) > 16 or any(not isinstance(s, str) or not s or len(s) > 256 for s in self.stop):
            raise GenerationInputError("stop must be at most 16 non-empty strings of at most 256 characters")
        try:
            object.__setattr__(self, "script", resolve_script(self.script))
        except ValueError as exc:
            raise GenerationInputError(str(exc)) from None


@dataclasses.dataclass(frozen=True)
class TextDelta:
    """The next piece of the answer (never empty)."""

    text: str


@dataclasses.dataclass(frozen=True)
class Finished:
    """The closing event of a stream.

    ``completion_tokens`` counts every token the model produced, the end-of-sequence token
    included; ``prompt_tokens`` counts the prompt after image placeholders were expanded.
    """

    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


GenerationEvent = TextDelta | Finished


@dataclasses.dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    token_ids: tuple[int, ...]


@dataclasses.dataclass
class PreparedPrompt:
    """Model inputs for one request, on the model's device."""

    inputs: dict[str, Any]
    prompt_tokens: int
    images: int


# --------------------------------------------------------------------------- images


def decode_image(data: bytes, *, index: int = 0, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> Any:
    """Decoded RGB PIL image; GenerationInputError naming ``index`` when the bytes are refused.

    Same policy as the CLIP image path: JPEG, PNG, WebP and GIF (first frame) only, and an image
    whose header claims more than ``max_pixels`` pixels is refused before it is decoded.
    """
    from PIL import Image  # noqa: PLC0415

    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
        raise GenerationInputError(f"image {index}: empty or not bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(bytes(data)))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise GenerationInputError(f"image {index}: refused, its header claims more than {max_pixels} pixels") from None
    except (Image.UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise GenerationInputError(f"image {index}: bytes are not a readable image") from None
    if image.format not in SUPPORTED_IMAGE_FORMATS:
        raise GenerationInputError(
            f"image {index}: unsupported format {image.format}; supported: {', '.join(SUPPORTED_IMAGE_FORMATS)}"
        )
    width, height = image.size
    if width <= 0 or height <= 0 or width * height > max_pixels:
        raise GenerationInputError(f"image {index}: {width}x{height} pixels is outside the accepted range (max {max_pixels})")
    try:
        image.load()
        return image.convert("RGB")
    except (OSError, SyntaxError, ValueError) as exc:
        raise GenerationInputError(f"image {index}: data is corrupt or truncated ({exc})") from None


# --------------------------------------------------------------------------- detokenizer


class IncrementalDetokenizer:
    """Turns generated token ids into text deltas whose concatenation is the answer.

    Text is held back while it ends in an incomplete UTF-8 sequence (byte-level tokens) or in a
    prefix of a stop string; when a stop string appears, the answer ends right before it. The
    last ``context_ids`` of the prompt are decoded together with the answer so that a leading
    space survives decoders that strip it at the start of a text (SentencePiece Metaspace).
    """

    def __init__(self, tokenizer: Any, *, stop: Sequence[str] = (), context_ids: Sequence[int] = ()) -> None:
        self._decode = tokenizer.decode  # a tokenizers.Tokenizer: no clean-up of spaces
        self.stop = tuple(stop)
        self._context = list(context_ids)
        self._context_text = self._decode(self._context, skip_special_tokens=True) if self._context else ""
        self._ids: list[int] = []
        self.released = ""  # the concatenation of every delta so far
        self.stopped = False

    def _text(self) -> str:
        if self._context:
            full = self._decode(self._context + self._ids, skip_special_tokens=True)
            if full.startswith(self._context_text):
                return full[len(self._context_text) :]
        return self._decode(self._ids, skip_special_tokens=True)

    def push(self, token_id: int) -> str:
        """Add one token; returns the text that can be released now (possibly empty)."""
        if self.stopped:
            return ""
        self._ids.append(int(token_id))
        text = self._text()
        if not text.startswith(self.released):
            # Decoders are prefix-stable for the tokenizers used here; should one ever rewrite
            # text already sent, keep what was sent and continue after it.
            text = self.released + text[len(self.released) :]
        if self.stop:
            start = max(0, len(self.released) - max(len(s) for s in self.stop) + 1)
            cut = min((i for i in (text.find(s, start) for s in self.stop) if i >= 0), default=-1)
            if cut >= 0:
                self.stopped = True
                return self._release(text[: max(cut, len(self.released))])
        hold = len(text) - len(text.rstrip("\ufffd"))
        for stop in self.stop:
            for size in range(min(len(stop) - 1, len(text)), 0, -1):
                if text.endswith(stop[:size]):
                    hold = max(hold, size)
                    break
        return self._release(text[: len(text) - hold])

    def flush(self) -> str:
        """Release what was held back (the answer ended without completing a stop string)."""
        if self.stopped:
            return ""
        return self._release(self._text())

    def _release(self, text: str) -> str:
        if len(text) <= len(self.released):
            return ""
        delta = text[len(self.released) :]
        self.released = text
        return delta


# --------------------------------------------------------------------------- the generator


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def configure_torch_threads(threads: int) -> int:
    """Set torch's intra-op threads (``threads`` <= 0: every usable core); returns the count."""
    import torch  # noqa: PLC0415

    count = threads if threads > 0 else usable_cpus()
    torch.set_num_threads(count)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work already ran in this process
        pass
    return count


class Generator:
    """A loaded generator: model, tokenizer (and processor), script masks, limits."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        processor: Any | None,
        spec: RuntimeSpec,
        masker: ScriptMasker,
        *,
        device: Any,
        max_input_tokens: int,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer  # transformers fast tokenizer
        self.processor = processor
        self.spec = spec
        self.masker = masker
        self.device = device
        self.max_input_tokens = max_input_tokens
        self.max_image_pixels = max_image_pixels
        self.stop_token_ids = frozenset(spec.stop_token_ids)
        self._opening_bias: dict[tuple[Any, Any], Any] = {}  # (device, dtype) -> 0 / -inf tensor
        # transformers 5.x names the KV cache argument ``cache``; 4.x names it ``past_key_values``.
        self._cache_kwarg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

    @classmethod
    def load(
        cls,
        model_dir: Path,
        *,
        device: str | None = None,
        threads: int = 0,
        max_input_tokens: int | None = None,
        dtype: str | None = None,
    ) -> Generator:
        """Load ``model_dir``. ``device``: "cpu", "cuda", "cuda:N" or None (cuda when available).
        ``dtype``: "float32", "bfloat16", "float16" or None (float32 on CPU, bfloat16 on GPU)."""
        import torch  # noqa: PLC0415
        import transformers  # noqa: PLC0415

        model_dir = Path(model_dir)
        spec = RuntimeSpec.load(model_dir)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        torch_device = torch.device(device)
        if torch_device.type == "cpu":
            configure_torch_threads(threads)
        if dtype is None:
            dtype = "float32" if torch_device.type == "cpu" else ("bfloat16" if torch.cuda.is_bf16_supported() else "float16")
        torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
        verbosity = transformers.logging.get_verbosity()
        bars = transformers.logging.is_progress_bar_enabled()
        # Load reports and progress bars are noise in a server log.
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        try:
            if spec.vision:
                processor = transformers.AutoProcessor.from_pretrained(model_dir)
                tokenizer = processor.tokenizer
                model = transformers.AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch_dtype)
            else:
                processor = None
                tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
                model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch_dtype)
        finally:
            transformers.logging.set_verbosity(verbosity)
            if bars:
                transformers.logging.enable_progress_bar()
        model = model.to(torch_device).eval()
        backend = tokenizer.backend_tokenizer
        fingerprint = tokenizer_fingerprint(model_dir / "tokenizer.json")
        table = TokenScriptTable.load(model_dir / TOKEN_SCRIPTS_FILE, backend, fingerprint)
        logits_width = _logits_width(model.config)
        masker = ScriptMasker(table, spec.stop_token_ids, vocab_size=max(logits_width, table.size))
        limit = spec.context_length - 1
        return cls(
            model,
            tokenizer,
            processor,
            spec,
            masker,
            device=torch_device,
            max_input_tokens=min(max_input_tokens or limit, limit),
        )

    # -- inputs ---------------------------------------------------------------------------------

    def prepare(self, prompt: str, images: Sequence[bytes] = ()) -> PreparedPrompt:
        """Tokenise ``prompt`` (with ``images`` for a vision-language model) onto the device.

        For a vision-language model the prompt holds one image placeholder per image where the
        image belongs; a prompt with none gets them prepended, one per line.
        """
        if not isinstance(prompt, str) or not prompt.strip():
            raise GenerationInputError("prompt is empty")
        images = list(images)
        if images and not self.spec.vision:
            raise GenerationInputError(
                f"this generator ({self.spec.display_name or self.spec.architecture}) is text-only and cannot take images; "
                "describe the images in the prompt instead"
            )
        if len(images) > self.spec.max_images and self.spec.vision:
            raise GenerationInputError(f"{len(images)} images given; this generator takes at most {self.spec.max_images}")
        decoded = [decode_image(data, index=i, max_pixels=self.max_image_pixels) for i, data in enumerate(images)]
        if self.spec.vision:
            placeholder = self.spec.image_placeholder or "<image>"
            count = prompt.count(placeholder)
            if count == 0 and decoded:
                prompt = "".join(f"{placeholder}\n" for _ in decoded) + prompt
            elif count != len(decoded):
                raise GenerationInputError(
                    f"the prompt has {count} {placeholder} placeholder(s) but {len(decoded)} image(s) were given"
                )
            if decoded:
                encoded = self.processor(text=prompt, images=[decoded], return_tensors="pt")
            else:
                encoded = self.processor(text=prompt, return_tensors="pt")
        else:
            encoded = self.tokenizer(prompt, return_tensors="pt")
        prompt_tokens = int(encoded["input_ids"].shape[1])
        if prompt_tokens > self.max_input_tokens:
            raise GenerationInputError(
                f"the prompt is {prompt_tokens} tokens long; this generator takes at most {self.max_input_tokens}"
            )
        inputs = {name: value.to(self.device) for name, value in encoded.items() if hasattr(value, "to")}
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        return PreparedPrompt(inputs=inputs, prompt_tokens=prompt_tokens, images=len(decoded))

    def script_processor(self, script: str | None, prompt_length: int = 0) -> ScriptLogitsProcessor | None:
        resolved = resolve_script(script)
        return None if resolved is None else ScriptLogitsProcessor(self.masker, resolved, prompt_length=prompt_length)

    # -- decoding -------------------------------------------------------------------------------

    def opening_bias(self, like: Any) -> Any:
        """Additive 0 / -inf bias masking what an answer must not begin with (:mod:`.opening`),
        shaped and typed like the logits ``like``; computed once per vocabulary and device."""
        key = (like.device, like.dtype)
        bias = self._opening_bias.get(key)
        if bias is None:
            table = self.masker.table
            forbidden = opening_forbidden_mask(table.token_bytes, table.size, self.stop_token_ids)
            bias = additive_bias(~forbidden, like, beyond=True)
            self._opening_bias[key] = bias
        return bias

    def next_token_logits(self, prepared: PreparedPrompt) -> np.ndarray:
        """Logits for the first answer token (float32 numpy): for tests and diagnostics."""
        import torch  # noqa: PLC0415

        with torch.inference_mode():
            out = self.model(**prepared.inputs, use_cache=False, logits_to_keep=1)
        return out.logits[0, -1].float().cpu().numpy()

    def stream(
        self,
        prepared: PreparedPrompt,
        params: SamplingParams,
        *,
        should_stop: Callable[[], bool] | None = None,
        on_token: Callable[[int], None] | None = None,
    ) -> Iterator[GenerationEvent]:
        """Yield the answer as :class:`TextDelta` events, then one :class:`Finished`.

        ``should_stop`` is called before every decoding step; when it returns True the stream
        ends with finish_reason "cancelled". ``on_token`` sees every generated token id.
        """
        import torch  # noqa: PLC0415

        inputs = prepared.inputs
        prompt_ids = inputs["input_ids"][0].tolist()
        limit = min(params.max_tokens, self.spec.context_length - prepared.prompt_tokens)
        detok = IncrementalDetokenizer(
            self.tokenizer.backend_tokenizer, stop=params.stop, context_ids=_text_context(prompt_ids, self.tokenizer)
        )
        mask = None if params.script is None else ScriptLogitsProcessor(self.masker, params.script)
        rng = None
        if params.temperature > 0:
            rng = torch.Generator(device=self.device)
            rng.manual_seed(params.seed if params.seed is not None else int.from_bytes(os.urandom(8), "little") >> 1)
        generated: list[int] = []
        shown = ""  # the answer's text so far, until it holds a visible character
        finish: FinishReason = "length"
        attention = inputs.get("attention_mask")
        if attention is None:
            attention = torch.ones_like(inputs["input_ids"])
        with torch.inference_mode():
            if should_stop is not None and should_stop():
                yield Finished("cancelled", prepared.prompt_tokens, 0)
                return
            out = self.model(**inputs, use_cache=True, logits_to_keep=1)
            past = _returned_cache(out)
            while len(generated) < limit:
                if should_stop is not None and should_stop():
                    finish = "cancelled"
                    break
                logits = out.logits[0, -1].float()
                if mask is not None:
                    logits = mask.apply(logits, generated)
                if not starts_answer(shown):
                    logits = logits + self.opening_bias(logits)
                token = _select(logits, params, rng)
                generated.append(token)
                if on_token is not None:
                    on_token(token)
                if token in self.stop_token_ids and not params.ignore_eos:
                    finish = "stop"
                    break
                delta = detok.push(token)
                if delta:
                    if not starts_answer(shown):
                        shown += delta
                    yield TextDelta(delta)
                if detok.stopped:
                    finish = "stop"
                    break
                if len(generated) >= limit:
                    break
                attention = torch.cat([attention, attention.new_ones((1, 1))], dim=1)
                out = self.model(
                    input_ids=torch.tensor([[token]], device=self.device),
                    attention_mask=attention,
                    use_cache=True,
                    logits_to_keep=1,
                    **{self._cache_kwarg: past},
                )
                past = _returned_cache(out)
        tail = detok.flush()
        if tail:
            yield TextDelta(tail)
        yield Finished(finish, prepared.prompt_tokens, len(generated))

    def generate(
        self,
        prompt: str,
        images: Sequence[bytes] = (),
        params: SamplingParams | None = None,
        *,
        should_stop: Callable[[], bool] | None = None,
    ) -> Completion:
        """The whole answer at once (the same decoding as :meth:`stream`)."""
        params = params or SamplingParams()
        prepared = self.prepare(prompt, images)
        pieces: list[str] = []
        ids: list[int] = []
        finished: Finished | None = None
        for event in self.stream(prepared, params, should_stop=should_stop, on_token=ids.append):
            if isinstance(event, TextDelta):
                pieces.append(event.text)
            else:
                finished = event
        if finished is None:  # pragma: no cover - stream always ends with Finished
            raise RuntimeError("generation ended without a Finished event")
        return Completion("".join(pieces), finished.finish_reason, finished.prompt_tokens, finished.completion_tokens, tuple(ids))

    def benchmark(self, prompt: str, tokens: int = 32) -> dict[str, float]:
        """Greedy-decode exactly ``tokens`` tokens: time to first token and decoding rate."""
        prepared = self.prepare(prompt)
        marks: list[float] = []
        start = time.perf_counter()
        params = SamplingParams(max_tokens=tokens, ignore_eos=True)
        for _ in self.stream(prepared, params, on_token=lambda _: marks.append(time.perf_counter())):
            pass
        first = marks[0] - start if marks else 0.0
        rate = (len(marks) - 1) / (marks[-1] - marks[0]) if len(marks) > 1 and marks[-1] > marks[0] else 0.0
        return {"prompt_tokens": prepared.prompt_tokens, "tokens": len(marks), "first_token_s": first, "tokens_per_s": rate}


def _returned_cache(output: Any) -> Any:
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def _logits_width(config: Any) -> int:
    text = getattr(config, "text_config", None) or config
    return int(getattr(text, "vocab_size", 0) or getattr(config, "vocab_size", 0))


def _text_context(prompt_ids: list[int], tokenizer: Any, size: int = 4) -> list[int]:
    """The last few ordinary (non-special) prompt tokens, for :class:`IncrementalDetokenizer`."""
    special = set(tokenizer.all_special_ids)
    tail: list[int] = []
    for token_id in reversed(prompt_ids):
        if token_id in special:
            break
        tail.append(token_id)
        if len(tail) == size:
            break
    return tail[::-1]


def _select(logits: Any, params: SamplingParams, rng: Any) -> int:
    """Pick the next token from float32 logits [vocab].

    Greedy at temperature 0. Otherwise the work stays proportional to the candidates, not to the
    vocabulary (262k entries for Gemma) where it can: top-p takes growing top-k slices of the
    distribution until they hold ``top_p`` of its mass, and plain sampling inverts the CDF with a
    single uniform draw (a first index where the CDF exceeds it: never a zero-probability token).
    """
    import torch  # noqa: PLC0415

    if params.temperature <= 0 or rng is None:
        return int(torch.argmax(logits))
    scores = logits / params.temperature
    vocab = scores.shape[-1]
    limit = params.top_k if 0 < params.top_k < vocab else vocab
    if params.top_p < 1.0 or limit < vocab:
        probs = torch.softmax(scores, dim=-1)
        size = min(limit, 256) if params.top_p < 1.0 else limit
        while True:
            values, ids = torch.topk(probs, size)
            if size >= limit or float(values.sum()) >= params.top_p:
                break
            size = min(limit, size * 8)
        if params.top_p < 1.0:
            keep = (values.cumsum(0) - values) < params.top_p  # the token that crosses top_p stays
            values, ids = values[keep], ids[keep]
        choice = torch.multinomial(values, 1, generator=rng)
        return int(ids[choice])
    # Inverse-CDF sampling: one random number instead of one per vocabulary entry.
    cdf = torch.softmax(scores, dim=-1).to(torch.float64).cumsum(0)
    point = torch.rand(1, generator=rng, dtype=torch.float64, device=cdf.device) * cdf[-1]
    return int(torch.searchsorted(cdf, point, right=True).clamp_(max=vocab - 1))
