"""Context assembly: duplicates, versions, diversity, order, token budget, truncation."""

from __future__ import annotations

import random

import pytest

from babelrag.rag.assembly import (
    ELLIPSIS,
    AssembledContext,
    DropReason,
    assemble_context,
    content_similarity,
    format_source,
)
from babelrag.rag.passages import Passage
from tests.rag.helpers import count_chars, count_tokens, passage, unit, utc

BIG = 100_000

EIFFEL_EN = (
    "The Eiffel Tower was completed in 1889 for the World's Fair in Paris. It is 330 metres tall "
    "and was the tallest structure in the world until 1930."
)
EIFFEL_EN_COPY = (  # case, punctuation and one word differ
    "The Eiffel tower was completed in 1889 for the World’s Fair held in Paris! It is 330 metres "
    "tall, and was the tallest structure in the world until 1930"
)
EIFFEL_EN_OTHER = (
    "Gustave Eiffel's company designed and built the tower between 1887 and 1889; its iron "
    "lattice weighs about 7,300 tonnes."
)
EIFFEL_ZH = "埃菲尔铁塔于1889年为巴黎世界博览会而建成。塔高330米，在1930年之前一直是世界上最高的建筑物。"
EIFFEL_ZH_COPY = "埃菲尔铁塔于1889年为巴黎世界博览会而建成，塔高330米。在1930年之前，一直是世界上最高的建筑物！"
EIFFEL_ZH_OTHER = "铁塔由古斯塔夫·埃菲尔的公司设计，建于1887年至1889年之间，铁结构重约7300吨。"
EIFFEL_TH = (
    "หอไอเฟลสร้างเสร็จในปี 1889 สำหรับงานนิทรรศการโลกที่กรุงปารีส หอคอยนี้สูง 330 เมตร "
    "และเป็นสิ่งก่อสร้างที่สูงที่สุดในโลกจนถึงปี 1930"
)
EIFFEL_TH_COPY = (  # "กรุงปารีส" -> "ปารีส"
    "หอไอเฟลสร้างเสร็จในปี 1889 สำหรับงานนิทรรศการโลกที่ปารีส หอคอยนี้สูง 330 เมตร "
    "และเป็นสิ่งก่อสร้างที่สูงที่สุดในโลกจนถึงปี 1930"
)
EIFFEL_TH_OTHER = "บริษัทของกุสตาฟ ไอเฟล ออกแบบและสร้างหอคอยระหว่างปี 1887 ถึง 1889 โครงเหล็กหนักประมาณ 7300 ตัน"


def assemble(passages: list[Passage], **kwargs: object) -> AssembledContext:
    options: dict[str, object] = {"budget_tokens": BIG, "count_tokens": count_tokens}
    options.update(kwargs)
    return assemble_context(passages, **options)  # type: ignore[arg-type]


def ids(ctx: AssembledContext) -> list[str]:
    return [cp.passage.chunk_id for cp in ctx.passages]


def reasons(ctx: AssembledContext) -> dict[str, str]:
    return {d.passage.chunk_id: d.reason.value for d in ctx.dropped}


# --------------------------------------------------------------------------------------------------
# Near-duplicates


@pytest.mark.parametrize(
    ("language", "original", "copy", "other"),
    [
        ("en", EIFFEL_EN, EIFFEL_EN_COPY, EIFFEL_EN_OTHER),
        ("zh", EIFFEL_ZH, EIFFEL_ZH_COPY, EIFFEL_ZH_OTHER),
        ("th", EIFFEL_TH, EIFFEL_TH_COPY, EIFFEL_TH_OTHER),
    ],
)
def test_near_duplicate_dropped_and_higher_score_kept(language: str, original: str, copy: str, other: str) -> None:
    ps = [
        passage("copy", copy, 0.7, language=language),
        passage("orig", original, 0.9, language=language),
        passage("other", other, 0.6, language=language),
    ]
    ctx = assemble(ps)
    assert sorted(ids(ctx)) == ["orig", "other"]
    assert reasons(ctx) == {"copy": "near_duplicate"}
    (drop,) = ctx.dropped
    assert drop.kept is not None and drop.kept.chunk_id == "orig"


def test_near_duplicate_threshold_is_honoured() -> None:
    ps = [passage("a", EIFFEL_TH, 0.9, language="th"), passage("b", EIFFEL_TH_COPY, 0.8, language="th")]
    sim = content_similarity(ps[0], ps[1])
    assert 0.8 < sim < 1.0
    assert reasons(assemble(ps, near_duplicate_threshold=0.8)) == {"b": "near_duplicate"}
    assert reasons(assemble(ps, near_duplicate_threshold=min(1.0, sim + 0.01))) == {}


def test_near_duplicate_by_vector_when_both_have_one() -> None:
    a = passage("a", "Erster Text über die Mauer.", 0.9, vector=unit(1.0, 0.0, 0.0))
    b = passage("b", "Ganz andere Worte, gleicher Inhalt.", 0.8, vector=unit(1.0, 0.1, 0.0))  # cos 0.995
    c = passage("c", "Noch ein anderer Absatz.", 0.7, vector=unit(1.0, 0.5, 0.0))  # cos 0.89
    d = passage("d", "Ganz andere Worte, gleicher Inhalt!", 0.6)  # no vector: a text copy of b
    ctx = assemble([a, b, c, d])
    assert reasons(ctx) == {"b": "near_duplicate", "d": "near_duplicate"}
    # d copies b, which copies a: all three are one group, represented by a.
    assert [drop.kept.chunk_id for drop in ctx.dropped if drop.kept] == ["a", "a"]
    assert sorted(ids(ctx)) == ["a", "c"]


def test_image_and_text_with_the_same_words_are_both_kept() -> None:
    text = passage("t", EIFFEL_EN, 0.9)
    image = passage("i", EIFFEL_EN, 0.8, modality="image")
    assert sorted(ids(assemble([text, image]))) == ["i", "t"]


# --------------------------------------------------------------------------------------------------
# Versions


POLICY_2023 = (
    "Travel policy. Employees may book economy class for flights under 6 hours. The daily meal "
    "allowance is 45 euros. Hotel costs are reimbursed up to 120 euros per night."
)
POLICY_2024 = (  # a revision: figures changed, a rule added, one reworded
    "Travel policy. Employees may book economy class for flights under 8 hours. The daily meal "
    "allowance is 52 euros. Hotel costs are refunded up to 150 euros per night. Rail is preferred "
    "for trips under 4 hours."
)


def test_older_version_dropped_even_when_it_scores_higher() -> None:
    old = passage("old", POLICY_2023, 0.95, document_id="policy-2023", title="Travel Policy", valid_at=utc(2023))
    new = passage("new", POLICY_2024, 0.80, document_id="policy-2024", title="travel  policy", valid_at=utc(2024))
    assert 0.5 <= content_similarity(old, new) < 0.8  # not a near-duplicate: the version rule decides
    ctx = assemble([old, new])
    assert ids(ctx) == ["new"]
    assert reasons(ctx) == {"old": "older_version"}
    assert ctx.dropped[0].kept is new


def test_version_chain_reports_the_newest() -> None:
    v1 = passage("v1", POLICY_2023, 0.9, document_id="p", chunk_index=0, valid_at=utc(2022))
    v2 = passage("v2", POLICY_2023 + " Updated.", 0.8, document_id="p", chunk_index=1, valid_at=utc(2023))
    v3 = passage("v3", POLICY_2024, 0.7, document_id="p", chunk_index=2, valid_at=utc(2024))
    ctx = assemble([v1, v2, v3])
    assert ids(ctx) == ["v3"]
    assert {d.passage.chunk_id: d.kept.chunk_id for d in ctx.dropped if d.kept} == {"v1": "v3", "v2": "v3"}


@pytest.mark.parametrize(
    "change",
    [
        {"new_title": "Expense Guide", "new_doc": "other"},  # another source
        {"new_valid_at": None},  # no version date on one side
        {"new_valid_at": utc(2023)},  # same version date
        {"new_text": EIFFEL_EN},  # same source, unrelated content
    ],
)
def test_no_version_conflict(change: dict[str, object]) -> None:
    old = passage("old", POLICY_2023, 0.9, document_id="policy-2023", title="Travel Policy", valid_at=utc(2023))
    new = passage(
        "new",
        change.get("new_text", POLICY_2024),  # type: ignore[arg-type]
        0.8,
        document_id=change.get("new_doc", "policy-2024"),  # type: ignore[arg-type]
        title=change.get("new_title", "Travel Policy"),  # type: ignore[arg-type]
        valid_at=change.get("new_valid_at", utc(2024)),
    )
    ctx = assemble([old, new])
    assert sorted(ids(ctx)) == ["new", "old"]
    assert ctx.dropped == ()


def test_same_uri_is_the_same_source() -> None:
    old = passage("old", POLICY_2023, 0.9, title="a", uri="https://x/policy", valid_at=utc(2023))
    new = passage("new", POLICY_2024, 0.8, title="b", uri="https://x/policy", valid_at=utc(2024, 6))
    assert reasons(assemble([old, new])) == {"old": "older_version"}


# --------------------------------------------------------------------------------------------------
# Diversity, limits and order


TOPICS = [
    "Volcanoes form where magma rises through cracks in the crust.",
    "Honeybees communicate the direction of flowers by dancing.",
    "The violin has four strings tuned in perfect fifths.",
    "Glaciers carve U-shaped valleys as they slowly advance.",
    "Sourdough bread rises thanks to wild yeast and lactobacilli.",
    "Chess openings such as the Sicilian favour sharp play.",
    "Lighthouses warned ships away from dangerous coasts at night.",
]


def _topic(i: int) -> str:
    return TOPICS[i % len(TOPICS)]


def test_two_sources_beat_three_chunks_of_one_when_scores_are_close() -> None:
    ps = [
        passage("a0", _topic(0), 0.90, document_id="A", chunk_index=0),
        passage("a1", _topic(1), 0.89, document_id="A", chunk_index=5),
        passage("a2", _topic(2), 0.88, document_id="A", chunk_index=9),
        passage("b0", _topic(3), 0.85, document_id="B"),
        passage("c0", _topic(4), 0.84, document_id="C"),
    ]
    ctx = assemble(ps, max_passages=3)
    assert sorted(ids(ctx)) == ["a0", "b0", "c0"]
    assert reasons(ctx) == {"a1": "max_passages", "a2": "max_passages"}
    # Without diversity the three chunks of A win: the rule above is what made the difference.
    assert sorted(ids(assemble(ps, max_passages=3, diversity=0.0))) == ["a0", "a1", "a2"]


def test_relevance_still_wins_when_scores_are_far_apart() -> None:
    ps = [
        passage("a0", _topic(0), 0.90, document_id="A", chunk_index=0),
        passage("a1", _topic(1), 0.88, document_id="A", chunk_index=1),
        passage("b0", _topic(3), 0.40, document_id="B"),
    ]
    assert sorted(ids(assemble(ps, max_passages=2))) == ["a0", "a1"]


def test_max_per_document() -> None:
    ps = [passage(f"a{i}", _topic(i), 0.9 - i / 100, document_id="A", chunk_index=i) for i in range(5)]
    ctx = assemble(ps, max_per_document=2, diversity=0.0)
    assert ids(ctx) == ["a0", "a1"]
    assert reasons(ctx) == {"a2": "per_document_limit", "a3": "per_document_limit", "a4": "per_document_limit"}


def test_order_groups_documents_and_keeps_adjacent_chunks_together() -> None:
    ps = [
        passage("a5", _topic(5), 0.90, document_id="A", chunk_index=5),
        passage("b0", _topic(0), 0.80, document_id="B", chunk_index=0),
        passage("a4", _topic(4), 0.70, document_id="A", chunk_index=4),
        passage("c2", _topic(2), 0.85, document_id="C", chunk_index=2),
        passage("a6", _topic(6), 0.60, document_id="A", chunk_index=6),
    ]
    ctx = assemble(ps)
    # A (best 0.90) in chunk order, then C (0.85), then B (0.80).
    assert ids(ctx) == ["a4", "a5", "a6", "c2", "b0"]
    assert [cp.number for cp in ctx.passages] == [1, 2, 3, 4, 5]
    assert ctx.sources[2].chunk_id == "a5"


def test_rerank_score_is_the_relevance_when_set() -> None:
    ps = [
        passage("x", _topic(1), 0.9, rerank_score=0.1),
        passage("y", _topic(2), 0.2, rerank_score=0.8),
    ]
    ctx = assemble(ps, max_passages=1)
    assert ids(ctx) == ["y"]


# --------------------------------------------------------------------------------------------------
# Token budget


def _block_tokens(ctx: AssembledContext, count=count_tokens) -> int:
    return sum(count(format_source(cp.number, cp.passage)) for cp in ctx.passages)


def test_budget_drops_what_does_not_fit_and_tries_smaller_ones() -> None:
    top = passage("top", "Short answer sentence.", 0.9)
    big = passage("big", " ".join(["word"] * 200), 0.8)
    small = passage("small", "Another short one.", 0.7)
    cost_top = count_tokens(format_source(8, top))
    cost_small = count_tokens(format_source(8, small))
    ctx = assemble([top, big, small], budget_tokens=cost_top + cost_small)
    assert ids(ctx) == ["top", "small"]
    assert reasons(ctx) == {"big": "budget"}
    assert ctx.tokens == _block_tokens(ctx) <= ctx.budget_tokens


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("counter", [count_tokens, count_chars], ids=["words", "chars"])
def test_budget_is_never_exceeded_on_random_inputs(seed: int, counter) -> None:  # noqa: ANN001
    rng = random.Random(seed)
    vocab = ["tower", "paris", "iron", "塔", "铁", "巴黎", "หอ", "ไอเฟล", "Мост", "год", "1889", "metres"]
    seen: set[str] = set()  # which paths the trials took, so the test is known to reach them
    for trial in range(40):
        ps = []
        for i in range(rng.randint(0, 14)):
            n_sentences = rng.randint(1, 6)
            text = " ".join(
                " ".join(rng.choice(vocab) for _ in range(rng.randint(2, 25))) + rng.choice([".", "。", "!", ""])
                for _ in range(n_sentences)
            )
            ps.append(
                passage(
                    f"p{i}",
                    text,
                    round(rng.random(), 3),
                    document_id=f"d{rng.randint(0, 4)}",
                    chunk_index=rng.randint(0, 20),
                    modality=rng.choice(["text", "text", "image"]),
                    valid_at=rng.choice([None, utc(2020), utc(2024)]),
                )
            )
        budget = rng.randint(0, 400)
        max_passages = rng.randint(1, 10)
        ctx = assemble_context(ps, budget_tokens=budget, count_tokens=counter, max_passages=max_passages)
        where = f"seed {seed} trial {trial}"
        assert ctx.tokens <= budget, where
        assert ctx.tokens == _block_tokens(ctx, counter), where
        assert [cp.number for cp in ctx.passages] == list(range(1, len(ctx) + 1)), where
        assert len(ctx) <= max_passages, where
        # Every input is accounted for exactly once.
        shown = [(cp.original or cp.passage).chunk_id for cp in ctx.passages]
        assert sorted(shown + [d.passage.chunk_id for d in ctx.dropped]) == sorted(p.chunk_id for p in ps), where
        per_doc = {}
        for cp in ctx.passages:
            per_doc[cp.passage.document_id] = per_doc.get(cp.passage.document_id, 0) + 1
        assert max(per_doc.values(), default=0) <= 3, where
        # Only the most relevant passage may be truncated, and only when it alone is too big.
        truncated = [cp for cp in ctx.passages if cp.truncated]
        assert len(truncated) <= 1, where
        if truncated:
            assert len(ctx) == 1 and truncated[0].passage.text.endswith(ELLIPSIS), where
            seen.add("truncated")
        seen.update(d.reason.value for d in ctx.dropped)
    assert {"truncated", "budget", "max_passages", "older_version"} <= seen


def test_oversize_top_passage_is_cut_at_a_sentence_end() -> None:
    text = (
        "The tower was finished in 1889. It was built for the World's Fair. "
        "Its designer was Gustave Eiffel. Many artists protested against it at first."
    )
    top = passage("top", text, 0.9, title="Eiffel")
    other = passage("other", "Paris is in France.", 0.8)
    budget = count_tokens(format_source(8, top)) - 8
    ctx = assemble([top, other], budget_tokens=budget)
    assert ids(ctx) == ["top"]
    (cp,) = ctx.passages
    assert cp.truncated and cp.original is top
    assert cp.passage.text == "The tower was finished in 1889. It was built for the World's Fair. " + ELLIPSIS
    assert ctx.tokens == cp.tokens <= budget
    assert reasons(ctx) == {"other": "budget"}


def test_oversize_chinese_passage_is_cut_after_a_full_stop() -> None:
    text = "铁塔于1889年建成。它是为世界博览会而建的。设计者是古斯塔夫·埃菲尔。起初许多艺术家反对它。"
    top = passage("top", text, 0.9, title="埃菲尔铁塔", language="zh")
    # The last sentence is 11 tokens and the ellipsis 1: 11 fewer tokens force out two sentences.
    budget = count_tokens(format_source(8, top)) - 11
    ctx = assemble([top], budget_tokens=budget)
    (cp,) = ctx.passages
    assert cp.passage.text == "铁塔于1889年建成。它是为世界博览会而建的。" + ELLIPSIS
    assert ctx.tokens <= budget


def test_oversize_sentence_falls_back_to_words() -> None:
    top = passage("top", "one two three four five six seven eight nine ten", 0.9, title="T")
    budget = count_tokens(format_source(8, top)) - 4  # four words out, and one more for the ellipsis
    (cp,) = assemble([top], budget_tokens=budget).passages
    assert cp.passage.text == "one two three four five " + ELLIPSIS


def test_a_budget_too_small_for_anything_drops_everything() -> None:
    ps = [passage("a", "Some text here.", 0.9), passage("b", "More text.", 0.8)]
    ctx = assemble(ps, budget_tokens=2)
    assert ctx.passages == () and ctx.tokens == 0
    assert reasons(ctx) == {"a": "budget", "b": "budget"}


def test_empty_input() -> None:
    ctx = assemble([])
    assert ctx.passages == () and ctx.dropped == () and ctx.tokens == 0


# --------------------------------------------------------------------------------------------------
# Rendering and arguments


def test_format_source_text_and_image() -> None:
    text = passage("t", "Der Text.[12] Mehr [3] dazu, seit [2023].", 0.5, title="Mauer", language="de")
    assert format_source(1, text) == "[1] Mauer (de)\nDer Text. Mehr  dazu, seit [2023]."
    image = passage("i", "Das Tor bei Nacht", 0.5, title="Brandenburger Tor", modality="image")
    assert format_source(3, image) == "[3] image: Brandenburger Tor — caption: Das Tor bei Nacht"
    no_title = Passage("c", "doc-7", 0, "x", title="", uri="", language="und")
    assert format_source(2, no_title) == "[2] doc-7\nx"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"budget_tokens": -1}, ValueError),
        ({"budget_tokens": 1.5}, TypeError),
        ({"max_passages": 0}, ValueError),
        ({"max_per_document": 0}, ValueError),
        ({"near_duplicate_threshold": 0.0}, ValueError),
        ({"near_duplicate_threshold": 1.2}, ValueError),
        ({"diversity": -0.1}, ValueError),
        ({"cosine_floor": 1.0}, ValueError),
        ({"count_tokens": lambda s: -1}, ValueError),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        assemble([passage("a", "text", 0.5)], **kwargs)


def test_non_passages_are_rejected() -> None:
    with pytest.raises(TypeError):
        assemble_context(["text"], budget_tokens=10, count_tokens=count_tokens)  # type: ignore[list-item]


def test_relevance_floor_drops_passages_far_below_the_best():
    topics = ["Rivers of Europe and their sources.", "Photosynthesis in green plants.", "The history of printing.", "Volcanoes of Iceland."]
    scored = [passage(f"c{i}", text, score) for i, (text, score) in enumerate(zip(topics, [0.9, 0.5, 0.36, 0.1]))]
    ctx = assemble(scored, min_relative_relevance=0.4)
    assert ids(ctx) == ["c0", "c1"]  # 0.36 < 0.4 x 0.9
    assert reasons(ctx) == {"c2": "low_relevance", "c3": "low_relevance"}
    assert ids(assemble(scored)) == ["c0", "c1", "c2", "c3"]  # off by default


def test_relevance_floor_keeps_the_best_passage_whatever_its_score():
    ctx = assemble([passage("only", "A lone weak passage.", 0.01)], min_relative_relevance=0.9)
    assert ids(ctx) == ["only"]
    with pytest.raises(ValueError, match="min_relative_relevance"):
        assemble([passage("x", "x", 0.5)], min_relative_relevance=1.5)
