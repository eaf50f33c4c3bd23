"""``manifest.json``: what a model directory holds, where it came from, and how it was checked.

Layout of a built directory (``data/models/<profile>/`` by default)::

    manifest.json
    artifacts/<artifact>/...      what Triton serves (tokenizers, ONNX encoders, preprocess config)
    reference/<model>/...         what the in-process PyTorch reference needs (tests, parity)

The manifest is the only claim of success. A model entry is written after its files have been
moved into place and its parity checks passed; an entry whose files no longer hash to the
recorded sha256 is treated as absent. ``complete`` is true only when every model of the profile
has an entry from this code's recipe.

JSON shape (``format_version`` 1)::

    {
      "format_version": 1,
      "profile": "tiny",
      "created": "2025-01-01T12:00:00+00:00",        # when this manifest was written
      "babelrag_version": "0.1.0",
      "complete": true,
      "error": null,                                   # message of the failure that stopped a build
      "warnings": ["..."],                             # every model's warnings, prefixed "[e5] "
      "models": {
        "e5": {
          "recipe_hash": "sha256 hex", "recipe": {...},
          "source": {"kind": "...", "id": "...", ...},
          "licence": "MIT",
          "dims": {"embedding_dim": 384, "max_length": 512},
          "files": {"artifacts/e5_encoder/model.onnx": {"sha256": "...", "bytes": 123}, ...},
          "parity": {"onnx_max_abs_diff": 1.2e-07, ...},
          "warnings": [], "export_notes": [],
          "built_at": "...", "build_seconds": 12.3
        },
        "clip": {...}
      }
    }
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
_HASH_CHUNK = 4 * 1024 * 1024


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def recipe_hash(recipe: dict[str, Any]) -> str:
    canonical = json.dumps(recipe, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def hash_tree(root: Path, relative_dirs: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{"artifacts/x/file": {"sha256": ..., "bytes": ...}}`` for every file under the dirs."""
    files: dict[str, dict[str, Any]] = {}
    for rel_dir in relative_dirs:
        base = root / rel_dir
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            files[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return files


@dataclasses.dataclass
class ModelEntry:
    """One model component (``e5`` or ``clip``) as built."""

    name: str
    recipe_hash: str
    recipe: dict[str, Any]
    source: dict[str, Any]
    licence: str
    dims: dict[str, int]
    files: dict[str, dict[str, Any]]
    parity: dict[str, float]
    warnings: list[str] = dataclasses.field(default_factory=list)
    export_notes: list[str] = dataclasses.field(default_factory=list)
    built_at: str = ""
    build_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("name")
        return data

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> ModelEntry:
        fields = {f.name for f in dataclasses.fields(cls)} - {"name"}
        return cls(name=name, **{k: v for k, v in data.items() if k in fields})

    def verify(self, root: Path) -> list[str]:
        """Problems with the files on disk (missing, wrong size, wrong sha256); empty when intact."""
        problems: list[str] = []
        for rel, meta in self.files.items():
            path = root / rel
            if not path.is_file():
                problems.append(f"{rel}: missing")
                continue
            if path.stat().st_size != meta.get("bytes"):
                problems.append(f"{rel}: size {path.stat().st_size} != {meta.get('bytes')}")
                continue
            if sha256_file(path) != meta.get("sha256"):
                problems.append(f"{rel}: sha256 mismatch")
        if not self.files:
            problems.append("no files recorded")
        return problems


@dataclasses.dataclass
class Manifest:
    profile: str
    babelrag_version: str
    models: dict[str, ModelEntry] = dataclasses.field(default_factory=dict)
    complete: bool = False
    error: str | None = None
    created: str = ""
    format_version: int = FORMAT_VERSION

    @property
    def warnings(self) -> list[str]:
        return [f"[{name}] {w}" for name, entry in self.models.items() for w in entry.warnings]

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "profile": self.profile,
            "created": self.created,
            "babelrag_version": self.babelrag_version,
            "complete": self.complete,
            "error": self.error,
            "warnings": self.warnings,
            "models": {name: entry.to_json() for name, entry in self.models.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        return cls(
            profile=data["profile"],
            babelrag_version=data.get("babelrag_version", ""),
            models={name: ModelEntry.from_json(name, e) for name, e in (data.get("models") or {}).items()},
            complete=bool(data.get("complete", False)),
            error=data.get("error"),
            created=data.get("created", ""),
            format_version=int(data.get("format_version", FORMAT_VERSION)),
        )

    @classmethod
    def load(cls, out_dir: Path) -> Manifest | None:
        """The manifest in ``out_dir``, or None when there is none or it cannot be read."""
        path = Path(out_dir) / MANIFEST_FILE
        try:
            with path.open(encoding="utf-8") as fh:
                data = json.load(fh)
            if int(data.get("format_version", -1)) != FORMAT_VERSION:
                return None
            return cls.from_json(data)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, out_dir: Path) -> None:
        self.created = utc_now()
        write_json_atomic(Path(out_dir) / MANIFEST_FILE, self.to_json())


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file in the same directory and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp creates 0600; the file is read by the serving side
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=False, ensure_ascii=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
