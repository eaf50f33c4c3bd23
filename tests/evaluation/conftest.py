"""Small SQuAD-format files for the evaluation tests (parallel English / German / Chinese)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ARTICLES = {
    "en": [
        ("Rivers", [
            ("The Rhine flows from the Swiss Alps to the North Sea and is 1,230 kilometres long.",
             [("How long is the Rhine?", "1,230 kilometres"), ("Where does the Rhine end?", "North Sea")]),
            ("The Danube passes through ten countries, more than any other river in the world.",
             [("How many countries does the Danube pass through?", "ten")]),
        ]),
        ("Plants", [
            ("Photosynthesis turns carbon dioxide and water into glucose using the energy of sunlight.",
             [("What does photosynthesis produce?", "glucose")]),
        ]),
    ],
    "de": [
        ("Flüsse", [
            ("Der Rhein fließt von den Schweizer Alpen bis zur Nordsee und ist 1.230 Kilometer lang.",
             [("Wie lang ist der Rhein?", "1.230 Kilometer"), ("Wo endet der Rhein?", "Nordsee")]),
            ("Die Donau fließt durch zehn Länder, mehr als jeder andere Fluss der Welt.",
             [("Durch wie viele Länder fließt die Donau?", "zehn")]),
        ]),
        ("Pflanzen", [
            ("Die Photosynthese wandelt Kohlendioxid und Wasser mit der Energie des Sonnenlichts in Glukose um.",
             [("Was entsteht bei der Photosynthese?", "Glukose")]),
        ]),
    ],
    "zh": [
        ("河流", [
            ("莱茵河从瑞士阿尔卑斯山流入北海，全长1230公里。",
             [("莱茵河有多长？", "1230公里"), ("莱茵河流入哪里？", "北海")]),
            ("多瑙河流经十个国家，比世界上任何其他河流都多。",
             [("多瑙河流经多少个国家？", "十个")]),
        ]),
        ("植物", [
            ("光合作用利用阳光的能量把二氧化碳和水转化为葡萄糖。",
             [("光合作用产生什么？", "葡萄糖")]),
        ]),
    ],
}


def squad_document(language: str) -> dict:
    data = []
    qid = 0
    for title, paragraphs in ARTICLES[language]:
        items = []
        for context, questions in paragraphs:
            qas = []
            for question, answer in questions:
                qid += 1
                qas.append({"id": f"q{qid}", "question": question, "answers": [{"text": answer, "answer_start": context.find(answer)}]})
            items.append({"context": context, "qas": qas})
        data.append({"title": title, "paragraphs": items})
    return {"version": "1.1", "data": data}


@pytest.fixture
def squad_dir(tmp_path: Path) -> Path:
    """``mini.en.json``, ``mini.de.json``, ``mini.zh.json``: parallel, 3 paragraphs, 4 questions each."""
    folder = tmp_path / "mini"
    folder.mkdir()
    for language in ARTICLES:
        (folder / f"mini.{language}.json").write_text(json.dumps(squad_document(language), ensure_ascii=False))
    return folder
