"""Did the generator answer in the language it was asked to?

:func:`check_answer_language` decides in this order (the first rule that applies wins):

1. **Clean.** Citation markers, markup tags (``<strong>``, ``</b>``: small models copy them from
   HTML sources), URLs, e-mail addresses, numbers, the given source titles and short quotations (up to 80 characters inside “ ” " " « » „ “ 「 」 『 』) are removed: they are
   copied from the sources or language-neutral, so they say nothing about the answer's language.
2. **Nothing left** (only digits, markers, titles...): ``ok``, reason ``no_text``.
3. **Script census.** Letters are counted per script; Han, kana and Hangul weigh 3 (one CJK
   character carries about as much text as three alphabetic letters), and letters of capitalised
   Latin words weigh 1/5 when another script is present (names and brands turn up in answers in
   every language: "Ответ: Barack Obama" is Russian). The *dominant* script decides what follows.
4. **CJK.** Han, kana and Hangul together are one group, split as in
   :mod:`babelrag.text.langid`: Hangul (at least 20 % of the group) -> ko; any kana (at least
   5 %) -> ja; Han only -> zh. An expected ``ja`` answer of Han only and at most 10 characters
   ("東京都庁") is accepted: it may be a kanji compound. No detector is asked.
5. **A script one language owns** (Thai, Greek, Hebrew, Georgian, Armenian, the Indic scripts
   other than Devanagari and Bengali, Lao, Khmer, Myanmar, ...): ``ok`` exactly when it is the
   expected language's script. No detector is asked.
6. **A shared script the expected language does not use** (Latin for an expected ``ru``): not
   ``ok``, unless the answer is a few names (at most 6 words, all capitalised), e.g. "Barack Obama"
   for an expected ``zh``: reason ``names_only``.
7. **A shared script the expected language uses** (Latin, Cyrillic, Arabic, Devanagari, Bengali):
   answers under 3 words are ``ok`` (reason ``short``: no detector is reliable there); otherwise
   ``detect`` decides: ``ok`` when it names the expected language or a close one (no/nb/nn,
   id/ms, hr/sr/bs), or is unsure (``und``, confidence below ``min_confidence``, or a language not
   written in that script); not ``ok`` only when it confidently names another language.

So ``ok=False`` means *clearly* another language. ``detected`` and ``confidence`` report what was
found: for script decisions the language and the script's share of the letters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass
from types import MappingProxyType

from babelrag.rag._text import CJK_SCRIPTS, HAN, HANGUL, KANA, LATIN, UNSPACED_SCRIPTS, script_of
from babelrag.rag.citations import strip_citation_markers

__all__ = ["AnswerLanguageCheck", "check_answer_language"]

UNKNOWN = "und"

#: Reasons reported in :attr:`AnswerLanguageCheck.reason`.
REASON_NO_TEXT = "no_text"
REASON_SCRIPT = "script"
REASON_NAMES_ONLY = "names_only"
REASON_SHORT = "short"
REASON_DETECTOR = "detector"
REASON_UNCERTAIN = "uncertain"


@dataclass(frozen=True, slots=True)
class AnswerLanguageCheck:
    """``detected``: ISO 639-1 code or ``"und"``; ``confidence`` in [0, 1]; ``ok``: the answer is
    not clearly in another language than expected; ``reason``: which rule decided."""

    detected: str
    confidence: float
    ok: bool
    reason: str = REASON_DETECTOR


_CJK = "CJK"  # the group of Han, kana, Hangul and Bopomofo
_CYRILLIC, _ARABIC, _DEVANAGARI, _BENGALI = "Cyrillic", "Arabic", "Devanagari", "Bengali"
_ETHIOPIC, _TIBETAN = "Ethiopic", "Tibetan"

#: Scripts that several languages share: within them a detector has to decide.
_SHARED_SCRIPTS = frozenset({LATIN, _CYRILLIC, _ARABIC, _DEVANAGARI, _BENGALI, _ETHIOPIC, _TIBETAN})

#: Scripts one language owns (for this purpose), keyed by the script name :func:`script_of` gives.
_SCRIPT_LANGUAGE = MappingProxyType(
    {
        "Greek": "el", "Thai": "th", "Hebrew": "he", "Georgian": "ka", "Armenian": "hy",
        "Gurmukhi": "pa", "Gujarati": "gu", "Oriya": "or", "Tamil": "ta", "Telugu": "te",
        "Kannada": "kn", "Malayalam": "ml", "Sinhala": "si", "Lao": "lo", "Khmer": "km",
        "Myanmar": "my", "Thaana": "dv", "Mongolian": "mn",
    }
)  # fmt: skip

#: Scripts of languages not written (only) in Latin. Unlisted languages: Latin.
_LANGUAGE_SCRIPTS = MappingProxyType(
    {
        **{code: frozenset({script}) for script, code in _SCRIPT_LANGUAGE.items()},
        "zh": frozenset({_CJK}), "ja": frozenset({_CJK}), "ko": frozenset({_CJK}),
        "yi": frozenset({"Hebrew"}),
        "mn": frozenset({_CYRILLIC, "Mongolian"}),
        "pa": frozenset({"Gurmukhi", _ARABIC}),
        **{c: frozenset({_CYRILLIC}) for c in ("ru", "uk", "be", "bg", "mk", "ky", "tg", "tt", "ba", "cv", "ce", "os")},
        **{c: frozenset({_CYRILLIC, LATIN}) for c in ("sr", "bs", "kk", "uz", "az")},
        **{c: frozenset({_ARABIC}) for c in ("ar", "fa", "ur", "ps", "sd", "ug")},
        "ku": frozenset({LATIN, _ARABIC}),
        **{c: frozenset({_DEVANAGARI}) for c in ("hi", "mr", "ne", "sa")},
        **{c: frozenset({_BENGALI}) for c in ("bn", "as")},
        **{c: frozenset({_ETHIOPIC}) for c in ("am", "ti")},
        **{c: frozenset({_TIBETAN}) for c in ("bo", "dz")},
    }
)  # fmt: skip
_LATIN_ONLY = frozenset({LATIN})

#: Languages close enough that detectors confuse them and readers of one read the other.
_CLOSE_LANGUAGES = tuple(frozenset(g) for g in (("no", "nb", "nn"), ("id", "ms"), ("hr", "sr", "bs")))

_CJK_WEIGHT = 3.0
_LATIN_NAME_WEIGHT = 0.2
_SHORT_WORDS = 3.0
_NAMES_ONLY_MAX_WORDS = 6
_JA_HAN_ONLY_MAX_CHARS = 10

_URL = re.compile(r"(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_MARKUP_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>\n]{0,200})?/?>")
_NUMBER = re.compile(r"\d+(?:[.,:/'’\-]\d+)*")
_QUOTED = re.compile(
    r"“[^”\n]{0,80}”|„[^“”\n]{0,80}[“”]|\"[^\"\n]{0,80}\"|«[^»\n]{0,80}»|「[^」\n]{0,80}」|『[^』\n]{0,80}』"
)


def _clean(answer: str, titles: Collection[str]) -> str:
    text = _MARKUP_TAG.sub(" ", strip_citation_markers(answer))
    text = _EMAIL.sub(" ", _URL.sub(" ", text))
    for title in sorted({t.strip() for t in titles if t and t.strip()}, key=len, reverse=True):
        text = re.sub(re.escape(title), " ", text, flags=re.IGNORECASE)
    text = _QUOTED.sub(" ", text)
    return _NUMBER.sub(" ", text)


@dataclass(slots=True)
class _Census:
    weights: dict[str, float]  # script -> weighted letter count (CJK scripts kept apart)
    latin_names: float  # letters of Latin words that start with a capital
    latin_words: int
    capitalised_latin_words: int
    words: float  # word equivalents

    def groups(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for script, weight in self.weights.items():
            key = _CJK if script in CJK_SCRIPTS else script
            out[key] = out.get(key, 0.0) + weight
        if LATIN in out and len(out) > 1:
            out[LATIN] -= self.latin_names * (1.0 - _LATIN_NAME_WEIGHT)
        return out


def _census(text: str) -> _Census:
    weights: dict[str, float] = {}
    latin_names = 0.0
    latin_words = capitalised = 0
    spaced_words = 0
    in_token = in_latin_word = word_capitalised = False
    for ch in text:
        script = script_of(ch)
        if script is None:
            if unicodedata.category(ch)[0] != "M":  # a combining accent stays in its word
                in_token = in_latin_word = False
            continue
        if script == LATIN:
            if not in_latin_word:
                in_latin_word = True
                word_capitalised = ch.isupper()
                latin_words += 1
                capitalised += word_capitalised
            if word_capitalised:
                latin_names += 1
        else:
            in_latin_word = False
        if script in CJK_SCRIPTS:
            weights[script] = weights.get(script, 0.0) + _CJK_WEIGHT
            in_token = False
        else:
            weights[script] = weights.get(script, 0.0) + 1.0
            if not in_token and script not in UNSPACED_SCRIPTS:
                spaced_words += 1
            in_token = script not in UNSPACED_SCRIPTS
    cjk_chars = sum(weights.get(s, 0.0) for s in CJK_SCRIPTS) / _CJK_WEIGHT
    unspaced = sum(weights.get(s, 0.0) for s in UNSPACED_SCRIPTS)
    words = spaced_words + cjk_chars / 2.0 + unspaced / 5.0
    return _Census(weights, latin_names, latin_words, capitalised, words)


def _cjk_language(census: _Census) -> tuple[str, float]:
    """(language, Han characters if Han-only else 0) of the CJK letters."""
    w = census.weights
    hangul, kana = w.get(HANGUL, 0.0), w.get(KANA, 0.0)
    group = hangul + kana + w.get(HAN, 0.0) + w.get("Bopomofo", 0.0)
    if hangul >= 0.2 * group and hangul >= kana:
        return "ko", 0.0
    if kana and kana >= 0.05 * group:
        return "ja", 0.0
    return "zh", w.get(HAN, 0.0) / _CJK_WEIGHT


def _primary(code: str) -> str:
    return re.split(r"[-_]", code.strip(), maxsplit=1)[0].lower()


def _close(a: str, b: str) -> bool:
    return a == b or any(a in g and b in g for g in _CLOSE_LANGUAGES)


def check_answer_language(
    answer: str,
    expected: str,
    detect: Callable[[str], tuple[str, float]],
    *,
    source_titles: Collection[str] = (),
    min_confidence: float = 0.6,
) -> AnswerLanguageCheck:
    """Check that ``answer`` is in ``expected`` (an ISO 639-1 code; "zh-Hant" is read as "zh").

    ``detect(text) -> (code, confidence)`` is the language detector (called at most once, on the
    cleaned text, and only when scripts cannot decide); ``source_titles`` are removed before
    detecting. See the module docstring for the rules.
    """
    if not isinstance(expected, str) or not expected.strip():
        raise ValueError(f"expected must be a language code, got {expected!r}")
    expected = _primary(expected)
    expected_scripts = _LANGUAGE_SCRIPTS.get(expected, _LATIN_ONLY)
    text = _clean(answer, source_titles)
    census = _census(text)
    groups = census.groups()
    total = sum(groups.values())
    if total <= 0.0:
        return AnswerLanguageCheck(UNKNOWN, 0.0, True, REASON_NO_TEXT)
    dominant = max(sorted(groups), key=lambda k: groups[k])
    share = round(groups[dominant] / total, 4)

    if dominant == _CJK:
        found, han_only_chars = _cjk_language(census)
        if found == expected:
            return AnswerLanguageCheck(found, share, True, REASON_SCRIPT)
        if expected == "ja" and found == "zh" and han_only_chars <= _JA_HAN_ONLY_MAX_CHARS:
            return AnswerLanguageCheck("ja", share * 0.5, True, REASON_SHORT)
        return AnswerLanguageCheck(found, share, False, REASON_SCRIPT)

    if dominant not in _SHARED_SCRIPTS:
        found = _SCRIPT_LANGUAGE.get(dominant, UNKNOWN)
        if dominant in expected_scripts:
            return AnswerLanguageCheck(expected, share, True, REASON_SCRIPT)
        return AnswerLanguageCheck(found, share, False, REASON_SCRIPT)

    if dominant not in expected_scripts:
        names_only = (
            dominant == LATIN
            and census.latin_words <= _NAMES_ONLY_MAX_WORDS
            and census.capitalised_latin_words == census.latin_words
        )
        if names_only:
            return AnswerLanguageCheck(UNKNOWN, 0.0, True, REASON_NAMES_ONLY)
        code, confidence = _detect(detect, text)  # only to report which language it is
        if dominant not in _LANGUAGE_SCRIPTS.get(code, _LATIN_ONLY):
            code, confidence = UNKNOWN, 0.0  # the detector contradicts the script: report nothing
        return AnswerLanguageCheck(code, confidence, False, REASON_SCRIPT)

    if census.words < _SHORT_WORDS:
        return AnswerLanguageCheck(expected, 0.0, True, REASON_SHORT)
    code, confidence = _detect(detect, text)
    if _close(code, expected):
        return AnswerLanguageCheck(code, confidence, True, REASON_DETECTOR)
    unsure = (
        code == UNKNOWN
        or confidence < min_confidence
        or dominant not in _LANGUAGE_SCRIPTS.get(code, _LATIN_ONLY)
    )
    if unsure:
        return AnswerLanguageCheck(code, confidence, True, REASON_UNCERTAIN)
    return AnswerLanguageCheck(code, confidence, False, REASON_DETECTOR)


def _detect(detect: Callable[[str], tuple[str, float]], text: str) -> tuple[str, float]:
    code, confidence = detect(text)
    code = _primary(code) if isinstance(code, str) and code.strip() else UNKNOWN
    confidence = float(confidence)
    return code, min(1.0, max(0.0, confidence))
