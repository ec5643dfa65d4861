"""Planetoid citation graphs (Cora, CiteSeer, PubMed) from the raw ``ind.*`` files.

Split and feature assembly follow Kipf & Welling's ``load_data`` (the public split: 20 labels
per class for training, 500 validation and 1000 test nodes).
"""

from __future__ import annotations

import collections
import io
import os
import pickle

import numpy as np
import scipy.sparse as sp

from ..graph import Graph
from ._files import dataset_file, reading

__all__ = ["load_planetoid", "safe_unpickle"]

try:  # numpy >= 2 moved numpy.core to numpy._core; pickles name either
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct

_ALLOWED = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("scipy.sparse.csr", "csr_matrix"): sp.csr_matrix,
    ("scipy.sparse._csr", "csr_matrix"): sp.csr_matrix,
    ("collections", "defaultdict"): collections.defaultdict,
    ("__builtin__", "list"): list,
    ("builtins", "list"): list,
}


class _RestrictedUnpickler(pickle.Unpickler):
    # Planetoid files are pickles: admit only the classes they are made of, never arbitrary code.
    def find_class(self, module: str, name: str):  # noqa: D102
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to unpickle {module}.{name}: Planetoid files hold only numpy arrays, "
                "scipy CSR matrices and an adjacency dict") from None


def safe_unpickle(data: bytes):
    """Unpickle Planetoid data admitting only numpy arrays, scipy CSR and dict/list containers."""
    return _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


def load_planetoid(name: str, root: str | os.PathLike | None = None) -> Graph:
    """Load ``cora``, ``citeseer`` or ``pubmed`` with the public split as an undirected Graph.

    CiteSeer's 15 test ids without features get zero feature rows and no label (excluded from
    every mask), as in Kipf's loader.
    """
    name = name.lower()
    if name not in ("cora", "citeseer", "pubmed"):
        raise ValueError(f"unknown Planetoid dataset {name!r}; expected cora, citeseer or pubmed")
    objs = {}
    for ext in ("x", "y", "tx", "ty", "allx", "ally", "graph"):
        path = dataset_file(name, f"planetoid/ind.{name}.{ext}", root)
        with open(path, "rb") as f, reading(path, name):
            objs[ext] = safe_unpickle(f.read())
    path = dataset_file(name, f"planetoid/ind.{name}.test.index", root)
    with open(path) as f:
        try:
            test_idx = np.array([int(line) for line in f if line.strip()], dtype=np.int64)
        except ValueError as e:
            raise ValueError(f"{path}: not one node id per line ({e})") from None
    x, y, tx, ty, allx, ally = (objs[k] for k in ("x", "y", "tx", "ty", "allx", "ally"))
    test_sorted = np.sort(test_idx)
    if name == "citeseer":
        full = np.arange(test_sorted[0], test_sorted[-1] + 1)
        tx_ext = sp.lil_matrix((full.size, tx.shape[1]), dtype=np.float32)
        tx_ext[test_sorted - test_sorted[0], :] = tx
        tx = tx_ext.tocsr()
        ty_ext = np.zeros((full.size, ty.shape[1]), dtype=ty.dtype)
        ty_ext[test_sorted - test_sorted[0], :] = ty
        ty = ty_ext
    features = sp.vstack([allx, tx]).tolil()
    features[test_idx, :] = features[test_sorted, :]
    labels = np.vstack([ally, ty])
    labels[test_idx, :] = labels[test_sorted, :]
    adj = objs["graph"]
    n = features.shape[0]
    n = max(n, max(adj) + 1)
    src = np.fromiter((u for u, vs in adj.items() for _ in vs), dtype=np.int64)
    dst = np.fromiter((v for vs in adj.values() for v in vs), dtype=np.int64)
    graph_edges = np.stack([src, dst])
    graph_edges = graph_edges[:, graph_edges[0] != graph_edges[1]]
    has_label = labels.sum(axis=1) > 0
    y_idx = np.where(has_label, labels.argmax(axis=1), -1).astype(np.int64)
    train = np.zeros(n, dtype=bool)
    train[: y.shape[0]] = True
    val = np.zeros(n, dtype=bool)
    val[y.shape[0]: y.shape[0] + 500] = True
    test = np.zeros(n, dtype=bool)
    test[test_idx] = True
    test &= has_label
    feats = sp.csr_matrix(features, dtype=np.float32)
    return Graph.from_edge_index(graph_edges, n, undirected=True, x=feats, y=y_idx,
                                 train_mask=train, val_mask=val, test_mask=test, name=name)
