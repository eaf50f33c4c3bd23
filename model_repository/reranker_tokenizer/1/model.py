"""Triton python-backend entry point: cross-encoder (query, passage) pair tokenizer (logic in babelrag.inference)."""

import triton_python_backend_utils as pb_utils

from babelrag.inference.triton_adapters import PairTokenizerModel


class TritonPythonModel(PairTokenizerModel):
    pb = pb_utils
