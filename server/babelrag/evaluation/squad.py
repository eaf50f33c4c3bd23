"""Loading SQuAD-format question-answering files as retrieval test collections.

A SQuAD file (v1.1 or v2.0 layout: ``{"data": [{"title", "paragraphs": [{"context", "qas":
[{"id", "question", "answers": [{"text", "answer_start"}], "is_impossible"?}]}]}]}``) becomes a
:class:`SquadDataset`: every paragraph a document, every question a query whose only relevant
document is its own paragraph.

Paragraphs are keyed by their **position** (article index, paragraph index): ``a0003p02``. Files
that are translations of one another (XQuAD: ``xquad.<lang>.json``) are parallel by position, so
the same key names the same paragraph in every language; :func:`check_parallel` verifies that
(same article/paragraph layout and the same question ids in the same places) before a
cross-lingual evaluation relies on it.

Unanswerable questions (SQuAD 2.0 ``is_impossible``) are left out: their paragraph was written to
look relevant but does not hold the answer, so it is not a gold document. Their count is kept in
:attr:`SquadDataset.skipped_questions`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from babelrag.text.langid import is_valid_language_code

__all__ = [
    "DatasetError",
    "Paragraph",
    "Question",
    "SquadDataset",
    "check_parallel",
    "dataset_name",
    "expand_paths",
    "infer_language",
    "load_squad",
    "paragraph_key",
]


class DatasetError(ValueError):
    """A dataset file that cannot be used (missing, not SQuAD-shaped, inconsistent)."""


def paragraph_key(article_index: int, paragraph_index: int) -> str:
    """The position key of a paragraph: ``a0003p02`` (parallel files share keys)."""
    return f"a{article_index:04d}p{paragraph_index:03d}"


@dataclasses.dataclass(frozen=True, slots=True)
class Paragraph:
    key: str
    title: str
    context: str


@dataclasses.dataclass(frozen=True, slots=True)
class Question:
    """A question; ``paragraph_key`` names its gold paragraph, ``answers`` the gold answer texts."""

    id: str
    text: str
    paragraph_key: str
    answers: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class SquadDataset:
    """One SQuAD file: its paragraphs (document order) and questions (file order)."""

    name: str
    language: str
    path: Path
    paragraphs: tuple[Paragraph, ...]
    questions: tuple[Question, ...]
    skipped_questions: int = 0
    #: (articles, paragraphs per article): the layout :func:`check_parallel` compares.
    layout: tuple[int, ...] = ()

    def paragraph(self, key: str) -> Paragraph:
        for paragraph in self.paragraphs:
            if paragraph.key == key:
                return paragraph
        raise KeyError(key)

    def document_id(self, key: str) -> str:
        """The id the paragraph is stored under in the gateway: ``<language>:<key>``."""
        return f"{self.language}:{key}"

    def limited(self, *, paragraphs: int | None = None, questions: int | None = None) -> SquadDataset:
        """A smaller copy: the first ``paragraphs`` paragraphs (and only their questions), then
        ``questions`` questions spread evenly over the rest (deterministic, so parallel files keep
        choosing the same positions)."""
        kept_paragraphs = self.paragraphs if paragraphs is None else self.paragraphs[:paragraphs]
        keys = {p.key for p in kept_paragraphs}
        kept_questions = [q for q in self.questions if q.paragraph_key in keys]
        if questions is not None:
            kept_questions = spread(kept_questions, questions)
        return dataclasses.replace(self, paragraphs=tuple(kept_paragraphs), questions=tuple(kept_questions))


def spread(items: Sequence, n: int) -> list:
    """``n`` items taken at evenly spaced positions (all of them when ``n >= len(items)``)."""
    if n < 0:
        raise ValueError(f"cannot take {n} items")
    if n >= len(items):
        return list(items)
    return [items[(i * len(items)) // n] for i in range(n)]


_LANGUAGE_SUFFIX = re.compile(r"[._-]([A-Za-z]{2})$")


def infer_language(path: Path) -> str | None:
    """The language code in a file name such as ``xquad.de.json`` / ``mlqa-zh.json``, if any."""
    match = _LANGUAGE_SUFFIX.search(Path(path).name.removesuffix(".json"))
    if match and is_valid_language_code(match.group(1).lower()):
        return match.group(1).lower()
    return None


def dataset_name(path: Path) -> str:
    """``xquad`` for ``xquad.de.json``: the file name without the extension and language."""
    stem = Path(path).name.removesuffix(".json")
    if infer_language(path):
        stem = stem[:-3]
    return re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-").lower() or "dataset"


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; a directory stands for the ``*.json`` files in it (sorted)."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.glob("*.json") if p.is_file())
            if not found:
                raise DatasetError(f"{path}: no .json files in this directory")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise DatasetError(f"{path}: no such file or directory")
    seen: set[Path] = set()
    unique = []
    for path in out:
        resolved = path.resolve()
        if resolved not in seen:
            seen.add(resolved)
            unique.append(path)
    return unique


def load_squad(path: str | Path, *, language: str | None = None, name: str | None = None) -> SquadDataset:
    """Read one SQuAD-format file. ``language`` defaults to the code in the file name."""
    path = Path(path)
    code = (language or infer_language(path) or "").lower()
    if not code:
        raise DatasetError(f"{path}: cannot tell the language from the file name; pass --language")
    if not is_valid_language_code(code):
        raise DatasetError(f"{path}: {code!r} is not an ISO 639-1 language code")
    try:
        raw = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise DatasetError(f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise DatasetError(f"{path}: not JSON ({exc})") from None
    articles = raw.get("data") if isinstance(raw, dict) else None
    if not isinstance(articles, list):
        raise DatasetError(f"{path}: not SQuAD format (no top-level 'data' list)")

    paragraphs: list[Paragraph] = []
    questions: list[Question] = []
    layout: list[int] = [len(articles)]
    skipped = 0
    seen_ids: set[str] = set()
    for a, article in enumerate(articles):
        items = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(items, list):
            raise DatasetError(f"{path}: article {a} has no 'paragraphs' list")
        layout.append(len(items))
        title = str(article.get("title") or "").replace("_", " ").strip()
        for p, item in enumerate(items):
            context = item.get("context") if isinstance(item, dict) else None
            if not isinstance(context, str) or not context.strip():
                raise DatasetError(f"{path}: article {a} paragraph {p} has no 'context' text")
            key = paragraph_key(a, p)
            paragraphs.append(Paragraph(key=key, title=title, context=context))
            for q, qa in enumerate(item.get("qas") or []):
                text = qa.get("question") if isinstance(qa, dict) else None
                if not isinstance(text, str):
                    raise DatasetError(f"{path}: article {a} paragraph {p} question {q} has no 'question' text")
                if qa.get("is_impossible"):
                    skipped += 1
                    continue
                if not text.strip():
                    skipped += 1
                    continue
                qid = str(qa.get("id") or f"{key}q{q:03d}")
                if qid in seen_ids:
                    raise DatasetError(f"{path}: question id {qid!r} occurs twice")
                seen_ids.add(qid)
                answers = tuple(
                    dict.fromkeys(
                        str(ans["text"]).strip()
                        for ans in qa.get("answers") or []
                        if isinstance(ans, dict) and str(ans.get("text", "")).strip()
                    )
                )
                questions.append(Question(id=qid, text=text.strip(), paragraph_key=key, answers=answers))
    if not paragraphs:
        raise DatasetError(f"{path}: no paragraphs")
    return SquadDataset(
        name=name or dataset_name(path),
        language=code,
        path=path,
        paragraphs=tuple(paragraphs),
        questions=tuple(questions),
        skipped_questions=skipped,
        layout=tuple(layout),
    )


def check_parallel(datasets: Sequence[SquadDataset]) -> None:
    """Raise :class:`DatasetError` unless the datasets are translations aligned by position.

    Same article/paragraph layout, and the same question ids on the same paragraphs (XQuAD keeps
    SQuAD's ids in every language). Questions are compared only where both files have ids.
    """
    if len(datasets) < 2:
        return
    first = datasets[0]
    languages = [d.language for d in datasets]
    if len(set(languages)) != len(languages):
        raise DatasetError(f"two files have the same language: {languages}")
    reference = {q.id: q.paragraph_key for q in first.questions}
    for other in datasets[1:]:
        if other.layout != first.layout:
            raise DatasetError(
                f"{other.path} and {first.path} are not parallel: different article/paragraph layout"
            )
        mismatched = [q.id for q in other.questions if q.id in reference and reference[q.id] != q.paragraph_key]
        if mismatched:
            raise DatasetError(f"{other.path} and {first.path} are not parallel: question {mismatched[0]!r} is on another paragraph")
        if not set(reference) & {q.id for q in other.questions}:
            raise DatasetError(f"{other.path} and {first.path} share no question ids: cannot align their questions")
