"""Text helpers shared by the RAG modules: normalisation, scripts, shingles, terms, sentences.

Everything here works by Unicode character properties, never by a declared language, so one code
path serves every language. Two families of scripts need care:

* CJK (Han, kana, Hangul) and the South-East Asian scripts (Thai, Lao, Khmer, Myanmar, Tibetan)
  write words without spaces, so "a word" is unusable there; character n-grams are used instead
  (the same choice as :mod:`babelrag.store.tokenize`, whose bigrams measured best for BM25).
* Indic and South-East Asian scripts spell one syllable with several code points, some of them
  combining marks (Unicode category M). Marks are treated as word characters, never as separators
  (Python's ``\\w`` does not match them, which split Hindi words apart: FINDINGS).

The script of a character is the first word of its Unicode name ("LATIN SMALL LETTER A" -> Latin,
"CJK UNIFIED IDEOGRAPH-4E00" -> Han). That covers every script Unicode knows without a range
table to maintain; text is NFKC-normalised first, so full-width Latin and half-width katakana get
their ordinary names.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = [
    "CJK_SCRIPTS",
    "HAN",
    "HANGUL",
    "KANA",
    "LATIN",
    "UNSPACED_SCRIPTS",
    "jaccard",
    "normalize",
    "script_of",
    "sentence_cuts",
    "shingles",
    "terms",
    "word_cuts",
]

HAN = "Han"
KANA = "Kana"  # hiragana and katakana together: only "is there any kana" matters here
HANGUL = "Hangul"
LATIN = "Latin"
#: Scripts whose characters are counted as CJK (one character ~ half a word).
CJK_SCRIPTS = frozenset({HAN, KANA, HANGUL, "Bopomofo"})
#: Scripts written without spaces whose syllables span several code points.
UNSPACED_SCRIPTS = frozenset({"Thai", "Lao", "Khmer", "Myanmar", "Tibetan"})

# First word of a Unicode character name -> script name, where the two differ.
_NAME_TO_SCRIPT = {
    "CJK": HAN,
    "IDEOGRAPHIC": HAN,  # 々 IDEOGRAPHIC ITERATION MARK, 〇 IDEOGRAPHIC NUMBER ZERO
    "HIRAGANA": KANA,
    "KATAKANA": KANA,
    "KATAKANA-HIRAGANA": KANA,  # ー PROLONGED SOUND MARK, the voicing marks
    "HANGUL": HANGUL,
    "BOPOMOFO": "Bopomofo",
    "MYANMAR": "Myanmar",
}


@lru_cache(maxsize=8192)
def script_of(ch: str) -> str | None:
    """Script of a letter or mark (``"Latin"``, ``"Cyrillic"``, ``"Han"``, ``"Kana"`` ...).

    ``None`` for anything that is not a letter or a mark, and for combining marks shared by every
    script (U+0300 COMBINING GRAVE ACCENT): they belong to whatever word they sit in.
    """
    if unicodedata.category(ch)[0] not in "LM":
        return None
    name = unicodedata.name(ch, "")
    if not name:
        return None
    first = name.split(" ", 1)[0]
    if first == "COMBINING":
        return None
    return _NAME_TO_SCRIPT.get(first, first.capitalize())


_SEPARATOR_RUNS = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC, case-folded, every character that is not a letter, mark or digit turned into one space.

    ``"Tokyo-Tower, 333 m!"`` -> ``"tokyo tower 333 m"``; ``"東京タワー。"`` -> ``"東京タワー"``.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = [ch if unicodedata.category(ch)[0] in "LMN" else " " for ch in folded]
    return _SEPARATOR_RUNS.sub(" ", "".join(kept)).strip()


def shingles(text: str, size: int = 3) -> frozenset[str]:
    """The set of overlapping ``size``-character shingles of :func:`normalize`\\ d text.

    Character shingles need no word segmentation, so they compare Chinese, Japanese and Thai text
    as well as spaced languages. Text shorter than ``size`` is its own single shingle; empty text
    has none.
    """
    norm = normalize(text)
    if len(norm) <= size:
        return frozenset({norm}) if norm else frozenset()
    return frozenset(norm[i : i + size] for i in range(len(norm) - size + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a & b| / |a | b|; 0.0 when both are empty."""
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def _is_unspaced(ch: str) -> bool:
    script = script_of(ch)
    return script is not None and (script in CJK_SCRIPTS or script in UNSPACED_SCRIPTS)


def terms(text: str) -> list[str]:
    """Matching units of ``text``: words of spaced scripts, character bigrams of unspaced ones.

    ``"Tokyo Tower 東京タワー"`` -> ``["tokyo", "tower", "東京", "京タ", "タワ", "ワー"]``. A lone
    unspaced character (水) is its own term. Digits count as word characters (``"1969"``).
    """
    out: list[str] = []
    for token in normalize(text).split(" "):
        run: list[str] = []
        word: list[str] = []
        for ch in token + " ":  # the sentinel flushes the last run
            if ch != " " and _is_unspaced(ch):
                if word:
                    out.append("".join(word))
                    word = []
                run.append(ch)
                continue
            if run:
                if len(run) == 1:
                    out.append(run[0])
                else:
                    out.extend(run[i] + run[i + 1] for i in range(len(run) - 1))
                run = []
            if ch != " ":
                word.append(ch)
        if word:
            out.append("".join(word))
    return out


# A sentence ends after one of these (plus closing quotes/brackets) followed by whitespace or the
# end, or right after the CJK/Indic/Arabic full stops, which need no following space.
_SENTENCE_END = re.compile(
    r"""(?:[.!?…]+[\"'”’»)\]]*(?=\s|$))"""  # Latin-style: ". " "?" '!"'
    r"""|(?:[。！？।॥؟۔]+[」』”’)）\]]*)"""  # CJK, Devanagari danda, Arabic and Urdu marks
    r"""|(?:\n\s*)"""  # a line break ends whatever precedes it
)
_WHITESPACE = re.compile(r"\s+")


def sentence_cuts(text: str) -> list[int]:
    """Offsets just after each sentence end in ``text``, ascending, excluding 0 and ``len(text)``."""
    cuts = {m.end() for m in _SENTENCE_END.finditer(text)}
    return sorted(c for c in cuts if 0 < c < len(text))


def word_cuts(text: str) -> list[int]:
    """Offsets of the start of each whitespace run (a cut there keeps whole words), ascending."""
    return [m.start() for m in _WHITESPACE.finditer(text) if m.start() > 0]
