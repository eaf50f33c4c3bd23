"""Language identification accuracy on the questions, through :mod:`babelrag.text.langid`.

Every question of every file is run through each detector the gateway can be configured with
(``fasttext``, the default, ``langdetect`` and ``lingua``; setting ``language_detector``), with the module's
whole pipeline (script rules, masking of other scripts, short-text handling), so what is measured
is what the gateway does with a question. The file's language is the label.

Per detector and language: accuracy, the most frequent wrong answers, milliseconds per question
(``detect_many`` over the language's questions; wall clock, so a busy machine reads slower), and
which pipeline step decided (script rule or model). Per detector: the load time (lingua builds its
models on first use, 15-25 s) and the mean over languages.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from babelrag.evaluation.squad import SquadDataset
from babelrag.text.langid import DETECTOR_NAMES, get_detector

__all__ = ["evaluate_langid"]


def evaluate_langid(
    datasets: Sequence[SquadDataset],
    detectors: Sequence[str] = DETECTOR_NAMES,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    report = progress or (lambda line: None)
    per_detector: dict[str, dict[str, dict[str, Any]]] = {}
    load_s: dict[str, float] = {}
    for name in detectors:
        started = time.perf_counter()
        detector = get_detector(name)
        warm_up = getattr(detector, "warm_up", None)
        if warm_up is not None:
            warm_up()
        load_s[name] = time.perf_counter() - started
        per_language: dict[str, dict[str, Any]] = {}
        for dataset in datasets:
            texts = [q.text for q in dataset.questions]
            if not texts:
                continue
            started = time.perf_counter()
            results = detector.detect_many(texts)
            elapsed = time.perf_counter() - started
            wrong = Counter(r.code for r in results if r.code != dataset.language)
            per_language[dataset.language] = {
                "accuracy": sum(1 for r in results if r.code == dataset.language) / len(results),
                "questions": len(results),
                "ms_per_question": 1000.0 * elapsed / len(results),
                "confusions": [[code, count / len(results)] for code, count in wrong.most_common(3)],
                "decided_by": dict(Counter(r.method for r in results)),
            }
        per_detector[name] = per_language
        accuracies = [v["accuracy"] for v in per_language.values()]
        worst = min(per_language, key=lambda lang: per_language[lang]["accuracy"]) if per_language else ""
        report(
            f"[langid] {name}: mean accuracy {sum(accuracies) / max(1, len(accuracies)):.3f}"
            + (f", worst {worst} {per_language[worst]['accuracy']:.3f}" if worst else "")
        )
    return {
        "detectors": list(detectors),
        "per_language": per_detector,
        "mean": {
            name: {
                "accuracy": (sum(v["accuracy"] for v in langs.values()) / len(langs)) if langs else 0.0,
                "ms_per_question": (sum(v["ms_per_question"] for v in langs.values()) / len(langs)) if langs else 0.0,
            }
            for name, langs in per_detector.items()
        },
        "load_s": load_s,
    }
