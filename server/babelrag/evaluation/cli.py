"""``babelrag-eval``: measure BabelRAG on SQuAD-format datasets through the real gateway.

    babelrag-eval retrieval --squad FILE|DIR... [--language xx]... [--profile default]
                            [--limit-questions N] [--cross-lingual] [--pooled] --out DIR
    babelrag-eval langid    --squad FILE|DIR... [--detectors langdetect,lingua] --out DIR
    babelrag-eval answers   --squad FILE|DIR... [--generation-questions N] --out DIR
    babelrag-eval mirage    --squad FILE|DIR... [--generation-questions N] [--noise 4] --out DIR
    babelrag-eval generation --squad FILE|DIR... --out DIR     (answers + mirage, one ingestion)
    babelrag-eval ablation  --squad FILE|DIR... [--variants default,top_k=3,...] --out DIR
                            (Ask under varied gateway settings, with MIRAGE per variant)
    babelrag-eval all       --squad FILE|DIR... --out DIR      (all of the above; `make eval`)
    babelrag-eval report    FILE.json                         (draw a saved report's Markdown and plots again)

Unless ``--gateway HOST:PORT`` names a running gateway (admin key in $BABELRAG_ADMIN_KEY), the
command builds the profile's models if needed, starts Triton and the gateway in this process on a
temporary data directory, and stops them at the end. Each language's paragraphs are ingested once
into their own tenant; searches run ``--concurrency`` at a time.

Results go to ``<out>/<dataset>/<date>-<commit>.json`` with a Markdown table and PNG plots beside
it (see :mod:`babelrag.evaluation.report`); the headline table is printed on stdout, progress on
stderr. Exit status: 0 done, 1 the evaluation failed, 2 bad arguments or data.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from babelrag_client import BabelRAGError

from babelrag.evaluation.ablation import ABLATION_SETTINGS, DEFAULT_VARIANTS, parse_variants, summarize_ablation
from babelrag.evaluation.report import Report, headline
from babelrag.evaluation.retrieval import (
    Corpus,
    GatewaySession,
    Method,
    Query,
    evaluate_crosslingual,
    evaluate_monolingual,
    evaluate_pooled,
    ingest_languages,
    parse_methods,
)
from babelrag.evaluation.squad import DatasetError, SquadDataset, check_parallel, expand_paths, load_squad, spread
from babelrag.evaluation.stack import Endpoint, EvalStack, EvaluationError
from babelrag.paths import PROFILES, ProfileLayout, data_dir
from babelrag.triton.errors import TritonError, TritonStartError

__all__ = ["build_parser", "main"]

COMMANDS = ("retrieval", "langid", "answers", "mirage", "generation", "ablation", "all")
# alpha 0.3 is left out of the default sweep: on XQuAD it was below both 0.5 and vector-only in
# every language but th, vi and zh (2026-11-24 run); pass --methods to include it.
DEFAULT_METHODS = "keyword,vector,hybrid@0.5,hybrid@0.7,hybrid@0.9"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="babelrag-eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        sub = commands.add_parser(name, help=_HELP[name], description=_HELP[name])
        _add_data(sub)
        if name != "langid":
            _add_stack(sub)
        if name in ("retrieval", "all"):
            _add_retrieval(sub, full=name == "all")
        if name in ("langid", "all"):
            sub.add_argument("--detectors", default="fasttext,langdetect,lingua", help="babelrag.text.langid backends to measure (default %(default)s)")
        if name in ("answers", "mirage", "generation", "ablation", "all"):
            _add_generation(sub)
        if name == "ablation":
            sub.add_argument("--variants", default=DEFAULT_VARIANTS, help="comma-separated pipeline variants (default: all of them: %(default)s)")
    report = commands.add_parser("report", help=_HELP["report"], description=_HELP["report"])
    report.add_argument("json", type=Path, metavar="FILE.json", help="a report written by babelrag-eval")
    report.add_argument("--no-plots", action="store_true", help="write the Markdown only")
    return parser


_HELP = {
    "retrieval": "Recall@k, MRR@10, nDCG@10 of keyword, vector and hybrid search per language",
    "langid": "language identification accuracy of the questions (no gateway needed)",
    "answers": "answer-language accuracy of the gateway's Ask",
    "mirage": "MIRAGE noise vulnerability / context acceptability / insensitivity / misinterpretation",
    "generation": "answers and mirage, sharing one ingestion",
    "ablation": "Ask under varied gateway settings (top_k, reranker, dedupe, budget, floor, opener), with MIRAGE per variant",
    "report": "draw the Markdown and PNG plots of a saved report again",
    "all": "every evaluation, sharing one stack and one ingestion",
}


def _add_data(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--squad", nargs="+", required=True, metavar="FILE|DIR", help="SQuAD-format files (a directory: its *.json)")
    sub.add_argument("--language", action="append", default=[], metavar="xx", help="language of each file, in order (default: from the file name, e.g. xquad.de.json)")
    sub.add_argument("--name", help="dataset name for the results folder (default: from the file name)")
    sub.add_argument("--limit-questions", type=int, metavar="N", help="at most N questions per language (spread evenly)")
    sub.add_argument("--limit-paragraphs", type=int, metavar="N", help="only the first N paragraphs of each file (and their questions)")
    sub.add_argument("--out", default="results", metavar="DIR", help="results directory (default %(default)s)")
    sub.add_argument("--no-plots", action="store_true", help="write JSON and Markdown only")
    sub.add_argument("-v", "--verbose", action="store_true", help="show the gateway's and Triton's logs")


def _add_stack(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--profile", choices=PROFILES, default="default", help="model profile to build and serve (default %(default)s)")
    sub.add_argument("--data", help="data directory holding models/<profile> (default: $BABELRAG_DATA_DIR or ./data)")
    sub.add_argument("--no-build", action="store_true", help="use the existing build; do not run the incremental model build")
    sub.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="gateway setting for the in-process gateway, e.g. language_detector=lingua")
    sub.add_argument("--gateway", metavar="HOST:PORT", help="evaluate this running gateway instead (admin key from $BABELRAG_ADMIN_KEY)")
    sub.add_argument(
        "--triton-url",
        default="",
        metavar="HOST:PORT",
        help="use this Triton (serving the profile's models) instead of starting one; with --gateway: the Triton "
        "serving the generator, which MIRAGE calls directly",
    )
    sub.add_argument("--insecure", action="store_true", help="plain-text gRPC to --gateway (loopback addresses are plain text anyway)")
    sub.add_argument("--concurrency", type=int, default=8, help="searches in flight (default %(default)s)")
    sub.add_argument("--no-compact", action="store_true", help="search the store as ingested, without running its maintenance first (slower)")
    sub.add_argument("--keep-tenants", action="store_true", help="keep the evaluation tenants on --gateway")


def _add_retrieval(sub: argparse.ArgumentParser, *, full: bool) -> None:
    sub.add_argument("--methods", default=DEFAULT_METHODS, help="comma-separated: keyword, vector, hybrid@ALPHA (default %(default)s)")
    sub.add_argument("--cross-lingual", action=argparse.BooleanOptionalAction, default=full, help="also X->pivot and pivot->X (parallel files; default on for all)")
    sub.add_argument("--pooled", action=argparse.BooleanOptionalAction, default=full, help="also the pooled XQuAD-R setting (parallel files; default on for all)")
    sub.add_argument("--pivot", default="en", help="pivot language of the cross-lingual setting (default %(default)s)")
    sub.add_argument("--cross-methods", default="vector,hybrid", help="methods of the cross-lingual and pooled settings; hybrid = the gateway's default alpha (default %(default)s)")
    sub.add_argument(
        "--cross-limit-questions",
        type=int,
        default=300,
        metavar="N",
        help="questions per language in the cross-lingual and pooled settings, spread evenly (default %(default)s; "
        "they run 2 x (languages - 1) and languages query sets; 0 = all)",
    )


def _add_generation(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--generation-questions", type=int, default=10, metavar="N", help="questions per language for Ask and MIRAGE, spread evenly (default %(default)s)")
    sub.add_argument("--max-tokens", type=int, default=48, help="answer length limit in tokens (default %(default)s)")
    sub.add_argument("--noise", type=int, default=4, help="noise passages beside the gold one in MIRAGE's mixed condition (default %(default)s)")
    sub.add_argument("--generation-concurrency", type=int, default=2, help="generations in flight (default %(default)s)")


# ---------------------------------------------------------------------------------------------


def _log(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


def load_datasets(args: argparse.Namespace) -> list[SquadDataset]:
    paths = expand_paths(args.squad)
    languages = list(args.language)
    if languages and len(languages) not in (1, len(paths)):
        raise DatasetError(f"{len(languages)} --language values for {len(paths)} files: give one per file, in order")
    if len(languages) == 1 and len(paths) > 1:
        raise DatasetError("one --language for several files: give one per file, in order, or name files like xquad.de.json")
    datasets = []
    for index, path in enumerate(paths):
        dataset = load_squad(path, language=languages[index] if languages else None, name=args.name)
        dataset = dataset.limited(paragraphs=args.limit_paragraphs, questions=args.limit_questions)
        if not dataset.questions:
            raise DatasetError(f"{path}: no answerable questions left")
        datasets.append(dataset)
    seen: dict[str, Path] = {}
    for dataset in datasets:
        if dataset.language in seen:
            raise DatasetError(f"{dataset.path} and {seen[dataset.language]} are both '{dataset.language}': one file per language")
        seen[dataset.language] = dataset.path
    names = {d.name for d in datasets}
    if len(names) > 1:
        raise DatasetError(f"files of different datasets ({', '.join(sorted(names))}): pass --name to report them together")
    return datasets


def _settings_overrides(pairs: Sequence[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise DatasetError(f"--set expects NAME=VALUE, got {pair!r}")
        overrides[name.strip()] = value.strip()
    return overrides


def _limits(args: argparse.Namespace) -> dict[str, Any]:
    limits = {"questions_per_language": args.limit_questions, "paragraphs": args.limit_paragraphs}
    if hasattr(args, "cross_limit_questions"):
        limits["cross_questions_per_language"] = args.cross_limit_questions or None
    return limits


class Run:
    """One invocation: the datasets, the report, and (for gateway commands) the session."""

    def __init__(self, args: argparse.Namespace, datasets: list[SquadDataset], report: Report) -> None:
        self.args = args
        self.datasets = datasets
        self.report = report
        self.endpoint: Endpoint | None = None
        self.stack: EvalStack | None = None
        self.session: GatewaySession | None = None
        self.corpora: dict[str, Corpus] = {}

    def run_info(self, seconds: float, **extra: Any) -> dict[str, Any]:
        args = self.args
        info: dict[str, Any] = {
            "command": args.command,
            "files": [str(d.path) for d in self.datasets],
            "languages": [d.language for d in self.datasets],
            "limits": _limits(args),
            "seconds": round(seconds, 1),
        }
        if hasattr(args, "profile"):
            info.update(
                profile=args.profile,
                gateway=args.gateway or "in-process",
                concurrency=args.concurrency,
                compacted=not args.no_compact and not args.gateway,
                settings_overrides=_settings_overrides(args.set),
            )
        info.update(extra)
        return info

    # -- sections ------------------------------------------------------------------------------
    def langid(self) -> None:
        from babelrag.evaluation.langid_eval import evaluate_langid

        started = time.perf_counter()
        detectors = [d.strip() for d in self.args.detectors.split(",") if d.strip()]
        result = evaluate_langid(self.datasets, detectors, progress=_log)
        self.report.set_section("langid", result, run=self.run_info(time.perf_counter() - started))

    async def ensure_corpora(self) -> dict[str, Corpus]:
        if not self.corpora:
            self.corpora = await ingest_languages(self.session, self.datasets)
        return self.corpora

    async def retrieval(self) -> None:
        args, settings = self.args, self.endpoint.settings
        methods = parse_methods(args.methods, settings.alpha)
        cross_methods = parse_methods(args.cross_methods, settings.alpha)
        if args.cross_lingual or args.pooled:
            check_parallel(self.datasets)
        started = time.perf_counter()
        corpora = await self.ensure_corpora()
        result = await evaluate_monolingual(self.session, self.datasets, corpora, methods)
        self.report.set_section("retrieval", result, run=self.run_info(time.perf_counter() - started, default_alpha=settings.alpha))
        self.report.save(plots=False)
        cross_datasets = [d.limited(questions=args.cross_limit_questions or None) for d in self.datasets]
        if args.cross_lingual and len(self.datasets) > 1:
            started = time.perf_counter()
            result = await evaluate_crosslingual(self.session, cross_datasets, corpora, cross_methods, pivot=args.pivot)
            self.report.set_section("crosslingual", result, run=self.run_info(time.perf_counter() - started))
            self.report.save(plots=False)
        if args.pooled and len(self.datasets) > 1:
            started = time.perf_counter()
            result = await evaluate_pooled(self.session, cross_datasets, cross_methods)
            self.report.set_section("pooled", result, run=self.run_info(time.perf_counter() - started))
            self.report.save(plots=False)

    def generation_questions(self, dataset: SquadDataset):  # noqa: ANN201
        return spread([q for q in dataset.questions if q.answers], self.args.generation_questions)

    async def answers(self) -> dict[str, dict[str, str]]:
        """Ask every sampled question; returns {language: {question id: answer}} for MIRAGE."""
        from babelrag.evaluation.answers import GeneratorUnavailable
        from babelrag.evaluation.metrics import macro_average

        started = time.perf_counter()
        try:
            per_language, records = await self._ask_all("answers")
        except GeneratorUnavailable as error:
            _log(f"[answers] skipped: {error}")
            self.report.set_section("answers", {"status": f"no generator: {error}"}, run=self.run_info(time.perf_counter() - started))
            return {}
        content = {"status": "ok", "per_language": per_language, "mean": macro_average(per_language), "records": [r.to_dict() for r in records]}
        self.report.set_section("answers", content, run=self.run_info(time.perf_counter() - started, max_tokens=self.args.max_tokens))
        self.report.save(plots=False)
        answers: dict[str, dict[str, str]] = {}
        for r in records:
            if not r.error:
                answers.setdefault(r.language, {})[r.question_id] = r.answer
        return answers

    async def _ask_all(self, tag: str):  # noqa: ANN202
        """Ask each language's sampled questions through Ask: ({language: summary}, [records])."""
        from babelrag.evaluation.answers import ask_questions, summarize_answers

        corpora = await self.ensure_corpora()
        per_language, all_records = {}, []
        for dataset in self.datasets:
            records = await ask_questions(
                corpora[dataset.language].client,
                dataset,
                self.generation_questions(dataset),
                max_tokens=self.args.max_tokens,
                concurrency=self.args.generation_concurrency,
            )
            per_language[dataset.language] = summary = summarize_answers(records)
            all_records += records
            _log(
                f"[{tag}] {dataset.language}: answer language right {summary['answer_language_accuracy']:.2f}"
                f" of {len(records)}, contains {summary['contains']:.2f} ({summary['seconds_per_answer']:.1f} s each)"
            )
        return per_language, all_records

    async def mirage(self, rag_answers: dict[str, dict[str, str]] | None = None) -> None:
        from babelrag.evaluation.mirage import MirageItem, PromptKit, choose_noise, run_mirage, summarize_mirage

        started = time.perf_counter()
        endpoint = self.endpoint
        if not endpoint.triton_url or not endpoint.has_generator:
            why = "the profile has no generator model" if endpoint.triton_url else "no Triton URL (--triton-url) to reach the generator"
            _log(f"[mirage] skipped: {why}")
            self.report.set_section("mirage", {"status": why}, run=self.run_info(time.perf_counter() - started))
            return
        from babelrag.generation.client import TritonGenerator

        corpora = await self.ensure_corpora()
        kit = PromptKit.from_profile(endpoint.profile_root, budget_tokens=endpoint.settings.context_budget_tokens)
        hybrid = Method("hybrid", endpoint.settings.alpha)
        per_language, all_results = {}, []
        async with TritonGenerator(endpoint.triton_url, timeout_s=600.0) as generator:
            for dataset in self.datasets:
                questions = self.generation_questions(dataset)
                queries = [Query(q.id, q.text, dataset.language, frozenset()) for q in questions]
                rankings = await self.session.rank(corpora[dataset.language], queries, hybrid, depth=self.args.noise + 4)
                items = [
                    MirageItem(
                        question=q,
                        language=dataset.language,
                        gold=dataset.paragraph(q.paragraph_key),
                        noise=choose_noise(dataset, q, [d.split(":", 1)[1] for d in ranking.documents], self.args.noise),
                    )
                    for q, ranking in zip(questions, rankings)
                ]
                results = await run_mirage(
                    items,
                    generator,
                    kit,
                    max_tokens=self.args.max_tokens,
                    concurrency=self.args.generation_concurrency,
                    rag_answers=(rag_answers or {}).get(dataset.language),
                    progress=_log,
                )
                per_language[dataset.language] = summarize_mirage(results)
                all_results += results
                _log(f"[mirage] {dataset.language}: score {per_language[dataset.language]['contains']['score']:.2f}")
        content = {
            "status": "ok",
            "per_language": per_language,
            "overall": summarize_mirage(all_results),
            "records": [r.to_dict() for r in all_results],
        }
        self.report.set_section(
            "mirage", content, run=self.run_info(time.perf_counter() - started, max_tokens=self.args.max_tokens, noise=self.args.noise)
        )
        self.report.save(plots=False)

    async def ablation(self) -> None:
        """Ask the sampled questions once per variant (the gateway restarted with its settings);
        base and oracle answers for MIRAGE once (see :mod:`babelrag.evaluation.ablation`)."""
        from babelrag.evaluation.answers import GeneratorUnavailable
        from babelrag.evaluation.metrics import ANSWER_MATCHERS, macro_average
        from babelrag.evaluation.mirage import MirageItem, PromptKit, run_mirage

        started = time.perf_counter()
        variants = parse_variants(self.args.variants)
        endpoint, stack = self.endpoint, self.stack
        if stack is None:  # main() refuses --gateway before starting anything
            raise DatasetError("ablation needs the in-process gateway")
        if not endpoint.triton_url or not endpoint.has_generator:
            self.report.set_section("ablation", {"status": "the profile has no generator model"}, run=self.run_info(0.0))
            return
        has_reranker = "reranker" in endpoint.manifest.get("models", {})
        skipped = {v.name: "the profile has no cross-encoder" for v in variants if v.needs_reranker and not has_reranker}
        variants = [v for v in variants if v.name not in skipped]
        await self.ensure_corpora()

        # Base (closed book) and oracle (gold passage only): the generator alone, settings-independent.
        from babelrag.generation.client import TritonGenerator

        kit = PromptKit.from_profile(endpoint.profile_root, budget_tokens=endpoint.settings.context_budget_tokens)
        items = [
            MirageItem(question=q, language=d.language, gold=d.paragraph(q.paragraph_key), noise=())
            for d in self.datasets
            for q in self.generation_questions(d)
        ]
        async with TritonGenerator(endpoint.triton_url, timeout_s=600.0) as generator:
            fixed = await run_mirage(
                items, generator, kit, max_tokens=self.args.max_tokens, concurrency=self.args.generation_concurrency,
                conditions=("base", "oracle"), progress=_log,
            )
        labels = {
            matcher: {(r.item.language, r.item.question.id): (r.correct("base", matcher), r.correct("oracle", matcher)) for r in fixed if not r.errors}
            for matcher in ANSWER_MATCHERS
        }

        records_by_variant, summaries, effective = {}, {}, {}
        try:
            for variant in variants:
                _log(f"[ablation] {variant.name}: restarting the gateway with {dict(variant.settings) or 'its defaults'}")
                self.endpoint = await stack.reconfigure(dict(variant.settings))
                effective[variant.name] = {name: getattr(self.endpoint.settings, name) for name in ABLATION_SETTINGS}
                per_language, records = await self._ask_all(f"ablation {variant.name}")
                summaries[variant.name] = macro_average(per_language)
                records_by_variant[variant.name] = [r.to_dict() for r in records]
        except GeneratorUnavailable as error:
            self.report.set_section("ablation", {"status": f"no generator: {error}"}, run=self.run_info(time.perf_counter() - started))
            return
        finally:
            self.endpoint = await stack.reconfigure({})  # later sections see the defaults again
        content = {
            "status": "ok",
            "variants": summarize_ablation(records_by_variant, labels, summaries),
            "descriptions": {v.name: v.description for v in variants},
            "settings": {v.name: dict(v.settings) for v in variants},
            "effective_settings": effective,  # as the restarted gateway read them
            "skipped": skipped,
            "fixed_conditions": [r.to_dict() for r in fixed],
            "records": records_by_variant,
        }
        self.report.set_section("ablation", content, run=self.run_info(time.perf_counter() - started, max_tokens=self.args.max_tokens))
        self.report.save(plots=False)

    # -- the gateway ---------------------------------------------------------------------------
    async def with_gateway(self, body: Callable[[], Any]) -> None:
        args = self.args
        if args.gateway:
            admin_key = os.environ.get("BABELRAG_ADMIN_KEY", "")
            if not admin_key:
                raise DatasetError("--gateway needs the admin key in $BABELRAG_ADMIN_KEY (tenants are created for the evaluation)")
            layout = ProfileLayout.of(data_dir(args.data), args.profile)
            self.endpoint = Endpoint(
                address=args.gateway,
                admin_key=admin_key,
                triton_url=args.triton_url,
                profile_root=layout.root if layout.is_built() else None,
            )
            await self._session(body, after_ingest=None)
            return
        stack = EvalStack(
            args.profile,
            data_dir(args.data),
            overrides=_settings_overrides(args.set),
            build=not args.no_build,
            triton_url=args.triton_url,
        )
        _log(f"starting Triton and the gateway ({args.profile} profile) ...")
        async with stack as endpoint:
            self.endpoint, self.stack = endpoint, stack
            _log(f"gateway on {endpoint.address}, Triton on {endpoint.triton_url}")
            await self._session(body, after_ingest=None if args.no_compact else stack.compact)

    async def _session(self, body: Callable[[], Any], after_ingest) -> None:  # noqa: ANN001
        args = self.args
        async with GatewaySession(
            self.endpoint,
            concurrency=args.concurrency,
            keep_tenants=args.keep_tenants,
            insecure=True if args.insecure else None,
            progress=_log,
            after_ingest=after_ingest,
        ) as session:
            self.session = session
            await body()


def _cancel_on_sigterm() -> None:
    """SIGTERM (``kill``, a CI timeout) cancels the run like Ctrl-C, so that the stack's Triton
    and gateway are stopped instead of left running without their parent."""
    task = asyncio.current_task()
    if task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals on this platform / thread
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


async def _run(args: argparse.Namespace) -> Report:
    _cancel_on_sigterm()
    datasets = load_datasets(args)
    for option in ("methods", "cross_methods"):
        if hasattr(args, option):
            parse_methods(getattr(args, option))  # refuse a bad list before starting anything
    if hasattr(args, "variants"):
        parse_variants(args.variants)
    if getattr(args, "set", None):
        _settings_overrides(args.set)
    report = Report(Path(args.out), datasets[0].name)
    run = Run(args, datasets, report)
    _log(
        f"{args.command}: {len(datasets)} file(s) of {datasets[0].name} ({', '.join(d.language for d in datasets)}), "
        f"{sum(len(d.paragraphs) for d in datasets)} paragraphs, {sum(len(d.questions) for d in datasets)} questions"
    )
    if args.command in ("langid", "all"):
        run.langid()
        report.save(plots=False)
    if args.command == "langid":
        return report

    async def body() -> None:
        if args.command in ("retrieval", "all"):
            await run.retrieval()
        answers = None
        if args.command in ("answers", "generation", "all"):
            answers = await run.answers()
        if args.command in ("mirage", "generation", "all"):
            await run.mirage(answers)
        if args.command == "ablation":
            await run.ablation()

    await run.with_gateway(body)
    return report


def redraw(args: argparse.Namespace) -> int:
    try:
        report = Report.open(args.json)
    except ValueError as error:
        print(f"babelrag-eval: {error}", file=sys.stderr)
        return 2
    for path in report.save(plots=not args.no_plots, progress=_log):
        print(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "report":
        return redraw(args)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "ablation" and args.gateway:
        print("babelrag-eval: ablation restarts the gateway with each variant's settings, so it needs the in-process gateway (drop --gateway)", file=sys.stderr)
        return 2
    if getattr(args, "cross_limit_questions", 0) < 0:
        print("babelrag-eval: --cross-limit-questions must be >= 0", file=sys.stderr)
        return 2
    for number in ("limit_questions", "limit_paragraphs", "concurrency", "generation_questions", "max_tokens", "noise", "generation_concurrency"):
        value = getattr(args, number, None)
        if value is not None and value < (0 if number == "noise" else 1):
            print(f"babelrag-eval: --{number.replace('_', '-')} must be {'>= 0' if number == 'noise' else 'positive'}", file=sys.stderr)
            return 2
    started = time.perf_counter()
    try:
        report = asyncio.run(_run(args))
    except (DatasetError, ValueError) as error:
        print(f"babelrag-eval: {error}", file=sys.stderr)
        return 2
    except (EvaluationError, BabelRAGError, TritonError) as error:
        print(f"babelrag-eval: evaluation failed: {error}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("babelrag-eval: interrupted", file=sys.stderr)
        return 130
    written = report.save(plots=not args.no_plots, progress=_log)
    table = headline(report.data)
    if table and args.command in ("retrieval", "all"):
        print(table)
        print()
    langid = report.data["sections"].get("langid")
    if langid and args.command in ("langid", "all"):
        print("language identification, mean accuracy: " + ", ".join(f"{d} {v['accuracy']:.3f}" for d, v in langid["mean"].items()))
    for path in written:
        print(path)
    _log(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
