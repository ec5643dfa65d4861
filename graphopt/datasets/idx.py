"""MNIST and Fashion-MNIST in the IDX format as published (LeCun et al.; Xiao et al., 2017): gzip, big-endian."""

from __future__ import annotations

import gzip
import os

import numpy as np

from ._files import dataset_file, reading

__all__ = ["load_idx", "read_idx"]

_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_DIRS = {"mnist": "mnist", "fashion-mnist": "fashion_mnist"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzipped or not) into an array of its stored shape and type."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        with reading(path):
            raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _DTYPES:
        raise ValueError(f"{path} is not an IDX file (magic {raw[:4].hex()})")
    ndim = raw[3]
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = 4 + 4 * ndim + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: header says shape {shape} ({expected} bytes) but the file has {len(raw)}")
    return np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(shape).astype(dtype.newbyteorder("="))


def load_idx(name: str, split: str = "train", root: str | os.PathLike | None = None, *,
             images: bool = True) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
    """``(images, labels)`` of ``mnist`` / ``fashion-mnist``: uint8 ``(N, 28, 28)`` and int64 ``(N,)``.

    ``images=False`` returns the labels only, for when the image file is not available (the
    shared data root lacks the files over 4 MiB; they have no published sha256 to verify a
    download against, so the error says where to place them).
    """
    if name not in _DIRS:
        raise ValueError(f"unknown idx dataset {name!r}; expected one of {', '.join(_DIRS)}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    stem = "train" if split == "train" else "t10k"
    labels = read_idx(dataset_file(name, f"{_DIRS[name]}/{stem}-labels-idx1-ubyte.gz", root))
    labels = labels.astype(np.int64)
    if not images:
        return labels
    imgs = read_idx(dataset_file(name, f"{_DIRS[name]}/{stem}-images-idx3-ubyte.gz", root))
    if imgs.shape[0] != labels.shape[0]:
        raise ValueError(f"{name} {split}: {imgs.shape[0]} images but {labels.shape[0]} labels")
    return imgs, labels
