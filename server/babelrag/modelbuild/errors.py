"""Errors raised by the model build tool.

    ModelBuildError
    ├── UnknownProfile        the profile name is not one of tiny / default / full
    ├── SourceUnavailable     weights or files could not be obtained (no hub, package missing)
    ├── ParityError           an exported model does not reproduce its PyTorch reference
    ├── BuildLocked           another build holds the output directory
    └── ArtifactError         a built directory is incomplete or inconsistent (reference loading)

Errors from torch, transformers, open_clip, onnx and huggingface_hub are translated into these
where the build can say something useful (a missing download, a failed parity check); anything
else propagates unchanged, because it is a bug rather than a condition a user can fix.
"""

from __future__ import annotations


class ModelBuildError(Exception):
    """Base class for every failure of ``babelrag-server models build``."""


class UnknownProfile(ModelBuildError):
    pass


class SourceUnavailable(ModelBuildError):
    """Weights or tokenizer files could not be obtained. ``missing`` names what was tried."""

    def __init__(self, message: str, missing: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing = missing


class ParityError(ModelBuildError):
    """An exported model disagrees with the PyTorch reference beyond the tolerance."""

    def __init__(self, message: str, figures: dict[str, float] | None = None) -> None:
        super().__init__(message)
        self.figures = dict(figures or {})


class BuildLocked(ModelBuildError):
    pass


class ArtifactError(ModelBuildError):
    pass
