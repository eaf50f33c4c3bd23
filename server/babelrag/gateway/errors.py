"""Every failure the gateway can meet, turned into a gRPC status in exactly one place.

    GatewayError                     raised by the gateway's own code
    ├── InvalidRequest               INVALID_ARGUMENT   the caller sent something unusable
    ├── PayloadTooLarge              INVALID_ARGUMENT   over a configured size limit
    ├── NotReady                     UNAVAILABLE        Triton or the store is not ready yet
    └── Unsupported                  UNIMPLEMENTED      this deployment cannot do it (no generator)

Errors of the layers below are mapped by :func:`status_for` too: store errors
(:mod:`babelrag.store.errors`), Triton errors (:mod:`babelrag.triton.errors`), document parsing
errors (:mod:`babelrag.text.parsing`) and control-plane errors (:mod:`babelrag.control.errors`).
Anything else is INTERNAL, logged with its traceback, and shown to the caller only as a request id.
"""

from __future__ import annotations

import grpc

from babelrag.store import errors as store_errors
from babelrag.triton import errors as triton_errors


class GatewayError(Exception):
    code = grpc.StatusCode.INTERNAL


class InvalidRequest(GatewayError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class PayloadTooLarge(InvalidRequest):
    pass


class NotReady(GatewayError):
    code = grpc.StatusCode.UNAVAILABLE


class Unsupported(GatewayError):
    code = grpc.StatusCode.UNIMPLEMENTED


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str] | None:
    """The (status, message) for a known error, or None for an unexpected one (a bug)."""
    if isinstance(exc, GatewayError):
        return exc.code, str(exc)
    if isinstance(exc, triton_errors.InferenceRejected):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, (triton_errors.TritonUnavailable, triton_errors.ModelNotReady)):
        return grpc.StatusCode.UNAVAILABLE, f"the inference server is unavailable, retry shortly ({exc})"
    if isinstance(exc, triton_errors.TritonError):
        return grpc.StatusCode.INTERNAL, f"inference failed: {exc}"
    if isinstance(exc, store_errors.TenantInactive):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc)
    if isinstance(exc, store_errors.TenantNotFound):
        return grpc.StatusCode.NOT_FOUND, str(exc)
    if isinstance(exc, store_errors.InvalidArgument):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, store_errors.BackendUnavailable):
        return grpc.StatusCode.UNAVAILABLE, f"the vector store is unavailable, retry shortly ({exc})"
    if isinstance(exc, store_errors.StoreError):
        return grpc.StatusCode.INTERNAL, f"storage failed: {exc}"
    mapped = _control_status(exc) or _parsing_status(exc)
    if mapped:
        return mapped
    return None


def _control_status(exc: BaseException) -> tuple[grpc.StatusCode, str] | None:
    from babelrag.control import errors as control_errors

    if isinstance(exc, control_errors.ControlError):
        return control_errors.grpc_status(exc)
    return None


def _parsing_status(exc: BaseException) -> tuple[grpc.StatusCode, str] | None:
    from babelrag.text import parsing

    if isinstance(exc, parsing.DocumentError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    return None
