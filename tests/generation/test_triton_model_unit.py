"""GeneratorModel (the TritonPythonModel logic) against a stand-in for triton_python_backend_utils."""

from __future__ import annotations

import json

import numpy as np
import pytest
from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

from babelrag.generation.triton_model import INVALID_PREFIX, GeneratorModel
from babelrag.triton.repository import source_repository
from tests.generation.conftest import png

FINAL = 1


class FakePb:
    """The parts of triton_python_backend_utils the generator uses."""

    TRITONSERVER_RESPONSE_COMPLETE_FINAL = FINAL
    logs: list[tuple[str, str]] = []

    class TritonError:
        INVALID_ARG = "INVALID_ARG"
        INTERNAL = "INTERNAL"

        def __init__(self, message, code=None):
            self.message, self.code = message, code

    class Tensor:
        def __init__(self, name, array):
            self.name, self.array = name, array

        def as_numpy(self):
            return self.array

    class InferenceResponse:
        def __init__(self, output_tensors, error=None):
            self.outputs = {t.name: t.array for t in output_tensors}
            self.error = error

    class Logger:
        @staticmethod
        def log_info(message):
            FakePb.logs.append(("info", message))

        @staticmethod
        def log_error(message):
            FakePb.logs.append(("error", message))

        @staticmethod
        def log_verbose(message):
            FakePb.logs.append(("verbose", message))

    @staticmethod
    def get_input_tensor_by_name(request, name):
        array = request.inputs.get(name)
        return None if array is None else FakePb.Tensor(name, array)

    @staticmethod
    def using_decoupled_model_transaction_policy(config):
        return bool(config.get("model_transaction_policy", {}).get("decoupled"))


class FakeSender:
    def __init__(self, cancel_after: int | None = None):
        self.sent: list[tuple[object, int]] = []
        self.cancel_after = cancel_after

    def send(self, response=None, flags=0):
        self.sent.append((response, flags))

    def is_cancelled(self):
        return self.cancel_after is not None and len(self.sent) >= self.cancel_after


class FakeRequest:
    def __init__(self, sender: FakeSender, **inputs):
        self.inputs = inputs
        self.sender = sender

    def get_response_sender(self):
        return self.sender

    def request_id(self):
        return "unit"


def text(value: str) -> np.ndarray:
    return np.array([value.encode()], dtype=np.object_)


class Model(GeneratorModel):
    pb = FakePb


@pytest.fixture(scope="module")
def model(tiny_generator_artifacts):
    config = text_format.Parse((source_repository() / "generator" / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    instance = Model()
    instance.initialize(
        {
            "model_config": json.dumps(json_format.MessageToDict(config, preserving_proto_field_name=True)),
            "model_repository": str(tiny_generator_artifacts),
            "model_version": "generator",
            "model_name": "generator",
            "model_instance_kind": "CPU",
        }
    )
    yield instance
    instance.finalize()


def serve(model, cancel_after=None, **inputs) -> list[tuple[object, int]]:
    sender = FakeSender(cancel_after)
    model.execute([FakeRequest(sender, **inputs)])
    return sender.sent


def test_stream_of_deltas_then_final(model):
    sent = serve(model, PROMPT=text("Hello there"), MAX_TOKENS=np.array([6], dtype=np.int32))
    *deltas, (final, flags) = sent
    assert flags == FINAL and all(f == 0 for _, f in deltas) and deltas
    assert all(set(r.outputs) == {"TEXT"} and r.outputs["TEXT"][0] for r, _ in deltas)
    assert final.outputs["FINISH_REASON"].tolist() == [b"length"]
    assert final.outputs["COMPLETION_TOKENS"].tolist() == [6] and final.outputs["TEXT"].tolist() == [b""]
    assert final.outputs["PROMPT_TOKENS"].dtype == np.int32


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"PROMPT": text("x"), "IMAGES": np.array([b"junk"], dtype=np.object_)}, "image 0"),
        ({"PROMPT": np.array([b"\xff\xfe"], dtype=np.object_)}, "PROMPT is not valid UTF-8"),
        ({"PROMPT": np.array([b"a", b"b"], dtype=np.object_)}, "exactly one"),
        ({"PROMPT": text("x"), "MAX_TOKENS": np.array([1, 2], dtype=np.int32)}, "MAX_TOKENS must hold one value"),
        ({"PROMPT": text("x"), "MAX_TOKENS": np.array([99999], dtype=np.int32)}, "over this server's limit"),
        ({"PROMPT": text("x"), "SCRIPT": text("!!")}, "neither"),
        ({"PROMPT": text("x"), "TOP_P": np.array([0.0], dtype=np.float32)}, "top_p"),
        ({"PROMPT": text("x"), "SEED": np.array([-5], dtype=np.int64)}, "seed"),
    ],
)
def test_refused_requests_get_one_invalid_argument_response(model, inputs, message):
    sent = serve(model, **inputs)
    assert len(sent) == 1
    response, flags = sent[0]
    assert flags == FINAL and response.error.code == "INVALID_ARG"
    assert response.error.message.startswith(INVALID_PREFIX) and message in response.error.message


def test_image_request(model):
    sent = serve(model, PROMPT=text("<image>What?"), IMAGES=np.array([png(3)], dtype=np.object_), MAX_TOKENS=np.array([2], dtype=np.int32))
    final, flags = sent[-1]
    assert flags == FINAL and final.outputs["PROMPT_TOKENS"][0] > 20


def test_cancelled_request_stops_and_closes(model):
    sent = serve(model, cancel_after=3, PROMPT=text("Hello"), MAX_TOKENS=np.array([500], dtype=np.int32))
    assert len(sent) == 4  # three deltas, then the bare final flag nobody reads
    assert sent[-1] == (None, FINAL)
    assert any("[unit]: cancelled after" in message for _, message in FakePb.logs)


def test_defaults_and_sampling_inputs(model):
    parsed = model.parse(FakeRequest(FakeSender(), PROMPT=text("hi"), STOP=np.array([b"\n", b"Q:"], dtype=np.object_),
                                     TEMPERATURE=np.array([0.7], dtype=np.float32), SCRIPT=text("ja")))  # fmt: skip
    assert parsed.params.max_tokens == model.default_max_tokens
    assert parsed.params.stop == ("\n", "Q:") and parsed.params.script == "Jpan"
    assert parsed.params.temperature == pytest.approx(0.7)


def test_requires_decoupled_policy(tiny_generator_artifacts):
    with pytest.raises(RuntimeError, match="decoupled"):
        Model().initialize({"model_config": json.dumps({"name": "generator"}), "model_repository": str(tiny_generator_artifacts),
                            "model_version": "generator"})  # fmt: skip
