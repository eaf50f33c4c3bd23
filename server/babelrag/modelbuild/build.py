"""``babelrag-server models build``: build, check and install the encoders Triton serves.

For each model component (``e5``, ``clip``, the generator, then ``reranker`` where the profile has
one) the build

1. computes the component's *recipe* (profile, resolved source, code and library versions) and its
   sha256; when ``manifest.json`` already has an entry with that hash and every recorded file still
   hashes to its sha256, the component is "up to date" and skipped (``force=True`` rebuilds);
2. otherwise builds into a private staging directory inside the output directory: weights,
   tokenizer files, reference files, ONNX export, then parity checks of the ONNX graphs against the
   PyTorch reference loaded back from the staged files (``ParityError`` above 1e-4);
3. withdraws the component's manifest entry, moves the staged directories into place (one
   ``rename`` per directory), and writes the new entry.

So an interrupted or failed build never leaves files that the manifest claims: a half-moved
component has no entry and is rebuilt next time. One build at a time may hold an output
directory (``BuildLocked``).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import importlib.metadata
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from babelrag.modelbuild.component import Component, Progress, Steps, progress_bars
from babelrag.modelbuild.errors import BuildLocked, ModelBuildError
from babelrag.modelbuild.manifest import Manifest, ModelEntry, hash_tree, recipe_hash, utc_now
from babelrag.modelbuild.profiles import PROFILES, get_profile

STAGING_DIR = ".staging"
LOCK_FILE = ".build.lock"
#: Environment variable naming the parent of the per-profile output directories.
MODELS_DIR_ENV = "BABELRAG_MODELS_DIR"


def babelrag_version() -> str:
    try:
        import babelrag

        version = getattr(babelrag, "__version__", None)
        if version:
            return str(version)
    except ImportError:  # pragma: no cover - this module lives inside babelrag
        pass
    try:
        return importlib.metadata.version("babelrag")
    except importlib.metadata.PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"
    try:
        import tomllib

        with pyproject.open("rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, ValueError, ImportError):
        return "0+unknown"


def default_out_dir(profile: str) -> Path:
    base = os.environ.get(MODELS_DIR_ENV)
    return (Path(base) if base else Path("data") / "models") / profile


@contextlib.contextmanager
def _exclusive(out_dir: Path) -> Iterator[None]:
    with (out_dir / LOCK_FILE).open("a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise BuildLocked(f"another model build is running in {out_dir}") from exc
            raise
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _components(profile: str, progress: Progress) -> list[Component]:
    # Heavy imports (torch, transformers, open_clip) happen here, not at CLI start-up.
    from babelrag.generation.build import GeneratorComponent
    from babelrag.modelbuild import clip, e5, reranker

    plan = get_profile(profile)
    e5_source = e5.resolve_source(plan.e5, Steps("e5", progress).say)
    clip_source = clip.resolve_source(plan.clip, Steps("clip", progress).say)
    components: list[Component] = [
        e5.E5Component(profile, e5_source),
        clip.ClipComponent(profile, clip_source),
        GeneratorComponent(profile),
    ]
    if plan.reranker is not None:
        reranker_source = reranker.resolve_source(plan.reranker, Steps("reranker", progress).say)
        components.append(reranker.RerankerComponent(profile, reranker_source))
    return components


def _install(stage: Path, out_dir: Path, owned_dirs: tuple[str, ...], trash: Path) -> None:
    """Move each staged directory over its final location (old copies go to ``trash``)."""
    for rel in owned_dirs:
        if not (stage / rel).is_dir():
            raise ModelBuildError(f"the build did not produce {rel}")
    for rel in owned_dirs:
        final = out_dir / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            (trash / rel).parent.mkdir(parents=True, exist_ok=True)
            os.rename(final, trash / rel)
        os.rename(stage / rel, final)


def _build_component(
    component: Component,
    out_dir: Path,
    manifest: Manifest,
    recipe: dict,
    digest: str,
    progress: Progress,
) -> ModelEntry:
    steps = Steps(component.name, progress)
    staging_root = out_dir / STAGING_DIR
    token = uuid.uuid4().hex[:8]
    stage = staging_root / f"{component.name}-{token}"
    trash = staging_root / f"trash-{component.name}-{token}"
    stage.mkdir(parents=True)
    started = time.perf_counter()
    try:
        result = component.build(stage, steps)
        with steps.step("hashing files"):
            files = hash_tree(stage, component.owned_dirs)
        entry = ModelEntry(
            name=component.name,
            recipe_hash=digest,
            recipe=recipe,
            source=result.source,
            licence=result.licence,
            dims=result.dims,
            files=files,
            parity=result.parity,
            warnings=result.warnings,
            export_notes=result.export_notes,
            built_at=utc_now(),
            build_seconds=round(time.perf_counter() - started, 2),
        )
        # Withdraw the claim, swap the directories in, then claim the new files.
        manifest.models.pop(component.name, None)
        manifest.complete = False
        manifest.save(out_dir)
        _install(stage, out_dir, component.owned_dirs, trash)
        manifest.models[component.name] = entry
        manifest.save(out_dir)
        return entry
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)  # this stage and trash; the lock is ours


def _size_mb(entry: ModelEntry, prefix: str = "") -> float:
    return sum(meta["bytes"] for rel, meta in entry.files.items() if rel.startswith(prefix)) / 1e6


def build(
    profile: str,
    out_dir: Path,
    *,
    force: bool = False,
    progress: Callable[[str], None] = print,
) -> Manifest:
    """Build (or bring up to date) every model of ``profile`` in ``out_dir``; return the manifest.

    Raises ``UnknownProfile``, ``SourceUnavailable`` (e.g. profile ``full`` without the hub),
    ``ParityError`` (an export disagrees with PyTorch by more than 1e-4) or ``BuildLocked``.
    After a failure ``manifest.json`` has ``complete: false``, an ``error`` message, and no entry
    for the failed component.
    """
    get_profile(profile)  # validate before touching the file system
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with _exclusive(out_dir):
        shutil.rmtree(out_dir / STAGING_DIR, ignore_errors=True)  # leftovers of an interrupted build
        previous = Manifest.load(out_dir)
        manifest = Manifest(profile=profile, babelrag_version=babelrag_version())
        if previous is not None and previous.profile == profile:
            manifest.models = dict(previous.models)
        elif previous is not None:
            progress(f"[build] {out_dir} held profile {previous.profile!r}; rebuilding for {profile!r}")
        progress(f"[build] profile {profile} -> {out_dir}")

        components = _components(profile, progress)
        with progress_bars(False):
            rebuilt = _build_all(components, out_dir, manifest, force, progress)

        manifest.models = {c.name: manifest.models[c.name] for c in components}
        manifest.complete = True
        manifest.error = None
        if not rebuilt and previous is not None and _same_content(previous, manifest):
            manifest.created = previous.created  # nothing changed: leave manifest.json untouched
        else:
            manifest.save(out_dir)
    for warning in manifest.warnings:
        progress(f"[build] WARNING {warning}")
    elapsed = time.perf_counter() - started
    progress(f"[build] profile {profile} complete in {elapsed:.1f}s ({out_dir / 'manifest.json'})")
    return manifest


def _same_content(a: Manifest, b: Manifest) -> bool:
    return {**a.to_json(), "created": None} == {**b.to_json(), "created": None}


def _build_all(
    components: list[Component], out_dir: Path, manifest: Manifest, force: bool, progress: Progress
) -> bool:
    """Build what is not up to date; True when anything was rebuilt."""
    rebuilt = False
    for component in components:
        recipe = component.recipe()
        digest = recipe_hash(recipe)
        old = manifest.models.get(component.name)
        if old is not None and old.recipe_hash == digest and not force:
            problems = old.verify(out_dir)
            if not problems:
                progress(f"[{component.name}] up to date (recipe {digest[:12]})")
                continue
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            progress(f"[{component.name}] files changed on disk: {problems[0]}{more}; rebuilding")
        elif old is not None and not force:
            progress(f"[{component.name}] recipe changed ({old.recipe_hash[:12]} -> {digest[:12]}); rebuilding")
        elif force:
            progress(f"[{component.name}] rebuilding (forced)")
        progress(f"[{component.name}] building from {component.summary()}")
        try:
            entry = _build_component(component, out_dir, manifest, recipe, digest, progress)
        except BaseException as exc:
            manifest.models.pop(component.name, None)
            manifest.complete = False
            manifest.error = f"{component.name}: {type(exc).__name__}: {exc}"
            manifest.save(out_dir)
            raise
        rebuilt = True
        progress(
            f"[{component.name}] built in {entry.build_seconds:.1f}s: "
            f"artifacts {_size_mb(entry, 'artifacts/'):.1f} MB, reference {_size_mb(entry, 'reference/'):.1f} MB"
        )
    return rebuilt


# --------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="default",
        help="tiny: random-initialised test models (reranker included); default: multilingual-e5-small "
        "(+ CLIP when the hub is reachable), no reranker; full: multilingual-e5-base + CLIP + mMiniLMv2 "
        "cross-encoder, hub required (default: %(default)s)",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help=f"output directory (default: ${MODELS_DIR_ENV}/<profile>, else data/models/<profile>)",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even what is up to date")
    parser.add_argument("--quiet", action="store_true", help="print only warnings and errors")


def run(args: argparse.Namespace) -> int:
    out_dir = args.out_dir if args.out_dir is not None else default_out_dir(args.profile)

    def progress(line: str) -> None:
        if not args.quiet or "WARNING" in line:
            print(line, flush=True)

    try:
        build(args.profile, out_dir, force=args.force, progress=progress)
    except ModelBuildError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="babelrag-server models build", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
