"""Ask end to end: streamed, cited answers in the asker's language (tiny generator on real Triton)."""

from __future__ import annotations

import re
import time
import unicodedata
import uuid

import grpc
import pytest
import regex

from babelrag.rag.prompting import PHRASES
from babelrag.text.langid import get_detector
from babelrag.v1 import ask_pb2
from tests.gateway.helpers import image_bytes, text_item

pytestmark = pytest.mark.slow

CORPUS = [
    text_item("zh-photosynthesis", "光合作用是植物利用阳光把二氧化碳和水转化为葡萄糖的过程。叶绿素吸收光能。", title="光合作用"),
    text_item("fr-eiffel", "La tour Eiffel est une tour de fer puddlé de 330 mètres de hauteur située à Paris.", title="Tour Eiffel"),
    text_item("de-rhein", "Der Rhein ist einer der längsten und wichtigsten Flüsse in Mitteleuropa.", title="Rhein"),
]


@pytest.fixture
def corpus_tenant(new_tenant):
    _, api = new_tenant()
    api.ingest(*CORPUS)
    return api


def split(responses: list[ask_pb2.AskResponse]) -> tuple[list[str], ask_pb2.AnswerFinal]:
    kinds = [r.WhichOneof("event") for r in responses]
    assert kinds[-1] == "final" and kinds.count("final") == 1, kinds
    return [r.delta.text for r in responses[:-1]], responses[-1].final


# The tiny generator has random weights: greedy decoding repeats one punctuation token, so the
# language tests sample (temperature 1): what they then show is the logits processor keeping every
# sampled token inside the answer language's script.
SAMPLED = {"temperature": 1.0}


def test_chinese_question_streams_a_cited_chinese_answer(corpus_tenant):
    deltas, final = split(corpus_tenant.ask("叶绿素吸收什么？", options=ask_pb2.AskOptions(max_tokens=24, **SAMPLED)))
    # The answer opens with the base-model opener written into the prompt, sent at once; then tokens.
    opener, *deltas = deltas
    assert opener == PHRASES["zh"].opener
    assert len(deltas) >= 2, "the answer was not streamed"
    assert opener + "".join(deltas) == final.answer
    assert final.question_language == "zh"
    assert final.answer_language == "zh"
    assert final.detected_answer_language == "zh" and final.answer_language_ok
    assert final.context and final.context[0].document_id == "zh-photosynthesis"
    assert [c.number for c in final.context] == list(range(1, len(final.context) + 1))
    for citation in final.citations:  # whatever [n] the answer used maps to a numbered source
        assert citation.number in {c.number for c in final.context}
    assert {"detect", "embed", "retrieve", "rerank", "assemble", "first_token", "generate"} <= set(final.timings.ms)
    assert final.completion_tokens >= len(deltas) > 0
    assert final.finish_reason in ("stop", "length")


SCRIPT_OF = {"ru": "CYRILLIC", "th": "THAI", "el": "GREEK", "ko": "HANGUL", "ja": ("CJK", "HIRAGANA", "KATAKANA")}


@pytest.mark.parametrize("language", sorted(SCRIPT_OF))
def test_answer_language_control_keeps_the_requested_script(corpus_tenant, language):
    _, final = split(
        corpus_tenant.ask("What does chlorophyll absorb?", answer_language=language, options=ask_pb2.AskOptions(max_tokens=24, **SAMPLED))
    )
    assert final.answer_language == language
    assert final.answer.startswith(PHRASES[language].opener)
    generated = final.answer.removeprefix(PHRASES[language].opener)
    letters = [ch for ch in generated if ch.isalpha()]
    assert len(letters) >= 5, final.answer
    scripted = [ch for ch in letters if not regex.match(r"[\p{Script=Common}\p{Script=Inherited}]", ch)]
    foreign = [ch for ch in scripted if not unicodedata.name(ch, "").startswith(SCRIPT_OF[language])]
    assert not foreign, f"letters outside the {language} script: {foreign}"
    # Where the script names the language, the post-check must say so. (Random Cyrillic or
    # Han+kana soup from the untrained model need not read as Russian or Japanese to a detector.)
    if language in ("th", "el", "ko"):
        assert get_detector().detect(generated).code == language
        assert final.detected_answer_language == language and final.answer_language_ok


def test_explicit_answer_language_wins_over_the_question(corpus_tenant):
    _, final = split(corpus_tenant.ask("Wie hoch ist der Eiffelturm?", answer_language="zh", options=ask_pb2.AskOptions(max_tokens=12)))
    assert final.question_language == "de"
    assert final.answer_language == "zh"


def test_image_question_reaches_the_generator_with_the_image(corpus_tenant):
    picture = image_bytes("green", "tree")
    corpus_tenant.ingest({"document_id": "green-picture", "filename": "green.png", "content": picture, "caption": "a green circle"})
    _, final = split(corpus_tenant.ask("What is in this picture?", images=[picture], options=ask_pb2.AskOptions(max_tokens=8)))
    assert any(c.document_id == "green-picture" for c in final.context)
    assert final.images_seen == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"question": ""}, "the question is empty"),
        ({"question": "   "}, "the question is empty"),
        ({"question": "x" * (10 * 1024 * 1024)}, "characters long"),
        ({"question": "ok?", "answer_language": "klingon"}, "invalid answer language"),
        ({"question": "ok?", "images": [b"not an image at all"]}, "image 0"),
        ({"question": "ok?", "options": ask_pb2.AskOptions(max_tokens=100000)}, "max_tokens"),
    ],
)
def test_bad_ask_requests_are_invalid_argument_and_the_server_keeps_serving(corpus_tenant, fields, message):
    question = fields.pop("question")
    with pytest.raises(grpc.RpcError) as info:
        corpus_tenant.ask(question, **fields)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    assert message in info.value.details()
    _, final = split(corpus_tenant.ask("Was ist der Rhein?", options=ask_pb2.AskOptions(max_tokens=4)))
    assert final.answer


def test_cancelling_ask_stops_generation_on_triton(corpus_tenant, triton_server):
    """The asker goes away mid-answer: the gateway cancels the generator's request on Triton, which
    stops long before its token limit (the model logs each request's end under the call's id)."""
    request_id = f"cancel-ask-{uuid.uuid4().hex[:8]}"
    limit = 1000
    call = corpus_tenant.ask_stub.Ask(
        ask_pb2.AskRequest(question="叶绿素吸收什么？", options=ask_pb2.AskOptions(max_tokens=limit, **SAMPLED)),
        metadata=(*corpus_tenant.metadata, ("x-request-id", request_id)),
        timeout=120,
    )
    deltas = 0
    for response in call:
        deltas += response.WhichOneof("event") == "delta"
        if deltas == 3:
            call.cancel()
            break
    assert deltas == 3
    deadline = time.monotonic() + 30
    line = ""
    while time.monotonic() < deadline and not line:
        found = [text for text in triton_server.log_path.read_text(errors="replace").splitlines() if f"[{request_id}]" in text]
        line = found[-1] if found else ""
        time.sleep(0.1)
    match = re.search(r"(stop|length|cancelled) after (\d+) tokens", line)
    assert match, f"the generator logged nothing for {request_id}"
    assert match.group(1) == "cancelled" and int(match.group(2)) < limit, line
    # The gateway serves the tenant's next question at once.
    _, final = split(corpus_tenant.ask("叶绿素吸收什么？", options=ask_pb2.AskOptions(max_tokens=4, **SAMPLED)))
    assert final.completion_tokens >= 1


GLACIER_FACTS = [
    "Glaciers carve deep U-shaped valleys as the moving ice plucks and grinds the bedrock beneath it. The valleys keep their steep walls and flat floors long after the ice has melted, and hanging valleys with waterfalls mark where smaller tributary glaciers once joined the main one.",
    "A glacier forms where winter snowfall exceeds summer melting for many years. The buried snow compacts into grainy firn and finally into dense blue ice, which starts to flow downhill under its own weight once it is a few dozen metres thick.",
    "Glacial meltwater feeds major rivers in Asia and South America. Millions of farmers depend on the summer flow that glaciers release during the dry season, and hydropower dams on these rivers are planned around the timing of the melt.",
    "Moraines are ridges of rock debris that glaciers push ahead of them or drop along their sides. Geologists map these ridges, date the boulders on them and reconstruct how far the ice reached during each cold period of the last ice age.",
    "Scientists drill ice cores from glaciers and ice sheets to study ancient air trapped in bubbles. The layers record the composition of the atmosphere, volcanic eruptions and past temperatures over hundreds of thousands of years.",
    "Most mountain glaciers around the world are retreating quickly. The loss of glacial ice contributes a significant share of the observed rise in global sea level, and some small glaciers in the Alps and the Andes have already disappeared entirely.",
]


def test_a_base_model_generator_gets_the_smaller_context_budget(new_tenant, gateway, monkeypatch):
    """The tiny generator is a base model: its passages get ``base_model_context_tokens`` (256),
    not half the window; setting it to 0 gives it the instruction-tuned budget."""
    import dataclasses

    _, api = new_tenant()
    api.ingest(*(text_item(f"glacier-{i}", fact, title=f"Glaciers {i}") for i, fact in enumerate(GLACIER_FACTS)))
    runtime = gateway.gateway.runtime
    # Every passage may enter: no relevance floor, and no near-duplicate test (the tiny E5 has
    # random weights, so its vectors of different texts are close).
    settings = dataclasses.replace(runtime.settings, context_min_relevance=0.0, context_dedupe=False)
    assert runtime.generator_instruction_tuned is False and settings.base_model_context_tokens == 256
    tokens = {f"glacier-{i}": runtime.count_tokens(fact) for i, fact in enumerate(GLACIER_FACTS)}
    assert 50 < min(tokens.values()) and sum(tokens.values()) > 256

    def context() -> list[str]:
        _, final = split(api.ask("What do glaciers do to valleys, rivers and sea level?", options={"max_tokens": 2}))
        return [c.document_id for c in final.context]

    monkeypatch.setattr(runtime, "settings", settings)
    small = context()
    monkeypatch.setattr(runtime, "settings", dataclasses.replace(settings, base_model_context_tokens=0))
    large = context()
    assert small and sum(tokens[d] for d in small) <= 256
    assert sorted(large) == sorted(tokens)  # half the 2048-token window holds all six
