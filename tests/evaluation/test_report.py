"""Report files: sections merge per day and commit; Markdown and plots are drawn from the JSON."""

from __future__ import annotations

import builtins
import datetime as dt
import json
from pathlib import Path

import pytest

from babelrag.evaluation.report import Report, git_commit, headline, render_markdown

DAY = dt.date(2026, 1, 2)


def retrieval_section() -> dict:
    per_language = {
        "keyword": {"zh": {"recall@1": 0.9, "recall@5": 1.0, "recall@10": 1.0, "mrr@10": 0.95, "ndcg@10": 0.96}},
        "vector": {"zh": {"recall@1": 0.8, "recall@5": 0.9, "recall@10": 1.0, "mrr@10": 0.85, "ndcg@10": 0.9}},
        "hybrid@0.7": {"zh": {"recall@1": 0.95, "recall@5": 1.0, "recall@10": 1.0, "mrr@10": 0.97, "ndcg@10": 0.98}},
    }
    return {
        "methods": list(per_language),
        "languages": ["zh"],
        "per_language": per_language,
        "mean": {m: v["zh"] for m, v in per_language.items()},
        "corpora": {"zh": {"documents": 3, "chunks": 4, "max_chunks_per_document": 2, "ingest_s": 0.5}},
    }


def test_sections_merge_into_one_file_per_day_and_commit(tmp_path: Path):
    report = Report(tmp_path, "mini", commit="abc1234", date=DAY)
    report.set_section("retrieval", retrieval_section(), run={"profile": "tiny", "seconds": 3.0})
    written = report.save(plots=False)
    assert written == [tmp_path / "mini" / "2026-01-02-abc1234.json", tmp_path / "mini" / "2026-01-02-abc1234.md"]

    later = Report(tmp_path, "mini", commit="abc1234", date=DAY)
    later.set_section("langid", {"detectors": ["langdetect"], "per_language": {"langdetect": {"zh": {"accuracy": 1.0, "ms_per_question": 0.1}}}, "mean": {"langdetect": {"accuracy": 1.0, "ms_per_question": 0.1}}}, run={})
    later.save(plots=False)
    data = json.loads((tmp_path / "mini" / "2026-01-02-abc1234.json").read_text())
    assert set(data["sections"]) == {"retrieval", "langid"}
    assert data["sections"]["retrieval"]["run"]["profile"] == "tiny"
    markdown = (tmp_path / "mini" / "2026-01-02-abc1234.md").read_text()
    assert "| hybrid@0.7 | 0.950 | 1.000 | 1.000 | 0.970 | 0.980 |" in markdown
    assert "keyword-only R@1 on zh far from zero: 0.900: **met**" in markdown
    assert "## Language identification" in markdown


def test_headline_and_goal_verdicts():
    data = {"dataset": "xquad", "sections": {"retrieval": retrieval_section()}}
    table = headline(data)
    assert table.splitlines()[0] == "| method | recall@1 | recall@5 | recall@10 | mrr@10 | ndcg@10 |"
    assert "keyword R@1 zh: 0.900" in table
    markdown = render_markdown(data)
    # vector (0.8) is below keyword (0.9): the ordering goal is reported as not met, not hidden
    assert "hybrid (hybrid@0.7) >= vector >= keyword on mean recall@1: 0.950 / 0.800 / 0.900: **NOT met**" in markdown
    assert "| vector | recall@1 | 0.896 | 0.800 | -0.096 |" in markdown  # the FINDINGS baseline, for XQuAD


def test_unmeasured_generation_sections_say_why(tmp_path: Path):
    report = Report(tmp_path, "mini", commit="c", date=DAY)
    report.set_section("mirage", {"status": "the profile has no generator model"}, run={})
    report.save(plots=False)
    assert "Not measured: the profile has no generator model" in report.markdown_path.read_text()


def test_plots_are_skipped_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    messages: list[str] = []
    report = Report(tmp_path, "mini", commit="c", date=DAY)
    report.set_section("retrieval", retrieval_section(), run={})
    written = report.save(plots=True, progress=messages.append)
    assert [p.suffix for p in written] == [".json", ".md"]
    assert messages and "matplotlib is not installed" in messages[0]


def test_plots_when_matplotlib_is_installed(tmp_path: Path):
    pytest.importorskip("matplotlib")
    report = Report(tmp_path, "mini", commit="c", date=DAY)
    report.set_section("retrieval", retrieval_section(), run={})
    written = report.save(plots=True)
    pngs = [p for p in written if p.suffix == ".png"]
    assert pngs and all(p.stat().st_size > 1000 for p in pngs)
    assert f"]({pngs[0].name})" in report.markdown_path.read_text()


def test_git_commit_outside_a_checkout(tmp_path: Path):
    assert git_commit(tmp_path) == "nogit"
