"""Node partitions of a :class:`~graphopt.graph.Graph`: METIS (through pymetis), random, or given.

A :class:`Partition` answers what the capabilities ask of it: the parts' nodes, edge cut and
balance, the subgraph induced by several parts (the batches of Cluster-GCN, Chiang et al. 2019),
and the quotient graph between parts (the communication graph of workers that hold the parts).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
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
        graph = Graph.coerce(graph)
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
        graph = Graph.coerce(graph)
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

        ``graph`` may be a :class:`Graph` or anything :meth:`Graph.coerce` accepts (PyG ``Data``,
        networkx, scipy). A directed graph is symmetrized and self-loops dropped first (METIS
        requires both); isolated nodes are partitioned like any other node. ``edge_weights=True``
        uses the graph's weights, scaled to the positive integers METIS needs. ``imbalance`` is
        the allowed load imbalance (0.03 = 3%, METIS's ufactor 30; at least 0.001). With
        ``cache_dir``, the result is stored under a key made of the graph's content hash and every
        parameter.

        Every part is non-empty. ``num_parts`` above the number of nodes is refused. METIS's
        k-way scheme can leave parts empty when parts are small (723 of 1,500 on Cora's 2,708
        nodes); the partition is then recomputed by recursive bisection, with a warning and
        ``params["fallback"] = "recursive"``. If parts are still empty (or ``recursive=True``
        left some), a ``ValueError`` says how many: ask for fewer parts, or use
        :meth:`random` for equal sizes.
        """
        graph = Graph.coerce(graph)
        _check_num_parts(graph, num_parts)
        _check_metis_options(seed, imbalance, recursive=recursive, edge_weights=edge_weights,
                             contiguous=contiguous)
        # Plain Python numbers: params go through json for the cache key and the saved file.
        num_parts, seed = int(num_parts), int(seed)
        imbalance = None if imbalance is None else float(imbalance)
        recursive, edge_weights, contiguous = bool(recursive), bool(edge_weights), bool(contiguous)
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
            a, fallback = _metis_without_empty_parts(graph, num_parts, recursive, seed, vw,
                                                     edge_weights, imbalance, contiguous)
            if fallback:
                params["fallback"] = fallback
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
        graph = Graph.coerce(graph)
        with np.load(path, allow_pickle=False) as f:
            saved_hash = str(f["graph_hash"])
            if saved_hash != graph.content_hash():
                raise ValueError(f"{path} was saved for a different graph "
                                 f"(hash {saved_hash[:12]}..., this graph {graph.content_hash()[:12]}...)")
            return cls(graph, f["assignment"], int(f["num_parts"]), json.loads(str(f["params"])))


def _check_num_parts(graph: Graph, num_parts: int) -> None:
    if isinstance(num_parts, bool) or not isinstance(num_parts, (int, np.integer)) or num_parts < 1:
        raise ValueError(f"num_parts must be a positive integer, got {num_parts!r}")
    if num_parts > graph.num_nodes:
        raise ValueError(f"num_parts={num_parts} exceeds the number of nodes ({graph.num_nodes}): "
                         f"every part needs at least one node")


def _check_metis_options(seed: Any, imbalance: Any, **flags: Any) -> None:
    """Refuse options METIS would reject with an opaque "Caught an unknown exception!"."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not -2**31 <= seed < 2**31:
        raise ValueError(f"seed must be an integer in [-2**31, 2**31) (METIS's C int), got {seed!r}")
    if imbalance is not None:
        ok = isinstance(imbalance, (int, float, np.integer, np.floating)) and not isinstance(imbalance, bool)
        # METIS's ufactor = round(1000 * imbalance) must be at least 1.
        if not ok or not np.isfinite(imbalance) or round(float(imbalance) * 1000) < 1:
            raise ValueError(f"imbalance must be a finite number >= 0.001 (the allowed load "
                             f"imbalance, 0.03 = 3%), got {imbalance!r}")
    for name, value in flags.items():
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False, got {value!r}")


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
    from scipy.sparse.csgraph import connected_components

    g = graph
    if g.has_self_loops():
        g = g.remove_self_loops()
    if not g.is_undirected():
        g = g.to_undirected(reduce="max")
    if contiguous and connected_components(g.to_scipy(), directed=False, return_labels=False) > 1:
        raise ValueError("contiguous=True needs a connected graph: METIS cannot make connected "
                         "parts of a graph with several components")
    ew = None
    if edge_weights and g.weights is not None:
        w = g.weights
        if np.any(w <= 0):
            raise ValueError("METIS edge weights must be positive; pass edge_weights=False to "
                             "partition by structure alone")
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
    try:
        result = pymetis.part_graph(num_parts, **kwargs)
    except RuntimeError as err:  # pymetis reports METIS's input errors only as "unknown exception"
        raise ValueError(f"METIS refused the input (num_parts={num_parts}, recursive={recursive}, "
                         f"imbalance={imbalance}, contiguous={contiguous}): {err}") from err
    return np.frombuffer(result.vertex_part, dtype=pymetis.zero_copy_dtype()).astype(np.int64)


def _metis_without_empty_parts(graph: Graph, num_parts: int, recursive: bool, seed: int,
                               vw: np.ndarray | None, edge_weights: bool, imbalance: float | None,
                               contiguous: bool) -> tuple[np.ndarray, str | None]:
    """METIS assignment with every part non-empty, and the fallback used (``None`` or ``"recursive"``).

    k-way METIS coarsens the graph to a few nodes per part before splitting it, so with small
    parts some come back empty; recursive bisection splits down to the parts and empties far
    fewer (Cora, 1,500 parts: 723 empty by k-way, 1 by bisection; 1,000 parts: 171 and none).
    """
    args = (vw, edge_weights, imbalance, contiguous)
    a = _run_metis(graph, num_parts, recursive, seed, *args)
    empty = _count_empty(a, num_parts)
    if not empty:
        return a, None
    if recursive:
        raise _empty_parts_error(num_parts, graph.num_nodes, empty, "after recursive bisection")
    b = _run_metis(graph, num_parts, True, seed, *args)
    still = _count_empty(b, num_parts)
    if still:
        raise _empty_parts_error(num_parts, graph.num_nodes, still,
                                 f"after k-way ({empty} empty) and recursive bisection")
    warnings.warn(f"METIS k-way left {empty} of {num_parts} parts empty; used recursive "
                  f"bisection instead, which fills all of them", stacklevel=3)
    return b, "recursive"


def _count_empty(assignment: np.ndarray, num_parts: int) -> int:
    return int(np.count_nonzero(np.bincount(assignment, minlength=num_parts) == 0))


def _empty_parts_error(num_parts: int, num_nodes: int, empty: int, how: str) -> ValueError:
    return ValueError(f"METIS left {empty} of {num_parts} parts empty on a graph of {num_nodes} "
                      f"nodes {how}; ask for fewer parts (METIS filled {num_parts - empty} here) "
                      f"or use Partition.random for equal-sized parts")
