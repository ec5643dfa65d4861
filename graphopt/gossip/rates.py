"""Edge-rate and gossip-weight design on a communication graph.

Continuous-time gossip (DADAO, Nabli & Oyallon, arXiv 2208.00779, latest version): rates ``λ_e``
per edge, Laplacian ``Λ = Σ_e λ_e b_e b_eᵀ``, and DADAO needs ``2 χ1 χ2 = max_e R_e(Λ) / λ2(Λ) ≤ 1``.

* :func:`uniform_rates`: equal rates scaled onto the threshold.
* :func:`sdp_rates`: the paper's SDP, ``min Σ λ_e`` s.t. ``max_e R_e(Λ) ≤ λ2(Λ)``. ``R_e`` is convex
  and ``λ2`` concave in ``λ``, so the feasible set is convex, and it is written exactly with an
  auxiliary ``t``: ``Λ − t (I − 11ᵀ/n) ⪰ 0`` (``λ2 ≥ t``) and, per edge, the Schur complement
  ``[[Λ + 11ᵀ/n, b_e], [b_eᵀ, t]] ⪰ 0`` (``b_eᵀ (Λ + 11ᵀ/n)⁻¹ b_e = R_e ≤ t``, exact because
  ``b_e ⊥ 1``). The constraint fixes the scale by itself: ``R_e`` scales as ``1/s`` and ``λ2`` as
  ``s``, so shrinking rates eventually violates it and the optimum sits on ``2 χ1 χ2 = 1``.
* :func:`first_order_rates`: the same problem without an SDP solver. For rates on the simplex
  the least total rate on the threshold is ``sqrt(ρ(λ))`` with ``ρ = max_e R_e / λ2``, a convex
  function over a concave one (quasi-convex); it is minimised in ``log λ`` on a
  smoothed ``ρ`` (L-BFGS) using ``∂R_e/∂λ_k = −(b_eᵀ Λ⁺ b_k)²`` and ``∂λ_i/∂λ_k = (b_kᵀ v_i)²``.
* :func:`max_lambda2_rates`: maximum algebraic connectivity for a fixed total rate.

Discrete gossip weights for averaging matrices ``W = I − Σ_e w_e b_e b_eᵀ``:
:func:`fmmc_weights` (fastest-mixing Markov chain, Boyd, Diaconis & Xiao 2004; randomized gossip),
:func:`fdla_weights` (fastest distributed linear averaging, Xiao & Boyd 2004; synchronous gossip),
:func:`metropolis_weights` and :func:`max_degree_weights`.

All per-edge arrays are aligned with ``graph.edges()``.
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax
from tqdm.auto import tqdm

from graphopt.graph import Graph
from graphopt.gossip.spectral import (DENSE_MAX_NODES, LaplacianSolver, Method, edge_rates,
                                      gossip_spectrum, laplacian_from_edges,
                                      resistances_from_solver)

__all__ = ["scale_to_threshold", "uniform_rates", "sdp_rates", "max_lambda2_rates",
           "first_order_rates", "FirstOrderStep", "fmmc_weights", "fdla_weights",
           "metropolis_weights", "max_degree_weights", "averaging_matrix", "mixing_rate",
           "compare_rate_designs", "RATE_DESIGNS"]

# cvxpy is imported inside the SDP functions: it takes about a second to import, and spectra,
# the first-order method and the closed-form weights do not need it.
if TYPE_CHECKING:
    import cvxpy as cp

_DEFAULT_SOLVERS = ("CLARABEL", "SCS")
# Clarabel's default 1e-8 tolerances stall at "almost solved" on these LMIs; 1e-7 reaches
# "optimal" in fewer iterations with the same objective to ~1e-8 relative.
_SOLVER_OPTIONS = {"CLARABEL": {"tol_gap_abs": 1e-7, "tol_gap_rel": 1e-7, "tol_feas": 1e-7},
                   "SCS": {"eps_abs": 1e-6, "eps_rel": 1e-6}}


# ---------------------------------------------------------------------- scaling
def scale_to_threshold(graph: Graph, rates: Any, *, budget: float | None = None) -> np.ndarray:
    """Scale a rate direction onto DADAO's threshold ``2 χ1 χ2 = 1`` (``budget=None``) or to a
    total of ``budget``, which must not fall below the threshold's total.

    ``2 χ1 χ2`` scales as ``1/s²`` under ``λ → s λ``, so the threshold scale is ``sqrt(2 χ1 χ2)``.
    """
    _, r = edge_rates(graph, rates)
    need = r * np.sqrt(gossip_spectrum(graph, r).threshold_ratio)
    if budget is None:
        return need
    budget = float(budget)
    if not np.isfinite(budget) or budget <= 0:
        raise ValueError(f"budget must be a positive total rate, got {budget}")
    if budget < need.sum() * (1 - 1e-9):
        raise ValueError(f"infeasible budget={budget:g}: these rates need a total of at least "
                         f"{need.sum():g} to satisfy 2*chi1*chi2 <= 1")
    return need * (budget / need.sum())


def uniform_rates(graph: Graph, *, budget: float | None = None) -> np.ndarray:
    """Equal rates on every edge, on the threshold (or summing to ``budget``)."""
    return scale_to_threshold(graph, np.ones(len(edge_rates(graph, None)[0])), budget=budget)


# ---------------------------------------------------------------------- SDPs
def _incidence(graph: Graph) -> np.ndarray:
    """Dense ``(n, E)`` incidence matrix with columns ``b_e = e_i − e_j``."""
    edges, _ = edge_rates(graph, None)
    b = np.zeros((graph.num_nodes, len(edges)))
    cols = np.arange(len(edges))
    b[edges[:, 0], cols], b[edges[:, 1], cols] = 1.0, -1.0
    return b


def _solve(problem: cp.Problem, solver: str | None) -> str:
    """Solve with ``solver``, or Clarabel then SCS; return the name of the solver that worked."""
    import cvxpy as cp

    if solver is not None:
        if not isinstance(solver, str) or solver.upper() not in cp.installed_solvers():
            raise ValueError(f"solver={solver!r} is not an installed cvxpy solver; "
                             f"installed: {cp.installed_solvers()}")
        candidates = [solver.upper()]
    else:
        candidates = [s for s in _DEFAULT_SOLVERS if s in cp.installed_solvers()]
    errors = []
    for name in candidates:
        try:
            with warnings.catch_warnings():
                # Reported below in one line; rates are rescaled exactly onto the threshold anyway.
                warnings.filterwarnings("ignore", message="Solution may be inaccurate")
                problem.solve(solver=name, **_SOLVER_OPTIONS.get(name, {}))
        except cp.error.SolverError as exc:
            errors.append(f"{name}: {exc}")
            continue
        if problem.status == cp.OPTIMAL_INACCURATE:
            warnings.warn(f"{name} reached reduced accuracy on the rate design SDP",
                          RuntimeWarning, stacklevel=3)
        if problem.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            return name
        errors.append(f"{name}: status {problem.status}")
    raise RuntimeError("rate design SDP failed: " + "; ".join(errors))


def _clean(rates: np.ndarray) -> np.ndarray:
    # Interior-point solutions carry ~1e-9 noise around edges the optimum switches off.
    r = np.maximum(np.asarray(rates, dtype=np.float64), 0.0)
    r[r < 1e-7 * r.max()] = 0.0
    return r


def sdp_rates(graph: Graph, *, budget: float | None = None, solver: str | None = None,
              rescale: bool = True) -> np.ndarray:
    """Rates of least total that satisfy DADAO's condition ``max_e R_e(Λ) ≤ λ2(Λ)`` (exact SDP).

    ``rescale=False`` returns the solver's optimum as is (on the threshold up to solver
    tolerance); otherwise it is put exactly on the threshold, or scaled to ``budget``.
    Clarabel by default with SCS as fallback; ``solver`` picks one.
    """
    import cvxpy as cp

    b = _incidence(graph)
    n, m = b.shape
    lam = cp.Variable(m, nonneg=True)
    t = cp.Variable()
    Lam = b @ cp.diag(lam) @ b.T
    J = np.ones((n, n)) / n
    constraints = [Lam - t * (np.eye(n) - J) >> 0]  # λ2(Λ) ≥ t
    for e in range(m):
        be = b[:, e:e + 1]
        # Schur complement: R_e = b_eᵀ (Λ + J)⁻¹ b_e ≤ t.
        constraints.append(cp.bmat([[Lam + J, be], [be.T, cp.reshape(t, (1, 1), order="C")]]) >> 0)
    _solve(cp.Problem(cp.Minimize(cp.sum(lam)), constraints), solver)
    rates = _clean(lam.value)
    return scale_to_threshold(graph, rates, budget=budget) if rescale else rates


def max_lambda2_rates(graph: Graph, *, budget: float | None = None,
                      solver: str | None = None) -> np.ndarray:
    """Rates maximizing ``λ2(Λ)`` for a fixed total (Sun, Boyd, Xiao & Diaconis's fastest-mixing
    Markov process), then scaled onto DADAO's threshold or to ``budget``."""
    import cvxpy as cp

    b = _incidence(graph)
    n, m = b.shape
    lam = cp.Variable(m, nonneg=True)
    t = cp.Variable()
    Lam = b @ cp.diag(lam) @ b.T
    constraints = [cp.sum(lam) == 1, Lam - t * (np.eye(n) - np.ones((n, n)) / n) >> 0]
    _solve(cp.Problem(cp.Maximize(t), constraints), solver)
    return scale_to_threshold(graph, _clean(lam.value), budget=budget)


# ---------------------------------------------------------------------- first-order method
@dataclass(frozen=True)
class FirstOrderStep:
    """One accepted step of :func:`first_order_rates`: ``total`` is the exact least total rate
    on the threshold for the current direction, ``smoothed_total`` the quantity being minimised."""

    iteration: int
    beta: float
    total: float
    smoothed_total: float
    active_edges: int


class _SmoothedRatio:
    """``G(λ) = log(‖R(λ)‖_β · ‖1/λ_i(Λ)‖_β · (Σλ)²)``: a scale-free smoothing of
    ``log(ρ (Σλ)²)`` that tends to it as ``β → ∞``, with its gradient in ``log λ``."""

    def __init__(self, n: int, edges: np.ndarray, dense: bool, num_eigs: int) -> None:
        self.n, self.edges, self.dense, self.num_eigs = n, edges, dense, num_eigs

    def __call__(self, lam: np.ndarray, beta: float) -> tuple[float, np.ndarray, float, int]:
        """Return ``G``, its gradient in ``log λ``, the exact ``ρ (Σλ)²`` and the active edges."""
        solver = LaplacianSolver(laplacian_from_edges(self.n, self.edges, lam), self.dense)
        res = resistances_from_solver(solver, self.edges)
        vals, vecs = solver.lowest(self.num_eigs)
        total = lam.sum()
        w = softmax(beta * np.log(res))
        u = softmax(-beta * np.log(vals))
        g_val = (logsumexp(beta * np.log(res)) + logsumexp(-beta * np.log(vals))) / beta
        g_val += 2.0 * np.log(total)
        i, j = self.edges[:, 0], self.edges[:, 1]
        # d log‖R‖_β / dλ_k = −Σ_e c_e (b_eᵀ Λ⁺ b_k)² = −b_kᵀ Λ⁺ L_c Λ⁺ b_k with c_e = w_e / R_e,
        # summed over the edges whose weight w_e is not negligible.
        active = np.flatnonzero(w > 1e-12)
        c = w[active] / res[active]
        if self.dense:
            lc = laplacian_from_edges(self.n, self.edges[active], c)
            mat = solver.pinv @ (lc @ solver.pinv)
            grad = -(mat[i, i] + mat[j, j] - 2.0 * mat[i, j])
        else:
            grad = np.zeros(len(lam))
            for s in range(0, len(active), 256):
                a = active[s:s + 256]
                rhs = np.zeros((self.n, len(a)))
                rhs[i[a], np.arange(len(a))], rhs[j[a], np.arange(len(a))] = 1.0, -1.0
                y = solver.solve(rhs)
                grad -= ((y[i] - y[j]) ** 2) @ c[s:s + 256]
        # d log‖1/λ_i‖_β / dλ_k = −Σ_i (u_i / λ_i) (b_kᵀ v_i)².
        grad -= ((vecs[i] - vecs[j]) ** 2) @ (u / vals)
        grad += 2.0 / total
        exact = res.max() / vals[0] * total ** 2
        return float(g_val), lam * grad, float(exact), len(active)


class _TimeUp(Exception):
    pass


def first_order_rates(graph: Graph, *, budget: float | None = None, init: Any = None,
                      betas: Sequence[float] = (30.0, 100.0, 300.0, 1000.0, 3000.0),
                      max_iter: int = 300, tol: float = 1e-10, time_limit: float | None = None,
                      method: Method = "auto", progress: bool = True, return_history: bool = False
                      ) -> np.ndarray | tuple[np.ndarray, list[FirstOrderStep]]:
    """The SDP's optimum by a first-order method: no SDP solver, one Cholesky (dense) or sparse
    LU per evaluation.

    Minimises the least total rate on the threshold, ``sqrt(ρ(λ))`` for ``Σλ = 1``, through a
    smoothing whose sharpness follows ``betas``; each stage warm-starts the next and runs
    L-BFGS in ``log λ`` (rates stay positive, the scale-free objective needs no projection) for
    up to ``max_iter`` iterations or until the relative decrease falls below ``tol``. The best
    iterate by the exact (unsmoothed) total is returned, scaled onto the threshold or to ``budget``;
    ``time_limit`` (seconds) stops early with the best iterate so far.
    """
    edges, _ = edge_rates(graph, None)
    n, m = graph.num_nodes, len(edges)
    if not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    if not betas or any(not b > 0 for b in betas):
        raise ValueError(f"betas must be a non-empty sequence of positive numbers, got {betas}")
    if init is None:
        u = np.zeros(m)
    else:
        _, lam0 = edge_rates(graph, init)
        if np.any(lam0 <= 0):
            raise ValueError("init must be strictly positive: steps in log-rate cannot revive a zero")
        u = np.log(lam0 / lam0.sum())
    dense = n <= DENSE_MAX_NODES if method == "auto" else method == "dense"
    # A whole multiple eigenspace must enter the smoothed λ2 for its gradient to be symmetric.
    objective = _SmoothedRatio(n, edges, dense, num_eigs=min(n - 1, 16))
    history: list[FirstOrderStep] = []
    best = {"exact": np.inf, "u": u}
    last: dict[str, Any] = {}
    bar = tqdm(total=len(betas) * max_iter, disable=not progress or not sys.stderr.isatty(),
               desc="first-order rates")
    deadline = np.inf if time_limit is None else time.perf_counter() + float(time_limit)

    for beta in betas:
        def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
            if time.perf_counter() > deadline:
                raise _TimeUp
            # G is scale-free, so shifting log λ by its max only guards exp against overflow.
            value, grad, exact, active = objective(np.exp(x - x.max()), beta)
            last.update(x=x.copy(), value=value, exact=exact, active=active)
            if exact < best["exact"]:
                best.update(exact=exact, u=x.copy())
            return value, grad

        def record(x: np.ndarray) -> None:
            if "x" not in last or not np.array_equal(x, last["x"]):
                fun(x)
            history.append(FirstOrderStep(len(history) + 1, beta, float(np.sqrt(last["exact"])),
                                          float(np.exp(last["value"] / 2)), last["active"]))
            bar.update(1)

        try:
            result = minimize(fun, u, jac=True, method="L-BFGS-B", callback=record,
                              options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-9})
        except _TimeUp:
            break
        u = result.x - result.x.max()
    bar.close()
    lam = np.exp(best["u"] - best["u"].max())
    rates = scale_to_threshold(graph, lam / lam.sum(), budget=budget)
    return (rates, history) if return_history else rates


# ---------------------------------------------------------------------- averaging weights
def averaging_matrix(graph: Graph, weights: Any) -> sp.csr_matrix:
    """``W = I − Σ_e w_e b_e b_eᵀ`` (symmetric, rows summing to 1) for per-edge ``weights``."""
    edges, _ = edge_rates(graph, None)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(edges),) or not np.all(np.isfinite(w)):
        raise ValueError(f"weights must be {len(edges)} finite numbers aligned with graph.edges(), "
                         f"got shape {w.shape}")
    return (sp.identity(graph.num_nodes, format="csr")
            - laplacian_from_edges(graph.num_nodes, edges, w)).tocsr()


def mixing_rate(graph: Graph, weights: Any) -> float:
    """``‖W − 11ᵀ/n‖₂``: the per-step contraction of synchronous averaging with ``W``."""
    w = averaging_matrix(graph, weights)
    n = graph.num_nodes
    if n <= DENSE_MAX_NODES:
        return float(np.abs(la.eigvalsh(w.toarray() - 1.0 / n)).max())
    op = spla.LinearOperator((n, n), matvec=lambda v: w @ v - v.mean(), dtype=np.float64)
    return float(np.abs(spla.eigsh(op, k=1, which="LM", return_eigenvectors=False)).max())


def metropolis_weights(graph: Graph) -> np.ndarray:
    """``w_ij = 1 / (1 + max(d_i, d_j))`` (Xiao, Boyd & Lall): local, always convergent."""
    edges, _ = edge_rates(graph, None)
    d = graph.degree()
    return 1.0 / (1.0 + np.maximum(d[edges[:, 0]], d[edges[:, 1]]))


def max_degree_weights(graph: Graph) -> np.ndarray:
    """``w_ij = 1 / (1 + d_max)`` on every edge. The ``+1`` keeps a positive self-weight at every
    node, so the chain stays aperiodic on regular bipartite graphs (``1/d_max`` does not)."""
    edges, _ = edge_rates(graph, None)
    return np.full(len(edges), 1.0 / (1.0 + graph.degree().max()))


def fmmc_weights(graph: Graph, *, solver: str | None = None) -> np.ndarray:
    """Fastest-mixing Markov chain (Boyd, Diaconis & Xiao 2004): transition probabilities
    ``p_e ≥ 0`` on the edges minimising ``‖P − 11ᵀ/n‖₂`` with ``P = I − Σ p_e b_e b_eᵀ ≥ 0``."""
    import cvxpy as cp

    b = _incidence(graph)
    n, m = b.shape
    p = cp.Variable(m, nonneg=True)
    P = np.eye(n) - b @ cp.diag(p) @ b.T
    _solve(cp.Problem(cp.Minimize(cp.norm(P - np.ones((n, n)) / n, 2)), [cp.diag(P) >= 0]), solver)
    return _clean(p.value)


def fdla_weights(graph: Graph, *, solver: str | None = None) -> np.ndarray:
    """Fastest distributed linear averaging (Xiao & Boyd 2004): symmetric edge weights, of any
    sign, minimising ``‖W − 11ᵀ/n‖₂`` with ``W = I − Σ w_e b_e b_eᵀ``."""
    import cvxpy as cp

    b = _incidence(graph)
    n, m = b.shape
    w = cp.Variable(m)
    W = np.eye(n) - b @ cp.diag(w) @ b.T
    _solve(cp.Problem(cp.Minimize(cp.norm(W - np.ones((n, n)) / n, 2))), solver)
    return np.asarray(w.value, dtype=np.float64)


# ---------------------------------------------------------------------- comparison
RATE_DESIGNS = ("uniform", "max_lambda2", "sdp", "first_order", "metropolis", "max_degree",
                "fmmc")


def _design(graph: Graph, name: str, solver: str | None) -> np.ndarray:
    if name == "uniform":
        return uniform_rates(graph)
    if name == "max_lambda2":
        return max_lambda2_rates(graph, solver=solver)
    if name == "sdp":
        return sdp_rates(graph, solver=solver)
    if name == "first_order":
        return first_order_rates(graph, progress=False)
    weights = {"metropolis": metropolis_weights, "max_degree": max_degree_weights,
               "fmmc": lambda g: fmmc_weights(g, solver=solver)}[name](graph)
    return scale_to_threshold(graph, weights)


def compare_rate_designs(graph: Graph, designs: Sequence[str] = ("uniform", "max_lambda2", "sdp"),
                         *, solver: str | None = None) -> list[dict[str, Any]]:
    """One row per design, every design scaled onto DADAO's threshold ``2 χ1 χ2 = 1``.

    Rows hold ``design``, ``total_rate``, ``saving`` (uniform total / this total; DADAO's
    communications scale with the total rate), ``lambda2``, ``chi1``, ``chi2``,
    ``threshold_ratio``, ``condition_number``, ``active_edges`` (rate above 1e-6 of the largest)
    and ``seconds`` (design time).
    """
    unknown = [d for d in designs if d not in RATE_DESIGNS]
    if unknown or not designs:
        raise ValueError(f"designs must be a non-empty subset of {RATE_DESIGNS}, got {list(designs)}")
    rows = []
    for name in designs:
        start = time.perf_counter()
        rates = _design(graph, name, solver)
        seconds = time.perf_counter() - start
        s = gossip_spectrum(graph, rates)
        rows.append({"design": name, "total_rate": s.total_rate, "lambda2": s.lambda2,
                     "chi1": s.chi1, "chi2": s.chi2, "threshold_ratio": s.threshold_ratio,
                     "condition_number": s.condition_number,
                     "active_edges": int(np.count_nonzero(rates > 1e-6 * rates.max())),
                     "seconds": seconds})
    base = uniform_rates(graph).sum()
    for row in rows:
        row["saving"] = base / row["total_rate"]
    return rows
