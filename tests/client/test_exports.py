"""The public names of the SDK, pinned (adding one is a decision; removing one breaks users)."""

from __future__ import annotations

import babelrag_client
from babelrag_client import errors, types

EXPECTED = {
    "Client", "AsyncClient", "AnswerStream", "AsyncAnswerStream", "Documents", "AsyncDocuments", "Admin",
    "AsyncAdmin", "UNSET", "Timeouts", "RetryPolicy", "Keepalive", "BabelRAGError", "ConfigurationError",
    "InvalidRequestError", "AuthenticationError", "PermissionDeniedError", "NotFoundError", "AlreadyExistsError",
    "QuotaExceededError", "TenantUnavailableError", "DeadlineExceededError", "ServiceUnavailableError",
    "RequestCancelledError", "ServerError", "FileDocument", "TextDocument", "ImageDocument", "BlobDocument",
    "Filters", "TimeRange", "Answer", "AnswerDelta", "Citation", "Hit", "SearchResult", "Source", "IngestReport",
    "IngestResult", "IngestProgress", "IngestStatus", "ItemError", "SkippedItem", "Document", "DocumentPage",
    "Tenant", "TenantState", "Quotas", "Usage", "ApiKey", "CreatedTenant", "IssuedKey", "DeletedTenant",
    "Modality", "SearchMode", "__version__",
}  # fmt: skip


def test_exported_members() -> None:
    assert set(babelrag_client.__all__) == EXPECTED
    for name in babelrag_client.__all__:
        assert hasattr(babelrag_client, name), name


def test_every_error_derives_from_the_base() -> None:
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type):
            assert issubclass(value, errors.BabelRAGError), name


def test_every_type_is_frozen_and_serialisable() -> None:
    import dataclasses

    for name in types.__all__:
        value = getattr(types, name)
        if isinstance(value, type) and dataclasses.is_dataclass(value):
            assert value.__dataclass_params__.frozen, name
            assert hasattr(value, "to_dict"), name
