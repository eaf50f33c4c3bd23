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
        ("answer_opener", "maybe", "not a valid bool"),
        ("base_model_context_tokens", "-1", "base_model_context_tokens must not be negative"),
    ],
)
def test_bad_values_are_refused_with_the_setting_named(name: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.load(None, **{name: value})


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("OFF", False), ("0", False), ("yes", True), ("1", True), (True, True)])
def test_switches_read_the_usual_spellings(value: object, expected: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.load(None, context_dedupe=value).context_dedupe is expected
    monkeypatch.setenv("BABELRAG_ANSWER_OPENER", str(value))
    assert Settings.load(None).answer_opener is expected
    config = tmp_path / "babelrag.toml"
    config.write_text("answer_opener = false\ncontext_dedupe = false\n")
    monkeypatch.delenv("BABELRAG_ANSWER_OPENER")
    assert (Settings.load(config).answer_opener, Settings.load(config).context_dedupe) == (False, False)


def test_the_context_budget_depends_on_the_kind_of_generator() -> None:
    default = Settings()
    assert default.context_budget_for(instruction_tuned=True) == 1024  # half of the 2048-token window
    assert default.context_budget_for(instruction_tuned=False) == 256
    assert Settings(base_model_context_tokens=0).context_budget_for(instruction_tuned=False) == 1024
    small_window = Settings(generator_context_tokens=300)  # never more than half the window
    assert small_window.context_budget_for(instruction_tuned=False) == small_window.context_budget_for(instruction_tuned=True) == 150
