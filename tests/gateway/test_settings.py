"""Gateway settings: file, environment and overrides, with their checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from babelrag.gateway.settings import Settings


def test_file_then_environment_then_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "babelrag.toml"
    config.write_text('[gateway]\ntop_k = 5\nalpha = 0.4\ncontext_min_relevance = 0.25\n')
    monkeypatch.setenv("BABELRAG_ALPHA", "0.6")
    settings = Settings.load(config, max_tokens=64)
    assert (settings.top_k, settings.alpha, settings.context_min_relevance, settings.max_tokens) == (5, 0.6, 0.25, 64)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("alpha", "1.5", "alpha must lie in"),
        ("context_min_relevance", "-0.1", "context_min_relevance must lie in"),
        ("top_k", "0", "top_k must be at least 1"),
        ("top_k", "many", "not a valid int"),
        ("no_such_thing", "1", "unknown setting"),
    ],
)
def test_bad_values_are_refused_with_the_setting_named(name: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.load(None, **{name: value})
