"""GNN-benchmark ``.npz`` graphs (Shchur et al., 2018, "Pitfalls of Graph Neural Network Evaluation").

Cora/CiteSeer (npz versions), Amazon Computers/Photo and Coauthor CS/Physics, read from the npz as
published, or from the single-member zip that wraps it. These graphs have no public split, so a
seeded stratified one (Shchur's protocol: 20 per class train, 30 per class validation, the rest
test) is attached.
"""

from __future__ import annotations

import io
import os

import numpy as np
import scipy.sparse as sp

from ..graph import Graph
from ._files import dataset_entry, dataset_file, read_member, reading
from .splits import stratified_split

__all__ = ["load_npz", "NPZ_DATASETS"]

NPZ_DATASETS = ("cora-npz", "citeseer-npz", "amazon-computers", "amazon-photo", "coauthor-cs",
                "coauthor-physics")


def _csr(d: np.lib.npyio.NpzFile, prefix: str) -> sp.csr_matrix:
    try:
        return sp.csr_matrix((d[f"{prefix}_data"], d[f"{prefix}_indices"], d[f"{prefix}_indptr"]),
                             shape=tuple(d[f"{prefix}_shape"]))
    except KeyError as e:
        raise ValueError(f"not a gnn-benchmark npz: missing key {e}") from None


def load_npz(name: str, root: str | os.PathLike | None = None, *, train_per_class: int = 20,
             val_per_class: int = 30, split_seed: int | None = 0,
             largest_component: bool = False) -> Graph:
    """Load a gnn-benchmark graph as an undirected, unweighted Graph without self-loops.

    The stored adjacency is partly directed: it is symmetrized (as PyG and Shchur's code do),
    giving the edge counts in the datasets' MANIFEST. Features stay a float32 scipy CSR.
    ``split_seed=None`` leaves the masks unset; otherwise ``train_per_class`` /
    ``val_per_class`` nodes of each class are drawn for training / validation and the rest is
    test. ``largest_component=True`` keeps only the largest connected component (Shchur's
    ``standardize``), with ``node_map`` pointing back to the stored ids.

    Only the arrays are read (``allow_pickle=False``): the optional name arrays some files store
    as pickled objects are never unpickled.
    """
    if name not in NPZ_DATASETS:
        raise ValueError(f"unknown gnn-benchmark dataset {name!r}; expected one of {', '.join(NPZ_DATASETS)}")
    entry = dataset_entry(name)
    path = dataset_file(name, entry["files"][0]["path"], root)
    with reading(path, name), np.load(io.BytesIO(read_member(path, entry.get("member"))),
                                      allow_pickle=False) as d:
        adj = _csr(d, "adj")
        x = _csr(d, "attr").astype(np.float32) if "attr_data" in d.files else None
        if "labels" not in d.files:
            raise ValueError(f"{path} has no 'labels' array")
        y = np.asarray(d["labels"], dtype=np.int64)
    adj = (adj + adj.T).tocsr()
    adj.setdiag(0)
    adj.eliminate_zeros()
    adj.data[:] = 1.0
    g = Graph.from_scipy(adj, weighted=False, x=x, y=y, name=name)
    if largest_component:
        from scipy.sparse.csgraph import connected_components

        _, comp = connected_components(adj, directed=False)
        g = g.subgraph(np.flatnonzero(comp == np.bincount(comp).argmax()))
    if split_seed is not None:
        train, val, test = stratified_split(g.y, train_per_class, val_per_class, None, split_seed)
        g = g.replace(train_mask=train, val_mask=val, test_mask=test)
    return g
