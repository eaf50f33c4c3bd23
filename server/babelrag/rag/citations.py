"""Citation markers in generated answers: which numbered sources an answer cites.

Recognised markers (a *group* is one bracket pair)::

    [1]   [1, 2]   [1][2]   [1-3]   [1–3]   [1,3-4]   [Source 2]   [来源2]
    ［1］  【1】  〔1〕  [١]  (full-width brackets and digits, CJK lenticular brackets,
                            any Unicode decimal digits)

Separators inside a group: ``,`` ``;`` ``，`` ``、`` ``；`` ``،``; ranges: ``-`` ``–`` ``—`` ``~``
``〜`` ``～`` ``－``. One optional word before each number ("Source", "Quelle", "来源") is allowed,
since instruction-tuned models like to write ``[Source 1]``.

Numbers not in ``valid`` are ignored, so a year in brackets ("[2023]") or a model's invented
``[9]`` never becomes a citation. A range is expanded only when both ends are valid and ascending
("[1-3]" with 1..5 valid -> 1, 2, 3); otherwise its ends are read as single numbers, so
"[1990-2000]" cannot expand into every source.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from babelrag.rag._text import CJK_SCRIPTS, UNSPACED_SCRIPTS, script_of

__all__ = ["extract_citation_numbers", "strip_citation_markers"]

_OPEN = r"[\[［【〔]"
_CLOSE = r"[\]］】〕]"
_LABEL = r"(?:[^\W\d_]{1,20}\.?\s*)?"
_DASH = r"[-–—~〜～－]"
_SEP = r"[,;，、；،]"
_ITEM = rf"\d{{1,6}}(?:\s*{_DASH}\s*\d{{1,6}})?"
_GROUP = re.compile(rf"{_OPEN}\s*{_LABEL}(?P<body>{_ITEM}(?:\s*{_SEP}\s*{_LABEL}{_ITEM})*)\s*{_CLOSE}")
_NUMBER_OR_RANGE = re.compile(rf"(\d{{1,6}})(?:\s*{_DASH}\s*(\d{{1,6}}))?")


def _numbers(body: str, valid: Collection[int]) -> list[int]:
    out: list[int] = []
    for m in _NUMBER_OR_RANGE.finditer(body):
        first = int(m.group(1))  # int() reads any Unicode decimal digits: "١" -> 1, "１" -> 1
        if m.group(2) is None:
            out.append(first)
            continue
        last = int(m.group(2))
        if first in valid and last in valid and first <= last:
            out.extend(range(first, last + 1))
        else:
            out.extend((first, last))
    return [n for n in out if n in valid]


def extract_citation_numbers(answer: str, valid: Collection[int]) -> list[int]:
    """The source numbers ``answer`` cites, in order of first citation, each once.

    Only numbers in ``valid`` (the prompt's source numbers) are returned.
    """
    valid = frozenset(valid)
    seen: dict[int, None] = {}
    for group in _GROUP.finditer(answer):
        for n in _numbers(group.group("body"), valid):
            seen.setdefault(n, None)
    return list(seen)


_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+(?=[.,;:!?。，、；：！？)）\]]|$)", re.MULTILINE)
_SPACES = re.compile(r"[ \t]{2,}")


def _gap(m: re.Match[str]) -> str:
    """What replaces a marker: a space only between two word characters of spaced text
    ("word[1]word" -> "word word"); nothing elsewhere ("東京【2】です" -> "東京です")."""
    text, start, end = m.string, m.start(), m.end()
    before, after = text[start - 1 : start], text[end : end + 1]
    if before.isalnum() and after.isalnum() and not (_unspaced(before) or _unspaced(after)):
        return " "
    return ""


def _unspaced(ch: str) -> bool:
    script = script_of(ch)
    return script is not None and (script in CJK_SCRIPTS or script in UNSPACED_SCRIPTS)


def strip_citation_markers(text: str) -> str:
    """``text`` without citation markers (any number, valid or not), spacing tidied.

    ``"Paris is the capital [1][2]."`` -> ``"Paris is the capital."``. Used before detecting the
    language of an answer and anywhere markers would be noise.
    """
    stripped = _GROUP.sub(_gap, text)
    stripped = _SPACE_BEFORE_PUNCT.sub("", stripped)
    return _SPACES.sub(" ", stripped).strip()
