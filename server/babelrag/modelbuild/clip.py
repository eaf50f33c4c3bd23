"""The ``clip`` component: multilingual open_clip image and text encoders.

Writes (relative to the output directory)::

    artifacts/clip_image_preprocess/preprocess_config.json   open_clip's eval preprocessing
    artifacts/clip_image_encoder/model.onnx                  pixel_values -> "embedding"
    artifacts/clip_text_tokenizer/tokenizer.json             XLM-R SentencePiece (HF tokenizers)
    artifacts/clip_text_tokenizer/tokenizer_config.json      max_length 77, pad, clean="whitespace"
    artifacts/clip_text_encoder/model.onnx                   (input_ids, attention_mask) -> "embedding"
    reference/clip/open_clip_config.json                     {"model_cfg": ..., "preprocess_cfg": ...}
    reference/clip/open_clip_model.safetensors               the open_clip state dict
    reference/clip/hf_text/                                  HF text-tower config.json + tokenizer files

Both the real model (``xlm-roberta-base-ViT-B-32`` / ``laion5b_s13b_b90k``, from the hub) and the
tiny one are created by ``open_clip.create_model`` — the tiny one through the same ``local-dir:``
path that the reference uses, from a config that mirrors the built-in one with a local directory
(tiny ``XLMRobertaConfig`` + the real XLM-R tokenizer files) as the HF text tower. open_clip's
``HFTextEncoder`` calls ``AutoConfig.from_pretrained(hf_model_name)`` and ``AutoModel.from_config``
when the CLIP checkpoint carries the weights, and ``HFTokenizer`` calls
``AutoTokenizer.from_pretrained(hf_tokenizer_name)``; given directories, neither touches the hub.

ONNX graphs, both with a dynamic batch axis and output float32 ``[batch, embed_dim]``, L2-normalised:

* image: ``model.encode_image(pixel_values, normalize=True)``; ``pixel_values`` float32
  ``[batch, 3, S, S]`` with ``S`` = ``image_size`` fixed (the ViT's position embeddings are learnt for
  one grid, so other sizes cannot run).
* text: the body of open_clip's ``HFTextEncoder.forward`` (transformer, mean pooler, projection)
  with the attention mask as an input instead of ``input_ids != pad``, then normalisation;
  ``input_ids`` / ``attention_mask`` int64 ``[batch, seq]``, both axes dynamic.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from babelrag.modelbuild import onnx_export, parity_inputs, profiles, sources
from babelrag.modelbuild.component import (
    ComponentResult,
    Steps,
    check_parity,
    drop_log_messages,
    library_versions,
    progress_bars,
)
from babelrag.modelbuild.errors import ModelBuildError, ParityError, SourceUnavailable
from babelrag.modelbuild.reference import (
    CLIP_IMAGE_ENCODER_DIR,
    CLIP_PREPROCESS_DIR,
    CLIP_REFERENCE_DIR,
    CLIP_TEXT_ENCODER_DIR,
    CLIP_TOKENIZER_DIR,
    HF_TEXT_DIR,
    OPEN_CLIP_CONFIG,
    OPEN_CLIP_WEIGHTS,
    ClipReference,
    open_clip_local_dir,
)
from babelrag.modelbuild.textprep import CONFIG_FILE, TOKENIZER_FILE, ArtifactTokenizer, TokenizerConfig

if TYPE_CHECKING:
    import torch

#: Bump when anything this module writes would change for the same source.
RECIPE_VERSION = 1
PREPROCESS_FILE = "preprocess_config.json"

TINY_FALLBACK_WARNING = (
    "CLIP IS A RANDOM-INITIALISED TINY MODEL: the Hugging Face hub was not reachable to download "
    f"open_clip {profiles.CLIP_MODEL_NAME} / {profiles.CLIP_PRETRAINED_TAG}, so image and cross-modal "
    "search return meaningless results. Rebuild with hub access (`babelrag-server models build "
    "--profile default`) to get the real model."
)


@dataclasses.dataclass
class _Loaded:
    model: Any  # open_clip CustomTextCLIP, eval mode, fp32
    tokenizer: Any  # open_clip HFTokenizer
    source: dict[str, Any]
    licence: str
    warnings: list[str]


def _save_weights(model: torch.nn.Module, reference_dir: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(reference_dir / OPEN_CLIP_WEIGHTS))


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")


def _tag_preprocess_cfg() -> dict[str, Any]:
    """The preprocessing that open_clip records for the real pretrained tag."""
    import open_clip

    tag_cfg = open_clip.get_pretrained_cfg(profiles.CLIP_MODEL_NAME, profiles.CLIP_PRETRAINED_TAG) or {}
    keys = ("mean", "std", "interpolation", "resize_mode")
    return {k: list(tag_cfg[k]) if isinstance(tag_cfg[k], tuple) else tag_cfg[k] for k in keys if k in tag_cfg}


class TinySource:
    kind = "tiny"

    def __init__(self, *, fallback_warning: bool = False) -> None:
        self.fallback_warning = fallback_warning

    def recipe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "shape": dataclasses.asdict(profiles.TINY_CLIP),
            "architecture_of": [profiles.CLIP_MODEL_NAME, profiles.CLIP_PRETRAINED_TAG],
            "tokenizer": [sources.XLMR_TOKENIZER_PACKAGE, sources.package_version(sources.XLMR_TOKENIZER_PACKAGE)],
        }

    def summary(self) -> str:
        s = profiles.TINY_CLIP
        return (
            f"random-initialised open_clip {profiles.CLIP_MODEL_NAME} architecture "
            f"(embed {s.embed_dim}, ViT width {s.vision_width}, XLM-R hidden {s.text_hidden_size}, seed {s.seed})"
        )

    def load(self, reference_dir: Path) -> _Loaded:
        import open_clip
        import torch
        from transformers import XLMRobertaConfig, XLMRobertaTokenizerFast

        shape = profiles.TINY_CLIP
        hf_dir = reference_dir / HF_TEXT_DIR
        tokenizer_json = sources.xlmr_tokenizer_json()
        hf_tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(tokenizer_json), model_max_length=512)
        hf_tokenizer.save_pretrained(str(hf_dir))
        XLMRobertaConfig(**shape.xlmr_config(len(hf_tokenizer))).save_pretrained(str(hf_dir))
        _write_json(
            reference_dir / OPEN_CLIP_CONFIG,
            {"model_cfg": shape.open_clip_model_cfg(HF_TEXT_DIR), "preprocess_cfg": _tag_preprocess_cfg()},
        )
        # open_clip logs (on the root logger) that this local model has no weights: that is the point.
        expected = ("no CLIP weights found", "Model initialized randomly")
        with open_clip_local_dir(reference_dir) as name, drop_log_messages(*expected):
            torch.manual_seed(shape.seed)
            model = open_clip.create_model(name, pretrained_text=False)
            tokenizer = open_clip.get_tokenizer(name)
        model.eval()
        _save_weights(model, reference_dir)
        source = {
            "kind": self.kind,
            "id": f"random-init:{profiles.CLIP_MODEL_NAME}-architecture",
            "architecture_of": f"open_clip {profiles.CLIP_MODEL_NAME} / {profiles.CLIP_PRETRAINED_TAG}",
            "seed": shape.seed,
            "tokenizer": "XLM-R SentencePiece tokenizer.json (as xlm-roberta-base)",
            "tokenizer_package": sources.XLMR_TOKENIZER_PACKAGE,
            "tokenizer_package_version": sources.package_version(sources.XLMR_TOKENIZER_PACKAGE),
            "open_clip_version": sources.package_version("open_clip_torch"),
        }
        warnings = [TINY_FALLBACK_WARNING] if self.fallback_warning else []
        return _Loaded(model, tokenizer, source, "n/a (random weights); tokenizer MIT (XLM-R)", warnings)


class HubSource:
    kind = "hub"

    def recipe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": profiles.CLIP_MODEL_NAME,
            "pretrained": profiles.CLIP_PRETRAINED_TAG,
            "open_clip": sources.package_version("open_clip_torch"),
        }

    def summary(self) -> str:
        return f"open_clip {profiles.CLIP_MODEL_NAME} / {profiles.CLIP_PRETRAINED_TAG} from the Hugging Face hub"

    def load(self, reference_dir: Path) -> _Loaded:
        import open_clip

        if sources.hub_offline_forced():
            raise SourceUnavailable(
                f"cannot download open_clip {profiles.CLIP_MODEL_NAME} / {profiles.CLIP_PRETRAINED_TAG}: hub access "
                "is disabled by HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE",
                missing=(profiles.CLIP_WEIGHTS_HUB_ID, profiles.XLMR_BASE_HUB_ID),
            )
        try:
            with progress_bars(True):
                model = open_clip.create_model(profiles.CLIP_MODEL_NAME, pretrained=profiles.CLIP_PRETRAINED_TAG)
                tokenizer = open_clip.get_tokenizer(profiles.CLIP_MODEL_NAME)
        except Exception as exc:  # network, auth, missing files: all mean "cannot get it from here"
            raise SourceUnavailable(
                f"could not download open_clip {profiles.CLIP_MODEL_NAME} / {profiles.CLIP_PRETRAINED_TAG} "
                f"({profiles.CLIP_WEIGHTS_HUB_ID}, {profiles.XLMR_BASE_HUB_ID}): {type(exc).__name__}: {exc}",
                missing=(profiles.CLIP_WEIGHTS_HUB_ID, profiles.XLMR_BASE_HUB_ID),
            ) from exc
        model.eval()
        hf_dir = reference_dir / HF_TEXT_DIR
        model.text.config.save_pretrained(str(hf_dir))
        tokenizer.tokenizer.save_pretrained(str(hf_dir))
        model_cfg = copy.deepcopy(open_clip.get_model_config(profiles.CLIP_MODEL_NAME))
        model_cfg["text_cfg"]["hf_model_name"] = HF_TEXT_DIR
        model_cfg["text_cfg"]["hf_tokenizer_name"] = HF_TEXT_DIR
        preprocess_cfg = {
            k: list(v) if isinstance(v, tuple) else v for k, v in open_clip.get_model_preprocess_cfg(model).items()
        }
        _write_json(reference_dir / OPEN_CLIP_CONFIG, {"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg})
        _save_weights(model, reference_dir)
        source = {
            "kind": self.kind,
            "id": f"{profiles.CLIP_MODEL_NAME}/{profiles.CLIP_PRETRAINED_TAG}",
            "hub_ids": [profiles.CLIP_WEIGHTS_HUB_ID, profiles.XLMR_BASE_HUB_ID],
            "open_clip_version": sources.package_version("open_clip_torch"),
        }
        return _Loaded(model, tokenizer, source, "MIT (LAION CLIP weights; xlm-roberta-base MIT)", [])


def resolve_source(plan: profiles.ClipPlan, progress_say: Callable[[str], None]) -> TinySource | HubSource:
    """Pick the source for ``plan``: the hub when both repositories answer, else the fallback."""
    if plan.use_hub:
        probes = [sources.probe_hub(repo) for repo in (profiles.CLIP_WEIGHTS_HUB_ID, profiles.XLMR_BASE_HUB_ID)]
        unreachable = [p for p in probes if not p.reachable]
        if not unreachable:
            return HubSource()
        reasons = "; ".join(f"{p.repo_id}: {p.reason}" for p in unreachable)
        if plan.offline is None:
            raise SourceUnavailable(
                f"cannot download open_clip {profiles.CLIP_MODEL_NAME} / {profiles.CLIP_PRETRAINED_TAG} from the "
                f"Hugging Face hub ({reasons}); this profile has no offline fallback",
                missing=tuple(p.repo_id for p in unreachable),
            )
        progress_say(f"hub unavailable ({reasons})")
    if plan.offline == "tiny":
        return TinySource(fallback_warning=plan.warn_on_fallback)
    raise SourceUnavailable(f"no source for CLIP plan {plan}")


# --------------------------------------------------------------------------- export


def _wrappers(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
    import torch
    import torch.nn.functional as F

    class ImageEncoder(torch.nn.Module):
        def __init__(self, clip: torch.nn.Module) -> None:
            super().__init__()
            self.clip = clip

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            return self.clip.encode_image(pixel_values, normalize=True)

    class TextEncoder(torch.nn.Module):
        """open_clip HFTextEncoder.forward with an explicit attention mask, then normalisation."""

        def __init__(self, clip: torch.nn.Module) -> None:
            super().__init__()
            self.text = clip.text

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            out = self.text.transformer(input_ids=input_ids, attention_mask=attention_mask)
            pooled = self.text.pooler(out, attention_mask)
            return F.normalize(self.text.proj(pooled), dim=-1)

    return ImageEncoder(model).eval(), TextEncoder(model).eval()


def _clean_mode(tokenizer: Any) -> str:
    """The ``clean`` name of an open_clip HFTokenizer, read from the function it actually uses."""
    from open_clip import tokenizer as oc_tokenizer

    known = {oc_tokenizer._clean_whitespace: "whitespace"}  # the function HFTokenizer holds
    mode = known.get(getattr(tokenizer, "clean_fn", None))
    if mode is None:
        raise ModelBuildError(f"open_clip tokenizer uses an unsupported clean function {tokenizer.clean_fn!r}")
    if getattr(tokenizer, "strip_sep_token", False) or getattr(tokenizer, "tokenizer_mode", ""):
        raise ModelBuildError("open_clip tokenizer options strip_sep_token / tokenizer_mode are not supported")
    return mode


def _preprocess_artifact(cfg: dict[str, Any]) -> dict[str, Any]:
    size = cfg["size"]
    if isinstance(size, (list, tuple)):
        if len(size) != 2 or size[0] != size[1]:
            raise ModelBuildError(f"non-square CLIP input size {size} is not supported")
        size = size[0]
    return {
        "image_size": int(size),
        "mean": [float(x) for x in cfg["mean"]],
        "std": [float(x) for x in cfg["std"]],
        "interpolation": cfg.get("interpolation", "bicubic"),
        "resize_mode": cfg.get("resize_mode", "shortest"),
        "fill_color": int(cfg.get("fill_color", 0)),
        "mode": cfg.get("mode", "RGB"),
    }


class ClipComponent:
    name = "clip"
    owned_dirs = (
        CLIP_PREPROCESS_DIR,
        CLIP_IMAGE_ENCODER_DIR,
        CLIP_TOKENIZER_DIR,
        CLIP_TEXT_ENCODER_DIR,
        CLIP_REFERENCE_DIR,
    )

    def __init__(self, profile: str, source: TinySource | HubSource) -> None:
        self.profile = profile
        self.source = source

    def recipe(self) -> dict[str, Any]:
        return {
            "component": self.name,
            "recipe_version": RECIPE_VERSION,
            "profile": self.profile,
            "source": self.source.recipe(),
            "pad_to_max_length": True,
            "opset": onnx_export.OPSET,
            "export_version": onnx_export.EXPORT_VERSION,
            "libraries": library_versions(
                "torch", "torchvision", "transformers", "tokenizers", "open_clip_torch", "onnx", "ftfy"
            ),
        }

    def summary(self) -> str:
        return self.source.summary()

    def build(self, stage: Path, steps: Steps) -> ComponentResult:
        import open_clip
        import torch
        from tokenizers import Tokenizer

        reference_dir = stage / CLIP_REFERENCE_DIR
        reference_dir.mkdir(parents=True, exist_ok=True)
        with steps.step("creating open_clip model and reference files"):
            loaded = self.source.load(reference_dir)
        model, oc_tokenizer = loaded.model, loaded.tokenizer
        for warning in loaded.warnings:
            steps.say("!" * 78)
            steps.say(f"WARNING: {warning}")
            steps.say("!" * 78)

        with steps.step("writing preprocess config and tokenizer"):
            preprocess = _preprocess_artifact(open_clip.get_model_preprocess_cfg(model))
            _write_json(stage / CLIP_PREPROCESS_DIR / PREPROCESS_FILE, preprocess)

            tokenizer_dir = stage / CLIP_TOKENIZER_DIR
            tokenizer_dir.mkdir(parents=True, exist_ok=True)
            backend = Tokenizer.from_str(oc_tokenizer.tokenizer.backend_tokenizer.to_str())
            backend.no_truncation()
            backend.no_padding()
            backend.save(str(tokenizer_dir / TOKENIZER_FILE))
            pad_id = oc_tokenizer.tokenizer.pad_token_id
            if pad_id is None or pad_id != model.text.config.pad_token_id:
                raise ModelBuildError(
                    f"tokenizer pad id {pad_id} differs from the text tower's pad_token_id "
                    f"{model.text.config.pad_token_id}; open_clip's attention mask would be wrong"
                )
            config = TokenizerConfig(
                max_length=int(oc_tokenizer.context_length),
                prefixes={},
                pad_id=int(pad_id),
                pad_to_max_length=True,  # open_clip pads to the context length; see module docstring
                clean=_clean_mode(oc_tokenizer),
            )
            _write_json(tokenizer_dir / CONFIG_FILE, config.to_json())

        image_encoder, text_encoder = _wrappers(model)
        images = parity_inputs.images()
        eval_transform = open_clip.image_transform(
            preprocess["image_size"],
            is_train=False,
            mean=tuple(preprocess["mean"]),
            std=tuple(preprocess["std"]),
            resize_mode=preprocess["resize_mode"],
            interpolation=preprocess["interpolation"],
            fill_color=preprocess["fill_color"],
        )
        with steps.step("exporting image encoder ONNX"):
            pixels = torch.stack([eval_transform(img) for img in images[:2]])
            notes = onnx_export.export(
                image_encoder,
                (pixels,),
                stage / CLIP_IMAGE_ENCODER_DIR / "model.onnx",
                input_names=("pixel_values",),
                output_names=("embedding",),
                dynamic_axes={"pixel_values": {0: "batch"}, "embedding": {0: "batch"}},
            )
        with steps.step("exporting text encoder ONNX"):
            ids = oc_tokenizer(list(parity_inputs.CLIP_TEXTS[:2]))
            mask = (ids != pad_id).long()
            notes += onnx_export.export_token_model(
                text_encoder, ids.long(), mask, stage / CLIP_TEXT_ENCODER_DIR / "model.onnx", output_name="embedding"
            )
        source_info, licence, warnings = loaded.source, loaded.licence, list(loaded.warnings)
        del loaded, model, oc_tokenizer, image_encoder, text_encoder

        with steps.step("checking parity"):
            reference = ClipReference(stage)
            parity = self._parity(stage, reference, images)
        check_parity(self.name, parity)
        steps.say(
            f"parity: image max |diff| {parity['image_max_abs_diff']:.2e}, "
            f"text max |diff| {parity['text_max_abs_diff']:.2e}, token ids identical"
        )
        dims = {
            "embedding_dim": reference.dim,
            "image_size": preprocess["image_size"],
            "max_length": config.max_length,
        }
        return ComponentResult(source_info, licence, dims, parity, warnings, list(dict.fromkeys(notes)))

    def _parity(self, stage: Path, reference: ClipReference, images: list) -> dict[str, float]:
        image_session = onnx_export.OnnxModel(stage / CLIP_IMAGE_ENCODER_DIR / "model.onnx")
        text_session = onnx_export.OnnxModel(stage / CLIP_TEXT_ENCODER_DIR / "model.onnx")
        tokenizer = ArtifactTokenizer(stage / CLIP_TOKENIZER_DIR)
        figures: dict[str, float] = {}

        texts = list(parity_inputs.CLIP_TEXTS)
        expected_ids = reference.tokenize(texts)
        ids, mask = tokenizer(texts)
        mismatched = int(np.sum(np.any(expected_ids != ids, axis=1))) if expected_ids.shape == ids.shape else len(texts)
        figures["tokenizer_mismatches"] = float(mismatched)
        if mismatched:
            raise ParityError(
                f"[clip] the built tokenizer files disagree with open_clip's tokenizer on {mismatched} texts", figures
            )
        torch_text = reference.embed_texts(texts)
        figures["text_max_abs_diff"] = onnx_export.max_abs_diff(
            text_session(input_ids=ids, attention_mask=mask), torch_text
        )
        # Same texts padded only to the longest: checks that the sequence axis is truly dynamic.
        rows = tokenizer.ids(texts)
        width = max(len(r) for r in rows)
        short_ids = np.full((len(rows), width), tokenizer.config.pad_id, dtype=np.int64)
        short_mask = np.zeros_like(short_ids)
        for i, row in enumerate(rows):
            short_ids[i, : len(row)] = row
            short_mask[i, : len(row)] = 1
        figures["text_unpadded_max_abs_diff"] = onnx_export.max_abs_diff(
            text_session(input_ids=short_ids, attention_mask=short_mask), torch_text
        )
        figures["text_single_max_abs_diff"] = onnx_export.max_abs_diff(
            text_session(input_ids=ids[:1], attention_mask=mask[:1]), torch_text[:1]
        )

        pixels = reference.preprocess_images(images)
        torch_images = reference.embed_images(images)
        figures["image_max_abs_diff"] = onnx_export.max_abs_diff(image_session(pixel_values=pixels), torch_images)
        figures["image_single_max_abs_diff"] = onnx_export.max_abs_diff(
            image_session(pixel_values=pixels[:1]), torch_images[:1]
        )
        figures["onnx_max_abs_diff"] = max(v for k, v in figures.items() if k.endswith("max_abs_diff"))
        return figures
