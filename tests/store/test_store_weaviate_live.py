"""Weaviate backend against a live server: the same contract as LanceDB.

Runs only when WEAVIATE_URL is set (e.g. http://localhost:8080, gRPC on 50051 or
WEAVIATE_GRPC_PORT), with the tokenizer flags of docker/weaviate.env. Each test
class gets its own collection, deleted afterwards.
"""

from __future__ import annotations

import os
import uuid

import pytest
from store_contract import DIMS, VectorStoreContract

pytestmark = [
    pytest.mark.weaviate,
    pytest.mark.skipif(not os.environ.get("WEAVIATE_URL"), reason="WEAVIATE_URL is not set"),
]


@pytest.fixture(scope="module")
def weaviate_store():
    from babelrag.store.weaviate_store import WeaviateConfig, WeaviateStore

    cfg = WeaviateConfig.from_env(collection=f"BabelTest{uuid.uuid4().hex[:8]}", dims=DIMS)
    store = WeaviateStore(cfg)
    yield store
    store.drop_collection()
    store.close()


class TestWeaviateContract(VectorStoreContract):
    @pytest.fixture
    def store(self, weaviate_store):
        return weaviate_store
