"""Atomic file writes shared by every layer (partitions, datasets, checkpoints, benchmark output)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["write_atomic"]


def write_atomic(dest: str | os.PathLike, write: Any, mode: str = "wb") -> Path:
    """Create ``dest`` by calling ``write(file)`` on a temp file in its folder, then renaming it."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            write(f)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest
