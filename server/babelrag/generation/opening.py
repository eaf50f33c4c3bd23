"""How an answer may begin: never with a line break, a citation marker or the end of the answer.

Small base models asked over numbered sources often answer the cue ("Answer:") with a line break
and then copy the source list ("\\n[1] <title>\\n[2] <title> ...") or a column of markers
("\\n[1][2]\\n[1][2] ..."): on XQuAD through the default gemma-3-270m, 11 of 72 answers did that
(2026-11-25). Until the answer has shown some visible text, the tokens that would start it that
way are masked: any token whose text, after spaces, begins with a line break or "[", and the stop
tokens (an empty answer). Everything after the first visible character is left alone, so an
answer can still cite [1] or run over several lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

__all__ = ["OPENING_FORBIDDEN_PREFIXES", "opening_forbidden_mask", "starts_answer"]

#: What the first visible bytes of an answer must not be.
OPENING_FORBIDDEN_PREFIXES = (b"\n", b"\r", b"[")


def opening_forbidden_mask(
    token_bytes: Callable[[int], bytes | None], vocab_size: int, stop_token_ids: Iterable[int] = ()
) -> np.ndarray:
    """Boolean [vocab_size]: True for the tokens an answer must not begin with.

    ``token_bytes(id)``: the bytes a token writes, None for control tokens (those stay allowed
    unless they are stop tokens: a model's own control tokens are not ours to judge).
    """
    forbidden = np.zeros(vocab_size, dtype=bool)
    for token_id in range(vocab_size):
        data = token_bytes(token_id)
        if data and data.lstrip(b" \t").startswith(OPENING_FORBIDDEN_PREFIXES):
            forbidden[token_id] = True
    for token_id in stop_token_ids:
        if 0 <= token_id < vocab_size:
            forbidden[token_id] = True
    return forbidden


def starts_answer(text: str) -> bool:
    """Whether ``text`` (what the answer has shown so far) holds a visible character yet."""
    return bool(text.strip())
