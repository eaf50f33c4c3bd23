"""Triton python-backend entry point: CLIP text tower (ONNX, L2 in the graph) (logic in babelrag.inference)."""

import triton_python_backend_utils as pb_utils

from babelrag.inference.triton_adapters import TextEncoderModel


class TritonPythonModel(TextEncoderModel):
    pb = pb_utils
