"""Where things live under the data directory (``--data``, $BABELRAG_DATA_DIR, default ./data)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

PROFILES = ("tiny", "default", "full")


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    return Path(explicit or os.environ.get("BABELRAG_DATA_DIR") or "data").resolve()


@dataclasses.dataclass(frozen=True)
class ProfileLayout:
    """``<data>/models/<profile>/``: what ``models build`` writes and Triton serves."""

    root: Path

    @classmethod
    def of(cls, data: Path, profile: str) -> ProfileLayout:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
        return cls(Path(data) / "models" / profile)

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def repository(self) -> Path:
        return self.root / "repository"

    @property
    def runtime(self) -> Path:
        return self.root / "runtime"

    def is_built(self) -> bool:
        return self.manifest.is_file() and self.artifacts.is_dir()
