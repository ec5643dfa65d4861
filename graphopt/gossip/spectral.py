"""Spectral quantities of a rate-weighted gossip Laplacian (Nabli & Oyallon, DADAO, arXiv 2208.00779).

Gossip on a communication graph activates edge ``e = (i, j)`` at rate ``λ_e``; the resulting
Laplacian is ``Λ = Σ_e λ_e b_e b_eᵀ`` with ``b_e = e_i − e_j``. DADAO's constants are
``χ1 = 1 / λ_min⁺(Λ)`` (inverse algebraic connectivity) and ``χ2 = ½ max_e b_eᵀ Λ⁺ b_e`` (half the
largest effective resistance of an edge); it converges when ``2 χ1 χ2 ≤ 1``. Both χ's scale as
``1/λ``, so ``2 χ1 χ2`` scales as ``1/λ²`` and any rate direction can be scaled onto the threshold.

Rates are per edge, aligned with ``graph.edges()`` (each undirected edge once, ``i < j``).
Up to :data:`DENSE_MAX_NODES` nodes ``Λ⁺`` is formed densely from a Cholesky factorization of
``Λ + 11ᵀ/n``; larger graphs use a sparse LU of the grounded Laplacian (exact; the resistances of all
edges cost one solve per node, or per edge when edges are fewer). The low spectrum comes from ``eigsh`` on ``Λ⁺``
(``eigh`` for tiny graphs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import connected_components

from graphopt.graph import Graph

__all__ = ["GossipSpectrum", "edge_rates", "rate_laplacian", "algebraic_connectivity", "chi1",
           "effective_resistances", "chi2", "threshold_ratio", "gossip_condition_number",
           "gossip_spectrum", "DENSE_MAX_NODES"]

Method = Literal["auto", "dense", "sparse"]

#: Graphs up to this many nodes use dense linear algebra under ``method="auto"``.
DENSE_MAX_NODES = 3000
_RESISTANCE_BATCH = 512
_EIGH_MAX_NODES = 64


# ---------------------------------------------------------------------- validation
def edge_rates(graph: Graph, rates: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Edges ``(E, 2)`` of an undirected, loop-free, connected ``graph`` and their rates ``(E,)``.

    ``rates=None`` takes the graph's edge weights (1 when unweighted). Rates must be finite and
    non-negative, and the edges with a positive rate must connect every node: a zero rate is
    allowed on an edge the rest of the graph can do without (rate designs switch edges off).
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a graphopt Graph (Graph.coerce converts a PyG Data, a "
                        f"networkx graph or a scipy sparse matrix), got {type(graph).__name__}")
    if graph.num_nodes < 2:
        raise ValueError(f"a communication graph needs at least 2 nodes, got {graph.num_nodes}")
    if not graph.is_undirected():
        raise ValueError("graph must be undirected (gossip links are symmetric); "
                         "use graph.to_undirected()")
    if graph.has_self_loops():
        raise ValueError("graph has self-loops, which carry no gossip; use graph.remove_self_loops()")
    edges, weights = graph.edges(return_weights=True)
    if rates is None:
        rates = weights
    rates = np.asarray(rates, dtype=np.float64)
    if rates.shape != (len(edges),):
        raise ValueError(f"rates has shape {rates.shape}, expected ({len(edges)},) "
                         f"aligned with graph.edges()")
    if not np.all(np.isfinite(rates)):
        raise ValueError("rates contain NaN or infinite values")
    if np.any(rates < 0):
        k = int(np.argmin(rates))
        i, j = (int(v) for v in edges[k])
        raise ValueError(f"rates must be non-negative; edge ({i}, {j}) has rate {rates[k]:g}")
    check_connected(graph.num_nodes, edges, rates)
    return edges, rates


def check_connected(n: int, edges: np.ndarray, rates: np.ndarray) -> None:
    """ValueError unless the edges with positive rate connect all ``n`` nodes."""
    on = rates > 0
    adj = sp.coo_matrix((np.ones(int(on.sum())), (edges[on, 0], edges[on, 1])), shape=(n, n))
    k, _ = connected_components(adj, directed=False)
    if k > 1:
        zero = int(np.count_nonzero(~on))
        why = f" ({zero} edges have rate 0)" if zero else ""
        raise ValueError(f"graph is disconnected: {k} components{why}; gossip cannot reach consensus")


def _use_dense(n: int, method: Method) -> bool:
    if method not in ("auto", "dense", "sparse"):
        raise ValueError(f"method must be 'auto', 'dense' or 'sparse', got {method!r}")
    return method == "dense" or (method == "auto" and n <= DENSE_MAX_NODES)


# ---------------------------------------------------------------------- core linear algebra
def laplacian_from_edges(n: int, edges: np.ndarray, rates: np.ndarray) -> sp.csr_matrix:
    """``Λ = Σ_e λ_e (e_i − e_j)(e_i − e_j)ᵀ`` as scipy CSR float64."""
    i, j = edges[:, 0], edges[:, 1]
    off = sp.coo_matrix((np.concatenate([-rates, -rates]),
                         (np.concatenate([i, j]), np.concatenate([j, i]))), shape=(n, n))
    deg = np.bincount(i, rates, n) + np.bincount(j, rates, n)
    return (off + sp.diags(deg)).tocsr()


class LaplacianSolver:
    """Applies ``Λ⁺`` to vectors orthogonal to ``1`` (columns of a 2-d array), and finds the
    low end of the spectrum.

    Dense: ``Λ⁺ = (Λ + 11ᵀ/n)⁻¹ − 11ᵀ/n`` from a Cholesky factorization (exact for a connected
    graph, several times cheaper than ``eigh``). Sparse: LU of ``Λ`` with the last node grounded;
    for ``b ⊥ 1`` the grounded solution differs from ``Λ⁺ b`` by a constant, which centering
    removes.
    """

    def __init__(self, lap: sp.csr_matrix, dense: bool) -> None:
        self.lap = lap
        self.n = lap.shape[0]
        self.dense = dense
        if dense:
            c, info = la.lapack.dpotrf(lap.toarray() + 1.0 / self.n, lower=True)
            if info == 0:
                inv, info = la.lapack.dpotri(c, lower=True)
            if info != 0:
                raise np.linalg.LinAlgError(f"Cholesky of the rate Laplacian failed (info={info})")
            self.pinv = np.tril(inv) + np.tril(inv, -1).T - 1.0 / self.n
        else:
            # A symmetric fill-reducing ordering: the grounded Laplacian is SPD.
            self.lu = spla.splu(lap[:-1, :-1].tocsc(), permc_spec="MMD_AT_PLUS_A")

    def solve(self, b: np.ndarray) -> np.ndarray:
        if self.dense:
            return self.pinv @ b
        b2 = b.reshape(self.n, -1)
        x = np.zeros_like(b2, dtype=np.float64)
        x[:-1] = self.lu.solve(np.ascontiguousarray(b2[:-1], dtype=np.float64))
        x -= x.mean(axis=0)
        return x.reshape(b.shape)

    def lowest(self, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` smallest non-zero eigenvalues of ``Λ`` (ascending) and their eigenvectors."""
        n = self.n
        if n <= _EIGH_MAX_NODES or k >= n // 4:
            vals, vecs = la.eigh(self.lap.toarray())
            # Index 0 is the constant vector of a connected graph.
            return vals[1:k + 1], vecs[:, 1:k + 1]
        # Largest eigenvalues of Λ⁺ are the inverses of the smallest non-zero ones of Λ.
        op = self.pinv if self.dense else spla.LinearOperator(
            (n, n), matvec=lambda v: self.solve(v - v.mean()), dtype=np.float64)
        v0 = np.cos(np.arange(n) * 1.7)  # deterministic start vector
        mu, vecs = spla.eigsh(op, k=k, which="LA", v0=v0 - v0.mean(), tol=1e-10)
        order = np.argsort(-mu)
        return 1.0 / mu[order], vecs[:, order]

    def lambda_max(self) -> float:
        if self.n <= _EIGH_MAX_NODES:
            return float(la.eigvalsh(self.lap.toarray())[-1])
        return float(spla.eigsh(self.lap, k=1, which="LA", tol=1e-10,
                                v0=np.cos(np.arange(self.n) * 1.3), return_eigenvectors=False)[0])


def resistances_from_solver(solver: LaplacianSolver, edges: np.ndarray) -> np.ndarray:
    """``R_e = b_eᵀ Λ⁺ b_e`` for every edge."""
    i, j = edges[:, 0], edges[:, 1]
    if solver.dense:
        p = solver.pinv
        return p[i, i] + p[j, j] - 2.0 * p[i, j]
    if len(edges) > solver.n:
        return _resistances_by_node_blocks(solver, edges)
    out = np.empty(len(edges))
    for s in range(0, len(edges), _RESISTANCE_BATCH):
        ii, jj = i[s:s + _RESISTANCE_BATCH], j[s:s + _RESISTANCE_BATCH]
        cols = np.arange(len(ii))
        b = np.zeros((solver.n, len(ii)))
        b[ii, cols], b[jj, cols] = 1.0, -1.0
        x = solver.solve(b)
        out[s:s + len(ii)] = x[ii, cols] - x[jj, cols]
    return out


def _resistances_by_node_blocks(solver: LaplacianSolver, edges: np.ndarray) -> np.ndarray:
    """``R_e`` from the columns of ``Λ⁺`` (``n`` solves instead of one per edge): the block of
    columns ``J`` gives ``Λ⁺_jj`` and ``Λ⁺_ij`` for every edge whose endpoint ``j`` is in ``J``."""
    n = solver.n
    i, j = edges[:, 0], edges[:, 1]
    diag, cross = np.empty(n), np.empty(len(edges))
    order = np.argsort(j, kind="stable")
    starts = np.searchsorted(j[order], np.arange(0, n + _RESISTANCE_BATCH, _RESISTANCE_BATCH))
    for b, s in enumerate(range(0, n, _RESISTANCE_BATCH)):
        cols = np.arange(s, min(n, s + _RESISTANCE_BATCH))
        rhs = np.full((n, len(cols)), -1.0 / n)  # e_j − 1/n is orthogonal to 1, Λ⁺ 1 = 0
        rhs[cols, cols - s] += 1.0
        x = solver.solve(rhs)
        diag[cols] = x[cols, cols - s]
        k = order[starts[b]:starts[b + 1]]
        cross[k] = x[i[k], j[k] - s]
    return diag[i] + diag[j] - 2.0 * cross


def _solver(graph: Graph, rates: Any, method: Method
            ) -> tuple[LaplacianSolver, np.ndarray, np.ndarray]:
    edges, r = edge_rates(graph, rates)
    lap = laplacian_from_edges(graph.num_nodes, edges, r)
    return LaplacianSolver(lap, _use_dense(graph.num_nodes, method)), edges, r


# ---------------------------------------------------------------------- public functions
def rate_laplacian(graph: Graph, rates: Any = None) -> sp.csr_matrix:
    """The gossip Laplacian ``Λ = Σ_e λ_e b_e b_eᵀ`` (scipy CSR float64)."""
    edges, r = edge_rates(graph, rates)
    return laplacian_from_edges(graph.num_nodes, edges, r)


def algebraic_connectivity(graph: Graph, rates: Any = None, *, method: Method = "auto") -> float:
    """``λ2(Λ)``, the smallest non-zero eigenvalue of the rate Laplacian."""
    solver, _, _ = _solver(graph, rates, method)
    return float(solver.lowest(1)[0][0])


def chi1(graph: Graph, rates: Any = None, *, method: Method = "auto") -> float:
    """DADAO's ``χ1 = 1 / λ_min⁺(Λ)``."""
    return 1.0 / algebraic_connectivity(graph, rates, method=method)


def effective_resistances(graph: Graph, rates: Any = None, *,
                          method: Method = "auto") -> np.ndarray:
    """Effective resistance ``R_e = b_eᵀ Λ⁺ b_e`` of every edge, in ``graph.edges()`` order."""
    solver, edges, _ = _solver(graph, rates, method)
    return resistances_from_solver(solver, edges)


def chi2(graph: Graph, rates: Any = None, *, method: Method = "auto") -> float:
    """DADAO's ``χ2 = ½ max_e R_e(Λ)``."""
    return 0.5 * float(effective_resistances(graph, rates, method=method).max())


def threshold_ratio(graph: Graph, rates: Any = None, *, method: Method = "auto") -> float:
    """``2 χ1 χ2 = max_e R_e / λ2``: DADAO needs this ``≤ 1``; it scales as ``1/rate²``."""
    return gossip_spectrum(graph, rates, method=method).threshold_ratio


def gossip_condition_number(graph: Graph, rates: Any = None, *, method: Method = "auto") -> float:
    """``λ_max(Λ) / λ_min⁺(Λ)``, the condition number of the gossip matrix used by
    MSDA, ADOM+ and synchronous gossip analyses (scale-free)."""
    solver, _, _ = _solver(graph, rates, method)
    return solver.lambda_max() / float(solver.lowest(1)[0][0])


@dataclass(frozen=True)
class GossipSpectrum:
    """Everything the rate designs and DADAO need from one factorization of ``Λ``."""

    lambda2: float
    lambda_max: float
    fiedler: np.ndarray
    resistances: np.ndarray
    total_rate: float

    @property
    def chi1(self) -> float:
        return 1.0 / self.lambda2

    @property
    def chi2(self) -> float:
        return 0.5 * float(self.resistances.max())

    @property
    def threshold_ratio(self) -> float:
        return 2.0 * self.chi1 * self.chi2

    @property
    def condition_number(self) -> float:
        return self.lambda_max / self.lambda2


def gossip_spectrum(graph: Graph, rates: Any = None, *, method: Method = "auto") -> GossipSpectrum:
    """λ2, λ_max, a Fiedler vector, all edge resistances and the total rate in one pass."""
    solver, edges, r = _solver(graph, rates, method)
    vals, vecs = solver.lowest(1)
    return GossipSpectrum(lambda2=float(vals[0]), lambda_max=solver.lambda_max(),
                          fiedler=vecs[:, 0],
                          resistances=resistances_from_solver(solver, edges),
                          total_rate=float(r.sum()))

