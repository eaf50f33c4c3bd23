"""Code that runs inside Triton's python-backend models.

Each ``model_repository/<model>/1/model.py`` is a thin adapter: it unpacks Triton tensors and calls
the plain classes here, which are unit-tested without a server (Triton's python utilities cannot be
imported outside it). Only numpy, tokenizers, Pillow and onnxruntime may be imported from here:
this code runs in the serving environment, never torch.
"""
