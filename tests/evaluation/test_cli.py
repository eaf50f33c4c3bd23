"""``babelrag-eval`` without a gateway: argument checks and the language-identification run."""

from __future__ import annotations

import json
from pathlib import Path

from babelrag.evaluation.cli import main


def test_langid_needs_no_gateway(squad_dir: Path, tmp_path: Path, capsys):  # noqa: ANN001
    assert main(["langid", "--squad", str(squad_dir), "--detectors", "langdetect", "--no-plots", "--out", str(tmp_path / "results")]) == 0
    out = capsys.readouterr().out
    assert "language identification, mean accuracy: langdetect" in out
    [report] = (tmp_path / "results" / "mini").glob("*.json")
    langid = json.loads(report.read_text())["sections"]["langid"]
    assert set(langid["per_language"]["langdetect"]) == {"de", "en", "zh"}
    assert langid["run"]["files"] and langid["run"]["languages"] == ["de", "en", "zh"]


def test_usage_errors_exit_2(squad_dir: Path, tmp_path: Path, capsys):  # noqa: ANN001
    assert main(["langid", "--squad", str(tmp_path / "missing.json"), "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["retrieval", "--squad", str(squad_dir), "--language", "en", "--gateway", "x:1", "--out", str(tmp_path)]) == 2
    assert "one --language for several files" in capsys.readouterr().err
    assert main(["retrieval", "--squad", str(squad_dir), "--methods", "hybrid@2", "--gateway", "x:1", "--out", str(tmp_path)]) == 2
    assert "alpha" in capsys.readouterr().err
    assert main(["langid", "--squad", str(squad_dir), "--limit-questions", "0", "--out", str(tmp_path)]) == 2
    assert main(["ablation", "--squad", str(squad_dir), "--gateway", "x:1", "--out", str(tmp_path)]) == 2
    assert "needs the in-process gateway" in capsys.readouterr().err
    assert main(["ablation", "--squad", str(squad_dir), "--variants", "default,top_k=99", "--no-build", "--out", str(tmp_path)]) == 2
    assert "unknown ablation variant" in capsys.readouterr().err


def test_report_redraws_a_saved_report(squad_dir: Path, tmp_path: Path, capsys):  # noqa: ANN001
    assert main(["langid", "--squad", str(squad_dir), "--detectors", "langdetect", "--no-plots", "--out", str(tmp_path / "results")]) == 0
    [saved] = (tmp_path / "results" / "mini").glob("*.json")
    markdown = saved.with_suffix(".md")
    markdown.unlink()
    capsys.readouterr()
    assert main(["report", str(saved), "--no-plots"]) == 0
    assert "langdetect" in markdown.read_text() and str(markdown) in capsys.readouterr().out
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"schema": "something else"}')
    assert main(["report", str(bogus)]) == 2
    assert "not a babelrag-eval report" in capsys.readouterr().err
