"""BabelRAG client SDK: ingest, search and ask over a BabelRAG server, sync or async.

::

    from babelrag_client import Client

    with Client("localhost:50051", api_key="brk_...") as client:   # or BABELRAG_URL / BABELRAG_API_KEY
        client.ingest("handbook/")
        print(client.ask("How many vacation days do I get?", stream=False).text)

:class:`Client` (blocking) and :class:`AsyncClient` (asyncio) have the same methods: ``search``,
``ask``, ``ingest``, ``documents.list/iterate/delete`` and ``admin.*``. Errors derive from
:class:`BabelRAGError` (see :mod:`babelrag_client.errors`); values are in
:mod:`babelrag_client.types`. The ``babelrag`` command (:mod:`babelrag_client.cli`) is built on it.
"""

from babelrag_client._core import UNSET, Keepalive, RetryPolicy, Timeouts, __version__
from babelrag_client.aio import AsyncAdmin, AsyncAnswerStream, AsyncClient, AsyncDocuments
from babelrag_client.client import Admin, AnswerStream, Client, Documents
from babelrag_client.errors import (
    AlreadyExistsError,
    AuthenticationError,
    BabelRAGError,
    ConfigurationError,
    DeadlineExceededError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RequestCancelledError,
    ServerError,
    ServiceUnavailableError,
    TenantUnavailableError,
)
from babelrag_client.types import (
    Answer,
    AnswerDelta,
    ApiKey,
    BlobDocument,
    Citation,
    CreatedTenant,
    DeletedTenant,
    Document,
    DocumentPage,
    FileDocument,
    Filters,
    Hit,
    ImageDocument,
    IngestProgress,
    IngestReport,
    IngestResult,
    IngestStatus,
    IssuedKey,
    ItemError,
    Modality,
    Quotas,
    SearchMode,
    SearchResult,
    SkippedItem,
    Source,
    Tenant,
    TenantState,
    TextDocument,
    TimeRange,
    Usage,
)

__all__ = [
    # clients
    "Client",
    "AsyncClient",
    "AnswerStream",
    "AsyncAnswerStream",
    "Documents",
    "AsyncDocuments",
    "Admin",
    "AsyncAdmin",
    # settings
    "UNSET",
    "Timeouts",
    "RetryPolicy",
    "Keepalive",
    # errors
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
    # inputs
    "FileDocument",
    "TextDocument",
    "ImageDocument",
    "BlobDocument",
    "Filters",
    "TimeRange",
    # results
    "Answer",
    "AnswerDelta",
    "Citation",
    "Hit",
    "SearchResult",
    "Source",
    "IngestReport",
    "IngestResult",
    "IngestProgress",
    "IngestStatus",
    "ItemError",
    "SkippedItem",
    "Document",
    "DocumentPage",
    "Tenant",
    "TenantState",
    "Quotas",
    "Usage",
    "ApiKey",
    "CreatedTenant",
    "IssuedKey",
    "DeletedTenant",
    "Modality",
    "SearchMode",
    "__version__",
]
