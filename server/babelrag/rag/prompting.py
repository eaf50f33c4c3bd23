"""The generation prompt: instruction, numbered sources, question, answer cue.

Layout (``instruction_tuned=False``, for a base model such as gemma-3-270m, which continues text
rather than following instructions)::

    Answer the question using only the numbered sources below and cite them like [1] or [1][2].
    If the sources do not contain the answer, reply: "Die Quellen enthalten die Antwort nicht."
    Antworte auf Deutsch (German).

    Sources:
    [1] Berliner Mauer (de)
    Die Berliner Mauer war ...

    [2] image: Brandenburger Tor — caption: Das Tor bei Nacht

    The user attached an image; ...            (image_note, when given)

    Frage: Wann fiel die Mauer?
    Antwort: Wie die Quellen zeigen,

The prompt ends with the answer cue of the answer language ("Antwort:", "回答：", "Answer:") and,
when there are sources, the language's *opener* ("Wie die Quellen zeigen,", "根据资料，", "According
to the sources,"), no trailing space. Openers end with a comma where the language writes one, so
that what follows continues the sentence (after "Laut den Quellen" gemma-3-270m wrote ":" and
copied the source list). The opener is the start of the answer (``Prompt.answer_prefix``;
the gateway streams it first). It is there because a base model answering straight after the cue
often gives a bare number or name ("11.", "Los Angeles, California."), which is in no language,
and sometimes drifts into English; after a sentence opening in the answer language it goes on in
that language (measured on XQuAD, docs/EVALUATION.md). For an
instruction-tuned model (``instruction_tuned=True``; the caller applies the chat template) the
same blocks are used without the cue, and the answer-language line comes last, after the question,
where it is most likely to be heeded.

The instruction is English (what small models follow best); the "not in the sources" sentence, the
answer-language line, the question label and the cue are in the answer language for the languages
in :data:`PHRASES` (25, among them all 12 XQuAD languages), in English otherwise. The answer-language
line names the language in that language and in English ("Antworte auf Deutsch (German).");
without a table entry it reads "Answer in <endonym> (<English name>).".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

from babelrag.rag.assembly import AssembledContext, format_source
from babelrag.rag.passages import Passage

__all__ = ["PHRASES", "LanguagePhrases", "Prompt", "build_prompt", "phrases_for"]


class LanguagePhrases(NamedTuple):
    """The localised parts of a prompt. ``answer_in`` holds ``{english}`` for the English name.

    ``opener``: how an answer from the sources begins ("According to the sources,"), written into
    a base model's prompt after the answer cue (see :func:`build_prompt`); "" for none.
    """

    answer_in: str
    not_in_sources: str
    question: str
    answer: str
    opener: str = ""


#: Localised prompt phrases by ISO 639-1 code.
PHRASES: Mapping[str, LanguagePhrases] = MappingProxyType(
    {
        "en": LanguagePhrases("Answer in English.", "The sources do not contain the answer.", "Question:", "Answer:", "According to the sources,"),
        "de": LanguagePhrases("Antworte auf Deutsch ({english}).", "Die Quellen enthalten die Antwort nicht.", "Frage:", "Antwort:", "Wie die Quellen zeigen,"),
        "fr": LanguagePhrases("Réponds en français ({english}).", "Les sources ne contiennent pas la réponse.", "Question :", "Réponse :", "D'après les sources,"),
        "es": LanguagePhrases("Responde en español ({english}).", "Las fuentes no contienen la respuesta.", "Pregunta:", "Respuesta:", "Según las fuentes,"),
        "it": LanguagePhrases("Rispondi in italiano ({english}).", "Le fonti non contengono la risposta.", "Domanda:", "Risposta:", "Secondo le fonti,"),
        "pt": LanguagePhrases("Responda em português ({english}).", "As fontes não contêm a resposta.", "Pergunta:", "Resposta:", "De acordo com as fontes,"),
        "nl": LanguagePhrases("Antwoord in het Nederlands ({english}).", "De bronnen bevatten het antwoord niet.", "Vraag:", "Antwoord:", "Volgens de bronnen,"),
        "ro": LanguagePhrases("Răspunde în limba română ({english}).", "Sursele nu conțin răspunsul.", "Întrebare:", "Răspuns:", "Conform surselor,"),
        "pl": LanguagePhrases("Odpowiedz po polsku ({english}).", "Źródła nie zawierają odpowiedzi.", "Pytanie:", "Odpowiedź:", "Według źródeł,"),
        "cs": LanguagePhrases("Odpověz česky ({english}).", "Zdroje odpověď neobsahují.", "Otázka:", "Odpověď:", "Podle zdrojů,"),
        "sv": LanguagePhrases("Svara på svenska ({english}).", "Källorna innehåller inte svaret.", "Fråga:", "Svar:", "Enligt källorna,"),
        "tr": LanguagePhrases("Türkçe cevap ver ({english}).", "Kaynaklar cevabı içermiyor.", "Soru:", "Cevap:", "Kaynaklara göre,"),
        "id": LanguagePhrases("Jawab dalam bahasa Indonesia ({english}).", "Sumber tidak memuat jawabannya.", "Pertanyaan:", "Jawaban:", "Menurut sumber,"),
        "vi": LanguagePhrases("Trả lời bằng tiếng Việt ({english}).", "Các nguồn không chứa câu trả lời.", "Câu hỏi:", "Trả lời:", "Theo các nguồn,"),
        "ru": LanguagePhrases("Отвечай на русском языке ({english}).", "В источниках нет ответа.", "Вопрос:", "Ответ:", "Согласно источникам,"),
        "uk": LanguagePhrases("Відповідай українською мовою ({english}).", "У джерелах немає відповіді.", "Питання:", "Відповідь:", "Згідно з джерелами,"),
        "el": LanguagePhrases("Απάντησε στα ελληνικά ({english}).", "Οι πηγές δεν περιέχουν την απάντηση.", "Ερώτηση:", "Απάντηση:", "Σύμφωνα με τις πηγές,"),
        "ar": LanguagePhrases("أجب باللغة العربية ({english}).", "المصادر لا تحتوي على الإجابة.", "السؤال:", "الإجابة:", "وفقًا للمصادر،"),
        "he": LanguagePhrases("ענה בעברית ({english}).", "המקורות אינם מכילים את התשובה.", "שאלה:", "תשובה:", "לפי המקורות,"),
        "fa": LanguagePhrases("به فارسی پاسخ بده ({english}).", "منابع پاسخ را در بر ندارند.", "پرسش:", "پاسخ:", "بر اساس منابع،"),
        "hi": LanguagePhrases("हिन्दी में उत्तर दें ({english})।", "स्रोतों में इसका उत्तर नहीं है।", "प्रश्न:", "उत्तर:", "स्रोतों के अनुसार,"),
        "th": LanguagePhrases("ตอบเป็นภาษาไทย ({english})", "แหล่งข้อมูลไม่มีคำตอบนี้", "คำถาม:", "คำตอบ:", "ตามแหล่งข้อมูล"),
        "zh": LanguagePhrases("请用中文回答（{english}）。", "资料中没有这个问题的答案。", "问题：", "回答：", "根据资料，"),
        "ja": LanguagePhrases("日本語で答えてください（{english}）。", "資料には答えが含まれていません。", "質問：", "回答：", "資料によると、"),
        "ko": LanguagePhrases("한국어로 답하세요 ({english}).", "자료에 답이 없습니다.", "질문:", "답변:", "자료에 따르면,"),
    }
)  # fmt: skip

_INSTRUCTION = (
    "Answer the question using only the numbered sources below and cite them like [1] or [1][2]. "
    'If the sources do not contain the answer, reply: "{not_in_sources}"'
)


def _primary(code: str) -> str:
    return re.split(r"[-_]", code.strip(), maxsplit=1)[0].lower()


def phrases_for(answer_language: str, language_name: tuple[str, str]) -> LanguagePhrases:
    """The phrases for ``answer_language`` ("de", "pt-BR"), ``answer_in`` filled in.

    Without a table entry: English phrases and ``"Answer in <endonym> (<English name>)."``.
    """
    english, native = (language_name[0] or "").strip(), (language_name[1] or "").strip()
    found = PHRASES.get(_primary(answer_language))
    if found is not None:
        return found._replace(answer_in=found.answer_in.format(english=english))
    en = PHRASES["en"]
    if native and english and native != english:
        answer_in = f"Answer in {native} ({english})."
    else:
        answer_in = f"Answer in {native or english}."
    # No English opener: it would pull the answer towards English.
    return en._replace(answer_in=answer_in, opener="")


@dataclass(frozen=True, slots=True)
class Prompt:
    """A built prompt.

    ``text``: the prompt. ``sources``: source number -> passage, to resolve citations.
    ``not_in_sources``: the sentence the model was told to give when the sources lack the answer
    (compare the answer with it to tell an abstention). ``answer_cue``: the cue before the answer
    ("" for instruction-tuned models). ``stop``: sequences after which a base model's
    continuation is no longer the answer (it starts a new question); empty for instruction-tuned.
    ``answer_prefix``: the start of the answer already written into the prompt (the localised
    opener, or ""): the answer is ``answer_prefix`` followed by what the model generates.
    """

    text: str
    sources: Mapping[int, Passage]
    not_in_sources: str
    answer_cue: str
    stop: tuple[str, ...] = ()
    answer_prefix: str = ""

    def answer(self, generated: str) -> str:
        """The whole answer: the prefix written into the prompt, then the generated text."""
        return self.answer_prefix + generated


def _gap(label: str) -> str:
    """The space after a label: none after a full-width colon ("问题：")."""
    return "" if label.endswith("：") else " "


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def build_prompt(
    question: str,
    context: AssembledContext,
    *,
    answer_language: str,
    language_name: tuple[str, str],
    image_note: str | None = None,
    instruction_tuned: bool = False,
    opener: bool = True,
) -> Prompt:
    """Build the prompt for ``question`` over ``context``'s numbered sources (module docstring).

    ``language_name``: (English name, endonym) of ``answer_language``, e.g. ``("German",
    "Deutsch")`` (:func:`babelrag.text.langid.language_name` returns that pair). ``opener``: for
    a base model with sources, begin the answer with the language's opener (module docstring).
    """
    if not isinstance(question, str) or not question.strip():
        raise ValueError("question must be a non-empty string")
    if not isinstance(answer_language, str) or not answer_language.strip():
        raise ValueError(f"answer_language must be a language code, got {answer_language!r}")
    if len(language_name) != 2 or not all(isinstance(n, str) for n in language_name):
        raise ValueError(f"language_name must be (English name, endonym), got {language_name!r}")
    phrases = phrases_for(answer_language, language_name)

    blocks = [cp for cp in context.passages]
    sources_text = "\n\n".join(format_source(cp.number, cp.passage) for cp in blocks) or "(none)"
    parts = [_INSTRUCTION.format(not_in_sources=phrases.not_in_sources)]
    if not instruction_tuned:
        parts[0] += "\n" + phrases.answer_in
    parts.append("Sources:\n" + sources_text)
    if image_note and image_note.strip():
        parts.append(_one_line(image_note))
    question_line = f"{phrases.question}{_gap(phrases.question)}{_one_line(question)}"
    if instruction_tuned:
        parts.append(f"{question_line}\n{phrases.answer_in}")
        cue, stop, prefix = "", (), ""
    else:
        prefix = phrases.opener if opener and blocks else ""
        parts.append(f"{question_line}\n{phrases.answer}" + (f"{_gap(phrases.answer)}{prefix}" if prefix else ""))
        # A base model that has answered tends to go on writing the prompt's own layout: a new
        # question, another answer ("\nRespuesta: 136", seen with gemma-3-270m), a "Sources:"
        # header, or the numbered source list ("\n[1] Super Bowl 50 (de)\n[2] ...", seen after
        # the opener: "Laut den Quellen:\n[1] ...").
        cue, stop = phrases.answer, (f"\n{phrases.question}", f"\n{phrases.answer}", "\nSources:", "\n[")
    return Prompt(
        text="\n\n".join(parts),
        sources=MappingProxyType({cp.number: cp.passage for cp in blocks}),
        not_in_sources=phrases.not_in_sources,
        answer_cue=cue,
        stop=stop,
        answer_prefix=prefix,
    )
