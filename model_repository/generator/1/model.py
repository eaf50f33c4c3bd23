"""Triton python-backend entry point: the streaming answer generator (logic in babelrag.generation)."""

import triton_python_backend_utils as pb_utils

from babelrag.generation.triton_model import GeneratorModel


class TritonPythonModel(GeneratorModel):
    pb = pb_utils
