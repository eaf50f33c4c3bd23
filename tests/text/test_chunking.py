"""Tests for babelrag.text.chunking: sentence boundaries, token-budget packing, offsets, dedupe."""

from __future__ import annotations

import random
import unicodedata

import pytest
from babelrag.text.chunking import (
    Chunk,
    ChunkingConfig,
    chunk_and_dedupe,
    chunk_text,
    estimate_tokens,
    normalize_whitespace,
    split_sentences,
    token_counter,
)


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def words(text: str) -> int:
    """An exact, predictable token counter for packing tests: one token per word."""
    return len(text.split())


# --------------------------------------------------------------------------------------------------
# Sentence boundaries


def test_chinese_sentences_split_at_cjk_punctuation():
    text = "我们今天去公园。天气很好！你要来吗？我们走吧；好的。"
    assert sentences(text) == [
        "我们今天去公园。",
        "天气很好！",
        "你要来吗？",
        "我们走吧；",
        "好的。",
    ]


def test_chinese_ascii_question_mark_before_cjk_and_closing_quote_stay_with_sentence():
    text = "他问：“你好吗？”我说很好。真的吗?当然。"
    assert sentences(text) == ["他问：“你好吗？”", "我说很好。", "真的吗?", "当然。"]


def test_japanese_sentences_split():
    text = "今日は晴れです。散歩に行きましょう！本当ですか？はい｡"
    assert sentences(text) == ["今日は晴れです。", "散歩に行きましょう！", "本当ですか？", "はい｡"]


def test_fullwidth_full_stop_splits_but_not_as_decimal_point():
    assert sentences("価格は３．５ドルです．次へ") == ["価格は３．５ドルです．", "次へ"]


def test_thai_splits_at_spaces_between_thai_text_only():
    text = "สวัสดีครับ วันนี้อากาศดีมาก เราไปเที่ยวกันเถอะ"
    assert sentences(text) == ["สวัสดีครับ", "วันนี้อากาศดีมาก", "เราไปเที่ยวกันเถอะ"]
    # A space next to digits or Latin words is not a sentence boundary.
    assert sentences("ปี 2020 มีงาน Expo ที่กรุงเทพ") == ["ปี 2020 มีงาน Expo ที่กรุงเทพ"]


def test_hindi_danda_and_double_danda():
    text = "यह पहला वाक्य है। यह दूसरा वाक्य है॥ तीसरा वाक्य"
    assert sentences(text) == ["यह पहला वाक्य है।", "यह दूसरा वाक्य है॥", "तीसरा वाक्य"]


def test_arabic_and_urdu_terminators():
    assert sentences("هل أنت بخير؟ نعم، أنا بخير. شكرا") == [
        "هل أنت بخير؟",
        "نعم، أنا بخير.",
        "شكرا",
    ]
    assert sentences("آپ کیسے ہیں؟میں ٹھیک ہوں۔ شکریہ") == [
        "آپ کیسے ہیں؟",
        "میں ٹھیک ہوں۔",
        "شکریہ",
    ]


def test_greek_question_mark_is_a_semicolon_only_after_greek():
    assert sentences("Τι κάνεις; Είμαι καλά.") == ["Τι κάνεις;", "Είμαι καλά."]
    assert sentences("Τι κάνεις\u037e Καλά.") == ["Τι κάνεις\u037e", "Καλά."]
    # An English semicolon does not end a sentence.
    assert sentences("First clause; second clause.") == ["First clause; second clause."]


def test_latin_punctuation_rules():
    text = (
        "Mr. Smith met Dr. Jones, e.g. at home. J. K. Rowling wrote it... and then? "
        'Pi is 3.14 exactly. Wait... Really! "Stop!" he said. It costs $5. Fine.'
    )
    assert sentences(text) == [
        "Mr. Smith met Dr. Jones, e.g. at home.",
        "J. K. Rowling wrote it... and then?",
        "Pi is 3.14 exactly.",
        "Wait...",
        "Really!",
        '"Stop!" he said.',
        "It costs $5.",
        "Fine.",
    ]


def test_ellipsis_character_and_other_scripts():
    assert sentences("Hmm… Maybe. Ок… Да.") == ["Hmm…", "Maybe.", "Ок…", "Да."]
    assert sentences("Բարեւ։ Ինչպե՞ս ես։") == ["Բարեւ։", "Ինչպե՞ս ես։"]
    assert sentences("ሰላም ነው። ደህና ነኝ።") == ["ሰላም ነው።", "ደህና ነኝ።"]


def test_newlines_paragraphs_lists_and_wrapped_lines():
    text = (
        "This line is wrapped\nacross two lines.\n"
        "A heading\n\n"
        "Paragraph two\n"
        "- item one\n"
        "- item two\n"
        "1. numbered item\n"
        "   \n"
        "last"
    )
    assert sentences(text) == [
        "This line is wrapped\nacross two lines.",
        "A heading",
        "Paragraph two",
        "- item one",
        "- item two",
        "1. numbered item",
        "last",
    ]


def test_spans_are_trimmed_ordered_and_only_whitespace_between():
    text = "  One.  Two!\n\n  三。四？ ห้า หก \n"
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == ["One.", "Two!", "三。", "四？", "ห้า", "หก"]
    prev = 0
    for s, e in spans:
        assert not text[prev:s].strip()
        assert text[s] != " " and text[e - 1] != " "
        prev = e
    assert split_sentences("") == [] and split_sentences(" \n\t ") == []


# --------------------------------------------------------------------------------------------------
# Packing, overlap and the hard maximum


def numbered(n: int, sizes: list[int]) -> str:
    """Sentences 'SK w w end.' with sizes[K] words each, separated by single spaces."""
    return " ".join(f"S{k} " + " ".join(["w"] * (sizes[k] - 2)) + " end." for k in range(n))


def sentence_ids(chunk: Chunk) -> list[int]:
    return [int(tok[1:]) for tok in chunk.text.split() if tok.startswith("S") and tok[1:].isdigit()]


def test_packing_fills_target_without_overlap():
    text = numbered(6, [4] * 6)  # six 4-token sentences
    chunks = chunk_text(text, ChunkingConfig(10, 20, 0), count_tokens=words)
    assert [sentence_ids(c) for c in chunks] == [[0, 1], [2, 3], [4, 5]]
    assert [c.token_count for c in chunks] == [8, 8, 8]
    assert [c.index for c in chunks] == [0, 1, 2]


def test_overlap_repeats_whole_trailing_sentences_within_budget():
    text = numbered(8, [3] * 8)  # eight 3-token sentences
    chunks = chunk_text(text, ChunkingConfig(9, 20, 4), count_tokens=words)
    # 3 sentences (9 tokens) per chunk; one 3-token sentence fits the 4-token overlap.
    assert [sentence_ids(c) for c in chunks] == [[0, 1, 2], [2, 3, 4], [4, 5, 6], [6, 7]]
    wide = chunk_text(text, ChunkingConfig(9, 20, 6), count_tokens=words)
    # Two sentences of overlap plus one new one per chunk.
    assert [sentence_ids(c) for c in wide][:3] == [[0, 1, 2], [1, 2, 3], [2, 3, 4]]


def test_overlap_never_holds_back_progress_or_repeats_a_sentence_longer_than_it():
    text = numbered(4, [8, 8, 8, 8])
    chunks = chunk_text(text, ChunkingConfig(10, 20, 5), count_tokens=words)
    assert [sentence_ids(c) for c in chunks] == [[0], [1], [2], [3]]


def test_sentence_between_target_and_max_is_kept_whole():
    text = numbered(3, [3, 15, 3])
    chunks = chunk_text(text, ChunkingConfig(10, 20, 0), count_tokens=words)
    assert [sentence_ids(c) for c in chunks] == [[0], [1], [2]]
    assert chunks[1].token_count == 15


def test_over_long_sentence_is_cut_at_clauses_then_spaces_never_dropped():
    clauses = ", ".join(" ".join(f"c{i}w{j}" for j in range(5)) for i in range(6)) + "."
    chunks = chunk_text(clauses, ChunkingConfig(8, 12, 0), count_tokens=words)
    assert all(c.token_count <= 12 for c in chunks)
    # Cut after commas (two 5-word clauses fit in 12), never mid-clause.
    assert all(c.text.endswith((",", ".")) for c in chunks)
    assert normalize_whitespace(" ".join(c.text for c in chunks)) == clauses

    plain = " ".join(f"w{i}" for i in range(50)) + "."
    chunks = chunk_text(plain, ChunkingConfig(8, 12, 0), count_tokens=words)
    assert [c.token_count for c in chunks] == [12, 12, 12, 12, 2]
    assert " ".join(c.text for c in chunks) == plain


def test_unpunctuated_cjk_run_is_cut_between_characters():
    rng = random.Random(7)
    run = "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(180))  # no boundary anywhere
    chunks = chunk_text(run, ChunkingConfig(20, 30, 0), count_tokens=len)
    assert all(1 <= c.token_count <= 30 for c in chunks)
    assert "".join(c.text for c in chunks) == run


def test_cuts_never_separate_a_combining_mark_from_its_base():
    rng = random.Random(3)
    # consonant + vowel sign (a combining mark), no spaces, no repeats that dedupe could drop
    run = "".join(chr(rng.randint(0x0915, 0x0939)) + rng.choice("िीुूेैोौ") for _ in range(40))
    chunks = chunk_text(run, ChunkingConfig(5, 7, 0), count_tokens=len)
    assert "".join(c.text for c in chunks) == run
    for c in chunks:
        assert unicodedata.category(c.text[0]) not in ("Mn", "Mc")
        assert c.token_count <= 7


def test_hard_max_holds_when_sentence_counts_underestimate_the_whole():
    # Counting characters, the joined text is longer than the sum of its sentences (the spaces
    # between them), so the packer must check the real count of every chunk.
    text = " ".join(f"A{i:03d}." for i in range(30))
    cfg = ChunkingConfig(target_tokens=20, max_tokens=22, overlap_tokens=0)
    chunks = chunk_text(text, cfg, count_tokens=len)
    assert all(c.token_count == len(c.text) <= 22 for c in chunks)
    # Four 5-character sentences sum to 20 but join to 23 characters: three per chunk.
    assert [c.text.count(".") for c in chunks] == [3] * 10


def test_duplicate_chunks_are_dropped_by_normalised_text():
    text = "Same paragraph here.\n\nOther one.\n\nSame   paragraph\there.\n\nLast."
    chunks = chunk_text(text, ChunkingConfig(3, 10, 0), count_tokens=words)
    assert [c.text for c in chunks] == ["Same paragraph here.", "Other one.", "Last."]
    assert [c.index for c in chunks] == [0, 1, 2]
    first = chunks[0]
    assert text[first.start : first.end] == first.text
    again = chunk_text("Same\nparagraph here.", ChunkingConfig(3, 10, 0), count_tokens=words)
    assert again[0].content_hash == first.content_hash
    kept, dropped = chunk_and_dedupe(text, ChunkingConfig(3, 10, 0), count_tokens=words)
    assert (kept, dropped) == (chunks, 1)


MIXED = (
    "BabelRAG answers questions in many languages. It keeps offsets exact!\n\n"
    "我们今天去公园。天气很好！\n"
    "สวัสดีครับ วันนี้อากาศดีมาก\n"
    "यह पहला वाक्य है। यह दूसरा वाक्य है।\n"
    "هل أنت بخير؟ نعم.\n"
    "Τι κάνεις; Είμαι καλά.\n"
)


@pytest.mark.parametrize("seed", range(5))
def test_offsets_round_trip_and_cover_every_sentence(seed):
    rng = random.Random(seed)
    parts = MIXED.split("\n")
    text = "\n".join(rng.choice(parts) + " " + str(i) for i in range(40))
    cfg = ChunkingConfig(
        target_tokens=rng.randint(10, 40), max_tokens=60, overlap_tokens=rng.randint(0, 9)
    )
    chunks = chunk_text(text, cfg)
    assert chunks
    starts = [c.start for c in chunks]
    assert starts == sorted(set(starts))
    covered = set()
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.text == c.text.strip()
        assert c.token_count == estimate_tokens(c.text) <= cfg.max_tokens
        covered.update(range(c.start, c.end))
    for s, e in split_sentences(text):  # every sentence is inside some chunk
        assert set(range(s, e)) <= covered


def test_chunking_is_deterministic_and_empty_text_gives_nothing():
    text = MIXED * 5
    assert chunk_text(text) == chunk_text(text)
    assert chunk_text("") == [] and chunk_text("  \n\n ") == []


def test_config_validation():
    with pytest.raises(ValueError):
        ChunkingConfig(target_tokens=0)
    with pytest.raises(ValueError):
        ChunkingConfig(target_tokens=100, max_tokens=50)
    with pytest.raises(ValueError):
        ChunkingConfig(target_tokens=100, max_tokens=200, overlap_tokens=100)
    assert ChunkingConfig() == ChunkingConfig(256, 480, 48)


# --------------------------------------------------------------------------------------------------
# Token counting


def test_estimate_tokens_is_in_the_tokenizers_range():
    assert estimate_tokens("") == 0 and estimate_tokens("   ") == 0
    # Real multilingual-e5 counts: 8 and 10 tokens respectively.
    assert 7 <= estimate_tokens("Hello world, this is a test.") <= 11
    assert 8 <= estimate_tokens("黑豹队的防守丢了多少分？") <= 13
    assert estimate_tokens("a") == 1


def test_token_counter_adapts_both_tokenizer_apis():
    class Encoding:
        def __init__(self, ids):
            self.ids = ids

    class FastTokenizer:  # tokenizers.Tokenizer-like
        def encode(self, text, add_special_tokens=True):
            assert add_special_tokens is False
            return Encoding(list(range(len(text.split()))))

    class HFTokenizer:  # transformers-like
        def encode(self, text, add_special_tokens=True):
            assert add_special_tokens is False
            return [0] * len(text)

    assert token_counter(FastTokenizer())("one two three") == 3
    assert token_counter(HFTokenizer())("abcd") == 4
