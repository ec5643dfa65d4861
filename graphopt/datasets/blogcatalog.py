"""BlogCatalog (Tang & Liu, KDD 2009, "Relational learning via latent social dimensions").

The multi-label social network used by DeepWalk and node2vec, read from the original MATLAB
``.mat`` (``network``: adjacency, ``group``: 39 multi-hot labels; no node features).
"""

from __future__ import annotations

import io
import os

import numpy as np
import scipy.io

from ..graph import Graph
from ._files import dataset_entry, dataset_file, read_member, reading
from .splits import stratified_split

__all__ = ["load_blogcatalog"]


def load_blogcatalog(root: str | os.PathLike | None = None, *, train_frac: float = 0.6,
                     val_frac: float = 0.2, split_seed: int | None = 0) -> Graph:
    """Undirected, unweighted Graph with ``y`` an ``(N, 39)`` int64 multi-hot array and no ``x``.

    The dataset has no public split: ``train_frac`` / ``val_frac`` of the nodes are drawn with
    ``split_seed`` and the rest is test (``split_seed=None`` leaves the masks unset).
    """
    entry = dataset_entry("blogcatalog")
    path = dataset_file("blogcatalog", entry["files"][0]["path"], root)
    with reading(path, "blogcatalog"):
        mat = scipy.io.loadmat(io.BytesIO(read_member(path, entry.get("member"))))
    if "network" not in mat or "group" not in mat:
        raise ValueError(f"{path} is not the BlogCatalog .mat: expected 'network' and 'group', "
                         f"found {sorted(k for k in mat if not k.startswith('__'))}")
    adj = scipy.sparse.csr_matrix(mat["network"])
    adj.data[:] = 1.0
    y = np.asarray(mat["group"].todense(), dtype=np.int64)
    g = Graph.from_scipy(adj, weighted=False, y=y, name="blogcatalog")
    if split_seed is not None:
        train, val, test = stratified_split(y, float(train_frac), float(val_frac), None, split_seed)
        g = g.replace(train_mask=train, val_mask=val, test_mask=test)
    return g
