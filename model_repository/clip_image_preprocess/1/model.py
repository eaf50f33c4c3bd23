"""Triton python-backend entry point: CLIP image decode + open_clip eval transform (logic in babelrag.inference)."""

import triton_python_backend_utils as pb_utils

from babelrag.inference.triton_adapters import ImagePreprocessModel


class TritonPythonModel(ImagePreprocessModel):
    pb = pb_utils
