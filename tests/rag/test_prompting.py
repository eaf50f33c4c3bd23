"""Prompt building: numbered sources, answer language, base-model cue."""

from __future__ import annotations

import pytest

from babelrag.rag.assembly import AssembledContext, assemble_context
from babelrag.rag.prompting import PHRASES, build_prompt, phrases_for
from tests.rag.helpers import count_tokens, passage

GERMAN = ("German", "Deutsch")


def context(*passages) -> AssembledContext:  # noqa: ANN002
    return assemble_context(list(passages), budget_tokens=10_000, count_tokens=count_tokens)


@pytest.fixture
def ctx() -> AssembledContext:
    return context(
        passage("wall", "Die Berliner Mauer fiel am 9. November 1989.", 0.9, title="Berliner Mauer", language="de"),
        passage("gate", "Das Tor bei Nacht", 0.8, title="Brandenburger Tor", modality="image", language="de"),
        passage("en", "The wall was 155 km long.", 0.7, title="Berlin Wall", language="en"),
    )


def test_base_prompt_layout(ctx: AssembledContext) -> None:
    prompt = build_prompt("Wann fiel die Mauer?", ctx, answer_language="de", language_name=GERMAN)
    text = prompt.text
    assert text.startswith("Answer the question using only the numbered sources below")
    assert "cite them like [1] or [1][2]" in text
    assert 'If the sources do not contain the answer, reply: "Die Quellen enthalten die Antwort nicht."' in text
    assert "Antworte auf Deutsch (German)." in text
    assert "[1] Berliner Mauer (de)\nDie Berliner Mauer fiel am 9. November 1989." in text
    assert "[2] image: Brandenburger Tor — caption: Das Tor bei Nacht" in text
    assert "[3] Berlin Wall (en)\nThe wall was 155 km long." in text
    assert text.endswith("\n\nFrage: Wann fiel die Mauer?\nAntwort: Wie die Quellen zeigen,")
    assert prompt.answer_prefix == "Wie die Quellen zeigen,"
    assert prompt.answer(" fiel sie 1989 [1].") == "Wie die Quellen zeigen, fiel sie 1989 [1]."
    # instruction, then language, then sources, then question, in that order
    positions = [text.index(s) for s in ("Answer the question", "Antworte auf", "Sources:\n[1]", "[3]", "Frage:")]
    assert positions == sorted(positions)
    assert prompt.answer_cue == "Antwort:"
    assert prompt.not_in_sources == "Die Quellen enthalten die Antwort nicht."
    assert prompt.stop == ("\nFrage:", "\nAntwort:", "\nSources:", "\n[")
    assert {n: p.chunk_id for n, p in prompt.sources.items()} == {1: "wall", 2: "gate", 3: "en"}


@pytest.mark.parametrize(
    ("code", "names", "answer_in", "not_in_sources", "ending"),
    [
        ("zh", ("Chinese", "中文"), "请用中文回答（Chinese）。", "资料中没有这个问题的答案。", "问题：长城有多长？\n回答：根据资料，"),
        ("ja", ("Japanese", "日本語"), "日本語で答えてください（Japanese）。", "資料には答えが含まれていません。", "\n回答：資料によると、"),
        ("th", ("Thai", "ไทย"), "ตอบเป็นภาษาไทย (Thai)", "แหล่งข้อมูลไม่มีคำตอบนี้", "\nคำตอบ: ตามแหล่งข้อมูล"),
        ("ru", ("Russian", "Русский"), "Отвечай на русском языке (Russian).", "В источниках нет ответа.", "\nОтвет: Согласно источникам,"),
        ("ar", ("Arabic", "العربية"), "أجب باللغة العربية (Arabic).", "المصادر لا تحتوي على الإجابة.", "\nالإجابة: وفقًا للمصادر،"),
        (
            "pt-BR",
            ("Portuguese", "Português"),
            "Responda em português (Portuguese).",
            "As fontes não contêm a resposta.",
            "\nResposta: De acordo com as fontes,",
        ),
        ("en", ("English", "English"), "Answer in English.", "The sources do not contain the answer.", "\nAnswer: According to the sources,"),
        # No table entry: English phrases, the language named by endonym and English name, and no
        # opener (an English one would pull the answer towards English).
        ("sw", ("Swahili", "Kiswahili"), "Answer in Kiswahili (Swahili).", "The sources do not contain the answer.", "\nAnswer:"),  # noqa: E501
    ],
)
def test_answer_language_phrases(
    ctx: AssembledContext, code: str, names: tuple[str, str], answer_in: str, not_in_sources: str, ending: str
) -> None:
    question = "长城有多长？" if code == "zh" else "Question text?"
    prompt = build_prompt(question, ctx, answer_language=code, language_name=names)
    assert answer_in in prompt.text
    assert f'reply: "{not_in_sources}"' in prompt.text
    assert prompt.text.endswith(ending)
    assert not prompt.text.endswith(" ")


def test_instruction_tuned_layout(ctx: AssembledContext) -> None:
    prompt = build_prompt(
        "Wann fiel die Mauer?", ctx, answer_language="de", language_name=GERMAN, instruction_tuned=True
    )
    assert prompt.text.endswith("Frage: Wann fiel die Mauer?\nAntworte auf Deutsch (German).")
    assert prompt.text.count("Antworte auf Deutsch") == 1
    assert "Antwort:" not in prompt.text
    assert prompt.answer_cue == "" and prompt.stop == () and prompt.answer_prefix == ""


def test_opener_can_be_turned_off(ctx: AssembledContext) -> None:
    prompt = build_prompt("Wann fiel die Mauer?", ctx, answer_language="de", language_name=GERMAN, opener=False)
    assert prompt.text.endswith("\nAntwort:") and prompt.answer_prefix == ""
    assert prompt.answer(" 1989.") == " 1989."


def test_image_note_goes_between_sources_and_question(ctx: AssembledContext) -> None:
    note = "The user attached an image; you cannot see it;\nits closest matches are sources [2] and [3]."
    prompt = build_prompt("Was ist das?", ctx, answer_language="de", language_name=GERMAN, image_note=note)
    one_line = "The user attached an image; you cannot see it; its closest matches are sources [2] and [3]."
    assert one_line in prompt.text
    assert prompt.text.index("[3] Berlin Wall") < prompt.text.index(one_line) < prompt.text.index("Frage:")


def test_empty_context_and_question_whitespace() -> None:
    prompt = build_prompt("  Wer?\n ", context(), answer_language="de", language_name=GERMAN)
    assert "Sources:\n(none)" in prompt.text
    assert prompt.text.endswith("Frage: Wer?\nAntwort:")  # "according to the sources" needs sources
    assert prompt.answer_prefix == ""
    assert dict(prompt.sources) == {}


def test_prompt_is_compact(ctx: AssembledContext) -> None:
    prompt = build_prompt("Wann fiel die Mauer?", ctx, answer_language="de", language_name=GERMAN)
    sources = sum(len(p.text) + len(p.title) for p in prompt.sources.values())
    assert len(prompt.text) - sources < 480  # the frame around the sources stays small


def test_phrase_table() -> None:
    assert len(PHRASES) >= 20
    for xquad in ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"):
        assert xquad in PHRASES
    for code, phrases in PHRASES.items():
        assert phrases.answer.endswith((":", "："))
        assert phrases.question.endswith((":", "："))
        assert phrases.opener and phrases.opener == phrases.opener.strip(), code
        assert ("{english}" in phrases.answer_in) == (code != "en"), code
        assert phrases_for(code, ("X", "Y")).answer_in.count("X") == (code != "en"), code


@pytest.mark.parametrize(
    "kwargs",
    [
        {"question": " "},
        {"answer_language": ""},
        {"language_name": ("German",)},
    ],
)
def test_bad_arguments(ctx: AssembledContext, kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"question": "Q?", "answer_language": "de", "language_name": GERMAN}
    args.update(kwargs)
    with pytest.raises(ValueError):
        build_prompt(args.pop("question"), ctx, **args)  # type: ignore[arg-type]
