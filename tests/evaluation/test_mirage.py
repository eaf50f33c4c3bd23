"""MIRAGE metrics (hand-computed) and the conditions' prompts, with a scripted generator."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest

from babelrag.evaluation.mirage import (
    CONDITIONS,
    MirageItem,
    PromptKit,
    categorize,
    choose_noise,
    mirage_scores,
    run_mirage,
    summarize_mirage,
)
from babelrag.evaluation.squad import load_squad


@pytest.mark.parametrize(
    ("base", "oracle", "mixed", "category"),
    [
        (False, True, False, "noise_vulnerability"),
        (True, True, False, "noise_vulnerability"),
        (False, True, True, "context_acceptability"),
        (True, True, True, "context_acceptability"),
        (False, False, False, "context_insensitivity"),
        (False, False, True, "context_insensitivity"),
        (True, False, False, "context_misinterpretation"),
        (True, False, True, "context_misinterpretation"),
    ],
)
def test_every_label_combination_has_one_category(base, oracle, mixed, category):
    assert categorize(base, oracle, mixed) == category


def test_scores_by_hand():
    # 5 questions: NV, CA, CA, CI, CM -> 0.2, 0.4, 0.2, 0.2; score = 0.4 - 0.2 - 0.2 - 0.2 = -0.2
    labels = [(False, True, False), (True, True, True), (False, True, True), (False, False, False), (True, False, False)]
    scores = mirage_scores(labels)
    assert scores["noise_vulnerability"] == pytest.approx(0.2)
    assert scores["context_acceptability"] == pytest.approx(0.4)
    assert scores["context_insensitivity"] == pytest.approx(0.2)
    assert scores["context_misinterpretation"] == pytest.approx(0.2)
    assert scores["score"] == pytest.approx(-0.2)
    assert sum(scores[m] for m in ("noise_vulnerability", "context_acceptability", "context_insensitivity", "context_misinterpretation")) == pytest.approx(1.0)


def test_scores_of_nothing():
    assert mirage_scores([])["questions"] == 0.0


def test_noise_is_never_gold_nor_holds_the_answer(squad_dir: Path):
    en = load_squad(squad_dir / "mini.en.json")
    question = en.questions[0]  # "How long is the Rhine?" on a0000p000
    distractor_with_answer = dataclasses.replace(en.paragraphs[2], context="It is 1,230 kilometres from here.")
    en = dataclasses.replace(en, paragraphs=(*en.paragraphs[:2], distractor_with_answer))
    noise = choose_noise(en, question, ["a0000p000", "a0001p000", "a0000p001"], 4)
    assert [p.key for p in noise] == ["a0000p001"]


def test_noise_falls_back_to_other_paragraphs(squad_dir: Path):
    en = load_squad(squad_dir / "mini.en.json")
    noise = choose_noise(en, en.questions[3], [], 2)  # glucose question on a0001p000
    assert sorted(p.key for p in noise) == ["a0000p000", "a0000p001"]


def words(text: str) -> int:
    return len(text.split())


def test_closed_book_prompt_is_localised():
    kit = PromptKit(count_tokens=words, budget_tokens=500)
    prompt, stop = kit.closed_book("Wie lang ist der Rhein?", "de")
    assert prompt.endswith("Frage: Wie lang ist der Rhein?\nAntwort:")
    assert stop == ("\nFrage:", "\nAntwort:")
    prompt, _ = kit.closed_book("莱茵河有多长？", "zh")
    assert "问题：莱茵河有多长？\n回答：" in prompt


def test_gold_passage_survives_a_tight_budget(squad_dir: Path):
    en = load_squad(squad_dir / "mini.en.json")
    gold, noise = en.paragraphs[0], en.paragraphs[1:]
    kit = PromptKit(count_tokens=words, budget_tokens=40)  # room for about two sources
    for seed in range(6):
        prompt, used = kit.with_sources("How long is the Rhine?", "en", gold, noise, seed)
        assert gold.context in prompt.text
        assert used < len(noise)
        assert prompt.not_in_sources in prompt.text and prompt.stop
        assert prompt.text.endswith("Answer: According to the sources,") and prompt.answer_prefix == "According to the sources,"


def test_gold_position_is_drawn(squad_dir: Path):
    en = load_squad(squad_dir / "mini.en.json")
    gold, noise = en.paragraphs[0], en.paragraphs[1:]
    kit = PromptKit(count_tokens=words, budget_tokens=1000)
    gold_first = set()
    for seed in range(12):
        prompt = kit.with_sources("How long is the Rhine?", "en", gold, noise, seed)[0].text
        gold_first.add(prompt.index(gold.context) < min(prompt.index(p.context) for p in noise))
    assert gold_first == {True, False}


@dataclasses.dataclass
class Completion:
    text: str


class ScriptedGenerator:
    """Answers right only when the gold paragraph is in the prompt and no noise is; records calls."""

    def __init__(self, gold_marker: str, noise_marker: str, knows_without_context: bool = False) -> None:
        self.gold_marker, self.noise_marker = gold_marker, noise_marker
        self.knows = knows_without_context
        self.calls: list[dict] = []

    async def generate(self, prompt: str, **kwargs) -> Completion:  # noqa: ANN003
        self.calls.append({"prompt": prompt, **kwargs})
        has_gold, has_noise = self.gold_marker in prompt, self.noise_marker in prompt
        if "Sources:" not in prompt:
            return Completion("1,230 kilometres" if self.knows else "I do not know.")
        if has_gold and not has_noise:
            return Completion("It is 1,230 kilometres long [1].")
        return Completion("The sources do not contain the answer.")


async def test_run_mirage_conditions_and_metrics(squad_dir: Path):
    en = load_squad(squad_dir / "mini.en.json")
    question = en.questions[0]
    item = MirageItem(question=question, language="en", gold=en.paragraphs[0], noise=(en.paragraphs[1], en.paragraphs[2]))
    generator = ScriptedGenerator(gold_marker="Swiss Alps", noise_marker="Danube")
    kit = PromptKit(count_tokens=words, budget_tokens=1000)
    [result] = await run_mirage([item], generator, kit, max_tokens=16, rag_answers={question.id: "1,230 kilometres"})

    assert len(generator.calls) == len(CONDITIONS)
    prompts = dict(zip(CONDITIONS, (c["prompt"] for c in generator.calls)))
    assert "Sources:" not in prompts["base"]
    assert "Swiss Alps" in prompts["oracle"] and "Danube" not in prompts["oracle"]
    assert "Swiss Alps" in prompts["mixed"] and "Danube" in prompts["mixed"]
    assert "Swiss Alps" not in prompts["noise"] and "Danube" in prompts["noise"]
    assert all(c["language"] == "en" and c["temperature"] == 0.0 and c["max_tokens"] == 16 for c in generator.calls)

    assert {c: result.correct(c) for c in result.answers} == {"base": False, "oracle": True, "mixed": False, "noise": False, "rag": True}
    assert result.abstained == {"oracle": False, "mixed": True, "noise": True}
    summary = summarize_mirage([result])
    assert summary["contains"]["noise_vulnerability"] == 1.0  # right with gold only, wrong among noise
    assert summary["contains_rag"]["context_acceptability"] == 1.0  # the gateway's retrieval answered right
    assert summary["noise_only_abstention"] == 1.0 and summary["noise_only_accuracy"] == 0.0
    assert summary["mean_noise_passages_in_mixed"] == 2.0


async def test_generator_errors_are_recorded_per_condition(squad_dir: Path):
    en = load_squad(squad_dir / "mini.en.json")
    item = MirageItem(question=en.questions[0], language="en", gold=en.paragraphs[0], noise=(en.paragraphs[1],))
    counter = itertools.count()

    class Flaky:
        async def generate(self, prompt: str, **kwargs) -> Completion:  # noqa: ANN003
            if next(counter) == 1:
                raise TimeoutError("deadline")
            return Completion("x")

    [result] = await run_mirage([item], Flaky(), PromptKit(count_tokens=words, budget_tokens=1000))
    assert result.errors == {"oracle": "TimeoutError: deadline"}
    assert summarize_mirage([result])["failed"] == 1
