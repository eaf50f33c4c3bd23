"""Who is calling: API-key authentication, rate limiting and request ids, as one interceptor.

Data-plane calls take their tenant only from the API key in the call metadata
(``authorization: Bearer <key>``), never from the request body. The interceptor wraps every
data-plane handler so no method can forget the check; the handler reads the caller with
:func:`current_call`, which fails closed when nothing was authenticated. The admin service checks
its own (separate) credential; health and reflection are public.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from babelrag.gateway.errors import status_for
from babelrag.gateway.metrics import GatewayMetrics
from babelrag.logs import request_id_var

log = logging.getLogger("babelrag.gateway")

PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
ADMIN_PREFIX = "/babelrag.v1.AdminService/"


@dataclasses.dataclass(frozen=True)
class CallIdentity:
    tenant: str
    key_id: str
    request_id: str


_current: contextvars.ContextVar[CallIdentity | None] = contextvars.ContextVar("babelrag_call", default=None)


def current_call() -> CallIdentity:
    identity = _current.get()
    if identity is None:  # a data-plane handler reached without the interceptor: refuse
        raise PermissionError("no authenticated caller")
    return identity


def bearer_token(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key.lower() == "authorization":
            scheme, _, token = str(value).partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


def metadata_value(metadata: Any, name: str) -> str | None:
    for key, value in metadata or ():
        if key.lower() == name:
            return str(value)
    return None


#: authorize(raw_key) -> (tenant, key_id): authenticates the key and admits the call (tenant
#: state, rate limit); raises a control-plane error (mapped by status_for) to refuse it.
Authorizer = Callable[[str], Awaitable[tuple[str, str]]]


class GatewayInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, authorize: Authorizer, metrics: GatewayMetrics | None = None) -> None:
        self._authorize = authorize
        self._metrics = metrics

    async def intercept_service(self, continuation, handler_call_details):  # noqa: ANN001 - grpc's types
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        authenticated = not method.startswith(PUBLIC_PREFIXES) and not method.startswith(ADMIN_PREFIX)
        return _wrap(handler, method, self, authenticated)

    async def begin(self, method: str, context: grpc.aio.ServicerContext, authenticated: bool) -> contextvars.Token | None:
        metadata = context.invocation_metadata()
        request_id = metadata_value(metadata, "x-request-id") or uuid.uuid4().hex[:16]
        request_id_var.set(request_id)
        await context.send_initial_metadata((("x-request-id", request_id),))
        if not authenticated:
            return None
        token = bearer_token(metadata)
        if token is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing API key: send metadata 'authorization: Bearer <key>'")
        try:
            tenant, key_id = await self._authorize(token)
        except Exception as exc:  # noqa: BLE001 - mapped to its status
            await abort_for(context, exc)
        return _current.set(CallIdentity(tenant=tenant, key_id=key_id, request_id=request_id))

    def finish(self, method: str, started: float, code: grpc.StatusCode) -> None:
        if self._metrics is not None:
            self._metrics.requests.labels(method, code.name).inc()
            self._metrics.request_latency.labels(method).observe(time.perf_counter() - started)


async def abort_for(context: grpc.aio.ServicerContext, exc: Exception) -> None:
    """Abort the call with the status that :func:`status_for` maps ``exc`` to (INTERNAL if unknown)."""
    mapped = status_for(exc)
    if mapped is None:
        log.exception("unexpected error in request %s", request_id_var.get())
        mapped = (grpc.StatusCode.INTERNAL, f"internal error (request id {request_id_var.get()})")
    code, message = mapped
    retry_after = getattr(exc, "retry_after_s", None)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and retry_after is not None:
        context.set_trailing_metadata((("retry-after-ms", str(int(retry_after * 1000))),))
    await context.abort(code, message)


class _CallScope:
    """Authentication before, error mapping during, metrics and clean-up after one call."""

    def __init__(self, interceptor: GatewayInterceptor, method: str, authenticated: bool, context) -> None:  # noqa: ANN001
        self.interceptor, self.method, self.authenticated, self.context = interceptor, method, authenticated, context
        self.started = time.perf_counter()
        self.token: contextvars.Token | None = None
        self.code = grpc.StatusCode.OK

    async def __aenter__(self) -> _CallScope:
        try:
            self.token = await self.interceptor.begin(self.method, self.context, self.authenticated)
        except BaseException as exc:
            await self.__aexit__(type(exc), exc, None)
            raise
        return self

    async def __aexit__(self, exc_type, exc, tb) -> bool:  # noqa: ANN001
        try:
            if exc is None:
                return False
            if isinstance(exc, asyncio.CancelledError):
                self.code = grpc.StatusCode.CANCELLED
                return False
            if isinstance(exc, grpc.aio.AbortError):
                code = self.context.code()
                self.code = code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN
                return False
            mapped = status_for(exc)
            self.code = mapped[0] if mapped else grpc.StatusCode.INTERNAL
            await abort_for(self.context, exc)  # raises AbortError
            return False
        finally:
            if self.token is not None:
                with contextlib.suppress(ValueError):  # reset from another context (generator closed late)
                    _current.reset(self.token)
            self.interceptor.finish(self.method.rsplit("/", 1)[-1], self.started, self.code)


def _wrap(handler: grpc.RpcMethodHandler, method: str, interceptor: GatewayInterceptor, authenticated: bool) -> grpc.RpcMethodHandler:
    serializers = {"request_deserializer": handler.request_deserializer, "response_serializer": handler.response_serializer}
    if handler.unary_unary or handler.stream_unary:
        inner = handler.unary_unary or handler.stream_unary

        async def unary_response(request_or_iterator, context):  # noqa: ANN001
            async with _CallScope(interceptor, method, authenticated, context):
                return await inner(request_or_iterator, context)

        factory = grpc.unary_unary_rpc_method_handler if handler.unary_unary else grpc.stream_unary_rpc_method_handler
        return factory(unary_response, **serializers)

    inner_stream = handler.unary_stream or handler.stream_stream

    async def stream_response(request_or_iterator, context):  # noqa: ANN001
        async with _CallScope(interceptor, method, authenticated, context):
            async for response in inner_stream(request_or_iterator, context):
                yield response

    factory = grpc.unary_stream_rpc_method_handler if handler.unary_stream else grpc.stream_stream_rpc_method_handler
    return factory(stream_response, **serializers)
