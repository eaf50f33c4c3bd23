"""The cross-encoder served by Triton's ``reranker`` ensemble, as a :class:`~babelrag.rag.rerank.Reranker`.

Each ``rerank`` call sends every (query, passage) pair of the call as one batch (split only above
the model's ``max_batch_size``), over tritonclient's asyncio gRPC client; the ensemble answers one
raw logit per pair, mapped to [0, 1] with the logistic sigmoid. Errors are the
:mod:`babelrag.triton.errors` family (translated in :func:`babelrag.triton.client.translate_error`);
wrap this reranker in :class:`~babelrag.rag.rerank.FallbackReranker` so they never fail a request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import tritonclient.grpc.aio as grpcclient

from babelrag.rag.passages import Passage, by_relevance
from babelrag.rag.rerank import FusedScoreReranker
from babelrag.triton.client import chunks, encode_texts, infer_bytes

RERANKER_MODEL = "reranker"
#: The ensemble's (and each step's) ``max_batch_size`` in model_repository/reranker*/config.pbtxt.
MAX_BATCH = 64


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """The logistic function, computed without overflow for any logit (float64)."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(logits, dtype=np.float64)))


def passage_text(passage: Passage) -> str:
    """What the cross-encoder reads of a passage: its title, then its text (an image's caption)."""
    return f"{passage.title}\n{passage.text}" if passage.title else passage.text


class TritonReranker:
    """Scores each passage against the query with the served cross-encoder; best first.

    A blank query (an image-only search) gives a cross-encoder nothing to read: the fused order is
    kept then, exactly as :class:`FusedScoreReranker` does.
    """

    def __init__(self, url: str, *, timeout_s: float = 30.0, model: str = RERANKER_MODEL, max_batch: int = MAX_BATCH) -> None:
        self.url = url
        self.model = model
        self.timeout_s = timeout_s
        self.max_batch = max_batch
        self._client = grpcclient.InferenceServerClient(url)

    def __repr__(self) -> str:
        return f"TritonReranker({self.url!r}, model={self.model!r})"

    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> TritonReranker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def logits(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """The model's raw relevance logit of ``(query, text)`` for each text, float32 ``[n]``."""
        (query_bytes,) = encode_texts([query], what="query")[:, 0]
        passages = encode_texts(texts, what="passage", allow_empty=True)
        if len(passages) == 0:
            return np.zeros(0, dtype=np.float32)
        batches = chunks(passages, self.max_batch)
        outputs = await asyncio.gather(
            *(
                infer_bytes(
                    self._client,
                    self.url,
                    self.model,
                    {"QUERY": np.full(batch.shape, query_bytes, dtype=object), "PASSAGE": batch},
                    "SCORE",
                    timeout_s=self.timeout_s,
                )
                for batch in batches
            )
        )
        return np.concatenate(outputs, axis=0).reshape(-1).astype(np.float32, copy=False)

    async def rerank(self, query: str, passages: Sequence[Passage]) -> list[Passage]:
        passages = list(passages)
        if not passages:
            return []
        if not query.strip():
            return await FusedScoreReranker().rerank(query, passages)
        scores = sigmoid(await self.logits(query, [passage_text(p) for p in passages]))
        return by_relevance([p.with_rerank_score(float(score)) for p, score in zip(passages, scores, strict=True)])
