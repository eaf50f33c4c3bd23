"""The only primitives in which the sync and the async client differ, as ``async_X``/``sync_X`` pairs.

:mod:`babelrag_client.aio` uses the ``async_`` ones; the generator
(:mod:`babelrag_client._unasync`) renames each ``async_X`` to ``sync_X`` when it writes
:mod:`babelrag_client.client`. Keep the pairs' signatures identical.

:func:`async_status_watch` works around a grpc.aio bug (grpc/grpc#36066, fix proposed in
grpc/grpc#43486): when the server ends a client-streaming call (Ingest) while a write is still in
flight - e.g. it refuses the API key while the first 1 MiB piece waits for flow control - the
failed write replaces the server's status with ``INTERNAL: Internal error from Core``, and the
caller would see a ServerError instead of, say, AuthenticationError. The watch records the
statuses the call is given, and :func:`async_server_status` returns the server's (waiting briefly
when it arrives after the artefact). The sync API is not affected.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import grpc

from babelrag_client._core import ClientConfig

T = TypeVar("T")


async def async_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def sync_sleep(seconds: float) -> None:
    time.sleep(seconds)


async def async_blocking(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking disk I/O (reading files, walking folders) off the event loop."""
    return await asyncio.to_thread(function, *args, **kwargs)


def sync_blocking(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return function(*args, **kwargs)


def async_channel(config: ClientConfig) -> grpc.aio.Channel:
    """A ``grpc.aio`` channel to the server; call it with the event loop running."""
    credentials = config.credentials()
    if credentials is None:
        return grpc.aio.insecure_channel(config.endpoint.target, options=config.grpc_options())
    return grpc.aio.secure_channel(config.endpoint.target, credentials, options=config.grpc_options())


def sync_channel(config: ClientConfig) -> grpc.Channel:
    credentials = config.credentials()
    if credentials is None:
        return grpc.insecure_channel(config.endpoint.target, options=config.grpc_options())
    return grpc.secure_channel(config.endpoint.target, credentials, options=config.grpc_options())


_CORE_WRITE_FAILURE = "Internal error from Core"
#: How long to wait for the server's real status after the write artefact (it is normally a
#: fraction of a millisecond behind).
STATUS_SETTLE_S = 1.0


class _RecordedStatus(grpc.RpcError):
    """A call's status as received (see :class:`StatusWatch`), readable like a failed call."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing: Any) -> None:
        super().__init__(details)
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Any:
        return self._trailing


def _completed(coroutine: Coroutine[Any, Any, T]) -> T | None:
    """The result of a coroutine that finishes without suspending (else None, and it is closed)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    return None


def _is_write_artefact(error: grpc.RpcError) -> bool:
    return error.code() is grpc.StatusCode.INTERNAL and error.details() == _CORE_WRITE_FAILURE


class StatusWatch:
    """Every status a call is given; grpc.aio sets it again when the server's arrives after the
    artefact of a failed write, and calls the done callbacks each time."""

    def __init__(self, settled: asyncio.Event | None = None) -> None:
        self.server_status: _RecordedStatus | None = None
        self.settled = settled

    def record(self, call: Any) -> None:
        # Runs from the call's done callbacks, right after a status is set: its accessors do not wait.
        code = _completed(call.code())
        if not isinstance(code, grpc.StatusCode):
            return
        status = _RecordedStatus(code, _completed(call.details()) or "", _completed(call.trailing_metadata()))
        if not _is_write_artefact(status) and self.server_status is None:
            self.server_status = status
            if self.settled is not None:
                self.settled.set()

    def best(self, error: grpc.RpcError) -> grpc.RpcError:
        if _is_write_artefact(error) and self.server_status is not None:
            return self.server_status
        return error


def async_status_watch(call: Any) -> StatusWatch:
    watch = StatusWatch(asyncio.Event())
    call.add_done_callback(watch.record)
    return watch


def sync_status_watch(call: Any) -> StatusWatch:
    return StatusWatch()  # the blocking API reports the server's status itself


async def async_server_status(watch: StatusWatch, error: grpc.RpcError) -> grpc.RpcError:
    """``error``, or - when it is the failed-write artefact - the status the server really sent."""
    if _is_write_artefact(error) and watch.settled is not None:
        try:
            await asyncio.wait_for(watch.settled.wait(), STATUS_SETTLE_S)
        except asyncio.TimeoutError:
            pass  # no other status came: the artefact is all there is
    return watch.best(error)


def sync_server_status(watch: StatusWatch, error: grpc.RpcError) -> grpc.RpcError:
    return error
