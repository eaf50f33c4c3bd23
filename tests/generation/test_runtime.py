"""The generator runtime on the tiny vision-language build, in-process (no Triton)."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import regex
import torch

from babelrag.generation.runtime import (
    Finished,
    GenerationInputError,
    IncrementalDetokenizer,
    SamplingParams,
    TextDelta,
)
from tests.generation.conftest import png

PROMPT = "Question: which city is the capital of France? Answer:"


def stream_events(generator, prompt, images=(), **params):
    return list(generator.stream(generator.prepare(prompt, images), SamplingParams(**params)))


def deltas(events) -> list[str]:
    return [e.text for e in events if isinstance(e, TextDelta)]


# --------------------------------------------------------------------------- streaming


def test_stream_concatenates_to_the_whole_answer(tiny_generator):
    events = stream_events(tiny_generator, PROMPT, max_tokens=40, temperature=0.8, seed=7)
    pieces = deltas(events)
    assert len(pieces) > 1 and all(pieces)
    finished = events[-1]
    assert isinstance(finished, Finished) and all(isinstance(e, TextDelta) for e in events[:-1])
    whole = tiny_generator.generate(PROMPT, params=SamplingParams(max_tokens=40, temperature=0.8, seed=7))
    assert "".join(pieces) == whole.text
    assert whole.completion_tokens == finished.completion_tokens == len(whole.token_ids)
    # ... and is a plain decode of the generated ids (which drops the first token's leading space).
    plain = tiny_generator.tokenizer.backend_tokenizer.decode(list(whole.token_ids), skip_special_tokens=True)
    assert whole.text.strip() == plain.strip()


def test_max_tokens_gives_length(tiny_generator):
    completion = tiny_generator.generate(PROMPT, params=SamplingParams(max_tokens=5))
    assert completion.finish_reason == "length"
    assert completion.completion_tokens == 5
    assert completion.prompt_tokens == tiny_generator.prepare(PROMPT).prompt_tokens


def test_stop_string_ends_the_answer(tiny_generator):
    params = SamplingParams(max_tokens=40, temperature=1.0, seed=3)
    full = tiny_generator.generate(PROMPT, params=params).text
    assert len(full) > 12
    stop = full[6:9]
    first = full.find(stop)
    stopped = tiny_generator.generate(PROMPT, params=dataclasses.replace(params, stop=(stop,)))
    assert stopped.finish_reason == "stop"
    assert stopped.text == full[:first]


def test_seeded_sampling_is_reproducible(tiny_generator):
    params = SamplingParams(max_tokens=12, temperature=1.0, seed=11)
    first = tiny_generator.generate(PROMPT, params=params)
    assert tiny_generator.generate(PROMPT, params=params).token_ids == first.token_ids
    other = tiny_generator.generate(PROMPT, params=dataclasses.replace(params, seed=12))
    assert other.token_ids != first.token_ids
    nucleus = SamplingParams(max_tokens=3, temperature=1.0, top_p=0.5, top_k=1000, seed=11)
    assert tiny_generator.generate(PROMPT, params=nucleus).token_ids == tiny_generator.generate(PROMPT, params=nucleus).token_ids


def test_decoding_loop_matches_transformers_generate(tiny_generator):
    """The KV-cached loop (image included) picks the same greedy tokens as generate()."""
    prepared = tiny_generator.prepare("<image>What is shown here?", [png(5)])
    ours = tiny_generator.generate("<image>What is shown here?", [png(5)], SamplingParams(max_tokens=12, ignore_eos=True))
    with torch.inference_mode():
        reference = tiny_generator.model.generate(
            **prepared.inputs, max_new_tokens=12, min_new_tokens=12, do_sample=False
        )
    assert list(ours.token_ids) == reference[0, prepared.prompt_tokens :].tolist()


def test_cancellation_hook_stops_generation(tiny_generator):
    seen: list[int] = []
    prepared = tiny_generator.prepare(PROMPT)
    events = list(
        tiny_generator.stream(
            prepared, SamplingParams(max_tokens=500), should_stop=lambda: len(seen) >= 3, on_token=seen.append
        )
    )
    assert events[-1] == Finished("cancelled", prepared.prompt_tokens, 3)
    assert len(seen) == 3


# --------------------------------------------------------------------------- images


def test_images_go_through_the_vision_encoder(tiny_generator):
    a = tiny_generator.next_token_logits(tiny_generator.prepare("<image>What is this?", [png(1)]))
    b = tiny_generator.next_token_logits(tiny_generator.prepare("<image>What is this?", [png(2)]))
    again = tiny_generator.next_token_logits(tiny_generator.prepare("<image>What is this?", [png(1)]))
    assert np.abs(a - b).max() > 1e-4
    assert np.array_equal(a, again)


def test_image_and_text_prompt(tiny_generator):
    text_only = tiny_generator.prepare("What is this?")
    with_images = tiny_generator.prepare("What is this?", [png(1), png(2, size=(40, 90))])  # placeholders prepended
    assert with_images.images == 2
    assert with_images.prompt_tokens > text_only.prompt_tokens + 2 * 4
    assert with_images.inputs["pixel_values"].shape[1] >= 2
    completion = tiny_generator.generate("<image> and <image>: compare", [png(1), png(2)], SamplingParams(max_tokens=6))
    assert completion.completion_tokens == 6


@pytest.mark.parametrize(
    ("prompt", "images", "message"),
    [
        ("What?", [b"not an image at all"], "image 0: bytes are not a readable image"),
        ("What?", [png(1), png(2)[:200]], "image 1:"),
        ("What?", [b""], "image 0: empty"),
        ("<image> <image> two?", [png(1)], "2 <image> placeholder(s) but 1 image"),
        ("<image> one?", [], "1 <image> placeholder(s) but 0 image"),
        ("What?", [png(i) for i in range(5)], "at most 4"),
        ("   ", [], "prompt is empty"),
    ],
)
def test_bad_inputs_are_refused(tiny_generator, prompt, images, message):
    with pytest.raises(GenerationInputError, match=regex.escape(message)):
        tiny_generator.prepare(prompt, images)


def test_text_only_generator_refuses_images(tiny_generator):
    text_only = copy.copy(tiny_generator)
    text_only.spec = dataclasses.replace(tiny_generator.spec, kind="text", display_name="gemma-3-270m")
    with pytest.raises(GenerationInputError, match="text-only"):
        text_only.prepare("What is this?", [png(1)])


def test_prompt_length_limit(tiny_generator):
    short = copy.copy(tiny_generator)
    short.max_input_tokens = 8
    with pytest.raises(GenerationInputError, match="at most 8"):
        short.prepare("one two three four five six seven eight nine ten eleven twelve")


@pytest.mark.parametrize(
    "kwargs",
    [{"max_tokens": 0}, {"temperature": -1.0}, {"temperature": float("nan")}, {"top_p": 0.0}, {"script": "not a script!"},
     {"stop": ("",)}],
)  # fmt: skip
def test_bad_sampling_params(kwargs):
    with pytest.raises(GenerationInputError):
        SamplingParams(**kwargs)


# --------------------------------------------------------------------------- answer-language control


@pytest.mark.parametrize(
    ("language", "script_pattern"),
    [
        ("zh", r"\p{Han}"),
        ("ja", r"[\p{Han}\p{Hiragana}\p{Katakana}]"),
        ("ru", r"\p{Cyrillic}"),
        ("th", r"\p{Thai}"),
        ("ar", r"\p{Arabic}"),
        ("ko", r"\p{Hangul}"),
    ],
)
def test_script_control_constrains_generation(tiny_generator, language, script_pattern):
    """Sampling at temperature 1 from the random model would wander over every script; with the
    mask every generated token is an allowed one and every letter is in the answer's script."""
    ids: list[int] = []
    prepared = tiny_generator.prepare(PROMPT)
    params = SamplingParams(max_tokens=40, temperature=1.0, seed=1, script=language)
    text = "".join(deltas(tiny_generator.stream(prepared, params, on_token=ids.append)))
    mask = tiny_generator.masker.mask(params.script)
    assert len(ids) > 10 and all(mask[i] for i in ids)
    letters = regex.findall(r"[\p{L}\p{M}]", text)
    assert len(letters) > 10
    foreign = [c for c in letters if not regex.match(script_pattern + r"|[\p{Common}\p{Inherited}]", c)]
    assert foreign == [], text


def test_without_script_the_random_model_wanders(tiny_generator):
    completion = tiny_generator.generate(PROMPT, params=SamplingParams(max_tokens=40, temperature=1.0, seed=1))
    scripts = {s for s in ("Latin", "Han", "Cyrillic", "Arabic", "Thai", "Hangul") if regex.search(rf"\p{{{s}}}", completion.text)}
    assert len(scripts) >= 2, completion.text  # the constraint above is doing the work


# --------------------------------------------------------------------------- detokenizer


class _ByteTokenizer:
    """Token id = one byte; decode like a byte-level tokenizer (invalid UTF-8 -> U+FFFD)."""

    def decode(self, ids, skip_special_tokens=True):
        return bytes(ids).decode("utf-8", errors="replace")


def test_detokenizer_holds_incomplete_characters():
    detok = IncrementalDetokenizer(_ByteTokenizer())
    out = [detok.push(b) for b in "a中b".encode()]
    assert out == ["a", "", "", "中", "b"]
    assert detok.flush() == ""


def test_detokenizer_holds_possible_stop_prefixes():
    detok = IncrementalDetokenizer(_ByteTokenizer(), stop=("\nQ:",))
    out = [detok.push(b) for b in b"Paris\nQx\nQ:more"]
    assert "".join(out) == "Paris\nQx"
    assert out[5:7] == ["", ""]  # "\n", "\nQ" held until they cannot start the stop string
    assert detok.stopped and detok.push(ord("z")) == ""


def test_detokenizer_flushes_held_text_at_the_end():
    detok = IncrementalDetokenizer(_ByteTokenizer(), stop=("END",))
    assert "".join(detok.push(b) for b in b"the EN") == "the "
    assert detok.flush() == "EN"


# --------------------------------------------------------------------------- how an answer begins


def test_opening_mask_covers_breaks_citation_markers_and_stop_tokens():
    from babelrag.generation.opening import opening_forbidden_mask

    vocab = {0: None, 1: b"\n", 2: b"  \n\n", 3: b"[", 4: b" [1]", 5: b"Paris", 6: b" ", 7: b"x\n", 8: b""}
    forbidden = opening_forbidden_mask(vocab.get, len(vocab), stop_token_ids=[0])
    assert [i for i in vocab if forbidden[i]] == [0, 1, 2, 3, 4]


def test_answer_never_begins_with_a_break_or_a_marker(tiny_generator):
    """The model is pushed hard towards "\\n" and "[": the first token still cannot be either, and
    once visible text is out, they are allowed again."""
    tokenizer = tiny_generator.tokenizer
    favoured = [tokenizer.convert_tokens_to_ids(t) for t in ("\n", "[") if tokenizer.convert_tokens_to_ids(t) is not None]
    favoured = [i for i in favoured if i != tokenizer.unk_token_id]
    assert favoured, "the tiny vocabulary has neither a newline nor a '[' token"

    def push(module, inputs, output):  # noqa: ANN001, ARG001
        output[..., favoured] += 1000.0
        return output

    handle = tiny_generator.model.get_output_embeddings().register_forward_hook(push)
    try:
        completion = tiny_generator.generate(PROMPT, params=SamplingParams(max_tokens=6, ignore_eos=True))
    finally:
        handle.remove()
    text = completion.text
    assert text.strip() and not text.lstrip(" ").startswith(("\n", "[")), repr(text)
    assert completion.token_ids[0] not in favoured and set(completion.token_ids[1:]) <= set(favoured), completion.token_ids
