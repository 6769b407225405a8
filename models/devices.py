"""Choosing the torch device: the one place that turns ``auto|cpu|cuda`` into a device."""

from __future__ import annotations

import torch


def resolve_device(device: str) -> torch.device:
    """Turn ``"auto"|"cpu"|"cuda"`` into a device; ``auto`` takes CUDA when it is present.

    Raises:
        ValueError: an unknown name, or ``cuda`` on a machine without CUDA.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but torch.cuda.is_available() is False; use 'auto' or 'cpu'")
        return torch.device("cuda")
    raise ValueError(f"device must be one of auto, cpu, cuda; got {device!r}")
