"""What the build orchestrator needs from each model component (``e5``, ``clip``, ``reranker``),
and the pieces the text-model components share."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from babelrag.modelbuild.errors import ParityError

#: Largest tolerated |ONNX - PyTorch| on any embedding component, after L2 normalisation.
PARITY_TOLERANCE = 1e-4

Progress = Callable[[str], None]


@dataclasses.dataclass
class ComponentResult:
    """What a component reports after building into a staging directory."""

    source: dict[str, Any]
    licence: str
    dims: dict[str, int]
    parity: dict[str, float]
    warnings: list[str] = dataclasses.field(default_factory=list)
    export_notes: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class LoadedModel:
    """A transformers model and its tokenizer as a source delivered them, before export."""

    model: Any  # a transformers PreTrainedModel, eval mode, fp32
    tokenizer: Any  # tokenizers.Tokenizer
    source: dict[str, Any]
    licence: str
    warnings: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class ParityCase:
    """One batch of a token model's parity check: what the built files give vs the reference."""

    artifact_ids: Sequence[Sequence[int]]  # the built tokenizer artifact's ids, unpadded
    reference_ids: Sequence[Sequence[int]]  # the reference (transformers) tokenizer's ids
    onnx_out: np.ndarray
    torch_out: np.ndarray


def token_model_parity(tag: str, cases: Mapping[str, ParityCase], reference_tokenizer: str) -> dict[str, float]:
    """``<label>_max_abs_diff`` per case, their maximum ``onnx_max_abs_diff`` and the number of
    ``tokenizer_mismatches``; raises ``ParityError`` when any token sequence differs."""
    from babelrag.modelbuild.onnx_export import max_abs_diff

    figures: dict[str, float] = {}
    mismatched = 0
    for label, case in cases.items():
        mismatched += sum(1 for a, b in zip(case.reference_ids, case.artifact_ids, strict=True) if list(a) != list(b))
        figures[f"{label}_max_abs_diff"] = max_abs_diff(case.onnx_out, case.torch_out)
    figures["onnx_max_abs_diff"] = max(figures.values())
    figures["tokenizer_mismatches"] = float(mismatched)
    if mismatched:
        raise ParityError(
            f"[{tag}] the built tokenizer files disagree with {reference_tokenizer} on {mismatched} texts", figures
        )
    return figures


class Component(Protocol):
    """One model component: its recipe, the directories it owns, and how to build them."""

    name: str
    #: Directories (relative to the output directory) that this component writes, and only it.
    owned_dirs: tuple[str, ...]

    def recipe(self) -> dict[str, Any]:
        """Everything that determines the output: profile, source, code version, library versions."""
        ...

    def summary(self) -> str:
        """One line naming the source, for progress output."""
        ...

    def build(self, stage: Path, steps: Steps) -> ComponentResult:
        """Write ``owned_dirs`` under ``stage`` and check them; raise ``ParityError`` on mismatch."""
        ...


class Steps:
    """Timed progress lines: ``[e5] exporting ONNX ... 3.1s``."""

    def __init__(self, tag: str, progress: Progress) -> None:
        self.tag = tag
        self.progress = progress

    def say(self, message: str) -> None:
        self.progress(f"[{self.tag}] {message}")

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.say(f"{what} ... {time.perf_counter() - start:.1f}s")


@contextlib.contextmanager
def progress_bars(enabled: bool) -> Iterator[None]:
    """Switch transformers' (and huggingface_hub's) tqdm bars on or off, restoring them afterwards.

    The build prints its own timed steps; bars are wanted only while downloading from the hub.
    """
    from transformers.utils import logging as hf_logging

    before = hf_logging.is_progress_bar_enabled()
    (hf_logging.enable_progress_bar if enabled else hf_logging.disable_progress_bar)()
    try:
        yield
    finally:
        (hf_logging.enable_progress_bar if before else hf_logging.disable_progress_bar)()


class _DropMessages(logging.Filter):
    def __init__(self, fragments: tuple[str, ...]) -> None:
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(fragment in message for fragment in self.fragments)


@contextlib.contextmanager
def drop_log_messages(*fragments: str, logger: str = "") -> Iterator[None]:
    """Drop log records containing any of ``fragments`` (e.g. warnings a step expects) from ``logger``."""
    log = logging.getLogger(logger)
    flt = _DropMessages(fragments)
    log.addFilter(flt)
    try:
        yield
    finally:
        log.removeFilter(flt)


def check_parity(tag: str, figures: dict[str, float], tolerance: float = PARITY_TOLERANCE) -> None:
    """Raise ``ParityError`` when any ``*max_abs_diff`` figure exceeds ``tolerance``."""
    bad = {k: v for k, v in figures.items() if k.endswith("max_abs_diff") and not v <= tolerance}
    if bad:
        detail = ", ".join(f"{k}={v:.3g}" for k, v in sorted(bad.items()))
        raise ParityError(
            f"[{tag}] ONNX output differs from the PyTorch reference by more than {tolerance:g}: {detail}", figures
        )


def library_versions(*distributions: str) -> dict[str, str | None]:
    from babelrag.modelbuild.sources import package_version

    return {name: package_version(name) for name in distributions}
