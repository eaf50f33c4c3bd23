"""Method parsing and how rankings are made from chunk hits (a scripted search client)."""

from __future__ import annotations

import dataclasses

import pytest

from babelrag.evaluation.retrieval import Corpus, GatewaySession, Method, Query, default_methods, parse_methods
from babelrag.evaluation.stack import Endpoint


def test_methods():
    assert [m.name for m in default_methods()] == ["keyword", "vector", "hybrid@0.3", "hybrid@0.5", "hybrid@0.7", "hybrid@0.9"]
    assert parse_methods("vector, hybrid, hybrid@0.5,vector", default_alpha=0.7) == [Method("vector"), Method("hybrid", 0.7), Method("hybrid", 0.5)]
    for bad in ("hybrid@1.5", "keyword@0.3", "bm25", ""):
        with pytest.raises(ValueError):
            parse_methods(bad)


@dataclasses.dataclass
class FakeHit:
    document_id: str


@dataclasses.dataclass
class FakeResult:
    hits: list


class ChunkyClient:
    """Every document has three chunks, ranked chunk-by-chunk: d0 d0 d0 d1 d1 d1 ..."""

    def __init__(self, documents: int) -> None:
        self.chunks = [f"d{i}" for i in range(documents) for _ in range(3)]
        self.calls: list[tuple[str, int, str, float | None]] = []

    async def search(self, query: str, *, top_k: int, mode: str, alpha: float | None) -> FakeResult:
        self.calls.append((query, top_k, mode, alpha))
        return FakeResult([FakeHit(d) for d in self.chunks[:top_k]])


async def test_rankings_are_deduplicated_documents_and_refetched_when_short():
    client = ChunkyClient(documents=12)
    corpus = Corpus(
        name="c", tenant="t", client=client, languages={f"d{i}": "de" for i in range(12)}, chunks=14, max_chunks=3
    )  # 14 chunks over 12 documents: the first search asks for ceil(10 * 14/12) + 5 = 17 chunks
    session = GatewaySession(Endpoint("127.0.0.1:1", "k"), concurrency=2)
    [ranking] = await session.rank(corpus, [Query("q", "text", "de", frozenset({"d4"}))], Method("hybrid", 0.5))
    assert [call[1] for call in client.calls] == [17, 30]  # 17 chunks held 6 documents: asked again for 10 x 3
    assert ranking.documents == tuple(f"d{i}" for i in range(10))
    assert ranking.languages == ("de",) * 10
    assert client.calls[0][2:] == ("hybrid", 0.5)


async def test_search_errors_are_recorded_not_raised():
    from babelrag_client import DeadlineExceededError

    class Failing:
        async def search(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            raise DeadlineExceededError("too slow")

    corpus = Corpus(name="c", tenant="t", client=Failing(), languages={"d": "en"}, chunks=1)
    session = GatewaySession(Endpoint("127.0.0.1:1", "k"))
    queries = [Query("a", "x", "en", frozenset({"d"}))]
    from babelrag.evaluation.stack import EvaluationError

    with pytest.raises(EvaluationError, match="every search"):
        await session.rank(corpus, queries, Method("vector"))


async def test_methods_run_question_by_question_so_caches_stay_warm():
    client = ChunkyClient(documents=12)
    corpus = Corpus(name="c", tenant="t", client=client, languages={f"d{i}": "de" for i in range(12)}, chunks=36, max_chunks=3)
    session = GatewaySession(Endpoint("127.0.0.1:1", "k"), concurrency=1)
    methods = [Method("keyword"), Method("vector"), Method("hybrid", 0.5)]
    queries = [Query(f"q{i}", f"text {i}", "de", frozenset({"d1"})) for i in range(3)]
    rankings = await session.rank_methods(corpus, queries, methods)
    assert [(call[0], call[2], call[3]) for call in client.calls] == [
        (f"text {i}", mode, alpha) for i in range(3) for mode, alpha in (("keyword", None), ("vector", None), ("hybrid", 0.5))
    ]
    assert list(rankings) == methods
    assert all([r.query.id for r in ranked] == ["q0", "q1", "q2"] for ranked in rankings.values())
