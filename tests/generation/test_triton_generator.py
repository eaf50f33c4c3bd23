"""The streaming ``generator`` model served by a real tritonserver (tiny build), through the client."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time

import numpy as np
import pytest
import regex
import tritonclient.grpc as grpcclient

from babelrag.generation.client import Finished, GenerationStream, TextDelta, TritonGenerator
from babelrag.generation.runtime import SamplingParams
from babelrag.triton.errors import InferenceRejected, ModelNotReady, TritonUnavailable
from babelrag.triton.launcher import free_port
from tests.generation.conftest import png

pytestmark = pytest.mark.slow

PROMPT = "Question: which city is the capital of France? Answer:"
LONG = 2000  # far more tokens than a cancelled request may produce


@pytest.fixture
async def generator(generator_server):
    async with TritonGenerator(generator_server.grpc_url, timeout_s=120) as client:
        yield client


async def collect(stream: GenerationStream) -> tuple[list[str], Finished]:
    pieces: list[str] = []
    async with stream:
        async for event in stream:
            if isinstance(event, TextDelta):
                pieces.append(event.text)
            else:
                return pieces, event
    raise AssertionError("no Finished event")


def log_lines(server, request_id: str) -> list[str]:
    return [line for line in server.log_path.read_text(errors="replace").splitlines() if f"[{request_id}]" in line]


async def wait_for_log(server, request_id: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log_lines(server, request_id)
        if lines:
            return lines[-1]
        await asyncio.sleep(0.1)
    raise AssertionError(f"the model logged nothing for {request_id}:\n{server.log_tail()}")


def tokens_generated(line: str) -> int:
    match = re.search(r"(stop|length|cancelled) after (\d+) tokens", line)
    assert match, line
    return int(match.group(2))


async def test_deltas_stream_before_the_final_event(generator, tiny_generator):
    stream = generator.stream(PROMPT, max_tokens=12, temperature=0.0)
    events = []
    async with stream:
        async for event in stream:
            events.append(event)
    assert isinstance(events[-1], Finished) and all(isinstance(e, TextDelta) for e in events[:-1])
    assert len(events) > 2  # several responses, not one
    finished = events[-1]
    assert finished.finish_reason == "length" and finished.completion_tokens == 12
    assert finished.first_text_s is not None and 0 < finished.first_text_s <= finished.total_s
    # Served text equals the in-process runtime's (greedy decoding is deterministic).
    local = tiny_generator.generate(PROMPT, params=SamplingParams(max_tokens=12))
    assert "".join(e.text for e in events[:-1]) == local.text
    assert finished.prompt_tokens == local.prompt_tokens


async def test_image_and_text_prompt(generator, tiny_generator):
    text_only = await generator.generate("What is in the picture?", max_tokens=4)
    with_image = await generator.generate("<image>What is in the picture?", images=[png(1)], max_tokens=4)
    other_image = await generator.generate("<image>What is in the picture?", images=[png(2)], max_tokens=4)
    assert with_image.prompt_tokens > text_only.prompt_tokens
    local = tiny_generator.generate("<image>What is in the picture?", [png(2)], SamplingParams(max_tokens=4))
    assert other_image.text == local.text and other_image.completion_tokens == 4


async def test_corrupt_image_is_rejected_and_the_model_keeps_serving(generator):
    with pytest.raises(InferenceRejected, match="image 1: bytes are not a readable image"):
        await generator.generate("<image><image>compare", images=[png(1), b"\x89PNG not really"], max_tokens=4)
    with pytest.raises(InferenceRejected, match="placeholder"):
        await generator.generate("<image> and <image>", images=[png(1)], max_tokens=4)
    answer = await generator.generate(PROMPT, max_tokens=3)
    assert answer.finish_reason == "length" and answer.completion_tokens == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_tokens": 100_000}, "over this server's limit"),
        ({"language": "definitely not a tag"}, "neither an ISO 15924 script code"),
        ({"temperature": -1.0}, "temperature"),
    ],
)
async def test_invalid_arguments_are_rejected(generator, kwargs, message):
    with pytest.raises(InferenceRejected, match=message):
        await generator.generate(PROMPT, **kwargs)


async def test_client_side_validation():
    async with TritonGenerator("127.0.0.1:1") as client:
        _check_arguments(client)


def _check_arguments(client: TritonGenerator) -> None:
    with pytest.raises(InferenceRejected):
        client.stream("   ")
    with pytest.raises(InferenceRejected):
        client.stream(PROMPT, script="Hani", language="zh")
    with pytest.raises(InferenceRejected):
        client.stream(PROMPT, images=[b""])
    with pytest.raises(InferenceRejected):
        client.stream(PROMPT, max_tokens=2.5)
    with pytest.raises(TypeError):
        client.stream(PROMPT, images=b"raw bytes")


async def test_answer_language_through_triton(generator):
    answer = await generator.generate(PROMPT, max_tokens=30, temperature=1.0, seed=5, language="ru")
    letters = regex.findall(r"[\p{L}\p{M}]", answer.text)
    assert len(letters) > 5 and all(regex.match(r"[\p{Cyrillic}\p{Common}\p{Inherited}]", c) for c in letters), answer.text


async def test_stop_strings_through_triton(generator):
    full = await generator.generate(PROMPT, max_tokens=30, temperature=1.0, seed=9)
    stop = full.text[5:8]
    cut = await generator.generate(PROMPT, max_tokens=30, temperature=1.0, seed=9, stop=[stop])
    assert cut.finish_reason == "stop" and cut.text == full.text[: full.text.find(stop)]


async def test_cancelling_the_task_stops_generation(generator, generator_server):
    """The gateway's caller goes away: the consuming task is cancelled, the model stops early."""
    request_id = "cancel-task"
    received: list[str] = []

    async def consume() -> None:
        async with generator.stream(PROMPT, max_tokens=LONG, request_id=request_id) as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    received.append(event.text)

    task = asyncio.create_task(consume())
    while len(received) < 5:
        await asyncio.sleep(0.01)
        assert not task.done()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    line = await wait_for_log(generator_server, request_id)
    assert "cancelled" in line and tokens_generated(line) < LONG, line  # stopped, not run to the limit
    # The instance is free again at once (an uncancelled request would hold it for LONG tokens).
    started = time.monotonic()
    answer = await generator.generate(PROMPT, max_tokens=3)
    assert answer.completion_tokens == 3 and time.monotonic() - started < 30


async def test_breaking_out_of_the_loop_stops_generation(generator, generator_server):
    request_id = "cancel-break"
    count = 0
    async for event in generator.stream(PROMPT, max_tokens=LONG, request_id=request_id):
        count += isinstance(event, TextDelta)
        if count == 3:
            break  # the stream object is dropped here: it cancels itself
    line = await wait_for_log(generator_server, request_id)
    assert "cancelled" in line and tokens_generated(line) < LONG, line


async def test_deadline_stops_generation(generator, generator_server):
    request_id = "deadline"
    with pytest.raises(TritonUnavailable):
        await generator.generate(PROMPT, max_tokens=LONG, request_id=request_id, timeout_s=1.0)
    line = await wait_for_log(generator_server, request_id)
    assert "cancelled" in line and tokens_generated(line) < LONG, line


async def test_concurrent_streams_are_all_answered(generator):
    answers = await asyncio.gather(*(generator.generate(f"{PROMPT} {i}", max_tokens=4) for i in range(3)))
    assert [a.completion_tokens for a in answers] == [4, 4, 4]


async def test_unknown_model_and_unreachable_server(generator_server):
    async with TritonGenerator(generator_server.grpc_url, model="no_such_generator", timeout_s=10) as missing:
        with pytest.raises(ModelNotReady):
            await missing.check_ready()
        with pytest.raises(ModelNotReady):
            await missing.generate(PROMPT, max_tokens=2)
    async with TritonGenerator(f"127.0.0.1:{free_port()}", timeout_s=2) as nowhere:
        with pytest.raises(TritonUnavailable):
            await nowhere.generate(PROMPT, max_tokens=2)


async def test_ready(generator):
    await generator.check_ready()


def test_raw_protocol(generator_server):
    """The tensors as documented, with the synchronous tritonclient (what other callers see)."""
    responses: list = []
    done = __import__("threading").Event()

    def callback(result, error):
        responses.append((result, error))
        if error is not None or result.get_response().parameters["triton_final_response"].bool_param:
            done.set()

    client = grpcclient.InferenceServerClient(generator_server.grpc_url)
    try:
        client.start_stream(callback=callback)
        prompt = grpcclient.InferInput("PROMPT", [1], "BYTES")
        prompt.set_data_from_numpy(np.array([PROMPT.encode()], dtype=np.object_))
        max_tokens = grpcclient.InferInput("MAX_TOKENS", [1], "INT32")
        max_tokens.set_data_from_numpy(np.array([4], dtype=np.int32))
        client.async_stream_infer("generator", [prompt, max_tokens], enable_empty_final_response=True)
        assert done.wait(60)
        client.stop_stream()
    finally:
        client.close()
    assert all(error is None for _, error in responses)
    *deltas, final = [result for result, _ in responses]
    assert deltas and all(r.as_numpy("TEXT").shape == (1,) and r.as_numpy("FINISH_REASON") is None for r in deltas)
    assert final.as_numpy("FINISH_REASON").tolist() == [b"length"]
    assert final.as_numpy("COMPLETION_TOKENS").tolist() == [4] and final.as_numpy("TEXT").tolist() == [b""]
