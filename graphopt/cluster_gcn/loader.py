"""Cluster-GCN batches: the subgraph induced by q random parts of a partition, with its normalized adjacency.

Implements the batching of Chiang et al., "Cluster-GCN" (KDD 2019), Algorithm 1 (stochastic
multiple partitions): each epoch the p parts are shuffled and dealt into batches of q; a batch is
the union of its parts with every edge between them restored, normalized on the batch alone.

The loader permutes the graph once so every part is a contiguous range of rows. A batch is then q
row ranges and a boolean test ``chosen[part_of_column]``: its cost is linear in the batch's edges,
never in the graph's size, and there is no Python loop over edges or nodes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import scipy.sparse as sp
import torch

from ..graph import NORMALIZATIONS, Graph, Normalization, check_features, normalize_csr
from ..partition import Partition

__all__ = ["ClusterBatch", "ClusterLoader", "check_graph"]



def torch_csr(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, n_cols: int) -> torch.Tensor:
    """A float32 torch sparse CSR tensor sharing the numpy buffers."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(torch.from_numpy(indptr), torch.from_numpy(indices),
                                       torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)),
                                       size=(indptr.size - 1, n_cols), check_invariants=False)


def check_graph(graph: Any, require_labels: bool = True) -> Graph:
    """``graph`` as a :class:`Graph` (:meth:`Graph.coerce`: PyG ``Data``, networkx and scipy are
    converted), after rejecting what Cluster-GCN cannot train on, naming what is wrong.

    Features are checked again (finite, numeric, 2-d) because ``graph.x`` may have been
    changed in place after the graph was built.
    """
    graph = Graph.coerce(graph)
    if not graph.is_undirected():
        raise ValueError("graph is directed; Cluster-GCN needs an undirected graph "
                         "(call graph.to_undirected())")
    if graph.x is None:
        raise ValueError("graph has no node features x")
    check_features(graph.x, graph.num_nodes, "graph.x")
    if require_labels and graph.y is None:
        raise ValueError("graph has no labels y")
    return graph


@dataclass
class ClusterBatch:
    """One Cluster-GCN batch: the subgraph induced by ``parts``.

    ``nodes`` are the global ids of the batch's nodes (``node_map``); ``adj`` is the batch's
    normalized adjacency (torch sparse CSR); ``edge_index``/``edge_weight`` are its raw edges, for
    PyG convolutions that normalize themselves. ``x`` is float32 (dense, or sparse CSR when the
    loader was asked for sparse features); masks are bool tensors.
    """

    parts: np.ndarray
    nodes: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor | None
    adj: torch.Tensor
    edge_index: torch.Tensor
    edge_weight: torch.Tensor | None
    train_mask: torch.Tensor | None = None
    val_mask: torch.Tensor | None = None
    test_mask: torch.Tensor | None = None

    @property
    def num_nodes(self) -> int:
        return int(self.nodes.numel())

    def _tensor_fields(self) -> tuple[str, ...]:
        return ("nodes", "x", "y", "adj", "edge_index", "edge_weight", "train_mask", "val_mask",
                "test_mask")

    def pin_memory(self) -> ClusterBatch:
        """The batch with every dense tensor in page-locked host memory (for non-blocking copies)."""
        return self._map(lambda t: t.pin_memory() if t.layout == torch.strided else t)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> ClusterBatch:
        """The batch on ``device``. Going from CPU to CUDA the host tensors are pinned first and
        copied with ``non_blocking``, so the copy overlaps the previous step's kernels."""
        device = torch.device(device)
        src = self if device.type != "cuda" or not non_blocking else self.pin_memory()
        return src._map(lambda t: t.to(device, non_blocking=non_blocking))

    def _map(self, fn: Any) -> ClusterBatch:
        kw = {k: None if getattr(self, k) is None else fn(getattr(self, k)) for k in self._tensor_fields()}
        return ClusterBatch(parts=self.parts, **kw)

    def to_pyg(self) -> Any:
        """PyG ``Data`` with ``x``, ``edge_index``, ``edge_weight``, ``y``, masks, ``n_id`` and ``adj``."""
        from torch_geometric.data import Data

        kw = {k: v for k, v in (("y", self.y), ("edge_weight", self.edge_weight),
                                 ("train_mask", self.train_mask), ("val_mask", self.val_mask),
                                 ("test_mask", self.test_mask)) if v is not None}
        return Data(x=self.x, edge_index=self.edge_index, n_id=self.nodes, adj=self.adj,
                    num_nodes=self.num_nodes, **kw)

    def to_graph(self) -> Graph:
        """The batch as a graphopt :class:`Graph` (raw edges, ``node_map`` = global ids)."""
        ei = self.edge_index.numpy()
        w = None if self.edge_weight is None else self.edge_weight.numpy()
        n = self.num_nodes
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(ei[0], minlength=n), out=indptr[1:])
        masks = {k: getattr(self, k).numpy() for k in ("train_mask", "val_mask", "test_mask")
                 if getattr(self, k) is not None}
        x = self.x
        if x.layout == torch.sparse_csr:
            x = sp.csr_matrix((x.values().numpy(), x.col_indices().numpy(), x.crow_indices().numpy()),
                              shape=tuple(x.shape))
        else:
            x = x.numpy()
        return Graph(indptr, ei[1], w, x=x, node_map=self.nodes.numpy(),
                     y=None if self.y is None else self.y.numpy(), **masks)


def _unchecked(loader: Any) -> Iterator[ClusterBatch]:
    """Batches from worker processes: torch rebuilds their CSR tensors without saying whether to check
    them, and then warns ("Sparse invariant checks are implicitly disabled"). They were built from
    valid CSR arrays, so opt out explicitly, around each transfer only."""
    it = iter(loader)
    while True:
        with torch.sparse.check_sparse_tensor_invariants(enable=False):
            batch = next(it, None)
        if batch is None:
            return
        yield batch


class ClusterLoader:
    """Iterate Cluster-GCN batches of ``clusters_per_batch`` parts of ``partition`` (Algorithm 1).

    Each pass shuffles the parts (seeded by ``seed`` and the pass number, so a resumed run sees
    the same batches) and yields ``ceil(p / q)`` :class:`ClusterBatch` objects; every node appears
    in exactly one batch per pass. ``features`` overrides ``graph.x`` (e.g. precomputed
    ``[AX ‖ X]``) and is checked like ``x`` (:func:`~graphopt.graph.check_features`: numeric,
    2-d, one finite row per node). A partition with empty parts is refused. Sparse features are densified per batch, or passed on as a torch sparse CSR
    tensor with ``sparse_features=True`` (for PyG convs, whose first linear map accepts it).
    With ``num_workers > 0`` batches are built in torch DataLoader worker processes.
    """

    def __init__(self, partition: Partition, clusters_per_batch: int = 1, *, shuffle: bool = True,
                 normalization: Normalization = "rw", diag_lambda: float = 1.0,
                 features: Any = None, sparse_features: bool = False, seed: int = 0,
                 num_workers: int = 0) -> None:
        if not isinstance(partition, Partition):
            raise TypeError(f"partition must be a graphopt.Partition (e.g. Partition.metis(graph, "
                            f"num_parts)), got {type(partition).__name__}")
        graph = check_graph(partition.graph, require_labels=False)
        p = partition.num_parts
        if p > graph.num_nodes:
            raise ValueError(f"partition has {p} parts but the graph has only {graph.num_nodes} nodes")
        empty = int(np.count_nonzero(partition.part_sizes() == 0))
        if empty:
            # A batch dealt only empty parts would hold no nodes (and a loss over no nodes is NaN).
            raise ValueError(f"partition has {empty} empty parts of {p}; Cluster-GCN batches "
                             f"need every part non-empty: repartition with fewer parts")
        if not isinstance(clusters_per_batch, (int, np.integer)) or not 1 <= clusters_per_batch <= p:
            raise ValueError(f"clusters_per_batch must be an integer in [1, num_parts={p}], "
                             f"got {clusters_per_batch!r}")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        if diag_lambda < 0:
            raise ValueError(f"diag_lambda must be >= 0, got {diag_lambda}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        x = graph.x if features is None else check_features(features, graph.num_nodes, "features")
        self.graph, self.partition = graph, partition
        self.clusters_per_batch = int(clusters_per_batch)
        self.shuffle, self.normalization, self.diag_lambda = shuffle, normalization, float(diag_lambda)
        self.seed, self.num_workers, self.epoch = seed, num_workers, 0
        self._x = sp.csr_matrix(x) if sp.issparse(x) else x
        self.sparse_features = sparse_features and sp.issparse(x)

        # Permute once so part k occupies rows bounds[k]:bounds[k+1]. A graph already numbered
        # part by part (order == identity) is shared, not copied.
        assignment = partition.assignment
        if np.all(assignment[1:] >= assignment[:-1]):
            order = np.arange(graph.num_nodes, dtype=np.int64)
            indptr, indices, weights = graph.indptr, graph.indices, graph.weights
        else:
            order = np.argsort(assignment, kind="stable")
            new_id = np.empty_like(order)
            new_id[order] = np.arange(order.size)
            deg = np.diff(graph.indptr)[order]
            indptr = np.zeros(graph.num_nodes + 1, dtype=np.int64)
            np.cumsum(deg, out=indptr[1:])
            pos = _ranges(graph.indptr[order], deg)
            indices = new_id[graph.indices[pos]]
            weights = None if graph.weights is None else graph.weights[pos]
            del pos, new_id
        self._order, self._indptr, self._indices, self._weights = order, indptr, indices, weights
        self._bounds = np.concatenate([[0], np.cumsum(partition.part_sizes())]).astype(np.int64)
        # Part of each (permuted) node: per node, not per edge, so it costs 4 bytes x N.
        self._node_part = assignment[order].astype(np.int32 if p < 2**31 else np.int64)

    def __len__(self) -> int:
        return -(-self.partition.num_parts // self.clusters_per_batch)

    def batches(self, epoch: int | None = None) -> list[np.ndarray]:
        """The part ids of each batch for pass ``epoch`` (the shuffled deal of Algorithm 1)."""
        p, q = self.partition.num_parts, self.clusters_per_batch
        ids = np.arange(p)
        if self.shuffle:
            ids = np.random.default_rng([self.seed, self.epoch if epoch is None else epoch]).permutation(p)
        return [np.sort(ids[i:i + q]) for i in range(0, p, q)]

    def __iter__(self) -> Iterator[ClusterBatch]:
        groups = self.batches()
        self.epoch += 1
        if self.num_workers == 0:
            return map(self.batch, groups)
        return _unchecked(torch.utils.data.DataLoader(groups, batch_size=None, shuffle=False,
                                                      num_workers=self.num_workers, collate_fn=self.batch,
                                                      persistent_workers=False))

    def batch(self, parts: Any) -> ClusterBatch:
        """Build the batch induced by ``parts`` (any order; nodes come part by part, ascending)."""
        parts = np.unique(np.asarray(parts, dtype=np.int64))
        if parts.size == 0 or parts[0] < 0 or parts[-1] >= self.partition.num_parts:
            raise ValueError(f"parts must be non-empty ids in [0, {self.partition.num_parts})")
        starts, ends = self._bounds[parts], self._bounds[parts + 1]
        sizes = ends - starts
        rows = _ranges(starts, sizes)
        n = rows.size
        estart, eend = self._indptr[starts], self._indptr[ends]
        entries = _ranges(estart, eend - estart)
        # Column in new ids -> batch-local id: shift by (local start - global start) of its part.
        chosen = np.zeros(self.partition.num_parts, dtype=bool)
        chosen[parts] = True
        shift = np.zeros(self.partition.num_parts, dtype=np.int64)
        shift[parts] = (np.cumsum(sizes) - sizes) - starts
        cols = self._indices[entries]
        cpart = self._node_part[cols]
        keep = chosen[cpart]
        cols = cols[keep] + shift[cpart[keep]]
        kept = np.concatenate([[0], np.cumsum(keep)])
        row_ptr = np.concatenate([[0], np.cumsum(self._indptr[rows + 1] - self._indptr[rows])])
        indptr = kept[row_ptr]
        w = None if self._weights is None else self._weights[entries][keep]
        a_ptr, a_idx, a_val = normalize_csr(indptr, cols, w, self.normalization, self.diag_lambda)
        nodes = self._order[rows]
        g = self.graph
        x = self._x[nodes]
        if self.sparse_features:
            x = torch_csr(x.indptr.astype(np.int64), x.indices.astype(np.int64), x.data, x.shape[1])
        else:
            x = torch.from_numpy(np.ascontiguousarray(x.toarray() if sp.issparse(x) else x,
                                                      dtype=np.float32))
        local_rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))

        def _t(v: np.ndarray | None) -> torch.Tensor | None:
            return None if v is None else torch.from_numpy(np.ascontiguousarray(v[nodes]))

        return ClusterBatch(
            parts=parts, nodes=torch.from_numpy(nodes),
            x=x, y=_t(g.y), adj=torch_csr(a_ptr, a_idx, a_val, n),
            edge_index=torch.from_numpy(np.stack([local_rows, cols])),
            edge_weight=None if w is None else torch.from_numpy(w.astype(np.float32)),
            train_mask=_t(g.train_mask), val_mask=_t(g.val_mask), test_mask=_t(g.test_mask))


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + l)`` for each pair, without a Python loop."""
    total = int(lengths.sum())
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(total, dtype=np.int64) + offsets
