"""LIBSVM / svmlight text datasets (Chang & Lin, LIBSVM data sets), e.g. a9a and w8a.

Each line is ``<label> <index>:<value> ...`` with 1-based feature indices.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ._files import dataset_entry, dataset_file, manifest

__all__ = ["load_libsvm", "read_libsvm"]


def read_libsvm(path: str | os.PathLike, n_features: int | None = None
                ) -> tuple[sp.csr_matrix, np.ndarray]:
    """Parse a LIBSVM file into ``(X, y)``: float64 CSR features and labels.

    Labels are int64 when all are integers (``-1/+1`` classes), float64 otherwise. ``n_features``
    fixes the column count (a test file may not use the last feature); by default it is the
    largest index seen. ``qid:`` fields and ``#`` comments are ignored.
    """
    labels: list[float] = []
    cols: list[int] = []
    vals: list[float] = []
    indptr = [0]
    with open(path, encoding="ascii") as f:
        for lineno, line in enumerate(f, 1):
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            try:
                labels.append(float(line[0]))
                for tok in line[1:]:
                    idx, _, val = tok.partition(":")
                    if idx == "qid":
                        continue
                    cols.append(int(idx))
                    vals.append(float(val))
            except ValueError:
                raise ValueError(f"{path}:{lineno}: not LIBSVM format: {' '.join(line)[:80]!r}") from None
            indptr.append(len(cols))
    c = np.asarray(cols, dtype=np.int64) - 1
    if c.size and c.min() < 0:
        raise ValueError(f"{path}: feature indices must be 1-based, found index {c.min() + 1}")
    width = int(c.max()) + 1 if c.size else 0
    if n_features is not None:
        if n_features < width:
            raise ValueError(f"n_features={n_features} but {path} uses feature index {width}")
        width = n_features
    x = sp.csr_matrix((np.asarray(vals), c, np.asarray(indptr)), shape=(len(labels), width))
    x.sum_duplicates()
    y = np.asarray(labels)
    return x, (y.astype(np.int64) if np.all(y == np.rint(y)) else y)


def load_libsvm(name: str, split: str = "train", root: str | os.PathLike | None = None,
                n_features: int | None = None) -> tuple[sp.csr_matrix, np.ndarray]:
    """``(X, y)`` of a manifest dataset (``a9a``, ``w8a``; ``split='test'`` reads ``a9a.t``) or of a file path.

    A manifest dataset's published feature count is used unless ``n_features`` is given.
    """
    if name not in manifest() and Path(name).is_file():
        return read_libsvm(name, n_features)
    entry = dataset_entry(name)
    if entry["format"] != "libsvm":
        raise ValueError(f"dataset {name!r} is not a LIBSVM dataset (format {entry['format']!r})")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    files = [f["path"] for f in entry["files"]]
    wanted = [p for p in files if p.endswith(".t") == (split == "test")]
    if not wanted:
        raise ValueError(f"dataset {name!r} has no {split} file; it has {files}")
    return read_libsvm(dataset_file(name, wanted[0], root), n_features or entry.get("n_features"))
