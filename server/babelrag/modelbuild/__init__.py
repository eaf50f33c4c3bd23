"""Build the encoders BabelRAG serves on Triton: ``babelrag-server models build --profile ...``.

Public API::

    build(profile, out_dir, *, force=False, progress=print) -> Manifest
    add_arguments(parser) / run(args) -> int        # CLI wiring
    load_reference(out_dir) -> Reference            # PyTorch reference for tests
    Manifest, ModelEntry                             # manifest.json
    ArtifactTokenizer, TokenizerConfig               # the tokenizer-artifact recipe (no torch)

Importing this package is cheap: torch, transformers and open_clip load only when a build or a
reference model is used.
"""

from babelrag.modelbuild.build import add_arguments, build, default_out_dir, run
from babelrag.modelbuild.errors import (
    ArtifactError,
    BuildLocked,
    ModelBuildError,
    ParityError,
    SourceUnavailable,
    UnknownProfile,
)
from babelrag.modelbuild.manifest import MANIFEST_FILE, Manifest, ModelEntry
from babelrag.modelbuild.profiles import PROFILES
from babelrag.modelbuild.reference import Reference, load_reference
from babelrag.modelbuild.textprep import ArtifactTokenizer, TokenizerConfig

__all__ = [
    "MANIFEST_FILE",
    "PROFILES",
    "ArtifactError",
    "ArtifactTokenizer",
    "BuildLocked",
    "Manifest",
    "ModelBuildError",
    "ModelEntry",
    "ParityError",
    "Reference",
    "SourceUnavailable",
    "TokenizerConfig",
    "UnknownProfile",
    "add_arguments",
    "build",
    "default_out_dir",
    "load_reference",
    "run",
]
