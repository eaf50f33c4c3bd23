"""Triton python-backend entry point: cross-encoder reranker (ONNX, one logit per pair) (logic in babelrag.inference)."""

import triton_python_backend_utils as pb_utils

from babelrag.inference.triton_adapters import TextEncoderModel


class TritonPythonModel(TextEncoderModel):
    pb = pb_utils
