"""Synthetic graphs: a contextual stochastic block model for scale work, and communication graphs.

The contextual SBM (Deshpande et al., NeurIPS 2018, "Contextual Stochastic Block Models") couples
a planted partition with Gaussian node features whose mean depends on the block, so labels can be
learned both from structure and from features. It is sampled edge by edge in vectorized chunks,
never as a dense matrix, so millions of nodes and tens of millions of edges fit in a few GB.

The communication graphs (complete, star, cycle, path, grid, barbell, Erdős–Rényi, random
geometric) are the worker topologies of decentralized optimization (DADAO, gossip).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..graph import Graph
from .splits import stratified_split

__all__ = ["contextual_sbm", "complete_graph", "star_graph", "cycle_graph", "path_graph",
           "grid_graph", "barbell_graph", "erdos_renyi_graph", "random_geometric_graph",
           "communication_graph", "COMMUNICATION_GRAPHS"]

_CHUNK = 1 << 22  # edges sampled per step: ~64 MB of temporaries, independent of graph size


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def contextual_sbm(num_nodes: int, num_classes: int, avg_degree: float, num_features: int, *,
                   homophily: float = 0.8, feature_signal: float = 1.0,
                   train_frac: float = 0.6, val_frac: float = 0.2, test_frac: float | None = 0.2,
                   train_per_class: int | None = None, val_per_class: int | None = None,
                   seed: int | np.random.Generator | None = 0, name: str | None = None) -> Graph:
    """Undirected contextual SBM with dense float32 features, class labels and split masks.

    Classes have equal sizes (up to one node) and node ids are randomly permuted, so ids carry
    no class information. ``num_nodes * avg_degree / 2`` edges are drawn: each picks a uniform
    source node and, with probability ``homophily``, a uniform target in the source's class,
    otherwise a uniform target in another class. So ``homophily`` is the expected fraction of
    intra-class edges (edge homophily); ``1 / num_classes`` makes structure uninformative.
    Self-loops and repeated pairs are dropped, so the realized degree is marginally below
    ``avg_degree`` (by about ``avg_degree * num_classes / (homophily * num_nodes)`` relative).

    Features are ``x_i = mu[y_i] + eps_i`` with ``eps_i ~ N(0, I)`` and class means
    ``mu_c ~ N(0, feature_signal^2 / num_features * I)``: each mean has norm about
    ``feature_signal`` in units of the noise, whatever ``num_features`` is; 0 makes features
    independent of labels.

    Splits are stratified: ``train_per_class``/``val_per_class`` (counts) override
    ``train_frac``/``val_frac``; ``test_frac=None`` puts every remaining node in the test set.
    """
    n = _positive_int("num_nodes", num_nodes)
    k = _positive_int("num_classes", num_classes)
    f = _positive_int("num_features", num_features)
    if k > n:
        raise ValueError(f"num_classes={k} exceeds num_nodes={n}")
    if not np.isfinite(avg_degree) or avg_degree < 0:
        raise ValueError(f"avg_degree must be a finite number >= 0, got {avg_degree}")
    if not 0.0 <= homophily <= 1.0:
        raise ValueError(f"homophily must lie in [0, 1], got {homophily}")
    if k == 1 and homophily < 1.0:
        raise ValueError("with num_classes=1 every edge is intra-class: pass homophily=1.0")
    if not np.isfinite(feature_signal) or feature_signal < 0:
        raise ValueError(f"feature_signal must be a finite number >= 0, got {feature_signal}")
    rng = _rng(seed)

    # Work in class-sorted ids (class c owns [start[c], start[c+1])); relabel through a permutation.
    sizes = np.full(k, n // k, dtype=np.int64)
    sizes[: n % k] += 1
    start = np.concatenate([[0], np.cumsum(sizes)])
    perm = rng.permutation(n)
    idx_dtype = np.int32 if n < 2**31 else np.int64
    num_draws = int(round(n * avg_degree / 2))
    src_all = np.empty(num_draws, dtype=idx_dtype)
    dst_all = np.empty(num_draws, dtype=idx_dtype)
    filled = 0
    for lo in range(0, num_draws, _CHUNK):
        m = min(_CHUNK, num_draws - lo)
        u = rng.integers(0, n, size=m)
        cu = np.searchsorted(start, u, side="right") - 1
        intra = rng.random(m) < homophily
        r = rng.random(m)
        # Intra: uniform in the own class; inter: uniform over the n - size(c) nodes outside it.
        v = np.where(intra, start[cu] + (r * sizes[cu]).astype(np.int64),
                     (r * (n - sizes[cu])).astype(np.int64))
        v += np.where(~intra & (v >= start[cu]), sizes[cu], 0)
        keep = u != v
        cnt = int(keep.sum())
        src_all[filled:filled + cnt] = perm[u[keep]]
        dst_all[filled:filled + cnt] = perm[v[keep]]
        filled += cnt
    edge_index = np.stack([src_all[:filled], dst_all[:filled]]) if filled < num_draws else \
        np.stack([src_all, dst_all])
    del src_all, dst_all

    y = np.empty(n, dtype=np.int64)
    y[perm] = np.repeat(np.arange(k), sizes)
    means = rng.standard_normal((k, f), dtype=np.float32) * np.float32(feature_signal / np.sqrt(f))
    x = np.empty((n, f), dtype=np.float32)
    rows = max(1, _CHUNK // f)
    for lo in range(0, n, rows):
        hi = min(n, lo + rows)
        x[lo:hi] = rng.standard_normal((hi - lo, f), dtype=np.float32)
        x[lo:hi] += means[y[lo:hi]]

    train, val, test = stratified_split(
        y, train_frac if train_per_class is None else int(train_per_class),
        val_frac if val_per_class is None else int(val_per_class), test_frac, seed=rng)
    return Graph.from_edge_index(edge_index, n, undirected=True, x=x, y=y, train_mask=train,
                                 val_mask=val, test_mask=test,
                                 name=name or f"csbm-{n}-{k}")


# ---------------------------------------------------------------------- communication graphs
def _from_pairs(n: int, i: np.ndarray, j: np.ndarray, name: str, **node_data: Any) -> Graph:
    return Graph.from_edge_index(np.stack([i, j]).astype(np.int64), n, undirected=True,
                                 name=name, **node_data)


def complete_graph(n: int) -> Graph:
    """Every pair of the ``n`` nodes joined."""
    n = _positive_int("n", n)
    i, j = np.triu_indices(n, k=1)
    return _from_pairs(n, i, j, f"complete-{n}")


def star_graph(n: int) -> Graph:
    """Node 0 joined to each of the other ``n - 1`` nodes (``n`` nodes in total)."""
    n = _positive_int("n", n)
    leaves = np.arange(1, n)
    return _from_pairs(n, np.zeros_like(leaves), leaves, f"star-{n}")


def path_graph(n: int) -> Graph:
    """Nodes ``0 - 1 - ... - n-1`` in a line."""
    n = _positive_int("n", n)
    i = np.arange(n - 1)
    return _from_pairs(n, i, i + 1, f"path-{n}")


def cycle_graph(n: int) -> Graph:
    """The ring ``0 - 1 - ... - n-1 - 0`` (``n >= 3``)."""
    n = _positive_int("n", n, 3)
    i = np.arange(n)
    return _from_pairs(n, i, (i + 1) % n, f"cycle-{n}")


def grid_graph(rows: int, cols: int) -> Graph:
    """``rows x cols`` 2-d lattice; node ``r * cols + c`` sits at row ``r``, column ``c``.

    Node data ``x`` holds the (row, col) coordinates.
    """
    rows, cols = _positive_int("rows", rows), _positive_int("cols", cols)
    ids = np.arange(rows * cols).reshape(rows, cols)
    i = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    j = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    coords = np.stack(np.divmod(ids.ravel(), cols), axis=1).astype(np.float32)
    return _from_pairs(rows * cols, i, j, f"grid-{rows}x{cols}", x=coords)


def barbell_graph(n: int) -> Graph:
    """Two cliques of ``n // 2`` and ``n - n // 2`` nodes joined by one edge: ``n`` nodes in total.

    Unlike networkx's ``barbell_graph(m1, m2)``, ``n`` counts all nodes, so it is comparable with
    the other topologies at equal size. Its single bridge makes it the classic slow-mixing case.
    """
    n = _positive_int("n", n, 4)
    a = n // 2
    i1, j1 = np.triu_indices(a, k=1)
    i2, j2 = np.triu_indices(n - a, k=1)
    i = np.concatenate([i1, i2 + a, [a - 1]])
    j = np.concatenate([j1, j2 + a, [a]])
    return _from_pairs(n, i, j, f"barbell-{n}")


def _connected(n: int, i: np.ndarray, j: np.ndarray) -> bool:
    a = sp.coo_matrix((np.ones(i.size), (i, j)), shape=(n, n))
    return connected_components(a, directed=False)[0] == 1


def erdos_renyi_graph(n: int, p: float, seed: int | np.random.Generator | None = 0,
                      max_tries: int = 100) -> Graph:
    """G(n, p): each of the ``n(n-1)/2`` pairs joined independently with probability ``p``.

    Re-sampled until connected; after ``max_tries`` failures a ``ValueError`` says how far ``p``
    is from the connectivity threshold ``ln(n) / n``.
    """
    n = _positive_int("n", n)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must lie in [0, 1], got {p}")
    rng = _rng(seed)
    pairs = n * (n - 1) // 2
    for _ in range(max_tries):
        m = rng.binomial(pairs, p) if pairs else 0
        k = np.sort(rng.choice(pairs, size=m, replace=False)) if m else np.zeros(0, np.int64)
        # Invert the row-major numbering of the strict upper triangle: pair k -> (i, j), i < j.
        i = (n - 2 - np.floor(np.sqrt(-8.0 * k + 4.0 * n * (n - 1) - 7) / 2.0 - 0.5)).astype(np.int64)
        j = k + i + 1 - pairs + (n - i) * (n - i - 1) // 2
        if n == 1 or _connected(n, i, j):
            return _from_pairs(n, i, j, f"erdos_renyi-{n}-{p:g}")
    raise ValueError(f"erdos_renyi_graph(n={n}, p={p}) was not connected in {max_tries} tries; "
                     f"use p above the connectivity threshold ln(n)/n = {np.log(n) / n:.4g}")


def random_geometric_graph(n: int, radius: float, seed: int | np.random.Generator | None = 0,
                           max_tries: int = 100) -> Graph:
    """``n`` uniform points in the unit square, joined when closer than ``radius``.

    Node data ``x`` holds the positions. Re-sampled until connected; after ``max_tries``
    failures a ``ValueError`` names the connectivity threshold ``sqrt(ln(n) / (pi n))``.
    """
    from scipy.spatial import cKDTree

    n = _positive_int("n", n)
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    rng = _rng(seed)
    for _ in range(max_tries):
        pos = rng.random((n, 2))
        pairs = cKDTree(pos).query_pairs(radius, output_type="ndarray")
        i, j = pairs[:, 0], pairs[:, 1]
        if n == 1 or _connected(n, i, j):
            return _from_pairs(n, i, j, f"random_geometric-{n}-{radius:g}", x=pos.astype(np.float32))
    raise ValueError(f"random_geometric_graph(n={n}, radius={radius}) was not connected in "
                     f"{max_tries} tries; use a radius above the connectivity threshold "
                     f"sqrt(ln(n)/(pi n)) = {np.sqrt(np.log(n) / (np.pi * n)):.4g}")


def _grid_of(n: int, **_: Any) -> Graph:
    # The most square factorization rows x cols = n (a prime n gives a 1 x n path).
    rows = int(np.sqrt(n))
    while n % rows:
        rows -= 1
    return grid_graph(rows, n // rows)


def _er_of(n: int, seed: Any = 0, p: float | None = None) -> Graph:
    # Default: twice the connectivity threshold, so a connected sample comes in a few tries.
    return erdos_renyi_graph(n, min(1.0, 2 * np.log(max(n, 2)) / n) if p is None else p, seed)


def _rgg_of(n: int, seed: Any = 0, radius: float | None = None) -> Graph:
    r = 1.5 * np.sqrt(np.log(max(n, 2)) / (np.pi * n)) if radius is None else radius
    return random_geometric_graph(n, r, seed)


COMMUNICATION_GRAPHS: dict[str, Callable[..., Graph]] = {
    "complete": lambda n, **_: complete_graph(n),
    "star": lambda n, **_: star_graph(n),
    "cycle": lambda n, **_: cycle_graph(n),
    "path": lambda n, **_: path_graph(n),
    "grid": _grid_of,
    "barbell": lambda n, **_: barbell_graph(n),
    "erdos_renyi": _er_of,
    "random_geometric": _rgg_of,
}


def communication_graph(name: str, n: int, seed: int | np.random.Generator | None = 0,
                        **params: Any) -> Graph:
    """A connected communication topology on ``n`` nodes by name.

    Names: ``complete``, ``star``, ``cycle``, ``path``, ``grid`` (the most square
    ``rows x cols = n``), ``barbell``, ``erdos_renyi`` (``p``, default ``2 ln(n)/n``) and
    ``random_geometric`` (``radius``, default ``1.5 sqrt(ln(n)/(pi n))``). ``seed`` matters only
    for the random ones.
    """
    try:
        make = COMMUNICATION_GRAPHS[name]
    except KeyError:
        raise ValueError(f"unknown communication graph {name!r}; expected one of "
                         f"{', '.join(COMMUNICATION_GRAPHS)}") from None
    if name in ("erdos_renyi", "random_geometric"):
        return make(n, seed=seed, **params)
    if params:
        raise TypeError(f"communication graph {name!r} takes no parameters, got {sorted(params)}")
    return make(n)
