"""Atomic file writes and output-path checks shared by every layer (partitions, datasets, checkpoints,
benchmark output).

graphopt never creates parent directories the user did not ask for: a typo in an output path must
fail before any work, naming the missing folder, rather than silently build a directory tree. Only
the data root and caches (which graphopt owns) are created on demand, by their own code.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["write_atomic", "check_parent", "make_output_dir"]


def check_parent(path: str | os.PathLike, what: str = "output file") -> Path:
    """``path`` as a :class:`~pathlib.Path` once its folder exists.

    Raises ``FileNotFoundError`` naming the missing folder (graphopt does not create it: a typo
    should not become a directory tree).
    """
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        why = "is not a directory" if parent.exists() else "does not exist"
        raise FileNotFoundError(f"cannot write {what} {path}: directory {parent} {why}; "
                                f"create it first (graphopt does not create parent directories)")
    return path


def make_output_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Create the folder ``path`` the user named (not its parents); an existing folder is reused."""
    path = check_parent(path, what)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{what} {path} exists and is not a directory")
    path.mkdir(exist_ok=True)
    return path


def write_atomic(dest: str | os.PathLike, write: Any, mode: str = "wb") -> Path:
    """Create ``dest`` by calling ``write(file)`` on a temp file in its folder, then renaming it.

    The folder must exist (``FileNotFoundError`` naming it otherwise); on any error neither
    ``dest`` nor the temp file is left behind.
    """
    dest = check_parent(dest)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            write(f)
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest
