"""The one graph type of graphopt: a CSR adjacency (numpy) with node data alongside.

Every capability (Cluster-GCN, local augmentation, gossip, convex ReLU) takes a :class:`Graph`.
Structure is numpy (int64 ``indptr``/``indices``, float64 ``weights``); conversion to torch happens
only in :meth:`Graph.to_torch_sparse` and :meth:`Graph.to_pyg`.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

__all__ = ["Graph", "check_features", "check_labels", "normalize_csr", "NORMALIZATIONS"]

Normalization = Literal["sym", "rw", "residual", "diag_enhanced"]
NORMALIZATIONS = ("sym", "rw", "residual", "diag_enhanced")
_NODE_KEYS = ("x", "y", "train_mask", "val_mask", "test_mask")


def check_features(x: Any, num_nodes: int, name: str = "x") -> np.ndarray | sp.csr_matrix:
    """Node features as a numeric 2-D array (or scipy CSR) with ``num_nodes`` finite rows.

    Raises ``TypeError`` for non-numeric data (strings, objects, complex) and ``ValueError`` for
    a wrong shape or NaN/infinite values, naming ``name``. A 1-D array is refused rather than
    guessed at: one feature per node is ``x.reshape(-1, 1)``.
    """
    if x is None:
        raise ValueError(f"{name} is None; expected an array of shape ({num_nodes}, num_features)")
    x = sp.csr_matrix(x) if sp.issparse(x) else np.asarray(x)
    data = x.data if sp.issparse(x) else x
    if not (np.issubdtype(data.dtype, np.floating) or np.issubdtype(data.dtype, np.integer)
            or data.dtype == bool):
        raise TypeError(f"{name} must hold real numbers, got dtype {data.dtype}")
    if x.ndim != 2:
        hint = "; for one feature per node use x.reshape(-1, 1)" if x.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-d (num_nodes, num_features), got shape {x.shape}{hint}")
    if x.shape[0] != num_nodes:
        raise ValueError(f"{name} has {x.shape[0]} rows but the graph has {num_nodes} nodes")
    if np.issubdtype(data.dtype, np.floating) and not np.all(np.isfinite(data)):
        bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
        raise ValueError(f"{name} contains {bad} NaN or infinite values")
    return x


def check_labels(y: Any, num_nodes: int, name: str = "y") -> np.ndarray:
    """Node labels as int64 class ids ``(num_nodes,)`` or a multi-hot ``(num_nodes, C)`` array.

    Class ids are ``0..C-1`` and ``-1`` marks an unlabelled node; ids below ``-1`` are refused.
    Float ids are accepted only when every value is a whole number (``3.0``), and come back as
    int64. Multi-hot labels must lie in ``[0, 1]``. Raises ``TypeError`` for non-numeric data and
    ``ValueError`` otherwise, naming ``name``.
    """
    y = y.toarray() if sp.issparse(y) else np.asarray(y)
    if not (np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.integer)
            or y.dtype == bool):
        raise TypeError(f"{name} must hold class ids (integers) or multi-hot 0/1 values, "
                        f"got dtype {y.dtype}")
    if y.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-d class ids or a 2-d (num_nodes, num_classes) "
                         f"multi-hot array, got shape {y.shape}")
    if y.shape[0] != num_nodes:
        raise ValueError(f"{name} has {y.shape[0]} rows but the graph has {num_nodes} nodes")
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if y.ndim == 2:
        if y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError(f"multi-hot {name} must lie in [0, 1], got values in "
                             f"[{y.min()}, {y.max()}]")
        return y
    if np.issubdtype(y.dtype, np.floating):
        frac = y != np.rint(y)
        if frac.any():
            raise ValueError(f"{name} holds {int(frac.sum())} non-integer class ids (e.g. "
                             f"{y[frac][0]}); class ids are whole numbers, -1 = unlabelled")
    y = y.astype(np.int64, copy=False)
    if y.size and y.min() < -1:
        raise ValueError(f"{name} has class ids below -1 (min {y.min()}); class ids are "
                         f"0..num_classes-1 and -1 marks an unlabelled node")
    return y


def _check_weights(weights: Any, shape: tuple[int, ...]) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != shape:
        raise ValueError(f"weights has shape {weights.shape}, expected {shape}")
    if not np.all(np.isfinite(weights)):
        raise ValueError("weights contain NaN or infinite values")
    # Every consumer reads a weight as an edge's strength (degrees for the normalized adjacency,
    # METIS, gossip rates); a negative one would give NaN in D^-1/2.
    if weights.size and weights.min() < 0:
        raise ValueError(f"weights must be non-negative, got {int(np.count_nonzero(weights < 0))} "
                         f"negative (min {weights.min()})")
    return weights


def _as_mask(name: str, value: Any, num_nodes: int) -> np.ndarray | None:
    if value is None:
        return None
    value = np.asarray(value)
    if value.dtype != bool:
        raise TypeError(f"{name} must be a boolean array, got dtype {value.dtype}")
    if value.shape != (num_nodes,):
        raise ValueError(f"{name} has shape {value.shape} but the graph has {num_nodes} nodes")
    return value


class Graph:
    """A graph stored as CSR: row ``i``'s neighbours are ``indices[indptr[i]:indptr[i+1]]``.

    An undirected graph stores both directions of each edge. ``weights`` is ``None`` for an
    unweighted graph. Node data (``x`` features as a dense array or scipy CSR matrix, ``y``
    labels as int class ids or an ``(N, C)`` multi-hot array, boolean split masks) is held
    alongside and travels with every operation. Operations return new graphs; nothing mutates.

    ``node_map`` is set on graphs made by :meth:`subgraph`: entry ``i`` is the id in the parent
    graph of this graph's node ``i``.
    """

    __slots__ = ("indptr", "indices", "weights", "x", "y", "train_mask", "val_mask", "test_mask",
                 "node_map", "name", "_undirected")

    def __init__(self, indptr: Any, indices: Any, weights: Any = None, *, x: Any = None,
                 y: Any = None, train_mask: Any = None, val_mask: Any = None,
                 test_mask: Any = None, node_map: Any = None, name: str | None = None,
                 validate: bool = True) -> None:
        indptr = np.asarray(indptr, dtype=np.int64)
        indices = np.asarray(indices, dtype=np.int64)
        if indptr.ndim != 1 or indptr.size < 1:
            raise ValueError("indptr must be a 1-d array of length num_nodes + 1")
        n = indptr.size - 1
        if validate:
            if indices.ndim != 1:
                raise ValueError(f"indices must be 1-d, got shape {indices.shape}")
            if indptr[0] != 0 or indptr[-1] != indices.size:
                raise ValueError(f"indptr must start at 0 and end at len(indices)={indices.size}, "
                                 f"got {indptr[0]}..{indptr[-1]}")
            if n and np.any(np.diff(indptr) < 0):
                raise ValueError("indptr must be non-decreasing")
            if indices.size and (indices.min() < 0 or indices.max() >= n):
                raise ValueError(f"edge endpoint out of range: indices span "
                                 f"[{indices.min()}, {indices.max()}] but num_nodes={n}")
        if weights is not None:
            if validate:
                weights = _check_weights(weights, indices.shape)
            else:
                weights = np.asarray(weights, dtype=np.float64)
                if weights.shape != indices.shape:
                    raise ValueError(f"weights has shape {weights.shape}, expected {indices.shape}")
        self.indptr, self.indices, self.weights = indptr, indices, weights
        self.x = None if x is None else check_features(x, n, "x")
        self.y = None if y is None else check_labels(y, n, "y")
        self.train_mask = _as_mask("train_mask", train_mask, n)
        self.val_mask = _as_mask("val_mask", val_mask, n)
        self.test_mask = _as_mask("test_mask", test_mask, n)
        if node_map is not None:
            node_map = np.asarray(node_map, dtype=np.int64)
            if node_map.shape != (n,):
                raise ValueError(f"node_map has shape {node_map.shape}, expected ({n},)")
        self.node_map = node_map
        self.name = name
        self._undirected: bool | None = None

    # ------------------------------------------------------------------ constructors
    @classmethod
    def coerce(cls, obj: Any, name: str = "graph") -> Graph:
        """``obj`` as a :class:`Graph`: a Graph is returned as is; a PyG ``Data``, a networkx graph
        or a scipy sparse adjacency is converted (:meth:`from_pyg`, :meth:`from_networkx`,
        :meth:`from_scipy`). Anything else raises ``TypeError`` naming ``name`` and the type.

        Public entry points call this once, so users may pass the graph types they already have.
        """
        if isinstance(obj, Graph):
            return obj
        if sp.issparse(obj):
            return cls.from_scipy(obj)
        # Only a library already imported can have made obj, so look there instead of importing.
        nx = sys.modules.get("networkx")
        if nx is not None and isinstance(obj, nx.Graph):
            return cls.from_networkx(obj)
        pyg = sys.modules.get("torch_geometric.data")
        if pyg is not None and isinstance(obj, pyg.Data):
            return cls.from_pyg(obj)
        raise TypeError(f"{name}: expected a graphopt Graph, a PyG Data, a networkx graph or a "
                        f"scipy sparse matrix, got {type(obj).__name__}")

    @classmethod
    def from_edge_index(cls, edge_index: Any, num_nodes: int | None = None, weights: Any = None,
                        *, undirected: bool = False, reduce: Literal["sum", "max"] = "sum",
                        **node_data: Any) -> Graph:
        """Build from a ``(2, E)`` array of (source, target) pairs.

        Duplicate pairs are merged (weights combined by ``reduce``). With ``undirected=True``
        each pair is also added reversed. Memory stays near the size of the output: an
        unweighted build sorts one int64 key array in place.
        """
        ei = np.asarray(edge_index)
        if ei.ndim != 2 or ei.shape[0] != 2:
            raise ValueError(f"edge_index must have shape (2, E), got {ei.shape}")
        if not np.issubdtype(ei.dtype, np.integer):
            raise TypeError(f"edge_index must hold integers, got dtype {ei.dtype}")
        if num_nodes is None:
            num_nodes = int(ei.max()) + 1 if ei.size else 0
        n = int(num_nodes)
        if ei.size and (ei.min() < 0 or ei.max() >= n):
            raise ValueError(f"edge endpoint out of range: edge_index spans "
                             f"[{ei.min()}, {ei.max()}] but num_nodes={n}")
        src, dst = ei[0], ei[1]
        if weights is not None:
            weights = _check_weights(weights, (ei.shape[1],))
        indptr, indices, w = _coo_to_csr(src, dst, n, weights, reduce, symmetric=undirected)
        g = cls(indptr, indices, w, validate=False, **node_data)
        if undirected:
            g._undirected = True  # every pair was added with its reverse and the same weights
        return g

    @classmethod
    def from_scipy(cls, matrix: Any, *, weighted: bool | None = None, **node_data: Any) -> Graph:
        """Build from a square scipy sparse matrix; ``weighted=None`` keeps weights unless all are 1."""
        if not sp.issparse(matrix):
            raise TypeError(f"expected a scipy sparse matrix, got {type(matrix).__name__}")
        if matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"adjacency must be square, got shape {matrix.shape}")
        m = sp.csr_matrix(matrix, copy=True)
        m.sum_duplicates()
        m.eliminate_zeros()
        m.sort_indices()
        data = np.asarray(m.data, dtype=np.float64)
        if weighted is None:
            weighted = bool(data.size) and not np.all(data == 1.0)
        return cls(m.indptr, m.indices, data if weighted else None, **node_data)

    @classmethod
    def from_networkx(cls, graph: Any, *, weight: str | None = "weight",
                      node_attrs: bool = True) -> Graph:
        """Build from a networkx graph; nodes are relabelled 0..N-1 in ``graph.nodes`` order.

        Node attributes named ``x``, ``y`` and the three masks become node data when every node has them.
        """
        import networkx as nx

        nodes = list(graph.nodes)
        m = nx.to_scipy_sparse_array(graph, nodelist=nodes, weight=weight, format="csr")
        data: dict[str, Any] = {}
        if node_attrs and nodes:
            for key in _NODE_KEYS:
                vals = [graph.nodes[v].get(key) for v in nodes]
                if all(v is not None for v in vals):
                    data[key] = np.asarray(vals)
        has_w = weight is not None and any(weight in d for _, _, d in graph.edges(data=True))
        return cls.from_scipy(sp.csr_matrix(m), weighted=has_w, **data)

    @classmethod
    def from_pyg(cls, data: Any) -> Graph:
        """Build from a PyG ``Data`` (``edge_index``, optional ``edge_weight``/``edge_attr``, ``x``, ``y``, masks)."""
        n = int(data.num_nodes)
        ei = data.edge_index.detach().cpu().numpy()
        w = getattr(data, "edge_weight", None)
        if w is None and getattr(data, "edge_attr", None) is not None and data.edge_attr.dim() == 1:
            w = data.edge_attr
        w = None if w is None else w.detach().cpu().numpy()
        node = {k: getattr(data, k).detach().cpu().numpy() for k in _NODE_KEYS
                if getattr(data, k, None) is not None}
        return cls.from_edge_index(ei, n, w, **node)

    # ------------------------------------------------------------------ basic queries
    @property
    def num_nodes(self) -> int:
        return self.indptr.size - 1

    @property
    def num_edges(self) -> int:
        """Number of edges: stored entries for a directed graph, pairs {i, j} for an undirected one."""
        if self.is_undirected():
            loops = int(np.count_nonzero(self.indices == self._rows()))
            return (self.indices.size - loops) // 2 + loops
        return self.indices.size

    @property
    def num_features(self) -> int:
        return 0 if self.x is None else int(self.x.shape[1])

    @property
    def num_classes(self) -> int:
        if self.y is None:
            return 0
        if self.y.ndim == 2:
            return int(self.y.shape[1])
        return int(self.y.max()) + 1 if self.y.size else 0

    @property
    def is_multilabel(self) -> bool:
        return self.y is not None and self.y.ndim == 2

    def __repr__(self) -> str:
        kind = "undirected" if self.is_undirected() else "directed"
        parts = [f"num_nodes={self.num_nodes}", f"num_edges={self.num_edges}", kind]
        if self.weights is not None:
            parts.append("weighted")
        for key in _NODE_KEYS:
            v = getattr(self, key)
            if v is not None:
                parts.append(f"{key}={tuple(v.shape)}")
        name = f"{self.name}: " if self.name else ""
        return f"Graph({name}{', '.join(parts)})"

    def _rows(self) -> np.ndarray:
        return np.repeat(np.arange(self.num_nodes, dtype=np.int64), np.diff(self.indptr))

    def _edge_values(self) -> np.ndarray:
        return np.ones(self.indices.size) if self.weights is None else self.weights

    def degree(self, weighted: bool = False) -> np.ndarray:
        """Out-degree of each node (sum of edge weights when ``weighted``)."""
        if not weighted or self.weights is None:
            return np.diff(self.indptr).astype(np.float64 if weighted else np.int64)
        return np.bincount(self._rows(), weights=self.weights, minlength=self.num_nodes)

    def in_degree(self, weighted: bool = False) -> np.ndarray:
        w = self.weights if weighted and self.weights is not None else None
        return np.bincount(self.indices, weights=w, minlength=self.num_nodes)

    def is_undirected(self) -> bool:
        """True when every edge (i, j) has its reverse (j, i) with the same weight."""
        if self._undirected is None:
            a = self.to_scipy()
            if not a.has_canonical_format:
                a = a.copy()
                a.sum_duplicates()
            # Transposing through CSC is a counting sort: O(nnz), with sorted indices, so the
            # graph is symmetric exactly when the canonical arrays coincide.
            t = a.T.tocsr()
            self._undirected = bool(np.array_equal(a.indptr, t.indptr)
                                    and np.array_equal(a.indices, t.indices)
                                    and (self.weights is None or np.array_equal(a.data, t.data)))
        return self._undirected

    def has_self_loops(self) -> bool:
        return bool(np.any(self.indices == self._rows()))

    def edges(self, return_weights: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Edge list ``(E, 2)``: each undirected edge once with ``i < j`` (self-loops ``i == j``).

        For a directed graph, every stored edge. The order is the CSR order, so per-edge
        quantities (rates, resistances) line up with it.
        """
        rows = self._rows()
        keep = rows <= self.indices if self.is_undirected() else slice(None)
        e = np.stack([rows[keep], self.indices[keep]], axis=1)
        if return_weights:
            return e, self._edge_values()[keep]
        return e

    def edge_index(self) -> np.ndarray:
        """``(2, nnz)`` array of every stored entry (both directions for an undirected graph)."""
        return np.stack([self._rows(), self.indices])

    def content_hash(self) -> str:
        """SHA-256 over structure and weights (not node data): the key for cached partitions."""
        h = hashlib.sha256()
        h.update(np.int64(self.num_nodes).tobytes())
        h.update(np.ascontiguousarray(self.indptr).tobytes())
        h.update(np.ascontiguousarray(self.indices).tobytes())
        if self.weights is not None:
            h.update(np.ascontiguousarray(self.weights).tobytes())
        return h.hexdigest()

    # ------------------------------------------------------------------ new graphs
    def _node_data(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _NODE_KEYS} | {"name": self.name}

    def replace(self, **changes: Any) -> Graph:
        """A copy with some node data (``x``, ``y``, masks, ``name``, ``node_map``) replaced."""
        unknown = set(changes) - set(_NODE_KEYS) - {"name", "node_map"}
        if unknown:
            raise TypeError(f"unknown node data: {sorted(unknown)}")
        data = self._node_data() | {"node_map": self.node_map} | changes
        return Graph(self.indptr, self.indices, self.weights, validate=False, **data)

    def with_weights(self, weights: Any) -> Graph:
        """Same structure with new per-entry weights (length ``nnz``, CSR order)."""
        return Graph(self.indptr, self.indices, weights, node_map=self.node_map,
                     **self._node_data())

    def to_undirected(self, reduce: Literal["max", "sum"] = "max") -> Graph:
        """Symmetrize: add every missing reverse edge; a pair stored both ways keeps ``reduce`` of its weights."""
        if self.is_undirected():
            return self
        a = self.to_scipy()
        at = a.T.tocsr()
        sym = a.maximum(at) if reduce == "max" else a + at
        g = Graph.from_scipy(sym, weighted=self.weights is not None, **self._node_data())
        g.node_map = self.node_map
        return g

    def remove_self_loops(self) -> Graph:
        rows = self._rows()
        keep = self.indices != rows
        if keep.all():
            return self
        counts = np.bincount(rows[keep], minlength=self.num_nodes)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        w = None if self.weights is None else self.weights[keep]
        return Graph(indptr, self.indices[keep], w, validate=False, node_map=self.node_map,
                     **self._node_data())

    def add_self_loops(self, weight: float = 1.0) -> Graph:
        """Set every node's self-loop to ``weight`` (replacing an existing one)."""
        a = self.remove_self_loops().to_scipy() + weight * sp.identity(self.num_nodes, format="csr")
        weighted = self.weights is not None or weight != 1.0
        g = Graph.from_scipy(a, weighted=weighted, **self._node_data())
        g.node_map = self.node_map
        return g

    def subgraph(self, nodes: Any) -> Graph:
        """Induced subgraph on ``nodes`` (ids or a boolean mask), in the given order.

        The result's ``node_map`` gives each new node's id in this graph (composed with this
        graph's own ``node_map`` when it has one, so it always points at the root graph).
        """
        nodes = np.asarray(nodes)
        if nodes.dtype == bool:
            if nodes.shape != (self.num_nodes,):
                raise ValueError(f"node mask has shape {nodes.shape}, expected ({self.num_nodes},)")
            nodes = np.flatnonzero(nodes)
        nodes = nodes.astype(np.int64, copy=False)
        if nodes.size and (nodes.min() < 0 or nodes.max() >= self.num_nodes):
            raise ValueError(f"subgraph nodes out of range [0, {self.num_nodes})")
        local = np.full(self.num_nodes, -1, dtype=np.int64)
        local[nodes] = np.arange(nodes.size)
        if np.count_nonzero(local >= 0) != nodes.size:
            raise ValueError("subgraph nodes contain duplicates")
        starts, ends = self.indptr[nodes], self.indptr[nodes + 1]
        lengths = ends - starts
        # Gather all selected rows' entries at once: position = row start + offset within row.
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        pos = np.repeat(starts, lengths) + offsets
        cols = local[self.indices[pos]]
        keep = cols >= 0
        row_of = np.repeat(np.arange(nodes.size), lengths)[keep]
        indptr = np.zeros(nodes.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(row_of, minlength=nodes.size), out=indptr[1:])
        w = None if self.weights is None else self.weights[pos[keep]]
        cols = cols[keep]
        # Rows keep CSR order of the parent, so columns are sorted only when nodes were sorted.
        if nodes.size > 1 and np.any(np.diff(nodes) < 0):
            order = np.lexsort((cols, row_of))
            cols = cols[order]
            w = None if w is None else w[order]
        data = {k: (None if v is None else v[nodes]) for k, v in
                ((k, getattr(self, k)) for k in _NODE_KEYS)}
        node_map = nodes if self.node_map is None else self.node_map[nodes]
        sub = Graph(indptr, cols, w, validate=False, node_map=node_map, name=self.name, **data)
        if self._undirected:
            sub._undirected = True  # an induced subgraph of a symmetric matrix is symmetric
        return sub

    # ------------------------------------------------------------------ matrices
    def to_scipy(self, dtype: Any = np.float64) -> sp.csr_matrix:
        """Adjacency as a scipy CSR matrix (weights, or ones when unweighted)."""
        n = self.num_nodes
        return sp.csr_matrix((self._edge_values().astype(dtype, copy=False), self.indices, self.indptr),
                             shape=(n, n))

    def laplacian(self) -> sp.csr_matrix:
        """Weighted Laplacian ``L = D - A`` (self-loops do not contribute)."""
        a = self.remove_self_loops().to_scipy()
        deg = np.asarray(a.sum(axis=1)).ravel()
        return (sp.diags(deg) - a).tocsr()

    def normalized_adjacency(self, kind: Normalization = "sym", lam: float = 1.0,
                             dtype: Any = np.float32) -> sp.csr_matrix:
        """Normalized adjacency with self-loops, as used by GCN and Cluster-GCN.

        - ``"sym"``: ``D^-1/2 (A+I) D^-1/2`` with ``D`` the degree of ``A+I`` (Kipf & Welling).
        - ``"rw"``: ``Ã = (D+I)^-1 (A+I)`` (Cluster-GCN eq. 10).
        - ``"residual"``: ``Ã + I`` (Cluster-GCN eq. 9, identity added to the normalized matrix).
        - ``"diag_enhanced"``: ``Ã + lam * diag(Ã)`` (Cluster-GCN eq. 11).
        """
        ptr, idx, val = normalize_csr(self.indptr, self.indices, self.weights, kind, lam, dtype)
        out = sp.csr_matrix((val, idx, ptr), shape=(self.num_nodes,) * 2)
        out.sort_indices()
        return out

    # ------------------------------------------------------------------ conversions
    def to_networkx(self) -> Any:
        """networkx ``Graph`` (undirected) or ``DiGraph``; weights as ``weight``, node data as attributes."""
        import networkx as nx

        g = nx.Graph() if self.is_undirected() else nx.DiGraph()
        g.add_nodes_from(range(self.num_nodes))
        e, w = self.edges(return_weights=True)
        if self.weights is None:
            g.add_edges_from(e.tolist())
        else:
            g.add_weighted_edges_from(zip(e[:, 0].tolist(), e[:, 1].tolist(), w.tolist()))
        for key in _NODE_KEYS:
            v = getattr(self, key)
            if v is not None:
                rows = v.toarray() if sp.issparse(v) else v
                nx.set_node_attributes(g, {i: rows[i] for i in range(self.num_nodes)}, key)
        return g

    def to_pyg(self, dense_x: bool = True) -> Any:
        """PyG ``Data`` with ``edge_index``, ``edge_weight`` (if weighted), ``x``, ``y``, masks."""
        import torch
        from torch_geometric.data import Data

        kw: dict[str, Any] = {"edge_index": torch.from_numpy(self.edge_index()),
                              "num_nodes": self.num_nodes}
        if self.weights is not None:
            kw["edge_weight"] = torch.from_numpy(self.weights.astype(np.float32))
        if self.x is not None:
            x = self.x.toarray() if sp.issparse(self.x) and dense_x else self.x
            kw["x"] = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) if not sp.issparse(x) \
                else _scipy_to_torch(x)
        if self.y is not None:
            kw["y"] = torch.from_numpy(np.ascontiguousarray(self.y))
        for key in ("train_mask", "val_mask", "test_mask"):
            v = getattr(self, key)
            if v is not None:
                kw[key] = torch.from_numpy(v.copy())
        return Data(**kw)

    def to_torch_sparse(self, normalization: Normalization | None = None, lam: float = 1.0,
                        layout: Literal["csr", "coo"] = "csr") -> Any:
        """The adjacency (or a normalized adjacency) as a float32 torch sparse tensor."""
        m = self.to_scipy(np.float32) if normalization is None else \
            self.normalized_adjacency(normalization, lam, np.float32)
        return _scipy_to_torch(m, layout)


def normalize_csr(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray | None,
                  kind: Normalization = "rw", diag_lambda: float = 1.0, dtype: Any = np.float32
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalized adjacency with self-loops of a CSR graph, returned as CSR ``(indptr, indices, values)``.

    ``"sym"`` is ``D^-1/2 (A+I) D^-1/2``; ``"rw"`` is ``Ã = (D+I)^-1 (A+I)`` (eq. 10);
    ``"residual"`` is ``Ã + I`` (eq. 9); ``"diag_enhanced"`` is ``Ã + λ diag(Ã)`` (eq. 11).
    Existing self-loops are replaced by the unit loop. Each row's diagonal entry comes first and
    the other columns keep their order: no sort, every step linear in the number of entries.
    """
    if kind not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {kind!r}")
    if weights is not None and weights.size and weights.min() < 0:
        # Degrees of a graph with negative weights can be <= 0, whose inverse root is NaN.
        raise ValueError(f"the {kind!r} normalization needs non-negative edge weights, got "
                         f"min {weights.min()}")
    n = indptr.size - 1
    counts = np.diff(indptr)
    rows = np.repeat(np.arange(n, dtype=np.int64), counts)
    cols, w = indices, weights
    keep = cols != rows
    if not keep.all():
        rows, cols = rows[keep], cols[keep]
        w = None if w is None else w[keep]
        counts = np.bincount(rows, minlength=n)
    deg = (counts if w is None else np.bincount(rows, weights=w, minlength=n)) + 1.0
    if kind == "sym":
        inv = 1.0 / np.sqrt(deg)
        off = inv[rows] * inv[cols]
    else:
        off = 1.0 / deg[rows]
    if w is not None:
        off *= w
    on = 1.0 / deg
    if kind == "residual":
        on += 1.0
    elif kind == "diag_enhanced":
        on *= 1.0 + diag_lambda
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts + 1, out=out_ptr[1:])
    first = np.zeros(out_ptr[-1], dtype=bool)
    first[out_ptr[:-1]] = True
    out_cols = np.empty(out_ptr[-1], dtype=np.int64)
    out_vals = np.empty(out_ptr[-1], dtype=dtype)
    out_cols[first], out_vals[first] = np.arange(n), on
    out_cols[~first], out_vals[~first] = cols, off
    return out_ptr, out_cols, out_vals


def _scipy_to_torch(m: sp.spmatrix, layout: str = "csr") -> Any:
    import torch

    m = sp.csr_matrix(m, dtype=np.float32)
    if layout == "csr":
        return torch.sparse_csr_tensor(torch.from_numpy(m.indptr.astype(np.int64)),
                                       torch.from_numpy(m.indices.astype(np.int64)),
                                       torch.from_numpy(m.data), size=m.shape, device="cpu",
                                       check_invariants=False)  # scipy CSR is valid by construction
    c = m.tocoo()
    idx = torch.from_numpy(np.stack([c.row, c.col]).astype(np.int64))
    return torch.sparse_coo_tensor(idx, torch.from_numpy(c.data), size=m.shape, device="cpu",
                                   check_invariants=False).coalesce()  # in range by construction


def _coo_to_csr(src: np.ndarray, dst: np.ndarray, n: int, weights: np.ndarray | None,
                reduce: str, symmetric: bool = False
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Sorted, duplicate-free CSR from COO pairs (and their reverses when ``symmetric``).

    Encodes each pair as ``src * n + dst`` so one sort orders rows and columns together. The
    key array is the only large temporary and becomes ``indices`` in place, so an unweighted
    build peaks near the size of its output; the weighted path adds one permutation.
    """
    e = src.size
    key = np.empty(2 * e if symmetric else e, dtype=np.int64)
    np.multiply(src, n, out=key[:e], dtype=np.int64)
    key[:e] += dst
    if symmetric:
        np.multiply(dst, n, out=key[e:], dtype=np.int64)
        key[e:] += src
        if weights is not None:
            weights = np.concatenate([weights, weights])
    w = None
    if weights is None:
        key.sort()
    else:
        order = np.argsort(key, kind="stable")
        key, w = key[order], weights[order]
        del order
    if key.size > 1:
        new = np.empty(key.size, dtype=bool)
        new[0] = True
        np.not_equal(key[1:], key[:-1], out=new[1:])
        if not new.all():
            if w is not None:
                starts = np.flatnonzero(new)
                w = (np.add.reduceat(w, starts) if reduce == "sum"
                     else np.maximum.reduceat(w, starts))
            key = _compact(key, new)
        del new
    indptr = np.searchsorted(key, np.arange(n + 1, dtype=np.int64) * n)
    np.remainder(key, n if n else 1, out=key)
    return indptr.astype(np.int64, copy=False), key, w


def _compact(a: np.ndarray, keep: np.ndarray, chunk: int = 1 << 22) -> np.ndarray:
    """``a[keep]`` written into ``a``'s own front chunk by chunk, so no second full-size array exists.

    Safe because the write position never passes the read position. The result is a view; it is
    copied out only when it is less than half of the buffer, to free the rest.
    """
    pos = 0
    for lo in range(0, a.size, chunk):
        part = a[lo:lo + chunk][keep[lo:lo + chunk]]
        a[pos:pos + part.size] = part
        pos += part.size
    return a[:pos].copy() if 2 * pos < a.size else a[:pos]
