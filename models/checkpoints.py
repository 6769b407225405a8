"""What every checkpoint shares: a version digest that names the exact weights."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors import safe_open


def weights_digest(weights_path: Path, length: int = 8) -> str:
    """Short SHA-256 over a safetensors file's tensors (names, dtypes, shapes, values).

    Hashing the tensors rather than the file's bytes matters: safetensors writes its metadata
    map in no fixed order, so the same weights saved twice can differ byte for byte and would
    otherwise get two versions.
    """
    digest = hashlib.sha256()
    with safe_open(str(weights_path), framework="pt") as weights:
        for name in sorted(weights.keys()):
            tensor = weights.get_tensor(name).contiguous()
            digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:length]
