"""Language-agnostic segmentation for the LanceDB keyword (BM25) index.

LanceDB's full-text index tokenises a column with one tokenizer for every row.
No single built-in tokenizer suits a corpus that mixes space-delimited
languages with scripts that write words without spaces (Chinese, Japanese,
Korean particles, Thai, Lao, Khmer, Myanmar). So the LanceDB backend indexes a
*shadow column*: :func:`segment` turns a chunk's text into space-separated terms
here, in Python, and the index splits that column on whitespace only. A query
goes through the same :func:`segment`, so indexing and querying can never
disagree.

Segmentation works by script, per character, not by the chunk's declared
language, so a Japanese sentence that quotes an English product name, or a
mislabelled chunk, still segments correctly:

* text is NFKC-normalised (full-width Latin -> ASCII, half-width katakana ->
  full width) and lower-cased;
* a run of Han, kana or Hangul characters becomes its single characters
  plus its overlapping character bigrams (``東京タワー`` -> ``東 京 タ ワ ー
  東京 京タ タワ ワー``), as Lucene's CJKAnalyzer does with bigrams; the
  unigrams let one-character words (水, 山, 집) be found;
* a run of Thai, Lao, Khmer, Myanmar or Tibetan becomes its overlapping
  character bigrams and trigrams: these scripts spell one syllable with
  several code points (consonant + vowel sign + tone mark), so trigrams are
  more telling than bigrams (XQuAD Thai BM25 R@1: trigrams 0.932, bigrams
  0.887, both 0.924); the bigrams keep two-code-point words (ปู, ดี, ไป)
  findable, worth the 0.008;
* any other run of letters, combining marks and digits is one word. Marks
  count as word characters, which keeps Devanagari and other Indic words whole
  (Python's ``\\w`` does not match vowel signs, and splitting on them broke
  Hindi recall: FINDINGS);
* everything else (spaces, punctuation, symbols, format characters such as a
  byte-order mark) separates terms.

Why this rather than LanceDB's own ``ngram`` or ``icu`` tokenizers: measured
with BM25 on XQuAD (each paragraph a document, each question a query, its
paragraph the only relevant one; 240 paragraphs, 1190 questions per language),
see the table in :mod:`babelrag.store.lancedb_store`.
"""

from __future__ import annotations

import re
import sys
import unicodedata

__all__ = ["segment", "segment_to_text", "UNSPACED_SCRIPT_RANGES", "SEA_SCRIPT_RANGES"]

#: Scripts of South-East Asia written without spaces (n-grams of 2 and 3).
SEA_SCRIPT_RANGES: tuple[tuple[int, int], ...] = (
    (0x0E00, 0x0E7F),  # Thai
    (0x0E80, 0x0EFF),  # Lao
    (0x0F00, 0x0FFF),  # Tibetan
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x19E0, 0x19FF),  # Khmer symbols
    (0xAA60, 0xAA7F),  # Myanmar extended A
)

#: Code point ranges of scripts written without spaces between words.
UNSPACED_SCRIPT_RANGES: tuple[tuple[int, int], ...] = (
    (0x0E00, 0x0E7F),  # Thai
    (0x0E80, 0x0EFF),  # Lao
    (0x0F00, 0x0FFF),  # Tibetan
    (0x1000, 0x109F),  # Myanmar
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x1780, 0x17FF),  # Khmer
    (0x19E0, 0x19FF),  # Khmer symbols
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3021, 0x3029),  # Hangzhou numerals
    (0x3031, 0x3035),  # kana repeat marks
    (0x3040, 0x30FF),  # Hiragana, Katakana (incl. ー)
    (0x3130, 0x318F),  # Hangul compatibility Jamo
    (0x31A0, 0x31BF),  # Bopomofo extended
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA960, 0xA97F),  # Hangul Jamo extended A
    (0xAA60, 0xAA7F),  # Myanmar extended A
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xD7B0, 0xD7FF),  # Hangul Jamo extended B
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x1B000, 0x1B16F),  # Kana supplement / extended
    (0x20000, 0x3134F),  # CJK extensions B..G
)


def _char_class(ranges: tuple[tuple[int, int], ...]) -> str:
    return "".join(
        re.escape(chr(lo)) + ("-" + re.escape(chr(hi)) if hi > lo else "") for lo, hi in ranges
    )


def _mark_ranges() -> tuple[tuple[int, int], ...]:
    """Ranges of combining marks (Mn, Mc, Me) outside the unspaced scripts."""
    out: list[tuple[int, int]] = []
    start = -1
    for cp in range(0x0300, 0x20000):
        is_mark = unicodedata.category(chr(cp))[0] == "M"
        if is_mark and start < 0:
            start = cp
        elif not is_mark and start >= 0:
            out.append((start, cp - 1))
            start = -1
    return tuple(out)


_UNSPACED = _char_class(UNSPACED_SCRIPT_RANGES)
# A word: letters/digits (``[^\W_]``) and combining marks, but no character of
# an unspaced script (those runs are matched first by the alternation below).
_WORD = rf"(?:(?![{_UNSPACED}])(?:[^\W_]|[{_char_class(_mark_ranges())}]))+"
_TOKEN_RE = re.compile(rf"(?P<dense>[{_UNSPACED}]+)|(?P<word>{_WORD})")
_SEA_RE = re.compile(rf"[{_char_class(SEA_SCRIPT_RANGES)}]")
_SEA_NGRAMS = (2, 3)
_CJK_NGRAMS = (1, 2)

#: Terms longer than this are dropped (URLs, base64, hashes): they cannot be
#: typed as a query and would bloat the index. Must stay below the index's own
#: ``max_token_length``.
MAX_TERM_CHARS = 60


def segment(text: str) -> list[str]:
    """Split ``text`` into index terms (see the module docstring).

    >>> segment("BabelRAG 支持中文")
    ['babelrag', '支', '持', '中', '文', '支持', '持中', '中文']
    >>> segment("ภาษา")
    ['ภา', 'าษ', 'ษา', 'ภาษ', 'าษา']
    """
    if not text:
        return []
    norm = unicodedata.normalize("NFKC", text).lower()
    terms: list[str] = []
    for m in _TOKEN_RE.finditer(norm):
        dense = m.group("dense")
        if dense is not None:
            # A run is classified by its first character; runs mixing SEA and
            # CJK scripts without a space do not occur in real text.
            sizes = _SEA_NGRAMS if _SEA_RE.match(dense) else _CJK_NGRAMS
            if len(dense) < sizes[0]:
                terms.append(dense)
                continue
            for n in sizes:
                terms.extend(dense[i : i + n] for i in range(len(dense) - n + 1))
        else:
            word = m.group("word")
            if len(word) <= MAX_TERM_CHARS:
                terms.append(word)
    return terms


def segment_to_text(text: str) -> str:
    """:func:`segment` joined by single spaces: the value of the shadow column."""
    return " ".join(segment(text))


if __name__ == "__main__":  # pragma: no cover - manual probe
    for line in sys.argv[1:]:
        print(segment(line))
