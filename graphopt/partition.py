"""Node partitions of a :class:`~graphopt.graph.Graph`: METIS (through pymetis), random, or given.

A :class:`Partition` answers what the capabilities ask of it: the parts' nodes, edge cut and
balance, the subgraph induced by several parts (the batches of Cluster-GCN, Chiang et al. 2019),
and the quotient graph between parts (the communication graph of workers that hold the parts).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._io import write_atomic
from .graph import Graph

__all__ = ["Partition"]


class Partition:
    """Assignment of every node of ``graph`` to one of ``num_parts`` parts.

    ``params`` records how the partition was made (method, seed, ...); together with the
    graph's content hash it is the cache key, so a cached partition is never confused with
    one of another graph or of other settings.
    """

    def __init__(self, graph: Graph, assignment: Any, num_parts: int | None = None,
                 params: dict[str, Any] | None = None) -> None:
        if not isinstance(graph, Graph):
            raise TypeError(f"graph must be a graphopt.Graph, got {type(graph).__name__}")
        a = np.asarray(assignment)
        if a.shape != (graph.num_nodes,):
            raise ValueError(f"assignment has shape {a.shape}, expected ({graph.num_nodes},)")
        if not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"assignment must hold integers, got dtype {a.dtype}")
        a = a.astype(np.int64)
        if num_parts is None:
            num_parts = int(a.max()) + 1 if a.size else 0
        if a.size and (a.min() < 0 or a.max() >= num_parts):
            raise ValueError(f"assignment values must lie in [0, {num_parts}), "
                             f"got [{a.min()}, {a.max()}]")
        self.graph = graph
        self.assignment = a
        self.num_parts = int(num_parts)
        self.params = dict(params or {"method": "given"})
        self._order: np.ndarray | None = None

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_assignment(cls, graph: Graph, assignment: Any, num_parts: int | None = None) -> Partition:
        return cls(graph, assignment, num_parts)

    @classmethod
    def random(cls, graph: Graph, num_parts: int, seed: int | None = 0) -> Partition:
        """Balanced random partition: a random permutation dealt into ``num_parts`` equal parts."""
        _check_num_parts(graph, num_parts)
        rng = np.random.default_rng(seed)
        a = np.empty(graph.num_nodes, dtype=np.int64)
        a[rng.permutation(graph.num_nodes)] = np.arange(graph.num_nodes) % num_parts
        return cls(graph, a, num_parts, {"method": "random", "num_parts": num_parts, "seed": seed})

    @classmethod
    def metis(cls, graph: Graph, num_parts: int, *, recursive: bool = False, seed: int = 0,
              node_weights: Any = None, edge_weights: bool = False, imbalance: float | None = None,
              contiguous: bool = False, cache_dir: str | os.PathLike | None = None) -> Partition:
        """METIS k-way (or ``recursive`` bisection) partition minimizing the edge cut.

        A directed graph is symmetrized and self-loops dropped first (METIS requires both);
        isolated nodes are partitioned like any other node. ``edge_weights=True`` uses the
        graph's weights, scaled to the positive integers METIS needs. ``imbalance`` is the
        allowed load imbalance (0.03 = 3%, METIS's ufactor 30). With ``cache_dir``, the result is
        stored under a key made of the graph's content hash and every parameter.
        """
        _check_num_parts(graph, num_parts)
        params: dict[str, Any] = {"method": "metis", "num_parts": num_parts, "recursive": recursive,
                                  "seed": seed, "edge_weights": edge_weights,
                                  "imbalance": imbalance, "contiguous": contiguous}
        vw = None
        if node_weights is not None:
            vw = np.asarray(node_weights)
            if vw.shape != (graph.num_nodes,):
                raise ValueError(f"node_weights has shape {vw.shape}, expected ({graph.num_nodes},)")
            if not np.issubdtype(vw.dtype, np.integer) or vw.min() < 0:
                raise ValueError("node_weights must be non-negative integers")
            params["node_weights"] = hashlib.sha256(vw.astype(np.int64).tobytes()).hexdigest()[:16]
        path = None
        if cache_dir is not None:
            key = _cache_key(graph, params)
            path = Path(cache_dir) / f"partition-{key}.npz"
            if path.exists():
                return cls.load(path, graph)
        if num_parts == 1:
            a = np.zeros(graph.num_nodes, dtype=np.int64)
        else:
            a = _run_metis(graph, num_parts, recursive, seed, vw, edge_weights, imbalance, contiguous)
        part = cls(graph, a, num_parts, params)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)  # a cache: graphopt's to create
            part.save(path)
        return part

    # ------------------------------------------------------------------ queries
    def part_sizes(self) -> np.ndarray:
        return np.bincount(self.assignment, minlength=self.num_parts)

    def _node_order(self) -> np.ndarray:
        if self._order is None:
            self._order = np.argsort(self.assignment, kind="stable")
        return self._order

    def parts(self) -> list[np.ndarray]:
        """Node ids of each part, ascending."""
        bounds = np.concatenate([[0], np.cumsum(self.part_sizes())])
        order = self._node_order()
        return [order[bounds[k]:bounds[k + 1]] for k in range(self.num_parts)]

    def nodes_of(self, parts: Any) -> np.ndarray:
        """Node ids (ascending) of the union of ``parts``."""
        parts = np.asarray(parts, dtype=np.int64)
        if parts.size and (parts.min() < 0 or parts.max() >= self.num_parts):
            raise ValueError(f"parts must lie in [0, {self.num_parts}), got {parts.tolist()}")
        chosen = np.zeros(self.num_parts, dtype=bool)
        chosen[parts] = True
        return np.flatnonzero(chosen[self.assignment])

    def edge_cut(self, weighted: bool = False) -> float:
        """Number (or total weight) of edges whose endpoints lie in different parts.

        Undirected edges count once; each stored entry of a directed graph counts once.
        """
        g = self.graph
        rows = g._rows()
        cut = self.assignment[rows] != self.assignment[g.indices]
        w = g.weights if (weighted and g.weights is not None) else None
        total = float(cut.sum() if w is None else w[cut].sum())
        if g.is_undirected():
            total /= 2
        return total if weighted else int(total)

    def balance(self) -> float:
        """Largest part over the mean part size (1.0 is perfect balance; METIS's measure)."""
        sizes = self.part_sizes()
        return float(sizes.max() / sizes.mean()) if sizes.size and sizes.mean() > 0 else 1.0

    def subgraph(self, parts: Any) -> Graph:
        """Subgraph induced by the union of ``parts``, keeping the edges between them."""
        return self.graph.subgraph(self.nodes_of(np.atleast_1d(parts)))

    def quotient_graph(self) -> Graph:
        """Graph on the parts: an edge between two parts weighted by the number of edges cut between them.

        Parts with no cut edge to any other part stay as isolated nodes. Node data ``x`` holds
        each part's size, so the communication graph knows how much data each worker holds.
        """
        g = self.graph
        src = self.assignment[g._rows()]
        dst = self.assignment[g.indices]
        cut = src != dst
        w = np.ones(int(cut.sum())) if g.weights is None else g.weights[cut]
        q = sp.coo_matrix((w, (src[cut], dst[cut])), shape=(self.num_parts,) * 2).tocsr()
        # An undirected edge is stored once per direction, filling (a, b) and (b, a) once each.
        q = q + q.T if not g.is_undirected() else q
        q.sum_duplicates()
        sizes = self.part_sizes().astype(np.float64)[:, None]
        return Graph.from_scipy(q, weighted=True, x=sizes, name=f"quotient({g.name or 'graph'})")

    def __repr__(self) -> str:
        return (f"Partition(num_parts={self.num_parts}, method={self.params.get('method')}, "
                f"edge_cut={self.edge_cut()}, balance={self.balance():.3f})")

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write to ``.npz`` atomically (temp file in the same folder, then rename)."""
        write_atomic(path, lambda f: np.savez(
            f, assignment=self.assignment, num_parts=np.int64(self.num_parts),
            graph_hash=np.str_(self.graph.content_hash()),
            params=np.str_(json.dumps(self.params, sort_keys=True))))

    @classmethod
    def load(cls, path: str | os.PathLike, graph: Graph) -> Partition:
        """Load a saved partition of ``graph``; refuses a file written for a different graph."""
        with np.load(path, allow_pickle=False) as f:
            saved_hash = str(f["graph_hash"])
            if saved_hash != graph.content_hash():
                raise ValueError(f"{path} was saved for a different graph "
                                 f"(hash {saved_hash[:12]}..., this graph {graph.content_hash()[:12]}...)")
            return cls(graph, f["assignment"], int(f["num_parts"]), json.loads(str(f["params"])))


def _check_num_parts(graph: Graph, num_parts: int) -> None:
    if not isinstance(num_parts, (int, np.integer)) or num_parts < 1:
        raise ValueError(f"num_parts must be a positive integer, got {num_parts!r}")
    if num_parts > graph.num_nodes:
        raise ValueError(f"num_parts={num_parts} exceeds the number of nodes ({graph.num_nodes})")


def _cache_key(graph: Graph, params: dict[str, Any]) -> str:
    h = hashlib.sha256(graph.content_hash().encode())
    h.update(json.dumps(params, sort_keys=True).encode())
    return h.hexdigest()[:24]


def _metis_arguments(graph: Graph, recursive: bool, seed: int, vw: np.ndarray | None,
                     edge_weights: bool, imbalance: float | None, contiguous: bool) -> dict[str, Any]:
    """Keyword arguments for ``pymetis.part_graph``: a symmetric, loop-free CSR and the options.

    Everything graphopt adds around METIS happens here, so its cost can be measured apart.
    """
    import pymetis

    g = graph
    if g.has_self_loops():
        g = g.remove_self_loops()
    if not g.is_undirected():
        g = g.to_undirected(reduce="max")
    ew = None
    if edge_weights and g.weights is not None:
        w = g.weights
        if np.any(w <= 0):
            raise ValueError("METIS edge weights must be positive")
        # METIS takes integers: integral weights pass as they are, others keep 3 digits of ratio.
        if np.all(w == np.rint(w)):
            ew = w.astype(np.int64)
        else:
            ew = np.maximum(1, np.rint(w / w.max() * 1000)).astype(np.int64)
    opts = {"seed": int(seed)}
    if imbalance is not None:
        opts["ufactor"] = int(round(imbalance * 1000))
    dtype = pymetis.zero_copy_dtype()
    adjacency = pymetis.CSRAdjacency(adj_starts=g.indptr.astype(dtype, copy=False),
                                     adjacent=g.indices.astype(dtype, copy=False))
    return {"adjacency": adjacency, "vweights": None if vw is None else vw.astype(dtype),
            "eweights": None if ew is None else ew.astype(dtype), "recursive": recursive,
            "contiguous": contiguous or None, "options": pymetis.Options(**opts)}


def _run_metis(graph: Graph, num_parts: int, recursive: bool, seed: int, vw: np.ndarray | None,
               edge_weights: bool, imbalance: float | None, contiguous: bool) -> np.ndarray:
    import pymetis

    kwargs = _metis_arguments(graph, recursive, seed, vw, edge_weights, imbalance, contiguous)
    result = pymetis.part_graph(num_parts, **kwargs)
    return np.frombuffer(result.vertex_part, dtype=pymetis.zero_copy_dtype()).astype(np.int64)
