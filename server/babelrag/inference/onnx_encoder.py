"""An ONNX encoder run with onnxruntime, merging many requests into one call."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort


class OnnxEncoder:
    def __init__(self, model_path: Path, *, threads: int | None = None) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or int(os.environ.get("BABELRAG_ORT_THREADS", "0"))
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self._session.get_inputs()]
        self.output_name = self._session.get_outputs()[0].name

    def run(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        return self._session.run([self.output_name], {name: feeds[name] for name in self.input_names})[0]

    def run_sequences(self, requests: Sequence[tuple[np.ndarray, np.ndarray]], pad_id: int) -> list[np.ndarray]:
        """Run token sequences from several requests as one padded batch; one output per request.

        Padding value and width do not change the result: padded positions are masked out of
        attention and out of the mean pooling, and a cross-encoder reads only its first token. XLM-R
        models (the CLIP text tower, the reranker) also derive position ids from ``input_ids !=
        pad_id``, so ``pad_id`` must be the tokenizer's own padding id.
        """
        width = max(ids.shape[1] for ids, _ in requests)
        rows = sum(ids.shape[0] for ids, _ in requests)
        input_ids = np.full((rows, width), pad_id, dtype=np.int64)
        attention_mask = np.zeros((rows, width), dtype=np.int64)
        offset = 0
        for ids, mask in requests:
            n, length = ids.shape
            input_ids[offset : offset + n, :length] = ids
            attention_mask[offset : offset + n, :length] = mask
            offset += n
        merged = self.run({"input_ids": input_ids, "attention_mask": attention_mask})
        return _split(merged, [ids.shape[0] for ids, _ in requests])

    def run_images(self, requests: Sequence[np.ndarray]) -> list[np.ndarray]:
        merged = self.run({"pixel_values": np.concatenate(requests, axis=0)})
        return _split(merged, [batch.shape[0] for batch in requests])


def _split(merged: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    return np.split(merged.astype(np.float32, copy=False), np.cumsum(sizes)[:-1])
