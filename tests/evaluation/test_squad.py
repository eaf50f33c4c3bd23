"""SQuAD-format loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from babelrag.evaluation.squad import (
    DatasetError,
    check_parallel,
    dataset_name,
    expand_paths,
    infer_language,
    load_squad,
    spread,
)


def test_load_parallel_files(squad_dir: Path):
    en = load_squad(squad_dir / "mini.en.json")
    assert (en.name, en.language) == ("mini", "en")
    assert [p.key for p in en.paragraphs] == ["a0000p000", "a0000p001", "a0001p000"]
    assert en.paragraphs[0].title == "Rivers"
    assert len(en.questions) == 4
    first = en.questions[0]
    assert (first.id, first.paragraph_key, first.answers) == ("q1", "a0000p000", ("1,230 kilometres",))
    assert en.document_id("a0001p000") == "en:a0001p000"
    check_parallel([en, load_squad(squad_dir / "mini.de.json"), load_squad(squad_dir / "mini.zh.json")])


def test_names_and_languages_from_file_names():
    assert infer_language(Path("xquad.de.json")) == "de"
    assert infer_language(Path("mlqa-zh.json")) == "zh"
    assert infer_language(Path("train-v1.1.json")) is None
    assert dataset_name(Path("xquad.de.json")) == "xquad"
    assert dataset_name(Path("My Data.json")) == "my-data"


def test_language_must_be_known(tmp_path: Path, squad_dir: Path):
    plain = tmp_path / "squad.json"
    plain.write_text((squad_dir / "mini.en.json").read_text())
    with pytest.raises(DatasetError, match="--language"):
        load_squad(plain)
    assert load_squad(plain, language="EN").language == "en"
    with pytest.raises(DatasetError, match="ISO 639-1"):
        load_squad(plain, language="xx")


def test_unanswerable_questions_are_skipped(tmp_path: Path):
    path = tmp_path / "v2.en.json"
    path.write_text(json.dumps({"data": [{"title": "T", "paragraphs": [{"context": "Some text.", "qas": [
        {"id": "a", "question": "Answerable?", "answers": [{"text": "Some", "answer_start": 0}]},
        {"id": "b", "question": "Impossible?", "answers": [], "is_impossible": True},
    ]}]}]}))
    dataset = load_squad(path)
    assert [q.id for q in dataset.questions] == ["a"]
    assert dataset.skipped_questions == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [("not json", "not JSON"), ('{"rows": []}', "no top-level 'data'"), ('{"data": [{"paragraphs": [{"qas": []}]}]}', "no 'context'")],
)
def test_malformed_files(tmp_path: Path, content: str, message: str):
    path = tmp_path / "bad.en.json"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        load_squad(path)


def test_limits_keep_positions_parallel(squad_dir: Path):
    en = load_squad(squad_dir / "mini.en.json").limited(paragraphs=2)
    assert len(en.paragraphs) == 2 and len(en.questions) == 3
    zh = load_squad(squad_dir / "mini.zh.json").limited(questions=2)
    en2 = load_squad(squad_dir / "mini.en.json").limited(questions=2)
    assert [q.id for q in zh.questions] == [q.id for q in en2.questions] == ["q1", "q3"]
    assert spread(list(range(10)), 3) == [0, 3, 6]
    assert spread([1, 2], 5) == [1, 2]


def test_non_parallel_files_are_refused(tmp_path: Path, squad_dir: Path):
    en = load_squad(squad_dir / "mini.en.json")
    short = en.limited(paragraphs=1)
    with pytest.raises(DatasetError, match="not parallel"):
        check_parallel([en, _relabel(short, "de")])


def _relabel(dataset, language):  # noqa: ANN001, ANN202
    import dataclasses

    return dataclasses.replace(dataset, language=language, layout=(1, 1))


def test_expand_paths(squad_dir: Path):
    assert [p.name for p in expand_paths([squad_dir])] == ["mini.de.json", "mini.en.json", "mini.zh.json"]
    assert len(expand_paths([squad_dir, squad_dir / "mini.en.json"])) == 3
    with pytest.raises(DatasetError, match="no such file"):
        expand_paths([squad_dir / "missing.json"])
