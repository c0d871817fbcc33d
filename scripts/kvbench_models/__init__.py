"""Tiny ONNX test models with PyTorch reference outputs for kvbench.

Each model family lives in its own module and exposes the small interface
described in :mod:`kvbench_models.families`; everything the families share
(norms, RoPE, MLP, decoder block, export, tokenizer, references, sidecar)
lives in the other modules so a new family only writes its own mixer layer.
"""
