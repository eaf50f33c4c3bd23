"""The three ensembles served by a real tritonserver (tiny profile), against the in-process reference."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from PIL import Image
from tritonclient.utils import InferenceServerException

from babelrag.triton.client import TritonEncoders
from babelrag.triton.errors import InferenceRejected, ModelNotReady, TritonUnavailable
from babelrag.triton.launcher import free_port
from tests.serving.images import decompression_bomb_png, encode, gradient, variety

pytestmark = pytest.mark.slow

TEXTS = [
    "Wie hoch ist der Eiffelturm?",
    "La tour Eiffel mesure 330 mètres.",
    "光合作用是植物利用阳光的过程。",
    "ภาษาไทยไม่มีช่องว่างระหว่างคำ",
    "Short",
]


@pytest.fixture
async def encoders(triton_server):
    async with TritonEncoders(triton_server.grpc_url, timeout_s=60) as client:
        yield client


def raw_infer(server, model: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A plain tritonclient call, bypassing our client's own validation."""
    client = grpcclient.InferenceServerClient(server.grpc_url)
    try:
        tensors = []
        for name, array in inputs.items():
            tensor = grpcclient.InferInput(name, list(array.shape), "BYTES")
            tensor.set_data_from_numpy(array)
            tensors.append(tensor)
        result = client.infer(model, tensors)
        return {out.name: result.as_numpy(out.name) for out in result.get_response().outputs}
    finally:
        client.close()


def column(values: list[bytes]) -> np.ndarray:
    return np.array(values, dtype=object).reshape(-1, 1)


async def test_text_embedding_equals_reference(encoders, tiny_reference):
    for kind in ("query", "passage"):
        served = await encoders.embed_texts(TEXTS, kind=kind)
        reference = tiny_reference.embed_texts(TEXTS, kind)
        assert served.shape == reference.shape
        assert np.abs(served - reference).max() < 1e-4
        np.testing.assert_allclose(np.linalg.norm(served, axis=1), 1.0, atol=1e-5)


async def test_query_and_passage_embeddings_differ(encoders):
    query = await encoders.embed_texts(["Paris"], kind="query")
    passage = await encoders.embed_texts(["Paris"], kind="passage")
    assert np.abs(query - passage).max() > 1e-3


async def test_tokenizer_model_matches_reference_tokenizer(triton_server, tiny_reference):
    outputs = raw_infer(
        triton_server, "e5_tokenizer", {"TEXT": column([t.encode() for t in TEXTS]), "KIND": column([b"passage"] * len(TEXTS))}
    )
    expected = tiny_reference.tokenize_e5(TEXTS, "passage")
    for row, reference in enumerate(expected):
        length = int(outputs["attention_mask"][row].sum())
        assert outputs["input_ids"][row, :length].tolist() == list(reference)


async def test_clip_text_embedding_equals_open_clip(encoders, tiny_reference):
    texts = ["a photo of a cat", "ein Foto einer Katze", "一只猫的照片", "  extra   spaces  "]
    served = await encoders.embed_clip_texts(texts)
    reference = tiny_reference.embed_clip_texts(texts)
    assert np.abs(served - reference).max() < 1e-4


async def test_image_embedding_equals_open_clip(encoders, tiny_reference):
    images = variety()
    served = await encoders.embed_images(list(images.values()))
    reference = tiny_reference.embed_images([Image.open(io.BytesIO(data)) for data in images.values()])
    assert served.shape == reference.shape
    assert np.abs(served - reference).max() < 1e-4


async def test_large_batches_are_split_and_kept_in_order(encoders):
    texts = [f"document number {i}" for i in range(150)]  # > max_batch_size 64
    together = await encoders.embed_texts(texts)
    alone = await encoders.embed_texts(texts[100:101])
    assert together.shape[0] == 150
    assert np.abs(together[100] - alone[0]).max() < 1e-5


async def test_dynamic_batching_merges_concurrent_requests(encoders):
    before = await encoders.model_statistics("e5_encoder")
    await asyncio.gather(*(encoders.embed_texts([f"concurrent request {i}"]) for i in range(64)))
    # Triton may update a composing model's statistics just after the ensemble has answered (a
    # loaded machine once read 16 of the 64): wait briefly for them to settle.
    for _ in range(50):
        after = await encoders.model_statistics("e5_encoder")
        requests = int(after.get("inference_count", 0)) - int(before.get("inference_count", 0))
        if requests >= 64:
            break
        await asyncio.sleep(0.1)
    executions = int(after.get("execution_count", 0)) - int(before.get("execution_count", 0))
    assert requests == 64
    assert executions < requests, f"{executions} executions for {requests} requests: nothing was batched"


async def test_one_megabyte_text_is_truncated_not_refused(encoders):
    huge = ("Der Eiffelturm steht in Paris. " * 40_000)[:1_000_000]
    vector = await encoders.embed_texts([huge])
    head = await encoders.embed_texts([huge[:20_000]])
    assert vector.shape[0] == 1
    assert np.abs(vector - head).max() < 1e-4  # both are the first 512 tokens


@pytest.mark.parametrize(
    ("model", "inputs", "message"),
    [
        ("text_embedding", {"TEXT": column([b""]), "KIND": column([b"query"])}, "text 0 is empty"),
        ("text_embedding", {"TEXT": column([b"\xc3\x28 broken"]), "KIND": column([b"query"])}, "not valid UTF-8"),
        ("text_embedding", {"TEXT": column([b"fine"]), "KIND": column([b"summary"])}, "unknown kind"),
        ("image_embedding", {"IMAGE": column([b"GIF89a not really"])}, "image 0"),
        ("image_embedding", {"IMAGE": column([decompression_bomb_png()])}, "over the limit"),
        ("image_embedding", {"IMAGE": column([encode(gradient(40, 40), "BMP")])}, "unsupported image format BMP"),
    ],
)
async def test_bad_input_gets_its_own_error_and_server_keeps_serving(triton_server, encoders, model, inputs, message):
    with pytest.raises(InferenceServerException, match=message):
        raw_infer(triton_server, model, inputs)
    assert (await encoders.embed_texts(["still serving"])).shape[0] == 1


async def test_bad_requests_fail_alone_inside_a_dynamic_batch(encoders):
    good = encode(gradient(100, 100), "PNG")
    images = [good, b"corrupt", good, decompression_bomb_png(), good]
    results = await encoders.embed_images_each(images)
    assert [isinstance(r, np.ndarray) for r in results] == [True, False, True, False, True]
    assert isinstance(results[1], InferenceRejected) and results[1].index == 1
    assert "over the limit" in str(results[3])
    with pytest.raises(InferenceRejected, match="image 1"):
        await encoders.embed_images(images)


async def test_client_validates_texts_before_sending(encoders):
    with pytest.raises(InferenceRejected, match="text 1 is empty") as info:
        await encoders.embed_texts(["fine", "  "])
    assert info.value.index == 1
    with pytest.raises(InferenceRejected, match="lone surrogate"):
        await encoders.embed_texts(["\ud800"])
    with pytest.raises(TypeError):
        await encoders.embed_texts("a single string")


async def test_readiness_and_missing_model(encoders):
    await encoders.check_ready()
    with pytest.raises(ModelNotReady, match="no_such_model"):
        await encoders.check_ready(["no_such_model"])


async def test_unreachable_triton_is_unavailable_quickly():
    async with TritonEncoders(f"127.0.0.1:{free_port()}", timeout_s=2) as client:
        assert not await client.is_ready()
        with pytest.raises(TritonUnavailable):
            await client.embed_texts(["hello"])
