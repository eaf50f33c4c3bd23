"""The evaluation re-sends documents the gateway answered UNAVAILABLE (Triton missed its deadline
on a loaded machine) instead of failing the whole run; other errors still fail it."""

from __future__ import annotations

import pytest
from babelrag_client import TextDocument
from babelrag_client.types import IngestReport, IngestResult, IngestStatus, ItemError

from babelrag.evaluation.retrieval import GatewaySession
from babelrag.evaluation.stack import Endpoint, EvaluationError


class FlakyClient:
    """Answers UNAVAILABLE for the ids in ``flaky`` the first ``times`` times, INVALID for ``bad``."""

    def __init__(self, flaky: set[str], times: int = 1, bad: frozenset[str] = frozenset()) -> None:
        self.flaky, self.times, self.bad = flaky, times, bad
        self.sent: list[str] = []

    async def ingest(self, documents):  # noqa: ANN001, ANN201
        results = []
        for d in documents:
            self.sent.append(d.document_id)
            if d.document_id in self.bad:
                results.append(IngestResult(source=d.document_id, status=IngestStatus.FAILED, error=ItemError("INVALID_ARGUMENT", "no text")))
            elif d.document_id in self.flaky and self.sent.count(d.document_id) <= self.times:
                results.append(IngestResult(source=d.document_id, status=IngestStatus.FAILED, error=ItemError("UNAVAILABLE", "Triton deadline")))
            else:
                results.append(IngestResult(source=d.document_id, status=IngestStatus.STORED, chunks=2))
        return IngestReport(results=tuple(results))


def session_with(client: FlakyClient, monkeypatch: pytest.MonkeyPatch) -> GatewaySession:
    session = GatewaySession(Endpoint(address="unused:1", admin_key="k"), ingest_streams=2)

    async def create_tenant(name: str) -> tuple[str, str]:
        return f"eval-{name}", "brk_test"

    monkeypatch.setattr(session, "create_tenant", create_tenant)
    monkeypatch.setattr(session, "client_for", lambda api_key: client)
    monkeypatch.setattr("babelrag.evaluation.retrieval.asyncio.sleep", _no_sleep)
    return session


async def _no_sleep(_: float) -> None:
    return None


DOCS = [TextDocument(text=f"paragraph {i}", document_id=f"d{i}") for i in range(6)]


async def test_unavailable_documents_are_sent_again(monkeypatch: pytest.MonkeyPatch):
    client = FlakyClient({"d1", "d4"}, times=2)
    corpus = await session_with(client, monkeypatch).corpus("xquad-de", DOCS)
    assert sorted(client.sent) == sorted([f"d{i}" for i in range(6)] + ["d1", "d4"] * 2)  # two rounds again
    assert corpus.chunks == 12


async def test_other_errors_and_lasting_unavailability_fail_the_run(monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(EvaluationError, match="1 of 6 documents.*d2: INVALID_ARGUMENT"):
        await session_with(FlakyClient(set(), bad=frozenset({"d2"})), monkeypatch).corpus("xquad-de", DOCS)
    client = FlakyClient({"d3"}, times=99)
    with pytest.raises(EvaluationError, match="d3: UNAVAILABLE"):
        await session_with(client, monkeypatch).corpus("xquad-de", DOCS)
    assert client.sent.count("d3") == 4  # the first try and three more rounds
