"""Errors raised when talking to Triton.

    TritonError
    ├── TritonStartError        the local server could not be started
    ├── TritonUnavailable       server unreachable, shutting down, or timed out (retry later)
    ├── ModelNotReady           the server is up but a model is missing or not loaded
    └── InferenceRejected       the model refused this request's input (the caller's fault)

Every ``tritonclient`` exception is translated into one of these in exactly one place,
:func:`babelrag.triton.client.translate_error`.
"""


class TritonError(Exception):
    """Base class for every Triton-related failure."""


class TritonStartError(TritonError):
    pass


class TritonUnavailable(TritonError):
    pass


class ModelNotReady(TritonError):
    pass


class InferenceRejected(TritonError):
    """The model rejected the input (bad image, empty text, ...). ``index`` names the item when known."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index
