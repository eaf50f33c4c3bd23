"""The asynchronous client, :class:`AsyncClient` (on ``grpc.aio``), and the source of the sync one.

How the two clients share their code: everything that does no network I/O - configuration,
validation, request building, retry decisions, error mapping, result types, the Ask and Ingest
stream protocols - is written once in :mod:`babelrag_client._core` (and local file reading in
:mod:`babelrag_client._files`). What is left are the send loops and the public methods' signatures
and docstrings, and those are written once too: here. :mod:`babelrag_client.client` is generated
from this file by ``python -m babelrag_client._unasync`` (``async def`` -> ``def``, ``await`` and
``async for/with`` dropped, ``AsyncX`` -> ``X``, ``async_sleep`` -> ``sync_sleep`` ...), the way
httpcore keeps its twins, and ``tests/client/test_unasync.py`` fails when the generated file is
not current. Hand-kept twins drift (httpx #3042, #3120); a generated one cannot, and unlike a
runtime trick (one method returning either a value or a coroutine) both files keep exact types.

Rules for this file, so that the generated one is right: use only the ``async_*`` primitives of
:mod:`babelrag_client._io` for sleeping, blocking disk I/O and the channel; write nothing else
that only makes sense under asyncio.

Example::

    async with AsyncClient("localhost:50051", api_key="brk_...") as client:
        report = await client.ingest(["handbook/", TextDocument("Opening hours: 9-17", title="Hours")])
        async for event in client.ask("When are you open?", language="de"):
            if event.is_final:
                print("\\n", [c.source.title for c in event.citations])
            else:
                print(event.text, end="", flush=True)
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, overload

import grpc

from babelrag.v1 import admin_pb2, ingest_pb2
from babelrag_client import _core, _files
from babelrag_client._core import (
    DEFAULT_BATCH_SIZE,
    UNSET,
    AskQuery,
    ClientConfig,
    Keepalive,
    ProgressCallback,
    RetryPolicy,
    SearchQuery,
    Timeouts,
    Unset,
)
from babelrag_client._io import (
    async_blocking,
    async_channel,
    async_server_status,
    async_sleep,
    async_status_watch,
)
from babelrag_client.errors import ConfigurationError
from babelrag_client.types import (
    Answer,
    AnswerDelta,
    ApiKey,
    CreatedTenant,
    DeletedTenant,
    Document,
    DocumentPage,
    Filters,
    ImageInput,
    IngestInput,
    IngestReport,
    IssuedKey,
    Quotas,
    SearchMode,
    SearchResult,
    Tenant,
    TenantState,
)

__all__ = ["AsyncAdmin", "AsyncAnswerStream", "AsyncClient", "AsyncDocuments"]

FiltersInput = Filters | Mapping[str, Any] | None
Timeout = float | None | Unset


class AsyncClient:
    """A client of one BabelRAG server (asyncio).

    Every setting is taken from its argument, else from the environment, else the default:

    * ``url``: ``BABELRAG_URL``, default ``localhost:50051``. ``host:port`` is plain text for a
      loopback host and TLS otherwise; ``https://``/``grpcs://`` force TLS, ``http://``/``grpc://``
      plain text; ``insecure=True/False`` decides explicitly.
    * ``api_key``: ``BABELRAG_API_KEY``, the tenant's key for ingest, search, ask and documents.
    * ``admin_key``: ``BABELRAG_ADMIN_KEY``, needed only by :attr:`admin`.
    * ``ca_file``: ``BABELRAG_CA_FILE``, a PEM bundle to trust instead of the system's roots.
    * ``timeout``: seconds for every call, or :class:`Timeouts` per kind of call (defaults:
      search/documents/admin 30 s, ask 120 s, ingest none); each method takes ``timeout=`` too.
    * ``retry``: :class:`RetryPolicy` for idempotent calls failing with UNAVAILABLE (None: never).
    * ``keepalive``: :class:`Keepalive` pings (None: off); ``channel_options``: extra gRPC
      channel arguments, e.g. ``[("grpc.ssl_target_name_override", "babelrag.internal")]``.

    The connection is opened on the first call and shared by all calls; close the client (or use
    it as a context manager) when done. One client serves many concurrent calls.
    Errors are :class:`~babelrag_client.errors.BabelRAGError` subclasses.
    """

    def __init__(
        self,
        url: str | Unset = UNSET,
        *,
        api_key: str | None | Unset = UNSET,
        admin_key: str | None | Unset = UNSET,
        insecure: bool | None = None,
        ca_file: str | Any | None | Unset = UNSET,
        timeout: float | Timeouts | None | Unset = UNSET,
        retry: RetryPolicy | None | Unset = UNSET,
        keepalive: Keepalive | None | Unset = UNSET,
        channel_options: Iterable[tuple[str, Any]] = (),
    ) -> None:
        self._config = ClientConfig.resolve(
            url,
            api_key=api_key,
            admin_key=admin_key,
            insecure=insecure,
            ca_file=ca_file,
            timeout=timeout,
            retry=retry,
            keepalive=keepalive,
            channel_options=channel_options,
        )
        self._lock = threading.Lock()
        self._channel: Any = None
        self._stubs_cache: _core.Stubs | None = None
        self._closed = False
        #: Listing and deleting the tenant's documents.
        self.documents = AsyncDocuments(self)
        #: Tenants, API keys and quotas (needs the admin key).
        self.admin = AsyncAdmin(self)

    @property
    def config(self) -> ClientConfig:
        """The resolved settings (keys are not shown in its repr)."""
        return self._config

    def __repr__(self) -> str:
        tls = "tls" if self._config.endpoint.tls else "insecure"
        return f"<{type(self).__name__} {self._config.endpoint.target} ({tls})>"

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection; calls in flight are cancelled. Closing twice is harmless."""
        with self._lock:
            channel, self._channel, self._stubs_cache, self._closed = self._channel, None, None, True
        if channel is not None:
            await channel.close()

    def _stubs(self) -> _core.Stubs:
        with self._lock:
            if self._closed:
                raise ConfigurationError("the client is closed")
            if self._stubs_cache is None:
                self._channel = async_channel(self._config)
                self._stubs_cache = _core.Stubs(self._channel)
            return self._stubs_cache

    async def _unary(self, spec: _core.MethodSpec, request: Any, timeout: Timeout) -> Any:
        """One unary call, retried as :class:`RetryPolicy` allows; the response message."""
        call = _core.Call(spec, self._config, timeout)
        method = self._stubs().method(spec)
        while True:
            try:
                return await method(request, timeout=call.timeout(), metadata=call.metadata)
            except grpc.RpcError as error:
                delay = call.retry_delay(error)
            await async_sleep(delay)

    # -- search ------------------------------------------------------------------------------------
    async def search(
        self,
        query: str = "",
        *,
        image: ImageInput | None = None,
        images: Sequence[ImageInput] | None = None,
        top_k: int | None = None,
        offset: int | None = None,
        mode: SearchMode | str | None = None,
        alpha: float | None = None,
        filters: FiltersInput = None,
        rerank: bool | None = None,
        timeout: Timeout = UNSET,
    ) -> SearchResult:
        """Hybrid search over the tenant's text and image chunks; hits best first.

        ``query`` is text in any language; ``image``/``images`` (path, bytes, file or PIL image)
        search by picture, alone or with text. ``top_k`` hits (server default 10) after skipping
        ``offset``; ``mode`` "hybrid" (default), "vector" or "keyword"; ``alpha`` the weight of the
        vector signals against keyword (0..1); ``filters`` a :class:`~babelrag_client.types.Filters`
        or mapping such as ``{"language": "de", "tag": ["faq"]}``; ``rerank=False`` skips the
        reranker. Retried on UNAVAILABLE.
        """
        query_spec = SearchQuery.build(
            query,
            images=_core.collect_images(image, images),
            top_k=top_k,
            offset=offset,
            mode=mode,
            alpha=alpha,
            filters=filters,
            rerank=rerank,
        )
        encoded = await async_blocking(_files.load_images, query_spec.images) if query_spec.images else []
        response = await self._unary(_core.SEARCH, query_spec.request(encoded), timeout)
        return _core.search_result(response)

    # -- ask ---------------------------------------------------------------------------------------
    @overload
    def ask(
        self,
        question: str,
        *,
        image: ImageInput | None = ...,
        images: Sequence[ImageInput] | None = ...,
        language: str | None = ...,
        top_k: int | None = ...,
        filters: FiltersInput = ...,
        mode: SearchMode | str | None = ...,
        alpha: float | None = ...,
        max_tokens: int | None = ...,
        temperature: float | None = ...,
        stream: Literal[True] = ...,
        timeout: Timeout = ...,
    ) -> AsyncAnswerStream: ...

    @overload
    def ask(
        self,
        question: str,
        *,
        image: ImageInput | None = ...,
        images: Sequence[ImageInput] | None = ...,
        language: str | None = ...,
        top_k: int | None = ...,
        filters: FiltersInput = ...,
        mode: SearchMode | str | None = ...,
        alpha: float | None = ...,
        max_tokens: int | None = ...,
        temperature: float | None = ...,
        stream: Literal[False],
        timeout: Timeout = ...,
    ) -> Awaitable[Answer]: ...

    def ask(
        self,
        question: str,
        *,
        image: ImageInput | None = None,
        images: Sequence[ImageInput] | None = None,
        language: str | None = None,
        top_k: int | None = None,
        filters: FiltersInput = None,
        mode: SearchMode | str | None = None,
        alpha: float | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stream: bool = True,
        timeout: Timeout = UNSET,
    ) -> AsyncAnswerStream | Awaitable[Answer]:
        """Ask a question (optionally about images); the answer cites the tenant's documents.

        With ``stream=True`` (default) returns an :class:`AsyncAnswerStream`: iterate it for
        :class:`~babelrag_client.types.AnswerDelta` pieces as they are generated, then one final
        :class:`~babelrag_client.types.Answer` (citations, languages, timings). With
        ``stream=False`` returns just the final Answer. ``language`` is the ISO 639-1 code of the
        answer (default: the question's language); ``top_k`` passages are retrieved (server
        default 8); ``filters``/``mode``/``alpha`` as for :meth:`search`; ``max_tokens`` and
        ``temperature`` steer generation. Retried on UNAVAILABLE only until the first event.
        Arguments are checked now; the images are read and the call is made when iterated/awaited.
        """
        query = AskQuery.build(
            question,
            images=_core.collect_images(image, images),
            language=language,
            top_k=top_k,
            filters=filters,
            mode=mode,
            alpha=alpha,
            max_tokens=max_tokens,
            temperature=temperature,
        )
        call = _core.Call(_core.ASK, self._config, timeout)
        events = self._ask_events(query, call)
        if stream:
            return AsyncAnswerStream(events)
        return self._final_answer(events)

    async def _final_answer(self, events: AsyncIterator[AnswerDelta | Answer]) -> Answer:
        answer_stream = AsyncAnswerStream(events)
        async with answer_stream:
            async for _event in answer_stream:
                pass
        return _core.require_answer(answer_stream.answer)

    async def _ask_events(self, query: AskQuery, call: _core.Call) -> AsyncIterator[AnswerDelta | Answer]:
        encoded = await async_blocking(_files.load_images, query.images) if query.images else []
        request = query.request(encoded)
        method = self._stubs().method(_core.ASK)
        while True:
            accumulator = _core.AskAccumulator()
            responses = method(request, timeout=call.timeout(), metadata=call.metadata)
            try:
                async for response in responses:
                    event = accumulator.feed(response)
                    if event is not None:
                        yield event
                accumulator.finish()
                return
            except grpc.RpcError as error:
                delay = call.retry_delay(error, replayable=not accumulator.started)
            finally:
                responses.cancel()
            await async_sleep(delay)

    # -- ingest ------------------------------------------------------------------------------------
    async def ingest(
        self,
        inputs: IngestInput | Iterable[IngestInput],
        *,
        tags: Iterable[str] = (),
        language: str = "",
        valid_at: datetime | None = None,
        captions: Mapping[Any, str] | None = None,
        recursive: bool = True,
        progress: ProgressCallback | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        timeout: Timeout = UNSET,
    ) -> IngestReport:
        """Upload documents and images; returns one result per item, failures included.

        ``inputs``: paths of files and folders (walked recursively unless ``recursive=False``;
        hidden, empty and unsupported files in folders are skipped and listed in
        ``report.skipped``), :class:`~babelrag_client.types.FileDocument`,
        :class:`~babelrag_client.types.TextDocument`,
        :class:`~babelrag_client.types.ImageDocument`, :class:`~babelrag_client.types.BlobDocument`,
        or a list of them. ``tags`` are added to every item, ``language`` (ISO 639-1) and
        ``valid_at`` apply where an item has none; ``captions`` maps image paths to captions
        (else a ``<image>.caption.txt`` sidecar is used). Content is streamed in 1 MiB pieces;
        up to ``batch_size`` items share one stream. ``progress`` is called with an
        :class:`~babelrag_client.types.IngestProgress` as data goes out and results come in
        (never twice at once; keep it quick).

        A broken item is reported in its result (``report.failed``) and the rest are ingested.
        Raises only when nothing could be ingested at all (wrong key, server unreachable, ...).
        Never retried: an interrupted upload reports which items may not have been stored.
        """
        call = _core.Call(_core.INGEST, self._config, timeout)
        plan = await async_blocking(
            _files.plan_ingest,
            inputs,
            tags=tags,
            language=language,
            valid_at=valid_at,
            captions=captions,
            recursive=recursive,
        )
        session = _core.IngestSession(plan, progress=progress, batch_size=batch_size)
        for batch in session.batches():
            method = self._stubs().method(_core.INGEST)
            responses = method(self._ingest_requests(batch), timeout=call.timeout(), metadata=call.metadata)
            status = async_status_watch(responses)
            failure: grpc.RpcError | None = None
            try:
                async for response in responses:
                    batch.received(response)
            except grpc.RpcError as error:
                failure = await async_server_status(status, error)
            except BaseException:
                batch.raise_crash()  # the asyncio API reports a failed request iterator as a cancellation
                raise
            finally:
                responses.cancel()
            batch.finished(failure, call)
        return session.report()

    async def _ingest_requests(self, batch: _core.IngestBatch) -> AsyncIterator[ingest_pb2.IngestRequest]:
        """Header, then data pieces, for each item of the batch; read errors end just that item."""
        try:
            for item in batch.items:
                reader = await async_blocking(batch.open, item)
                if reader is None:
                    continue
                try:
                    yield batch.header(item, reader)
                    while True:
                        piece = await async_blocking(batch.read, item, reader)
                        if piece is None:
                            break
                        yield piece
                finally:
                    batch.close(item, reader)
        except Exception as exc:  # a bug or a failing progress callback: fail the call with it
            batch.crash = exc
            raise


class AsyncAnswerStream:
    """A streamed answer: :class:`~babelrag_client.types.AnswerDelta` events, then the final
    :class:`~babelrag_client.types.Answer` (also kept in :attr:`answer`).

    Leaving the loop early cancels the call when the stream is closed: use ``async with`` (or
    call :meth:`aclose`).
    """

    def __init__(self, events: AsyncIterator[AnswerDelta | Answer]) -> None:
        self._events = events
        #: The final answer, once it has arrived.
        self.answer: Answer | None = None

    def __aiter__(self) -> AsyncAnswerStream:
        return self

    async def __anext__(self) -> AnswerDelta | Answer:
        event = await anext(self._events)
        if isinstance(event, Answer):
            self.answer = event
        return event

    async def aclose(self) -> None:
        """Stop: cancels the call if it is still running."""
        await self._events.aclose()  # type: ignore[attr-defined]

    async def __aenter__(self) -> AsyncAnswerStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class AsyncDocuments:
    """The tenant's stored documents (``client.documents``)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(self, *, page_size: int | None = None, page_token: str | None = None, timeout: Timeout = UNSET) -> DocumentPage:
        """One page of documents (server default 50, at most 500); retried on UNAVAILABLE."""
        request = _core.list_documents_request(page_size, page_token)
        return _core.document_page(await self._client._unary(_core.LIST_DOCUMENTS, request, timeout))

    async def iterate(self, *, page_size: int | None = None, timeout: Timeout = UNSET) -> AsyncIterator[Document]:
        """Every document, page after page (``timeout`` applies to each page)."""
        token = ""
        while True:
            page = await self.list(page_size=page_size, page_token=token, timeout=timeout)
            for document in page.documents:
                yield document
            if not page.next_page_token:
                return
            token = page.next_page_token

    async def delete(self, document_id: str, *, timeout: Timeout = UNSET) -> int:
        """Delete a document and all its chunks; returns how many chunks were deleted.

        Raises :class:`~babelrag_client.errors.NotFoundError` for an unknown id. Not retried.
        """
        request = _core.delete_document_request(document_id)
        response = await self._client._unary(_core.DELETE_DOCUMENT, request, timeout)
        return int(response.chunks_deleted)


class AsyncAdmin:
    """Tenants, API keys and quotas (``client.admin``); every call needs the admin key.

    Reads and "set" calls are retried on UNAVAILABLE; creating, deleting, issuing and revoking
    are not (they are not idempotent).
    """

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create_tenant(
        self,
        name: str,
        *,
        quotas: Quotas | Mapping[str, Any] | None = None,
        key_label: str = "",
        timeout: Timeout = UNSET,
    ) -> CreatedTenant:
        """Create a tenant and its first API key (``result.api_key``, shown only this once).

        Names: 3-63 lower-case letters, digits, '-' or '_', starting with a letter.
        Raises :class:`~babelrag_client.errors.AlreadyExistsError` if the name is taken.
        """
        request = _core.create_tenant_request(name, quotas, key_label)
        return _core.created_tenant(await self._client._unary(_core.CREATE_TENANT, request, timeout))

    async def list_tenants(self, *, timeout: Timeout = UNSET) -> list[Tenant]:
        response = await self._client._unary(_core.LIST_TENANTS, admin_pb2.ListTenantsRequest(), timeout)
        return [_core.tenant(t) for t in response.tenants]

    async def get_tenant(self, name: str, *, timeout: Timeout = UNSET) -> Tenant:
        request = _core.tenant_name_request(admin_pb2.GetTenantRequest, name)
        return _core.tenant(await self._client._unary(_core.GET_TENANT, request, timeout))

    async def delete_tenant(self, name: str, *, timeout: Timeout = UNSET) -> DeletedTenant:
        """Delete a tenant with all its data and keys."""
        request = _core.tenant_name_request(admin_pb2.DeleteTenantRequest, name)
        return _core.deleted_tenant(await self._client._unary(_core.DELETE_TENANT, request, timeout))

    async def set_tenant_state(self, name: str, state: TenantState | str, *, timeout: Timeout = UNSET) -> Tenant:
        """"active", or "offloaded" (data kept, not served: calls fail with TenantUnavailableError)."""
        request = _core.tenant_state_request(name, state)
        return _core.tenant(await self._client._unary(_core.SET_TENANT_STATE, request, timeout))

    async def set_quotas(self, name: str, quotas: Quotas | Mapping[str, Any], *, timeout: Timeout = UNSET) -> Tenant:
        """Replace the tenant's quotas (every field; 0 = unlimited)."""
        request = _core.set_quotas_request(name, quotas)
        return _core.tenant(await self._client._unary(_core.SET_QUOTAS, request, timeout))

    async def issue_key(self, tenant: str, *, label: str = "", timeout: Timeout = UNSET) -> IssuedKey:
        """A new API key for the tenant (``result.api_key``, shown only this once)."""
        request = _core.issue_key_request(tenant, label)
        return _core.issued_key(await self._client._unary(_core.ISSUE_KEY, request, timeout))

    async def list_keys(self, tenant: str, *, timeout: Timeout = UNSET) -> list[ApiKey]:
        request = _core.list_keys_request(tenant)
        response = await self._client._unary(_core.LIST_KEYS, request, timeout)
        return [_core.api_key(k) for k in response.keys]

    async def revoke_key(self, key_id: str, *, timeout: Timeout = UNSET) -> ApiKey:
        """Revoke an API key by its id; calls with it then fail with AuthenticationError."""
        request = _core.revoke_key_request(key_id)
        return _core.api_key(await self._client._unary(_core.REVOKE_KEY, request, timeout))
