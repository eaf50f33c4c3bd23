"""A scriptable in-process gRPC server speaking the BabelRAG API, for the SDK's own tests.

It runs the real gRPC stack (a ``grpc.server`` on 127.0.0.1, a free port) so the send loops, the
metadata, deadlines, trailing metadata and status codes are exercised for real; only the server's
behaviour is scripted: queue a failure for a method (:meth:`FakeBackend.fail`), slow it down
(``delay_s``), cut the Ask stream after some deltas, or abort an Ingest stream after some results.
Behaviour that matters end to end (retrieval, parsing, quotas) is tested against the real gateway
in ``test_integration_*.py``.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import defaultdict, deque
from concurrent import futures

import grpc

from babelrag.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    ask_pb2,
    ask_pb2_grpc,
    common_pb2,
    documents_pb2,
    documents_pb2_grpc,
    ingest_pb2,
    ingest_pb2_grpc,
    search_pb2,
    search_pb2_grpc,
)

API_KEY = "brk_testkey_secret"
ADMIN_KEY = "admin-secret"


@dataclasses.dataclass
class Failure:
    code: grpc.StatusCode
    details: str
    trailing: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass
class ReceivedItem:
    header: ingest_pb2.ItemHeader
    data: bytes
    pieces: int


class FakeBackend:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.requests: dict[str, list[object]] = defaultdict(list)
        self.failures: dict[str, deque[Failure]] = defaultdict(deque)
        self.delay_s: dict[str, float] = {}
        self.ask_deltas: list[str] = ["Paris ", "is ", "the capital [1]."]
        self.ask_cut_after: tuple[int, grpc.StatusCode] | None = None
        self.ask_send_final = True
        self.ingest_abort_after: tuple[int, grpc.StatusCode] | None = None
        self.received: list[ReceivedItem] = []
        self.documents: dict[str, documents_pb2.DocumentInfo] = {}
        self.tenants: dict[str, admin_pb2.Tenant] = {}
        self.keys: dict[str, admin_pb2.ApiKey] = {}

    # -- scripting -------------------------------------------------------------------------------
    def fail(self, method: str, code: grpc.StatusCode, details: str = "", trailing: tuple[tuple[str, str], ...] = (), times: int = 1) -> None:
        for _ in range(times):
            self.failures[method].append(Failure(code, details or f"scripted {code.name}", trailing))

    def calls_of(self, method: str) -> list[dict[str, str]]:
        return [metadata for name, metadata in self.calls if name == method]

    # -- plumbing --------------------------------------------------------------------------------
    def enter(self, method: str, request: object, context: grpc.ServicerContext, *, admin: bool = False) -> None:
        metadata = {k: v for k, v in context.invocation_metadata()}
        with self.lock:
            self.calls.append((method, metadata))
            self.requests[method].append(request)
            failure = self.failures[method].popleft() if self.failures[method] else None
        expected = ADMIN_KEY if admin else API_KEY
        if metadata.get("authorization") != f"Bearer {expected}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid credential")
        if self.delay_s.get(method):
            time.sleep(self.delay_s[method])
        if failure is not None:
            if failure.trailing:
                context.set_trailing_metadata(failure.trailing)
            context.abort(failure.code, failure.details)


class _Search(search_pb2_grpc.SearchServiceServicer):
    def __init__(self, backend: FakeBackend) -> None:
        self.b = backend

    def Search(self, request, context):  # noqa: N802
        self.b.enter("Search", request, context)
        hit = common_pb2.Hit(
            chunk_id="doc-1#0",
            document_id="doc-1",
            source=common_pb2.Source(title="Doc one", mime_type="text/plain"),
            modality=common_pb2.MODALITY_TEXT,
            language="en",
            snippet=f"you asked: {request.query} ({len(request.images)} images)",
            score=0.9,
            signal_scores={"keyword": 0.8},
            tags=["t"],
        )
        hit.valid_at.FromSeconds(1_700_000_000)
        return search_pb2.SearchResponse(hits=[hit], query_language="en", timings=common_pb2.StageTimings(ms={"retrieve": 1.5}))


class _Ask(ask_pb2_grpc.AskServiceServicer):
    def __init__(self, backend: FakeBackend) -> None:
        self.b = backend

    def Ask(self, request, context):  # noqa: N802
        self.b.enter("Ask", request, context)
        for number, text in enumerate(self.b.ask_deltas):
            if self.b.ask_cut_after is not None and number == self.b.ask_cut_after[0]:
                context.abort(self.b.ask_cut_after[1], "stream cut")
            yield ask_pb2.AskResponse(delta=ask_pb2.AnswerDelta(text=text))
        if not self.b.ask_send_final:
            return
        citation = ask_pb2.Citation(number=1, document_id="doc-1", chunk_id="doc-1#0", source=common_pb2.Source(title="Doc one"), score=0.7)
        yield ask_pb2.AskResponse(
            final=ask_pb2.AnswerFinal(
                answer="".join(self.b.ask_deltas),
                citations=[citation],
                context=[citation],
                question_language="en",
                answer_language=request.answer_language or "en",
                answer_language_ok=True,
                finish_reason="stop",
                model="fake",
                completion_tokens=len(self.b.ask_deltas),
            )
        )


class _Ingest(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, backend: FakeBackend) -> None:
        self.b = backend

    def Ingest(self, request_iterator, context):  # noqa: N802
        self.b.enter("Ingest", None, context)
        header: ingest_pb2.ItemHeader | None = None
        pieces: list[bytes] = []
        index, sent = -1, 0

        def finish() -> ingest_pb2.IngestResponse:
            data = b"".join(pieces)
            self.b.received.append(ReceivedItem(header, data, len(pieces) - (1 if header.content else 0)))
            document_id = header.document_id or header.filename or "sha"
            if header.size_bytes and header.size_bytes != len(data):
                error = ingest_pb2.ItemError(code="INVALID_ARGUMENT", message=f"got {len(data)} of {header.size_bytes} bytes")
                return ingest_pb2.IngestResponse(index=index, document_id=document_id, status=ingest_pb2.INGEST_STATUS_FAILED, error=error)
            if not data or data.startswith(b"BROKEN"):
                error = ingest_pb2.ItemError(code="INVALID_ARGUMENT", message="cannot parse this document")
                return ingest_pb2.IngestResponse(
                    index=index, document_id=document_id, filename=header.filename, status=ingest_pb2.INGEST_STATUS_FAILED, error=error
                )
            self.b.documents[document_id] = documents_pb2.DocumentInfo(document_id=document_id, chunks=1, bytes=len(data))
            return ingest_pb2.IngestResponse(
                index=index,
                document_id=document_id,
                filename=header.filename,
                status=ingest_pb2.INGEST_STATUS_STORED,
                chunks=max(1, len(data) // 1000),
                modality=common_pb2.MODALITY_IMAGE if header.mime_type.startswith("image/") else common_pb2.MODALITY_TEXT,
                language=header.language or "en",
                mime_type=header.mime_type,
                bytes=len(data),
            )

        def results_allowed() -> None:
            abort = self.b.ingest_abort_after
            if abort is not None and sent >= abort[0]:
                context.abort(abort[1], "upload stream aborted")

        for request in request_iterator:
            if request.WhichOneof("part") == "header":
                if header is not None:
                    results_allowed()
                    yield finish()
                    sent += 1
                index += 1
                header = request.header
                pieces = [header.content] if header.content else []
            else:
                pieces.append(request.data)
        if header is not None:
            results_allowed()
            yield finish()


class _Documents(documents_pb2_grpc.DocumentServiceServicer):
    def __init__(self, backend: FakeBackend) -> None:
        self.b = backend

    def ListDocuments(self, request, context):  # noqa: N802
        self.b.enter("ListDocuments", request, context)
        ids = sorted(self.b.documents)
        start = ids.index(request.page_token) + 1 if request.page_token in ids else 0
        size = request.page_size or 50
        page = ids[start : start + size]
        token = page[-1] if start + size < len(ids) else ""
        return documents_pb2.ListDocumentsResponse(documents=[self.b.documents[i] for i in page], next_page_token=token, total=len(ids))

    def DeleteDocument(self, request, context):  # noqa: N802
        self.b.enter("DeleteDocument", request, context)
        if request.document_id not in self.b.documents:
            context.abort(grpc.StatusCode.NOT_FOUND, f"document {request.document_id!r} not found")
        info = self.b.documents.pop(request.document_id)
        return documents_pb2.DeleteDocumentResponse(chunks_deleted=info.chunks)


class _Admin(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, backend: FakeBackend) -> None:
        self.b = backend

    def _key(self, tenant: str, label: str) -> tuple[admin_pb2.ApiKey, str]:
        key_id = f"k{len(self.b.keys) + 1:03d}"
        key = admin_pb2.ApiKey(key_id=key_id, tenant=tenant, label=label)
        key.created_at.FromSeconds(1_700_000_000)
        self.b.keys[key_id] = key
        return key, f"brk_{key_id}_secret"

    def _tenant(self, name: str, context) -> admin_pb2.Tenant:  # noqa: ANN001
        if name not in self.b.tenants:
            context.abort(grpc.StatusCode.NOT_FOUND, f"tenant {name!r} does not exist")
        return self.b.tenants[name]

    def CreateTenant(self, request, context):  # noqa: N802
        self.b.enter("CreateTenant", request, context, admin=True)
        if request.name in self.b.tenants:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, f"tenant {request.name!r} already exists")
        tenant = admin_pb2.Tenant(name=request.name, state=admin_pb2.TENANT_STATE_ACTIVE, quotas=request.quotas)
        tenant.created_at.FromSeconds(1_700_000_000)
        self.b.tenants[request.name] = tenant
        key, secret = self._key(request.name, request.key_label)
        return admin_pb2.CreateTenantResponse(tenant=tenant, key=key, api_key=secret)

    def ListTenants(self, request, context):  # noqa: N802
        self.b.enter("ListTenants", request, context, admin=True)
        return admin_pb2.ListTenantsResponse(tenants=list(self.b.tenants.values()))

    def GetTenant(self, request, context):  # noqa: N802
        self.b.enter("GetTenant", request, context, admin=True)
        return self._tenant(request.name, context)

    def DeleteTenant(self, request, context):  # noqa: N802
        self.b.enter("DeleteTenant", request, context, admin=True)
        self._tenant(request.name, context)
        del self.b.tenants[request.name]
        revoked = [k for k, v in self.b.keys.items() if v.tenant == request.name]
        return admin_pb2.DeleteTenantResponse(chunks_deleted=3, keys_revoked=len(revoked))

    def SetTenantState(self, request, context):  # noqa: N802
        self.b.enter("SetTenantState", request, context, admin=True)
        tenant = self._tenant(request.name, context)
        tenant.state = request.state
        return tenant

    def SetQuotas(self, request, context):  # noqa: N802
        self.b.enter("SetQuotas", request, context, admin=True)
        tenant = self._tenant(request.name, context)
        tenant.quotas.CopyFrom(request.quotas)
        return tenant

    def IssueApiKey(self, request, context):  # noqa: N802
        self.b.enter("IssueApiKey", request, context, admin=True)
        self._tenant(request.tenant, context)
        key, secret = self._key(request.tenant, request.label)
        return admin_pb2.IssueApiKeyResponse(key=key, api_key=secret)

    def ListApiKeys(self, request, context):  # noqa: N802
        self.b.enter("ListApiKeys", request, context, admin=True)
        return admin_pb2.ListApiKeysResponse(keys=[k for k in self.b.keys.values() if k.tenant == request.tenant])

    def RevokeApiKey(self, request, context):  # noqa: N802
        self.b.enter("RevokeApiKey", request, context, admin=True)
        if request.key_id not in self.b.keys:
            context.abort(grpc.StatusCode.NOT_FOUND, f"API key {request.key_id!r} does not exist")
        key = self.b.keys[request.key_id]
        key.revoked = True
        key.revoked_at.FromSeconds(1_700_000_100)
        return key


class FakeServer:
    """``with FakeServer() as server:`` -> ``server.address`` ("127.0.0.1:PORT"), ``server.backend``."""

    def __init__(self) -> None:
        self.backend = FakeBackend()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        search_pb2_grpc.add_SearchServiceServicer_to_server(_Search(self.backend), self._server)
        ask_pb2_grpc.add_AskServiceServicer_to_server(_Ask(self.backend), self._server)
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(_Ingest(self.backend), self._server)
        documents_pb2_grpc.add_DocumentServiceServicer_to_server(_Documents(self.backend), self._server)
        admin_pb2_grpc.add_AdminServiceServicer_to_server(_Admin(self.backend), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"

    def __enter__(self) -> FakeServer:
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop(grace=None)
