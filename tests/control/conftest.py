"""Fixtures of the control-plane tests: a real SQLite registry in a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from babelrag.control.sqlite_registry import SqliteTenantRegistry


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def registry(data_dir: Path) -> Iterator[SqliteTenantRegistry]:
    reg = SqliteTenantRegistry.in_data_dir(data_dir)
    yield reg
    reg.close()


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
