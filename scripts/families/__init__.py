"""kvbench's own PyTorch reference implementations of the model families it evaluates.

Each family is a token mixer (attention, MLA, Mamba2, ...) plugged into one decoder skeleton, so
the export wrapper, the sidecar and the reference cases are written once for all of them.
"""
