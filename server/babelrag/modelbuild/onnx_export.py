"""ONNX export and the onnxruntime side of parity checks.

Export uses the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``): on these
machines it was about 20x faster than the dynamo exporter and reliable (shared FINDINGS). Tracing
records one execution, so every export is made with a batch of at least two *padded* sequences
(so neither the batch axis nor the attention-mask path is specialised away), with batch and
sequence axes declared dynamic, and every build then checks the exported graph on batches of other
shapes — see the ``parity`` figures in the manifest.

Warnings raised while tracing (``TracerWarning`` and friends) are not errors: they mark Python
control flow that the trace froze. They are collected, de-duplicated and stored in the manifest's
``export_notes``; the multi-shape parity checks are what decide whether the graph is right.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

#: ONNX opset of every exported graph (LayerNormalization is native from 17; onnxruntime >= 1.14).
OPSET = 17
#: Bump when this module's output changes for the same inputs (part of every component's recipe).
EXPORT_VERSION = 2
_MAX_NOTES = 20


def export(
    module: torch.nn.Module,
    example_inputs: tuple[torch.Tensor, ...],
    path: Path,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]],
) -> list[str]:
    """Export ``module`` to ``path`` and validate the file with ``onnx.checker``.

    Returns the distinct warning messages emitted while tracing.
    """
    import onnx
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    # nn.MultiheadAttention (open_clip's ViT) takes a fused fast path in eval/no-grad mode whose
    # operator (aten::_native_multi_head_attention) has no ONNX symbolic; trace the plain path.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings(record=True) as caught, torch.no_grad():
            warnings.simplefilter("always")
            _export(module, example_inputs, path, input_names, output_names, dynamic_axes)
        with torch.no_grad():
            reference_out = module(*example_inputs)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    outputs = reference_out if isinstance(reference_out, (tuple, list)) else (reference_out,)
    _fix_static_output_dims(path, output_names, [tuple(o.shape) for o in outputs], dynamic_axes)
    onnx.checker.check_model(str(path))
    notes: list[str] = []
    for item in caught:
        text = f"{item.category.__name__}: {str(item.message).strip().splitlines()[0][:240]}"
        if text not in notes:
            notes.append(text)
    return notes[:_MAX_NOTES]


#: Inputs of every token-sequence model exported here (text encoders, the cross-encoder).
TOKEN_INPUTS = ("input_ids", "attention_mask")


def export_token_model(
    module: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    path: Path,
    *,
    output_name: str,
) -> list[str]:
    """Export a model of ``(input_ids, attention_mask)`` int64 ``[batch, sequence]`` (both axes
    dynamic) to one output ``[batch, ...]``; the example must be a padded batch of two or more."""
    if input_ids.shape[0] < 2 or int(attention_mask.min()) != 0:
        raise RuntimeError("the export example must be a padded batch of two or more")
    axes = {0: "batch", 1: "sequence"}
    return export(
        module,
        (input_ids, attention_mask),
        path,
        input_names=TOKEN_INPUTS,
        output_names=(output_name,),
        dynamic_axes={**{name: axes for name in TOKEN_INPUTS}, output_name: {0: "batch"}},
    )


def _fix_static_output_dims(
    path: Path,
    output_names: Sequence[str],
    shapes: Sequence[tuple[int, ...]],
    dynamic_axes: Mapping[str, Mapping[int, str]],
) -> None:
    """Record the traced size of every non-dynamic output axis (the exporter leaves e.g. the
    embedding width symbolic after a division), so the graph states ``[batch, d]`` exactly."""
    import onnx

    model = onnx.load(str(path))
    by_name = {o.name: o for o in model.graph.output}
    changed = False
    for name, shape in zip(output_names, shapes, strict=True):
        dims = by_name[name].type.tensor_type.shape.dim
        if len(dims) != len(shape):
            raise RuntimeError(f"exported output {name} has rank {len(dims)}, traced rank {len(shape)}")
        for axis, size in enumerate(shape):
            if axis in dynamic_axes.get(name, {}):
                continue
            if dims[axis].dim_value != size:
                dims[axis].dim_value = size  # replaces any dim_param
                changed = True
    if changed:
        onnx.save(model, str(path))


def _export(
    module: torch.nn.Module,
    example_inputs: tuple[torch.Tensor, ...],
    path: Path,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]],
) -> None:
    import torch

    torch.onnx.export(
        module,
        example_inputs,
        str(path),
        input_names=list(input_names),
        output_names=list(output_names),
        dynamic_axes={k: dict(v) for k, v in dynamic_axes.items()},
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,
    )


class OnnxModel:
    """An onnxruntime CPU session on one exported model with a single output."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self._session.get_inputs()]
        self.output_names = [o.name for o in self._session.get_outputs()]

    def __call__(self, **inputs: np.ndarray) -> np.ndarray:
        feed = {name: inputs[name] for name in self.input_names}
        (out,) = self._session.run(self.output_names[:1], feed)
        return np.asarray(out, dtype=np.float32)


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
