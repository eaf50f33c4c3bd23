"""`make demo`'s main job, run as a person runs it (tiny profile here; `make demo` uses default)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import TEST_DATA

pytestmark = pytest.mark.slow


def test_demo_ingests_searches_and_streams_cited_answers(tiny_layout):
    env = dict(os.environ, BABELRAG_DATA_DIR=str(TEST_DATA))
    env.pop("BABELRAG_ADMIN_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "babelrag.cli", "demo", "--profile", "tiny"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "created tenant 'demo'" in out
    assert out.count(" stored") == 8, out  # six corpus documents and two drawn charts
    assert "FAILED" not in out
    for language in ("de", "zh", "es", "ja"):
        assert f"-- question {language}, answer {language}" in out, out
    assert "[1] " in out
