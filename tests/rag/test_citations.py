"""Citation markers: which sources an answer cites, and removing the markers."""

from __future__ import annotations

import pytest

from babelrag.rag.citations import extract_citation_numbers, strip_citation_markers

VALID = range(1, 6)  # sources [1] .. [5]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Paris [1].", [1]),
        ("Paris [2], then Lyon [1] and again Paris [2].", [2, 1]),  # order of first use, once each
        ("See [1, 2] and [3,4].", [1, 2, 3, 4]),
        ("Both [1][2].", [1, 2]),
        ("Several [1-3].", [1, 2, 3]),
        ("En dash [2–4] and tilde [1~2].", [2, 3, 4, 1]),
        ("Mixed [1, 3-4].", [1, 3, 4]),
        ("Spaces [ 2 ] and semicolons [3; 5].", [2, 3, 5]),
        ("全角［1］と【2】と〔3〕。", [1, 2, 3]),
        ("全角数字［２］、範囲［１～３］。", [2, 1, 3]),
        ("中文逗号[1，4]和顿号[2、5]。", [1, 4, 2, 5]),
        ("Arabic digits [٣].", [3]),
        ("Labels [Source 2] and [Quelle 4] and [来源1].", [2, 4, 1]),
        ("Years are not sources: [2023] but [1] is.", [1]),
        ("Out of range [9] [0] [6] ignored, [5] kept.", [5]),
        ("A year range [1990-2000] does not expand.", []),
        ("A range reaching past the sources [4-7] keeps only valid ends.", [4]),
        ("Descending [3-1] reads both ends.", [3, 1]),
        ("Not citations: [a], [], [1.5x], (1), 1.", []),
        ("Link style [2](https://example.org).", [2]),
        ("", []),
    ],
)
def test_extract_citation_numbers(answer: str, expected: list[int]) -> None:
    assert extract_citation_numbers(answer, VALID) == expected


def test_valid_may_be_any_collection() -> None:
    assert extract_citation_numbers("[1][7][2023]", {7, 2023}) == [7, 2023]
    assert extract_citation_numbers("[1][2]", []) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Paris is the capital [1][2].", "Paris is the capital."),
        ("Paris [1], Lyon [2, 3] and Nice [4-5] are cities.", "Paris, Lyon and Nice are cities."),
        ("巴黎是首都［1］。", "巴黎是首都。"),
        ("東京【2】です。", "東京です。"),
        ("Line one [1]\nLine two [2]", "Line one\nLine two"),
        ("In [2023] and [Source 3].", "In and."),
        ("No markers here.", "No markers here."),
        ("Keep [a] and (1).", "Keep [a] and (1)."),
        ("glued[1]words", "glued words"),
    ],
)
def test_strip_citation_markers(text: str, expected: str) -> None:
    assert strip_citation_markers(text) == expected
