"""argparse type for output paths (-o, --out, --json, --checkpoint, --cvae, --save): a typo fails
at parse time, before any work, naming the missing folder (graphopt never creates parent
directories the user did not ask for; a folder named by ``--out`` itself is created)."""

from __future__ import annotations

import argparse

from .._io import check_parent

__all__ = ["output_path"]


def output_path(text: str) -> str:
    """A file or folder to write: the folder it goes in must exist."""
    try:
        check_parent(text, "output")
    except FileNotFoundError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text
