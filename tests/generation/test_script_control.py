"""Answer-language control: script resolution, per-script token masks, the byte-level automaton."""

from __future__ import annotations

import random

import numpy as np
import pytest
import regex
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from babelrag.generation import script_control as sc
from babelrag.modelbuild.sources import xlmr_tokenizer_json

EOS = 2  # </s> in the XLM-R vocabulary


@pytest.fixture(scope="module")
def xlmr() -> Tokenizer:
    return Tokenizer.from_file(str(xlmr_tokenizer_json()))


@pytest.fixture(scope="module")
def xlmr_table(xlmr: Tokenizer) -> sc.TokenScriptTable:
    return sc.TokenScriptTable.from_tokenizer(xlmr, "xlmr")


@pytest.fixture(scope="module")
def xlmr_masker(xlmr_table: sc.TokenScriptTable) -> sc.ScriptMasker:
    return sc.ScriptMasker(xlmr_table, [EOS])


# Multilingual text with every script the tests check: a byte-level BPE trained on it keeps many
# characters split into partial UTF-8 pieces (its vocabulary is far smaller than the alphabet).
CORPUS = [
    "The capital of France is Paris [1]. Berlin is the capital of Germany [2].",
    "北京是中华人民共和国的首都，也是全国的政治和文化中心[1]。长城位于中国北方。",
    "東京は日本の首都です。ひらがなとカタカナと漢字を使います[2]。",
    "서울은 대한민국의 수도입니다. 한글은 세종대왕이 만들었습니다.",
    "Москва — столица России [1]. Киев — столица Украины. София — столица Болгарии.",
    "القاهرة هي عاصمة مصر [3]. الرياض عاصمة المملكة العربية السعودية.",
    "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย [1] ภาษาไทยไม่มีช่องว่างระหว่างคำ",
    "Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "नई दिल्ली भारत की राजधानी है। हिन्दी देवनागरी लिपि में लिखी जाती है।",
    "תל אביב היא עיר בישראל. ירושלים היא בירת ישראל.",
    "Numbers 0123456789, punctuation: ¿¡«»—…()[]{}!?.,;:",
]


@pytest.fixture(scope="module")
def byte_level() -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=420, special_tokens=["<eos>", "<pad>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(CORPUS * 3, trainer)
    return tokenizer


def token_ids(tokenizer: Tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False).ids


# --------------------------------------------------------------------------- resolution


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("zh", "Hani"), ("zh-TW", "Hani"), ("zh_Hant", "Hant"), ("ja", "Jpan"), ("ja-JP", "Jpan"),
        ("ko", "Hang"), ("ru", "Cyrl"), ("uk", "Cyrl"), ("bg", "Cyrl"), ("el", "Grek"), ("ar", "Arab"),
        ("fa", "Arab"), ("he", "Hebr"), ("hi", "Deva"), ("bn", "Beng"), ("th", "Thai"), ("sr-Cyrl", "Cyrl"),
        ("Hani", "Hani"), ("cyrl", "Cyrl"), ("JPAN", "Jpan"), ("Kore", "Kore"), ("Latn", "Latn"),
        ("en", None), ("de", None), ("vi", None), ("sr-Latn", None), ("sw", None), ("", None), (None, None),
    ],
)  # fmt: skip
def test_resolve_script(value, expected):
    assert sc.resolve_script(value) == expected


@pytest.mark.parametrize("value", ["not a tag!", "中文", "x"])
def test_resolve_script_rejects_garbage(value):
    with pytest.raises(ValueError):
        sc.resolve_script(value)


def test_character_classes():
    bit = sc.char_bit
    assert bit("中") == bit("々") == sc._SCRIPT_BITS["Hani"]
    assert bit("ひ") == sc._SCRIPT_BITS["Hira"] and bit("カ") == sc._SCRIPT_BITS["Kana"]
    assert bit("Ж") == sc._SCRIPT_BITS["Cyrl"] and bit("ก") == sc._SCRIPT_BITS["Thai"]
    assert bit("ा") == sc._SCRIPT_BITS["Deva"]  # a vowel sign (Mc) belongs to its script
    for neutral in "0123456789[]()., 。，、ー・—\u200c\u0301😀₦":
        assert bit(neutral) == sc.NEUTRAL_BIT, neutral
    assert bit("\ue000") == sc.OTHER_BIT  # private use is not text
    assert bit("ᚠ") == sc.OTHER_BIT  # Runic: a script the table does not list


# --------------------------------------------------------------------------- masks (SentencePiece)


def test_chinese_mask_keeps_han_digits_and_citations(xlmr, xlmr_masker):
    mask = xlmr_masker.mask("Hani")
    for text in ("北京是中国的首都", "长城", "2023年", "[1]", "[12]", "，。"):
        ids = token_ids(xlmr, text)
        assert all(mask[i] for i in ids), (text, [xlmr.id_to_token(i) for i in ids if not mask[i]])
    for text in ("Paris", "the", "Beijing", "Москва", "ひらがな", "서울"):
        ids = [i for i in token_ids(xlmr, text) if xlmr.id_to_token(i) != "\u2581"]
        assert ids and not any(mask[i] for i in ids), text
    assert mask[EOS]
    assert not mask[xlmr.token_to_id("<s>")] and not mask[xlmr.token_to_id("<pad>")]


@pytest.mark.parametrize(
    ("script", "keep", "drop"),
    [
        ("Thai", "กรุงเทพมหานคร ประเทศไทย [1] 2567", "Bangkok Москва 北京"),
        ("Cyrl", "Москва столица России [2] 1147", "Moscow Αθήνα القاهرة"),
        ("Arab", "القاهرة عاصمة مصر [3] ١٢٣", "Cairo Москва กรุงเทพ"),
        ("Jpan", "東京は日本の首都です。カタカナ [1]", "Tokyo Москва 서울"),
        ("Hang", "서울은 대한민국의 수도입니다 [1]", "Seoul 東京 Москва"),
        ("Deva", "नई दिल्ली भारत की राजधानी है [1]", "Delhi Москва"),
    ],
)
def test_masks_per_script(xlmr, xlmr_masker, script, keep, drop):
    mask = xlmr_masker.mask(script)
    kept = token_ids(xlmr, keep)
    assert all(mask[i] for i in kept), [xlmr.id_to_token(i) for i in kept if not mask[i]]
    dropped = [i for i in token_ids(xlmr, drop) if xlmr.id_to_token(i) != "\u2581"]
    assert not any(mask[i] for i in dropped), [xlmr.id_to_token(i) for i in dropped if mask[i]]


def test_every_allowed_token_is_in_script(xlmr, xlmr_masker):
    """Exhaustive: no token allowed for Chinese holds a letter of another script."""
    mask = xlmr_masker.mask("Hani")
    foreign = regex.compile(r"[\p{L}\p{M}--[\p{Han}\p{Common}\p{Inherited}]]", flags=regex.V1)
    allowed = np.flatnonzero(mask)
    assert len(allowed) > 10_000
    bad = [xlmr.id_to_token(int(i)) for i in allowed if int(i) != EOS and foreign.search(xlmr.id_to_token(int(i)).replace("\u2581", " "))]
    assert bad == []


def test_masks_are_cached_and_read_only(xlmr_masker):
    first = xlmr_masker.mask("Cyrl")
    assert xlmr_masker.mask("Cyrl") is first
    with pytest.raises(ValueError):
        first[0] = True


def test_mask_width_follows_the_model(xlmr_table):
    table = xlmr_table
    masker = sc.ScriptMasker(table, [EOS], vocab_size=table.size + 64)
    mask = masker.mask("Hani")
    assert mask.shape == (table.size + 64,) and not mask[table.size :].any()
    with pytest.raises(ValueError):
        sc.ScriptMasker(table, [EOS], vocab_size=10)


def test_table_round_trip(tmp_path, xlmr, xlmr_table, byte_level):
    xlmr_table.save(tmp_path / "t.npz")
    loaded = sc.TokenScriptTable.load(tmp_path / "t.npz", xlmr, "xlmr")
    for name in ("letter_bits", "tail_bits", "valid", "special", "continuation_ids"):
        assert np.array_equal(getattr(xlmr_table, name), getattr(loaded, name))
    assert loaded.token_bytes(xlmr.token_to_id("\u2581Paris")) == b" Paris"
    # A table made for another vocabulary, or none at all, is recomputed from the tokenizer.
    stale = sc.TokenScriptTable.load(tmp_path / "t.npz", byte_level, "byte-level")
    assert stale.fingerprint == "byte-level" and stale.size == byte_level.get_vocab_size()
    missing = sc.TokenScriptTable.load(tmp_path / "absent.npz", byte_level, "byte-level")
    assert np.array_equal(missing.letter_bits, stale.letter_bits)


# --------------------------------------------------------------------------- byte-level vocabularies


def test_pending_bytes():
    assert sc.pending_bytes(b"abc") == b""
    assert sc.pending_bytes("中".encode()) == b""
    assert sc.pending_bytes("a中".encode()[:-1]) == "中".encode()[:2]
    assert sc.pending_bytes(b"x\xe4") == b"\xe4"
    assert sc.pending_bytes("Ж".encode()[:1]) == b"\xd0"


def test_byte_level_vocabulary_splits_characters(byte_level):
    table = sc.TokenScriptTable.from_tokenizer(byte_level, "bl")
    assert len(table.continuation_ids) > 10  # tokens that start inside a character exist
    assert (table.tail_bits != 0).sum() > 10  # tokens that end inside one too


@pytest.mark.parametrize("script", ["Hani", "Jpan", "Cyrl", "Arab", "Thai", "Hang", "Deva", "Hebr"])
def test_random_walks_stay_in_script(byte_level, script):
    """Sample uniformly among allowed tokens, tracking pending bytes: the text is always valid
    UTF-8 (once complete) and every letter belongs to the script."""
    table = sc.TokenScriptTable.from_tokenizer(byte_level, "bl")
    eos = byte_level.token_to_id("<eos>")
    masker = sc.ScriptMasker(table, [eos])
    processor = sc.ScriptLogitsProcessor(masker, script)
    members = {sc.SCRIPTS[m] for m in sc.script_members(script)}
    allowed_letter = regex.compile(
        "[" + "".join(f"\\p{{Script={name}}}" for name in members) + r"\p{Common}\p{Inherited}]"
    )
    rng = random.Random(script)
    letters_seen = 0
    for _walk in range(30):
        generated: list[int] = []
        for _step in range(40):
            allowed = np.flatnonzero(processor.allowed(generated))
            allowed = allowed[allowed != eos]
            assert len(allowed) > 0
            generated.append(int(rng.choice(allowed.tolist())))
        data = b"".join(table.token_bytes(i) for i in generated)
        data = data[: len(data) - len(sc.pending_bytes(data))]
        text = data.decode("utf-8")  # raises on an illegal sequence
        for char in text:
            if regex.match(r"[\p{L}\p{M}]", char):
                letters_seen += 1
                assert allowed_letter.match(char), (script, char, text)
    assert letters_seen > 100


def test_pending_character_admits_only_its_completions(byte_level):
    table = sc.TokenScriptTable.from_tokenizer(byte_level, "bl")
    masker = sc.ScriptMasker(table, [byte_level.token_to_id("<eos>")])
    after = masker.mask_after("Cyrl", b"\xd0")  # the first byte of a Cyrillic letter such as Ж
    for token_id in np.flatnonzero(after):
        data = table.token_bytes(int(token_id))
        if data is None:
            continue  # <eos>
        assert 0x80 <= data[0] <= 0xBF
        assert 0x400 <= ord((b"\xd0" + data).decode("utf-8", errors="ignore")[0]) <= 0x43F  # Ѐ .. п
    # Han cannot follow a pending Cyrillic lead byte at all; a pending Han lead byte admits no Latin.
    assert masker.mask_after("Hani", b"\xd0").sum() == 1  # only <eos>


def test_processor_masks_logits_like_a_transformers_processor(xlmr, xlmr_masker):
    torch = pytest.importorskip("torch")
    processor = sc.ScriptLogitsProcessor(xlmr_masker, "Hani", prompt_length=3)
    scores = torch.zeros((2, xlmr_masker.vocab_size))
    input_ids = torch.tensor([[0, 10, 11, 12], [0, 10, 11, 13]])
    out = processor(input_ids, scores)
    mask = torch.from_numpy(np.asarray(xlmr_masker.mask("Hani")))
    assert torch.isinf(out[:, ~mask]).all() and (out[:, mask] == 0).all()
