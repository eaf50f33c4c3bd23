"""The exceptions of the BabelRAG client: one family, rooted at :class:`BabelRAGError`.

::

    BabelRAGError                    base of everything the SDK raises; .code .message .request_id .method
    ├── ConfigurationError           the client is misconfigured (bad URL, unreadable CA file,
    │                                contradictory TLS settings, a closed client); also a ValueError
    ├── InvalidRequestError          INVALID_ARGUMENT, OUT_OF_RANGE; also raised before sending when
    │                                an argument is unusable (empty question, unreadable image ...);
    │                                also a ValueError
    ├── AuthenticationError          UNAUTHENTICATED: missing, unknown or revoked key (a missing key
    │                                is detected before sending)
    ├── PermissionDeniedError        PERMISSION_DENIED
    ├── NotFoundError                NOT_FOUND: unknown document, tenant or key
    ├── AlreadyExistsError           ALREADY_EXISTS: e.g. a tenant of that name exists
    ├── QuotaExceededError           RESOURCE_EXHAUSTED: rate or storage quota; .retry_after (seconds,
    │                                from the trailing metadata ``retry-after-ms``; None when waiting
    │                                alone will not help)
    ├── TenantUnavailableError       FAILED_PRECONDITION: the tenant is offloaded
    ├── DeadlineExceededError        DEADLINE_EXCEEDED: the call's timeout passed; also a TimeoutError
    ├── ServiceUnavailableError      UNAVAILABLE: the server cannot be reached or is not ready, after
    │                                the retries the call was allowed; .attempts
    ├── RequestCancelledError        CANCELLED: the server or the connection cancelled the call
    └── ServerError                  INTERNAL, UNKNOWN, DATA_LOSS, UNIMPLEMENTED, ABORTED and
                                     anything else; also a broken response stream

A gRPC status becomes an exception in exactly one place, :func:`error_for_status`; the send loops
call it through :func:`from_rpc_error`, and per-item ingest errors (which carry a status *name*)
through :func:`error_for_code_name`. Messages are the server's, so they say what was wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc

__all__ = [
    "BabelRAGError",
    "ConfigurationError",
    "InvalidRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "AlreadyExistsError",
    "QuotaExceededError",
    "TenantUnavailableError",
    "DeadlineExceededError",
    "ServiceUnavailableError",
    "RequestCancelledError",
    "ServerError",
    "error_for_status",
    "error_for_code_name",
    "from_rpc_error",
]


class BabelRAGError(Exception):
    """Base class of every error raised by the BabelRAG client.

    ``code`` is the gRPC status code when the server (or the gRPC layer) reported the error, None
    when the client detected it before sending. ``request_id`` is the ``x-request-id`` the client
    sent with the call (quote it when asking an operator about a failure); ``method`` the RPC name.
    """

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        request_id: str | None = None,
        method: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_id = request_id
        self.method = method

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (the CLI prints it under ``--json``)."""
        return {
            "type": type(self).__name__,
            "code": self.code.name if self.code is not None else None,
            "message": self.message,
            "request_id": self.request_id,
            "method": self.method,
        }


class ConfigurationError(BabelRAGError, ValueError):
    """The client cannot be set up as asked (bad URL, missing CA file, contradictory settings)."""


class InvalidRequestError(BabelRAGError, ValueError):
    """The request is unusable as given; sending it again unchanged cannot succeed."""


class AuthenticationError(BabelRAGError):
    """The credential is missing, unknown or revoked (or a tenant key was sent to the admin API)."""


class PermissionDeniedError(BabelRAGError):
    """The credential is valid but does not allow this call."""


class NotFoundError(BabelRAGError):
    """The document, tenant or API key does not exist."""


class AlreadyExistsError(BabelRAGError):
    """The thing to create exists already (e.g. a tenant of that name)."""


class QuotaExceededError(BabelRAGError):
    """A rate or storage quota would be exceeded; nothing was consumed.

    ``retry_after`` is how many seconds to wait before the same call can succeed (rate limits), or
    None when waiting alone will not help (storage quotas: delete data or raise the quota).
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "retry_after": self.retry_after}


class TenantUnavailableError(BabelRAGError):
    """The tenant is offloaded (its data is kept but not served) until an administrator activates it."""


class DeadlineExceededError(BabelRAGError, TimeoutError):
    """The call did not finish within its timeout."""


class ServiceUnavailableError(BabelRAGError):
    """The server cannot be reached or is not ready; ``attempts`` calls were made before giving up."""

    def __init__(self, message: str, *, attempts: int = 1, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.attempts = attempts

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "attempts": self.attempts}


class RequestCancelledError(BabelRAGError):
    """The call was cancelled by the server or the connection (not by this client)."""


class ServerError(BabelRAGError):
    """The server failed (INTERNAL, UNKNOWN, ...) or answered with something the client cannot read."""


_BY_CODE: dict[grpc.StatusCode, type[BabelRAGError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequestError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidRequestError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: QuotaExceededError,
    grpc.StatusCode.FAILED_PRECONDITION: TenantUnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.UNAVAILABLE: ServiceUnavailableError,
    grpc.StatusCode.CANCELLED: RequestCancelledError,
}
_BY_NAME = {code.name: code for code in grpc.StatusCode}


def error_for_status(
    code: grpc.StatusCode,
    message: str,
    *,
    trailing_metadata: Iterable[tuple[str, Any]] | None = None,
    request_id: str | None = None,
    method: str | None = None,
    attempts: int = 1,
    target: str | None = None,
) -> BabelRAGError:
    """The exception for a gRPC status: the one place where status codes become SDK errors.

    ``target`` (the server's address) is named in the message of an UNAVAILABLE error.
    """
    cls = _BY_CODE.get(code, ServerError)
    message = message or f"{method or 'the call'} failed with {code.name}"
    common: dict[str, Any] = {"code": code, "request_id": request_id, "method": method}
    if cls is QuotaExceededError:
        return QuotaExceededError(message, retry_after=_retry_after(trailing_metadata), **common)
    if cls is ServiceUnavailableError:
        if target:
            message = f"the server at {target} is unavailable: {message}"
        if attempts > 1:
            message = f"{message} (gave up after {attempts} attempts)"
        return ServiceUnavailableError(message, attempts=attempts, **common)
    return cls(message, **common)


def error_for_code_name(name: str, message: str, *, method: str | None = None) -> BabelRAGError:
    """The exception for a status given by name (as in an ingest item's ``ItemError.code``)."""
    code = _BY_NAME.get(name.upper())
    if code is None:
        return ServerError(f"{name}: {message}" if name else message, method=method)
    return error_for_status(code, message, method=method)


def from_rpc_error(
    error: grpc.RpcError,
    *,
    request_id: str | None = None,
    method: str | None = None,
    attempts: int = 1,
    target: str | None = None,
) -> BabelRAGError:
    """The exception for a failed call (a ``grpc.RpcError`` of the sync or the asyncio API)."""
    code = error.code() if hasattr(error, "code") else None
    if not isinstance(code, grpc.StatusCode):
        return ServerError(f"the call failed without a status: {error!r}", request_id=request_id, method=method)
    details = error.details() if hasattr(error, "details") else None
    trailing = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    return error_for_status(
        code,
        details or "",
        trailing_metadata=trailing,
        request_id=request_id,
        method=method,
        attempts=attempts,
        target=target,
    )


def _retry_after(metadata: Iterable[tuple[str, Any]] | None) -> float | None:
    for key, value in metadata or ():
        if key.lower() != "retry-after-ms":
            continue
        try:
            milliseconds = float(value.decode() if isinstance(value, bytes) else value)
        except (TypeError, ValueError):
            return None
        return max(0.0, milliseconds / 1000.0)
    return None
