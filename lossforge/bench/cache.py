"""On-disk cache and atomic file writes (safetensors + JSON only; no pickle).

The cache root is ``$LOSSFORGE_CACHE`` if set, else ``$XDG_CACHE_HOME/lossforge`` or
``~/.cache/lossforge``. Entries are named by
a content hash (sha256 of everything that determines them), so a stale entry can never be found
under a new key; deleting the directory is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch


def cache_root() -> Path:
    """``$LOSSFORGE_CACHE``, else ``$XDG_CACHE_HOME/lossforge``, else ``~/.cache/lossforge``
    (the same rule as the dataset cache)."""
    env = os.environ.get("LOSSFORGE_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "lossforge"


def _atomic_write(path: Path, write) -> None:
    """Write via a temp file in the same directory, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, data: Any) -> None:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    _atomic_write(Path(path), lambda f: f.write(text.encode()))


def atomic_save_tensors(path: str | Path, tensors: dict[str, torch.Tensor]) -> None:
    blob = safetensors.torch.save({k: v.detach().contiguous() for k, v in tensors.items()})
    _atomic_write(Path(path), lambda f: f.write(blob))


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
