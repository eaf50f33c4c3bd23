"""What the Retriever asks the store for (no server needed)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from babelrag.gateway.retrieval import RetrievalQuery, Retriever
from babelrag.gateway.settings import Settings
from babelrag.store.types import VectorName, VectorQuery


def test_vectors_are_read_only_when_asked_for_and_cached_apart():
    retriever = Retriever(SimpleNamespace(settings=Settings(), metrics=None))
    vectors = [VectorQuery(VectorName.TEXT, np.ones(4, dtype=np.float32), name="text")]
    ask = RetrievalQuery("wer?")  # Ask compares passages by their vectors
    search = RetrievalQuery("wer?", include_vectors=False)  # Search returns none
    assert retriever._request(ask, vectors).include_vectors
    assert not retriever._request(search, vectors).include_vectors
    assert ask.cache_key("t", 1) != search.cache_key("t", 1)
