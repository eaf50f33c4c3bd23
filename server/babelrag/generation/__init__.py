"""The answer generator: a streaming (decoupled) Triton model and its asyncio client.

Modules
    build           builds ``<artifacts>/generator/`` per profile (tiny / default / full)
    runtime         loading, prompt and image inputs, the decoding loop (torch; runs inside Triton)
    script_control  answer-language control: per-script token masks and the logits processor
    triton_model    the TritonPythonModel logic (``model_repository/generator/1/model.py``)
    client          ``TritonGenerator``: ``stream()`` / ``generate()`` over gRPC ``stream_infer``

Importing this package imports nothing heavy; the gateway needs only ``client``.
"""
