"""The default profile's real gemma-3-270m (built from the GGUF packages; minutes the first time).

Builds (or finds up to date) ``<data>/generation/default/artifacts/generator``.
"""

from __future__ import annotations

import time

import pytest
import regex

from babelrag.generation.runtime import GenerationInputError, SamplingParams
from tests.generation.conftest import GENERATION_DATA, png

pytestmark = [pytest.mark.default_profile, pytest.mark.slow]

FEW_SHOT = "The capital of Germany is Berlin. The capital of Italy is Rome. The capital of France is"
QA = "Question: What is the capital of France?\nAnswer:"


@pytest.fixture(scope="module")
def default_artifacts():
    from babelrag.generation.build import build_generator

    artifacts = GENERATION_DATA / "default" / "artifacts"
    entry = build_generator("default", artifacts, progress=lambda line: print(line, flush=True))
    return artifacts, entry


@pytest.fixture(scope="module")
def gemma(default_artifacts):
    from babelrag.generation.runtime import Generator

    artifacts, _ = default_artifacts
    return Generator.load(artifacts / "generator", device="cpu", threads=0)


def test_manifest_entry(default_artifacts):
    _, entry = default_artifacts
    assert entry["parity"]["checkpoint_logits_max_abs_diff"] == 0.0  # float32 checkpoint == dequantised GGUF
    assert entry["capabilities"]["vision"] is False and entry["capabilities"]["prompt_format"] == "base"
    assert entry["dims"]["vocab_size"] == 262144 and 260e6 < entry["dims"]["parameters"] < 280e6
    assert "Gemma" in entry["licence"] and any(rel.endswith("GEMMA_TERMS.html") for rel in entry["files"])
    assert entry["source"]["gguf_sha256"] == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


def test_gemma_continues_coherently(gemma):
    few_shot = gemma.generate(FEW_SHOT, params=SamplingParams(max_tokens=3))
    assert few_shot.text.strip().startswith("Paris"), few_shot.text
    answer = gemma.generate(QA, params=SamplingParams(max_tokens=12, stop=("\nQuestion:", "\n")))
    assert answer.finish_reason == "stop" and answer.text.strip() == "Paris", answer


def test_gemma_answer_language(gemma):
    prompt = "问题：德国的首都是哪座城市？\n回答：柏林\n问题：法国的首都是哪座城市？\n回答："
    answer = gemma.generate(prompt, params=SamplingParams(max_tokens=8, script="zh", stop=("\n",)))
    assert answer.text == "巴黎" and answer.finish_reason == "stop", answer
    # The mask forbids Latin letters; it cannot make the model answer an English prompt in Chinese.
    english = gemma.generate(QA, params=SamplingParams(max_tokens=8, script="zh", stop=("\n",)))
    letters = regex.findall(r"[\p{L}\p{M}]", english.text)
    assert all(regex.match(r"[\p{Han}\p{Common}\p{Inherited}]", c) for c in letters), english.text


def test_gemma_is_text_only(gemma):
    with pytest.raises(GenerationInputError, match="text-only"):
        gemma.prepare("What is this?", [png(1)])


def test_gemma_streams_through_triton(default_artifacts, tmp_path):
    import asyncio

    from babelrag.generation.client import Finished, TextDelta, TritonGenerator
    from babelrag.triton.launcher import TritonPorts, TritonServer
    from babelrag.triton.repository import assemble

    artifacts, _ = default_artifacts
    repository = assemble(artifacts, tmp_path / "repository")
    server = TritonServer(repository, models=["generator"], ports=TritonPorts.free(), runtime_dir=tmp_path / "runtime")
    started = time.perf_counter()
    server.start()
    load_s = time.perf_counter() - started

    async def ask() -> tuple[list[str], Finished]:
        pieces: list[str] = []
        async with TritonGenerator(server.grpc_url, timeout_s=300) as client:
            async with client.stream(FEW_SHOT, max_tokens=24, stop=["."]) as stream:
                async for event in stream:
                    if isinstance(event, TextDelta):
                        pieces.append(event.text)
                    else:
                        return pieces, event
        raise AssertionError("no final event")

    try:
        pieces, finished = asyncio.run(ask())
    finally:
        server.stop()
    text = "".join(pieces)
    assert text.strip() == "Paris" and finished.finish_reason == "stop", (text, finished)
    print(
        f"gemma through Triton: server ready in {load_s:.1f}s, first text after {finished.first_text_s:.3f}s, "
        f"{finished.completion_tokens} tokens in {finished.total_s:.2f}s"
    )
