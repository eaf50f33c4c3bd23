"""Triton python-backend entry point: E5 tokenizer with query/passage prefixes (logic in babelrag.inference)."""

import triton_python_backend_utils as pb_utils

from babelrag.inference.triton_adapters import TokenizerModel


class TritonPythonModel(TokenizerModel):
    pb = pb_utils
