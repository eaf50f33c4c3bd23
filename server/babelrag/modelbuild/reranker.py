"""The ``reranker`` component: a multilingual cross-encoder scoring (query, passage) pairs.

Writes (relative to the output directory)::

    artifacts/reranker_tokenizer/tokenizer.json          XLM-R SentencePiece (HF tokenizers format)
    artifacts/reranker_tokenizer/tokenizer_config.json   max_length 512, no prefixes
    artifacts/reranker_encoder/model.onnx                (input_ids, attention_mask) -> "logit"
    reference/reranker/config.json, model.safetensors    the transformers model that was exported

The model is an ``XLMRobertaForSequenceClassification`` with one label: the ONNX graph maps a
batch of tokenised pairs (``<s> query </s></s> passage </s>``, ``longest_first`` truncation, see
:mod:`babelrag.modelbuild.textprep`) to float32 ``logit`` ``[batch, 1]``, the raw relevance logit
(the caller maps it to [0, 1]). Inputs are int64 ``[batch, seq]`` with both axes dynamic.

Profiles without a reranker plan (``default``) build nothing here: see :mod:`.profiles`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from babelrag.modelbuild.errors import ModelBuildError, SourceUnavailable
from babelrag.modelbuild.reference import (
    RERANKER_ENCODER_DIR,
    RERANKER_REFERENCE_DIR,
    RERANKER_TOKENIZER_DIR,
    RerankerReference,
)
from babelrag.modelbuild.textprep import ArtifactTokenizer, write_tokenizer_dir

if TYPE_CHECKING:
    import torch

#: Bump when anything this module writes would change for the same source.
RECIPE_VERSION = 1

MAX_LENGTH = 512
OUTPUT_NAME = "logit"


class TinySource:
    kind = "tiny"

    def recipe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "shape": dataclasses.asdict(profiles.TINY_RERANKER),
            "architecture_of": profiles.RERANKER_HUB_ID,
            "tokenizer": [sources.XLMR_TOKENIZER_PACKAGE, sources.package_version(sources.XLMR_TOKENIZER_PACKAGE)],
        }

    def summary(self) -> str:
        s = profiles.TINY_RERANKER
        return (
            f"random-initialised XLMRobertaForSequenceClassification (hidden {s.hidden_size}, "
            f"{s.num_hidden_layers} layers, 1 label, seed {s.seed})"
        )

    def load(self) -> LoadedModel:
        import torch
        from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

        tokenizer, tok_info = sources.xlmr_tokenizer()
        shape = profiles.TINY_RERANKER
        config = XLMRobertaConfig(**shape.xlmr_config(tokenizer.get_vocab_size()))
        torch.manual_seed(shape.seed)
        model = XLMRobertaForSequenceClassification(config).eval()
        source = {
            "kind": self.kind,
            "id": "random-init:mmarco-mMiniLMv2-cross-encoder-architecture",
            "architecture_of": profiles.RERANKER_HUB_ID,
            "seed": shape.seed,
            **tok_info,
        }
        return LoadedModel(model, tokenizer, source, "n/a (random weights); tokenizer MIT (multilingual-e5 / XLM-R)")


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
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        model, hf_tokenizer = sources.load_from_hub(
            self.hub_id,
            lambda: (
                AutoModelForSequenceClassification.from_pretrained(self.hub_id, dtype=torch.float32),
                AutoTokenizer.from_pretrained(self.hub_id),
            ),
        )
        if int(model.config.num_labels) != 1:
            raise ModelBuildError(
                f"{self.hub_id} has {model.config.num_labels} labels; a reranker needs one relevance logit"
            )
        tokenizer = Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
        source = {"kind": self.kind, "id": self.hub_id, "revision": getattr(model.config, "_commit_hash", None)}
        return LoadedModel(model.to(torch.float32).eval(), tokenizer, source, "Apache-2.0 (model card)")


def resolve_source(plan: profiles.HubPlan, progress_say: Callable[[str], None]) -> TinySource | HubSource:
    """Pick the source for ``plan``: the hub when it answers, else the plan's offline source."""
    choice = sources.choose_source(plan, progress_say)
    if choice == "hub":
        return HubSource(str(plan.hub_id))
    if choice == "tiny":
        return TinySource()
    raise SourceUnavailable(f"no source {choice!r} for the reranker")


def _logit_model(model: torch.nn.Module) -> torch.nn.Module:
    import torch

    class Logits(torch.nn.Module):
        """The classifier's logits alone (transformers returns an output object)."""

        def __init__(self, classifier: torch.nn.Module) -> None:
            super().__init__()
            self.classifier = classifier

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.classifier(input_ids=input_ids, attention_mask=attention_mask).logits

    return Logits(model).eval()


def _split(pairs: tuple[tuple[str, str], ...]) -> tuple[list[str], list[str]]:
    return [q for q, _ in pairs], [p for _, p in pairs]


class RerankerComponent:
    name = "reranker"
    owned_dirs = (RERANKER_TOKENIZER_DIR, RERANKER_ENCODER_DIR, RERANKER_REFERENCE_DIR)

    def __init__(self, profile: str, source: TinySource | HubSource) -> None:
        self.profile = profile
        self.source = source

    def recipe(self) -> dict[str, Any]:
        return {
            "component": self.name,
            "recipe_version": RECIPE_VERSION,
            "profile": self.profile,
            "source": self.source.recipe(),
            "max_length": MAX_LENGTH,
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

        tokenizer_dir = stage / RERANKER_TOKENIZER_DIR
        with steps.step("writing tokenizer"):
            write_tokenizer_dir(loaded.tokenizer, tokenizer_dir, max_length=MAX_LENGTH)
        with steps.step("saving reference model"):
            loaded.model.save_pretrained(str(stage / RERANKER_REFERENCE_DIR), safe_serialization=True)

        artifact_tok = ArtifactTokenizer(tokenizer_dir)
        onnx_path = stage / RERANKER_ENCODER_DIR / "model.onnx"
        with steps.step("exporting ONNX"):
            ids, mask = artifact_tok.pairs(*_split(parity_inputs.PAIRS[:2]))
            notes = onnx_export.export_token_model(
                _logit_model(loaded.model), torch.from_numpy(ids), torch.from_numpy(mask), onnx_path, output_name=OUTPUT_NAME
            )
        source_info, licence, warnings = loaded.source, loaded.licence, list(loaded.warnings)
        del loaded  # free the source weights before loading the reference from disk

        with steps.step("checking parity"):
            parity = self._parity(RerankerReference(stage), artifact_tok, onnx_path)
        check_parity(self.name, parity)
        steps.say(f"parity: ONNX vs PyTorch max |diff| {parity['onnx_max_abs_diff']:.2e}")
        dims = {"num_labels": 1, "max_length": MAX_LENGTH, "vocab_size": artifact_tok.vocab_size}
        return ComponentResult(source_info, licence, dims, parity, warnings, notes)

    def _parity(self, reference: RerankerReference, artifact_tok: ArtifactTokenizer, onnx_path: Path) -> dict[str, float]:
        session = onnx_export.OnnxModel(onnx_path)
        long_query = parity_inputs.TEXTS[4]
        batches = {
            "mixed_pairs": _split(parity_inputs.PAIRS),
            "single_pair": _split(parity_inputs.PAIRS[:1]),
            "long_passage": ([long_query, long_query], [parity_inputs.LONG_TEXT, parity_inputs.TEXTS[1]]),
        }
        cases = {}
        for label, (queries, passages) in batches.items():
            ids, mask = artifact_tok.pairs(queries, passages)
            cases[label] = ParityCase(
                artifact_ids=artifact_tok.pair_ids(queries, passages),
                reference_ids=reference.tokenize(queries, passages),
                onnx_out=session(input_ids=ids, attention_mask=mask),
                torch_out=reference.score(queries, passages),
            )
        return token_model_parity(self.name, cases, "XLMRobertaTokenizerFast (text pairs)")
