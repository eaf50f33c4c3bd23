"""Triton python-backend entry point: multilingual CLIP text tokenizer (logic in babelrag.inference)."""

import triton_python_backend_utils as pb_utils

from babelrag.inference.triton_adapters import TokenizerModel


class TritonPythonModel(TokenizerModel):
    pb = pb_utils
