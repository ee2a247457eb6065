"""On-disk cache for bench artefacts (safetensors + JSON only; no pickle).

The cache root is ``$LOSSFORGE_CACHE`` if set, else ``$XDG_CACHE_HOME/lossforge`` or
``~/.cache/lossforge`` (the rule of the dataset cache). Entries are named by a content hash
(sha256 of everything that determines them), so a stale entry can never be found under a new
key; deleting the directory is always safe. Writes are atomic (``lossforge.io``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch

from lossforge.io import atomic_write_bytes

__all__ = ["Hasher", "atomic_save_tensors", "cache_root"]


def cache_root() -> Path:
    env = os.environ.get("LOSSFORGE_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "lossforge"


def atomic_save_tensors(path: str | Path, tensors: dict[str, torch.Tensor]) -> None:
    atomic_write_bytes(path, safetensors.torch.save(
        {k: v.detach().contiguous() for k, v in tensors.items()}))


class Hasher:
    """sha256 over a sequence of named arrays and JSON values, in the order they are added."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def array(self, name: str, a: np.ndarray) -> "Hasher":
        a = np.ascontiguousarray(a)
        self._h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        self._h.update(a.tobytes())
        return self

    def json(self, name: str, value: Any) -> "Hasher":
        self._h.update(f"{name}:".encode())
        self._h.update(json.dumps(value, sort_keys=True).encode())
        return self

    def hexdigest(self) -> str:
        return self._h.hexdigest()
