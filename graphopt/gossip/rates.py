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
  smoothed ``ρ`` (L-BFGS) using ``∂R_e/∂λ_k = −(b_eᵀ Λ⁺ b_k)²`` and ``∂λ_i/∂λ_k = (b_kᵀ v_i)²``;
  on graphs of up to a few thousand edges its design is then polished by an interior-point
  method (Newton steps on the SDP's log barrier), whose multipliers certify the optimum to 1e-5.
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
from scipy.optimize import linprog, minimize, minimize_scalar
from scipy.special import logsumexp, softmax
from tqdm.auto import tqdm

from graphopt.graph import Graph
from graphopt.gossip.spectral import (DENSE_MAX_NODES, LaplacianSolver, Method, edge_rates,
                                      gossip_spectrum, laplacian_from_edges,
)

__all__ = ["scale_to_threshold", "uniform_rates", "sdp_rates", "max_lambda2_rates",
           "first_order_rates", "FirstOrderStep", "RateCertificate", "fmmc_weights", "fdla_weights",
           "metropolis_weights", "max_degree_weights", "averaging_matrix", "mixing_rate",
           "compare_rate_designs", "RATE_DESIGNS"]

# cvxpy is imported inside the SDP functions: it takes about a second to import, and spectra,
# the first-order method and the closed-form weights do not need it.
if TYPE_CHECKING:
    import cvxpy as cp

_DEFAULT_SOLVERS = ("CLARABEL", "SCS")
# Columns of Λ⁺ (and of Λ⁺ L_c Λ⁺) per block in the first-order method.
_BLOCK = 512
# Clarabel's default 1e-8 tolerances stall at "almost solved" on these LMIs; 1e-7 reaches
# "optimal" in fewer iterations with the same objective to ~1e-8 relative.
# Certificate LP (:func:`_packing_bound`): edges whose resistance is within this fraction of the
# largest carry a multiplier, at most this many; eigenvalues within this fraction of λ2 count
# as one multiple eigenvalue; entries of A below this fraction of their column's largest are
# left out of the LP (not of the bound).
_LP_RESIST_BAND, _LP_MAX_EDGES, _LP_EIG_BAND, _LP_DROP = 0.02, 2500, 0.1, 1e-4
# Share of a time limit kept for that LP; evaluations a smoothing stage is given at least.
_CERTIFY_SHARE, _MIN_STAGE_EVALS = 0.15, 20
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
    on the threshold for the current direction, ``smoothed_total`` the quantity being minimised,
    ``lower_bound`` the best certified lower bound on the optimal total found so far."""

    iteration: int
    beta: float
    total: float
    smoothed_total: float
    active_edges: int
    lower_bound: float = 0.0


@dataclass(frozen=True)
class RateCertificate:
    """How far :func:`first_order_rates`' design is from the SDP optimum, certified.

    ``lower_bound`` is a Lagrangian (weak-duality) bound: no design on the threshold has a total
    below it (up to floating-point rounding), so ``total − lower_bound`` bounds the distance of
    the returned design to the optimum. ``converged`` says whether the relative gap reached
    ``gap_tol``; ``stopped_by`` is ``"gap"``, ``"max_iter"``, ``"time_limit"`` or
    ``"stalled"`` (the interior-point polish could not step further in float64);
    ``evaluations`` counts smoothed evaluations and Newton steps; ``seconds``
    is wall-clock time and ``cpu_seconds`` the process CPU time of the call.
    """

    total: float
    lower_bound: float
    converged: bool
    stopped_by: str
    evaluations: int
    seconds: float
    cpu_seconds: float

    @property
    def gap(self) -> float:
        return self.total - self.lower_bound

    @property
    def relative_gap(self) -> float:
        return self.gap / self.total


class _TimeUp(Exception):
    pass


def _check_deadline(deadline: float) -> None:
    if time.perf_counter() > deadline:
        raise _TimeUp


def _pinv(lap: sp.csr_matrix, dense: bool, deadline: float) -> tuple[np.ndarray, LaplacianSolver]:
    """``Λ⁺`` as a dense array: a dense Cholesky, or ``n`` solves with a sparse LU in blocks
    (several times cheaper past a few thousand nodes, and interruptible between blocks)."""
    solver = LaplacianSolver(lap, dense)
    if dense:
        return solver.pinv, solver
    n = lap.shape[0]
    pinv = np.empty((n, n))
    for s in range(0, n, _BLOCK):
        _check_deadline(deadline)
        cols = np.arange(s, min(n, s + _BLOCK))
        rhs = np.full((n, len(cols)), -1.0 / n)  # e_j − 1/n ⊥ 1, and Λ⁺ 1 = 0
        rhs[cols, cols - s] += 1.0
        pinv[:, cols] = solver.solve(rhs)
    return pinv, solver


def _lowest_from_pinv(lap: sp.csr_matrix, pinv: np.ndarray, k: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` smallest non-zero eigenvalues of ``Λ`` and unit eigenvectors orthogonal to 1."""
    n = lap.shape[0]
    if n <= 64 or k >= n // 4:
        vals, vecs = la.eigh(lap.toarray())
        vals, vecs = vals[1:k + 1], vecs[:, 1:k + 1]
    else:
        v0 = np.cos(np.arange(n) * 1.7)  # deterministic start vector
        mu, vecs = spla.eigsh(pinv, k=k, which="LA", v0=v0 - v0.mean(), tol=1e-10)
        order = np.argsort(-mu)
        vals, vecs = 1.0 / mu[order], vecs[:, order]
    # Exactly orthogonal to 1 and of unit norm: each v vᵀ is then feasible for λ2's dual.
    vecs = vecs - vecs.mean(axis=0)
    return vals, vecs / np.linalg.norm(vecs, axis=0)


def _edge_quadratic(apply: Any, n: int, edges: np.ndarray) -> np.ndarray:
    """``b_eᵀ M b_e`` for every edge, where ``apply(cols)`` returns the columns ``M[:, cols]``."""
    i, j = edges[:, 0], edges[:, 1]
    diag, cross = np.empty(n), np.empty(len(edges))
    order = np.argsort(j, kind="stable")
    starts = np.searchsorted(j[order], np.arange(0, n + _BLOCK, _BLOCK))
    for b, s in enumerate(range(0, n, _BLOCK)):
        cols = np.arange(s, min(n, s + _BLOCK))
        block = apply(cols)
        diag[cols] = block[cols, cols - s]
        k = order[starts[b]:starts[b + 1]]
        cross[k] = block[i[k], j[k] - s]
    return diag[i] + diag[j] - 2.0 * cross


def _dual_bound(resist: np.ndarray, nu: np.ndarray, h: np.ndarray, g: np.ndarray,
                trace_x: float) -> float:
    """Lagrangian lower bound on ``min Σλ s.t. max_e R_e(λ) ≤ λ2(λ)`` from the SDP's dual.

    The SDP's dual (``Λ − tP ⪰ 0`` with multiplier ``X ⪰ 0``, ``X 1 = 0``; each Schur block
    ``[[Λ + J, b_e], [b_eᵀ, t]] ⪰ 0`` with ``[[y_e y_eᵀ/s_e, −y_e], [−y_eᵀ, s_e]]``) gives, by
    weak duality, ``Σλ ≥ 2 Σ_e y_eᵀ b_e`` whenever ``b_kᵀ X b_k + Σ_e (b_kᵀ y_e)²/s_e ≤ 1`` for
    every edge ``k`` and ``Σ_e s_e ≤ tr X``. Take ``y_e = a_e Λ₀⁺ b_e`` at the current rates
    (any ``Λ₀`` is allowed) and ``ν_e = a_e²/s_e``: the constraint reads
    ``g_k + h_k ≤ 1`` with ``g_k = b_kᵀ X b_k`` and ``h_k = Σ_e ν_e (b_kᵀ Λ₀⁺ b_e)²``, and the
    best ``s`` (Cauchy–Schwarz, ``s_e ∝ ν_e R_e²``) makes the bound ``2 sqrt(tr X · Σ ν_e R_e²)``.
    Scaling ``X`` and ``ν`` by ``α`` and ``1`` keeps every choice valid once divided by
    ``max_k (α g_k + h_k)``; any ``α`` is valid, the best one is searched for, and at the SDP's
    dual optimum the bound is tight.
    """
    a = float(trace_x * (nu @ resist ** 2))
    if not a > 0 or not g.max() > 0:
        return 0.0
    # With X scaled by s², the bound is 2 sqrt(a) / max_k (g_k s + h_k / s): each term is convex
    # in s > 0, so their max is too, and a coarse grid then a bounded Brent search find its
    # minimum (sharp: a kink where the rows led by X meet those led by ν).

    def worst(s: float) -> float:
        return float(np.max(g * s + h / s))

    center = 0.5 * np.log(max(h.max(), 1e-300) / g.max())
    grid = np.exp(center + np.linspace(-8, 8, 33))
    k = int(np.argmin([worst(s) for s in grid]))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    best = minimize_scalar(worst, bounds=(lo, hi), method="bounded",
                           options={"xatol": 1e-12 * hi, "maxiter": 500})
    return float(2 * np.sqrt(a) / min(best.fun, worst(grid[k])))


def _foster_bound(resist: np.ndarray, lam: np.ndarray, h: np.ndarray, diffs: np.ndarray
                  ) -> float:
    """:func:`_dual_bound` with ``ν = λ`` on every edge, whose ``h_k = Σ_e λ_e (b_kᵀ Λ₀⁺ b_e)²``
    is ``R_k`` by Foster's identity (``Λ⁺ Λ Λ⁺ = Λ⁺``; pass it for the ``Λ₀`` of ``resist``),
    and ``X`` the sum of the lowest ``c`` eigenvectors' projectors (``diffs[:, c]`` holds
    ``(b_kᵀ v_c)²``), best over ``c``. Far from the optimum, where few edges have near-largest
    resistance, it bounds well above the multipliers of those edges; O(E) per ``c``."""
    g = np.cumsum(diffs, axis=1)
    return max(_dual_bound(resist, lam, h, g[:, c], c + 1.0) for c in range(g.shape[1]))


def _packing_bound(n: int, edges: np.ndarray, lam: np.ndarray, dense: bool, num_eigs: int,
                   deadline: float = np.inf) -> float:
    """A sharper certificate at fixed rates: the best multipliers of :func:`_dual_bound` by a
    packing LP, then the bound those multipliers give (valid whatever the LP returns).

    With ``y_e`` fixed to ``Λ⁺ b_e`` at ``lam`` (put on the threshold, ``t = max R = λ2``) and
    ``X = Σ_j x_j v_j v_jᵀ`` over unit vectors ``v_j ⊥ 1`` of the low eigenspace (eigenvectors
    and, for near-multiple eigenvalues, their ±45° rotations, which reach off-diagonal terms),
    the multipliers are feasible when ``Σ_e ν_e A_ke + Σ_j x_j (b_kᵀ v_j)² ≤ 1`` for every
    edge ``k`` (``A_ke = (b_kᵀ Λ⁺ b_e)²``). The LP maximises ``Σ x_j + Σ ν_e R_e²/t²``, which
    bounds ``2 sqrt(tr X · Σ ν_e R_e²)/t`` from above (AM-GM) with equality at the SDP's dual
    optimum, over ``ν`` on the edges of near-largest resistance only (the others carry no
    multiplier at the optimum). Small entries of ``A`` are dropped from the LP to keep it sparse;
    the bound itself is evaluated with the exact ``A``, so the dropping costs tightness only.

    One more column spreads multipliers over every edge: ``ν = φ λ``, for which Foster's
    identity gives ``Σ_e λ_e A_ke = b_kᵀ Λ⁺ Λ Λ⁺ b_k = R_k`` exactly, with no extra solve. Far
    from the optimum, where the near-largest resistances are a few edges, this column carries
    the bound (``test_foster_column_lifts_the_bound_far_from_the_optimum``).
    """
    i, j = edges[:, 0], edges[:, 1]
    lap = laplacian_from_edges(n, edges, lam)
    pinv, solver = _pinv(lap, dense, deadline)
    res = pinv[i, i] + pinv[j, j] - 2.0 * pinv[i, j]
    vals, vecs = _lowest_from_pinv(lap, pinv, num_eigs)
    _check_deadline(deadline)
    t = vals[0]
    scale = np.sqrt(res.max() / t)  # onto the threshold: R → R/s, λ2 → s λ2, Λ⁺ → Λ⁺/s
    res, t, pinv = res / scale, t * scale, pinv / scale
    support = np.flatnonzero(res >= (1 - _LP_RESIST_BAND) * t)
    support = support[np.argsort(-res[support])][:_LP_MAX_EDGES]

    def columns(cols: np.ndarray) -> np.ndarray:  # A_ke for every k and e in cols, dense
        cross = pinv[:, i[cols]] - pinv[:, j[cols]]
        return (cross[i] - cross[j]) ** 2

    # A (E × |S|) is built in column blocks and kept sparse: transfer currents decay with
    # distance, so most entries fall under the drop tolerance.
    blocks = []
    for s0 in range(0, len(support), _BLOCK // 2):
        _check_deadline(deadline)
        block = columns(support[s0:s0 + _BLOCK // 2])
        blocks.append(sp.csc_matrix(np.where(block >= _LP_DROP * block.max(axis=0), block, 0.0)))
    low = vecs[:, vals <= (1 + _LP_EIG_BAND) * vals[0]]
    dirs = [low[:, c] for c in range(low.shape[1])]
    for c in range(low.shape[1]):
        for d in range(c + 1, low.shape[1]):
            dirs += [(low[:, c] + low[:, d]) / np.sqrt(2), (low[:, c] - low[:, d]) / np.sqrt(2)]
    gmat = np.stack([(v[i] - v[j]) ** 2 for v in dirs], axis=1)
    # Λ⁺ was divided by `scale`, so Σ_e λ_e A_ke = R_k / scale² = res_k / scale (scaled res).
    foster = res / scale
    sparse = sp.hstack(blocks + [sp.csc_matrix(foster[:, None]), sp.csc_matrix(gmat)]).tocsr()
    del blocks
    weights = np.r_[res[support] ** 2 / t ** 2, lam @ res ** 2 / t ** 2, np.ones(len(dirs))]
    num_nu = len(support) + 1
    left = deadline - time.perf_counter()
    if left <= 0:
        raise _TimeUp
    options = {} if not np.isfinite(left) else {"time_limit": float(left)}
    # tr X = Σ ν_e R_e²/t², as at the SDP's dual optimum: otherwise the LP may stop anywhere on
    # a face of optima whose AM-GM slack leaves the bound loose.
    lp = linprog(-weights, A_ub=sparse, b_ub=np.ones(len(edges)),
                 A_eq=(weights * np.r_[-np.ones(num_nu), np.ones(len(dirs))])[None],
                 b_eq=[0.0], bounds=(0, None), method="highs-ipm", options=options)
    if lp.x is None:
        _check_deadline(deadline)
        return 0.0
    x = np.maximum(lp.x, 0.0)
    phi = x[len(support)]
    nu = phi * lam
    nu[support] += x[:len(support)]
    xd = x[num_nu:]
    # The bound itself takes the exact A ν, over the edges the LP gave a multiplier.
    used = np.flatnonzero(x[:len(support)] > 0)
    h = phi * foster
    for s0 in range(0, len(used), _BLOCK // 2):
        cols = used[s0:s0 + _BLOCK // 2]
        h += columns(support[cols]) @ x[cols]
    bound = _dual_bound(res, nu, h, gmat @ xd, float(xd.sum()))
    # The LP maximises an AM-GM majorant of the bound, not the bound itself.
    return max(bound, _foster_bound(res, lam, foster, (vecs[i] - vecs[j]) ** 2))


class _SmoothedRatio:
    """``G(λ) = log(‖R(λ)‖_β · ‖1/λ_i(Λ)‖_β · (Σλ)²)``: a scale-free smoothing of
    ``log(ρ (Σλ)²)`` that tends to it as ``β → ∞``, with its gradient in ``log λ``.

    The gradient's weights are also multipliers for :func:`_dual_bound`: ``μ_e ∝ w_e / R_e`` on
    the resistances and ``X ∝ Σ_i (u_i / λ_i) v_i v_iᵀ`` on the low eigenspace, exactly those
    of the smoothed problem's KKT conditions, so every evaluation also yields a certified lower
    bound, tight up to the smoothing as the iterates converge; far from it, Foster's multipliers
    (:func:`_foster_bound`) bound better, and the larger of the two is returned.
    """

    def __init__(self, n: int, edges: np.ndarray, dense: bool, num_eigs: int,
                 deadline: float = np.inf) -> None:
        self.n, self.edges, self.dense, self.num_eigs = n, edges, dense, num_eigs
        self.deadline = deadline

    def __call__(self, lam: np.ndarray, beta: float
                 ) -> tuple[float, np.ndarray, float, int, float]:
        """Return ``G``, its gradient in ``log λ``, the exact ``ρ (Σλ)²``, the active edges and
        a certified lower bound on the optimal total."""
        lap = laplacian_from_edges(self.n, self.edges, lam)
        pinv, solver = _pinv(lap, self.dense, self.deadline)
        i, j = self.edges[:, 0], self.edges[:, 1]
        res = pinv[i, i] + pinv[j, j] - 2.0 * pinv[i, j]
        _check_deadline(self.deadline)
        vals, vecs = _lowest_from_pinv(lap, pinv, self.num_eigs)
        total = lam.sum()
        w = softmax(beta * np.log(res))
        u = softmax(-beta * np.log(vals))
        g_val = (logsumexp(beta * np.log(res)) + logsumexp(-beta * np.log(vals))) / beta
        g_val += 2.0 * np.log(total)
        # d log‖R‖_β / dλ_k = −Σ_e c_e (b_eᵀ Λ⁺ b_k)² = −b_kᵀ Λ⁺ L_c Λ⁺ b_k with c_e = w_e / R_e,
        # summed over the edges whose weight w_e is not negligible.
        active = np.flatnonzero(w > 1e-12)
        c = w[active] / res[active]
        lc = laplacian_from_edges(self.n, self.edges[active], c)

        def product(cols: np.ndarray) -> np.ndarray:
            _check_deadline(self.deadline)
            rhs = lc @ pinv[:, cols]
            # Λ⁺ (L_c Λ⁺): a dense product, or solves with the sparse LU (cheaper at scale).
            return pinv @ rhs if self.dense else solver.solve(rhs)

        hc = _edge_quadratic(product, self.n, self.edges)
        # d log‖1/λ_i‖_β / dλ_k = −Σ_i (u_i / λ_i) (b_kᵀ v_i)².
        diffs = (vecs[i] - vecs[j]) ** 2  # (b_kᵀ v_i)²
        gu = diffs @ (u / vals)
        grad = -hc - gu + 2.0 / total
        exact = res.max() / vals[0] * total ** 2
        nu = np.zeros(len(lam))
        nu[active] = c
        # X = Σ_i (u_i/λ_i) v_i v_iᵀ: unit eigenvectors ⊥ 1, so tr X = Σ u_i/λ_i.
        lower = _dual_bound(res, nu, np.maximum(hc, 0.0), gu, float((u / vals).sum()))
        lower = max(lower, _foster_bound(res, lam, res, diffs))
        return float(g_val), lam * grad, float(exact), len(active), lower


# ---------------------------------------------------------------------- interior-point polish
# Graphs with at most this many edges are polished by default: a Newton step forms and factors a
# dense (E+1)² Hessian, about E³ flops and three E × E arrays (6.4e10 flops, 128 MB each, at 4,000).
_NEWTON_MAX_EDGES = 4000
# The polish starts from the best design scaled by 1 + _NEWTON_SLACK (slack on both sides of the
# threshold) with a barrier weight that puts its duality gap near that fraction, then multiplies
# the weight by _NEWTON_TAU_STEP each time the Newton decrement falls below _NEWTON_CENTERED:
# the certificate does not need exact centring, so loose centring saves most of the steps.
_NEWTON_SLACK, _NEWTON_TAU_STEP, _NEWTON_CENTERED = 0.01, 3.0, 1.0
# Steps without any progress of the design or the bound, once the barrier's own duality gap
# (ν/τ) is below _NEWTON_FLOOR of the total, after which the polish has reached the limit of
# float64 (the barrier's terms then differ by rounding only).
_NEWTON_PATIENCE, _NEWTON_FLOOR = 15, 1e-7
# The smoothing stages run before a polish, and their share of a time limit.
_POLISH_BETAS, _POLISH_SMOOTHING_SHARE = 2, 0.25


def _transfer(mat: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """``Bᵀ M B`` (E × E) for the incidence matrix ``B`` of the edges ``(i, j)``."""
    cols = mat[:, i] - mat[:, j]
    return cols[i] - cols[j]


def _edge_diag(mat: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """``b_eᵀ M b_e`` for every edge."""
    return mat[i, i] + mat[j, j] - 2.0 * mat[i, j]


class _Barrier:
    """The SDP's log barrier on ``x = (λ, t)``,
    ``f = τ Σλ − Σ_e log(t − R_e(λ)) − log det(Λ − tP) − Σ_k log λ_k`` (the determinant on
    ``1⊥``, ``P = I − 11ᵀ/n``): its domain is exactly ``R_e < t < λ2``, ``λ > 0``.

    With ``K = BᵀΛ⁺B``, ``M = (Λ − tP)⁺``, ``C = BᵀMB`` and ``d_e = 1/(t − R_e)``:
    ``∂R_e/∂λ_k = −K_ke²`` and ``∂²R_e/∂λ_k∂λ_l = 2 K_ek K_kl K_le``, so the λ-block of the
    Hessian is ``(K∘K) D² (K∘K) + 2 K∘(KDK) + C∘C + diag(1/λ²)``; it does not depend on ``τ``.
    The barrier's multipliers (``ν = d``, ``X = M``) also give :func:`_dual_bound` at every point.
    """

    def __init__(self, n: int, edges: np.ndarray) -> None:
        self.n, self.i, self.j = n, edges[:, 0], edges[:, 1]
        self.edges = edges
        self.mean = np.full((n, n), 1.0 / n)

    def point(self, lam: np.ndarray, t: float) -> dict[str, Any] | None:
        """Factorizations at ``(λ, t)``, or ``None`` outside the domain."""
        if not (np.all(lam > 0) and t > 0):
            return None
        lap = laplacian_from_edges(self.n, self.edges, lam).toarray()
        try:
            chol_l = la.cho_factor(lap + self.mean, check_finite=False)
            # Λ − tP + 11ᵀ/n ≻ 0 exactly when λ2 > t.
            chol_s = la.cho_factor(lap - t * (np.eye(self.n) - self.mean) + self.mean,
                                   check_finite=False)
        except la.LinAlgError:
            return None
        pinv = la.cho_solve(chol_l, np.eye(self.n)) - self.mean
        res = _edge_diag(pinv, self.i, self.j)
        if not np.all(res < t):
            return None
        return {"lam": lam, "t": t, "lap": lap, "pinv": pinv, "res": res, "chol_s": chol_s,
                "logdet": 2.0 * np.log(np.diag(chol_s[0])).sum()}

    @staticmethod
    def value(p: dict[str, Any], tau: float) -> float:
        return float(tau * p["lam"].sum() - np.log(p["t"] - p["res"]).sum() - p["logdet"]
                     - np.log(p["lam"]).sum())

    def derivatives(self, p: dict[str, Any], tau: float
                    ) -> tuple[np.ndarray, Any, np.ndarray, float]:
        """The gradient of the barrier terms (``f`` less ``τ Σλ``), the Cholesky factor of the
        diagonally scaled Hessian, the scaling, and the Lagrangian bound at ``p``."""
        lam, t, pinv, res = p["lam"], p["t"], p["pinv"], p["res"]
        i, j, m = self.i, self.j, len(lam)
        sinv = la.cho_solve(p["chol_s"], np.eye(self.n)) - self.mean
        k = _transfer(pinv, i, j)
        c = _transfer(sinv, i, j)
        d = 1.0 / (t - res)
        kk = k * k
        h = kk @ d
        g = np.diag(c).copy()
        trace_m = float(np.trace(sinv))
        grad = np.r_[-h - g - 1.0 / lam, trace_m - d.sum()]
        lower = _dual_bound(res, d, h, g, trace_m)
        kdk = _transfer(pinv @ (laplacian_from_edges(self.n, self.edges, d) @ pinv), i, j)
        s2 = sinv @ sinv
        hess = np.empty((m + 1, m + 1))
        hess[:m, m] = kk @ (d * d) - _edge_diag(s2, i, j)
        hess[m, m] = float((d * d).sum() + np.trace(s2))
        # Only the upper triangle is read by the Cholesky factorization below.
        hess[:m, :m] = la.blas.dsyrk(1.0, kk * d)
        del kk
        hess[:m, :m] += 2.0 * k * kdk + c * c
        del k, kdk, c
        hess[np.arange(m), np.arange(m)] += 1.0 / lam ** 2
        scale = np.r_[lam, 1.0]  # Newton in log-like coordinates: the 1/λ² terms become 1
        hess *= scale[:, None]
        hess *= scale[None, :]
        for ridge in (0.0, 1e-12, 1e-9, 1e-6):
            try:
                if ridge:
                    hess[np.arange(m + 1), np.arange(m + 1)] *= 1.0 + ridge
                return grad, la.cho_factor(hess, lower=False, overwrite_a=False,
                                           check_finite=False), scale, lower
            except la.LinAlgError:
                continue
        raise la.LinAlgError("the barrier's Hessian is numerically singular")


def _threshold_total(p: dict[str, Any]) -> float:
    """The exact least total of the direction ``λ`` on the threshold, ``Σλ sqrt(max R / λ2)``."""
    lam2 = la.eigh(p["lap"], eigvals_only=True, subset_by_index=[1, 1], check_finite=False)[0]
    return float(p["lam"].sum() * np.sqrt(p["res"].max() / lam2))


def _polish(n: int, edges: np.ndarray, lam: np.ndarray, deadline: float, max_steps: int,
            report: Any) -> str:
    """Interior-point polish of the direction ``lam``: damped Newton steps on :class:`_Barrier`
    along a path of growing ``τ``. Every step hands ``report(rates, total, lower_bound)`` the
    current design (any ``λ > 0`` scaled onto the threshold is feasible) and the Lagrangian bound
    of the barrier's multipliers; ``report`` returns True to stop. Returns why it stopped:
    ``"gap"``, ``"max_iter"`` or ``"stalled"`` (the barrier has reached the limit of float64: no
    step of the line search stays in the domain and decreases ``f``, or, past a barrier gap of
    ``_NEWTON_FLOOR``, neither the design nor the bound has moved for ``_NEWTON_PATIENCE``
    steps); raises :class:`_TimeUp`.
    """
    barrier = _Barrier(n, edges)
    m = len(edges)
    lap = laplacian_from_edges(n, edges, lam)
    pinv = LaplacianSolver(lap, True).pinv
    res = _edge_diag(pinv, edges[:, 0], edges[:, 1])
    lam2 = la.eigh(lap.toarray(), eigvals_only=True, subset_by_index=[1, 1])[0]
    # On the threshold, max R = λ2 = t; the slack puts R below t and λ2 above it.
    t = float(np.sqrt(res.max() * lam2))
    lam = lam * np.sqrt(res.max() / lam2) * (1.0 + _NEWTON_SLACK)
    p = barrier.point(lam, t)
    if p is None:
        return "stalled"
    tau = (2 * m + n) / (_NEWTON_SLACK * lam.sum())
    unit = np.r_[np.ones(m), 0.0]
    record, idle = (np.inf, 0.0), 0
    for _ in range(max_steps):
        _check_deadline(deadline)
        grad0, factor, scale, lower = barrier.derivatives(p, tau)
        total = _threshold_total(p)
        if report(p["lam"], total, lower):
            return "gap"
        progress = total < record[0] * (1 - 1e-9) or lower > record[1] * (1 + 1e-9)
        record = (min(total, record[0]), max(lower, record[1]))
        deep = (2 * m + n) / tau < _NEWTON_FLOOR * p["lam"].sum()
        idle = idle + 1 if deep and not progress else 0
        if idle >= _NEWTON_PATIENCE:
            return "stalled"
        _check_deadline(deadline)
        grad = grad0 + tau * unit
        step = -scale * la.cho_solve(factor, scale * grad, check_finite=False)
        decrement = float(-grad @ step)
        value, a = barrier.value(p, tau), 1.0
        while a > 1e-10:
            trial = barrier.point(p["lam"] + a * step[:m], p["t"] + a * step[m])
            if trial is not None and barrier.value(trial, tau) <= value - 0.25 * a * decrement:
                break
            a *= 0.5
        else:
            return "stalled"
        p = trial
        if decrement < _NEWTON_CENTERED:
            # One step from a point this close to the central path lands almost on it, where
            # the barrier's multipliers bound best; the next τ is the next target.
            tau *= _NEWTON_TAU_STEP
    return "max_iter"


class _Converged(Exception):
    pass


class _Search:
    """The state of one :func:`first_order_rates` call: the best design by its exact total, the
    best certified bound, the history and the evaluation count, shared by its three phases
    (smoothing stages, interior-point polish, certificate LP)."""

    def __init__(self, n: int, edges: np.ndarray, objective: _SmoothedRatio, u: np.ndarray,
                 gap_tol: float, deadline: float, search_end: float, bar: Any) -> None:
        self.n, self.edges, self.objective, self.gap_tol = n, edges, objective, gap_tol
        self.deadline, self.search_end, self.bar = deadline, search_end, bar
        self.start = time.perf_counter()
        self.best_exact, self.best_u, self.lower = np.inf, u, 0.0
        self.history: list[FirstOrderStep] = []
        self.evaluations = 0
        self.last: dict[str, Any] = {}
        self._stage = (1, self.start)  # (stages left, start of the current one)

    def gap_reached(self) -> bool:
        return 1.0 - self.lower / np.sqrt(self.best_exact) <= self.gap_tol

    def offer(self, exact: float, u: np.ndarray, lower: float) -> None:
        """Keep the design ``u`` (log-rates) if its ``ρ (Σλ)²`` is the best, and the bound."""
        self.lower = max(self.lower, lower)
        if exact < self.best_exact:
            self.best_exact, self.best_u = exact, u.copy()

    def rates(self) -> np.ndarray:
        return np.exp(self.best_u - self.best_u.max())

    def _stage_deadline(self, stages_left: int, stage_start: float) -> float:
        # Under a time limit each smoothing stage gets an equal share of what is left, so that
        # the search reaches the sharper smoothings instead of ending in the first, loosest one;
        # but at least _MIN_STAGE_EVALS evaluations where they fit, since L-BFGS makes no
        # progress in a handful of steps.
        if not self.evaluations:
            return self.deadline  # the first evaluation may take what there is: nothing without it
        left = self.search_end - stage_start
        per_eval = (time.perf_counter() - self.start) / self.evaluations
        share = max(left / stages_left, min(left, _MIN_STAGE_EVALS * per_eval))
        return stage_start + share

    def smooth(self, betas: Sequence[float], max_iter: int, tol: float) -> str:
        """L-BFGS in ``log λ`` on each smoothing in turn, each warm-starting the next; returns
        why it stopped (``"max_iter"``, ``"gap"`` or ``"time_limit"``)."""
        u = self.best_u
        for stage, beta in enumerate(betas):
            self._stage = (len(betas) - stage, time.perf_counter())
            self.objective.deadline = self._stage_deadline(*self._stage)
            try:
                result = minimize(self._fun, u, args=(beta,), jac=True, method="L-BFGS-B",
                                  callback=lambda x, beta=beta: self._record(x, beta),
                                  options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-9})
                u = result.x - result.x.max()
            except _TimeUp:
                if time.perf_counter() >= self.search_end:
                    return "time_limit"
                u = self.best_u - self.best_u.max()  # this stage's share ran out: the next one
            except _Converged:
                return "gap"
        return "max_iter"

    def _fun(self, x: np.ndarray, beta: float) -> tuple[float, np.ndarray]:
        last = self.last
        if last.get("beta") == beta and np.array_equal(x, last["x"]):
            return last["value"], last["grad"]
        # G is scale-free, so shifting log λ by its max only guards exp against overflow.
        value, grad, exact, active, lower = self.objective(np.exp(x - x.max()), beta)
        self.evaluations += 1
        if self.evaluations == 1:  # the first evaluation prices the others
            self.objective.deadline = self._stage_deadline(*self._stage)
        last.update(x=x.copy(), beta=beta, value=value, grad=grad, exact=exact, active=active)
        self.offer(exact, x, lower)
        if self.gap_reached():
            raise _Converged
        return value, grad

    def _record(self, x: np.ndarray, beta: float) -> None:
        self._fun(x, beta)  # usually cached: L-BFGS-B hands over the point it just evaluated
        last = self.last
        self.history.append(FirstOrderStep(len(self.history) + 1, beta,
                                           float(np.sqrt(last["exact"])),
                                           float(np.exp(last["value"] / 2)), last["active"],
                                           self.lower))
        self.bar.update(1)

    def polish(self, max_steps: int) -> str:
        """Newton steps on the SDP's barrier from the best design (:func:`_polish`)."""
        m = len(self.edges)

        def report(lam: np.ndarray, total: float, lower: float) -> bool:
            self.evaluations += 1
            self.offer(total ** 2, np.log(lam), lower)
            self.history.append(FirstOrderStep(len(self.history) + 1, np.inf, total, total, m,
                                               self.lower))
            self.bar.update(1)
            return self.gap_reached()

        try:
            return _polish(self.n, self.edges, self.rates(), self.deadline, max_steps, report)
        except _TimeUp:
            return "time_limit"

    def certify(self, dense: bool, num_eigs: int, stopped_by: str) -> str:
        """The certificate LP at the best design (:func:`_packing_bound`): the multipliers of a
        smoothing stage that has not converged bound loosely, also when the time limit stopped
        the search."""
        try:
            self.lower = max(self.lower, _packing_bound(self.n, self.edges, self.rates(), dense,
                                                        num_eigs, self.deadline))
        except _TimeUp:
            stopped_by = "time_limit"
        return "gap" if self.gap_reached() else stopped_by


def _check_first_order_args(max_iter: Any, betas: Sequence[float], time_limit: Any,
                            gap_tol: Any, budget: Any, polish: Any) -> None:
    if not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    if not betas or any(not b > 0 for b in betas):
        raise ValueError(f"betas must be a non-empty sequence of positive numbers, got {betas}")
    if time_limit is not None and not (isinstance(time_limit, (int, float, np.number))
                                       and np.isfinite(time_limit) and time_limit >= 0):
        raise ValueError(f"time_limit must be a non-negative number of seconds or None, "
                         f"got {time_limit!r}")
    if not (isinstance(gap_tol, (int, float, np.number)) and gap_tol >= 0):
        raise ValueError(f"gap_tol must be a non-negative number, got {gap_tol!r}")
    if budget is not None and not (np.isfinite(float(budget)) and float(budget) > 0):
        raise ValueError(f"budget must be a positive total rate, got {budget}")
    if polish not in (None, True, False):
        raise ValueError(f"polish must be True, False or None (automatic), got {polish!r}")


def first_order_rates(graph: Graph, *, budget: float | None = None, init: Any = None,
                      betas: Sequence[float] = (30.0, 100.0, 300.0, 1000.0, 3000.0, 1e4, 3e4),
                      max_iter: int = 300, tol: float = 1e-10, time_limit: float | None = None,
                      method: Method = "auto", progress: bool = True, return_history: bool = False,
                      gap_tol: float = 1e-4, return_certificate: bool = False,
                      polish: bool | None = None) -> Any:
    """The SDP's optimum by a first-order method with a certified gap: no SDP solver, one
    factorization of the rate Laplacian per evaluation.

    Minimises the least total rate on the threshold, ``sqrt(ρ(λ))`` for ``Σλ = 1``, through a
    smoothing whose sharpness follows ``betas``; each stage warm-starts the next and runs
    L-BFGS in ``log λ`` (rates stay positive, the scale-free objective needs no projection) for
    up to ``max_iter`` iterations or until the relative decrease falls below ``tol``. Every
    evaluation also gives a Lagrangian lower bound on the optimal total (see
    :class:`RateCertificate`); the run stops once the certified relative gap is at most
    ``gap_tol``. Otherwise a final packing LP picks the best multipliers at the best design
    (:func:`_packing_bound`), which bounds much more tightly than those of an unconverged
    stage. The best iterate by the exact (unsmoothed) total is returned, scaled onto the
    threshold or to ``budget``.

    ``polish`` (default: graphs of at most 4,000 edges) runs only the first two smoothing stages
    and then Newton steps on the SDP's log barrier (:class:`_Barrier`) from their best design,
    along a path of growing barrier weight. Every step yields a feasible design and the
    Lagrangian bound of the barrier's multipliers, which closes on the optimum: a 300-node
    random geometric graph (1,697 edges) is certified to 1.3e-5 in 20 s of CPU, where the
    smoothing alone stops at 6.9e-3 (``benchmarks/RESULTS.md``). A step forms a dense ``(E+1)²`` Hessian (about ``E³``
    flops), which is what limits it to a few thousand edges.

    ``time_limit`` (wall-clock seconds) stops early with the best iterate so far: each stage
    gets an equal share of the first 85% (25% when polishing, the polish gets the rest), but
    at least time for 20 evaluations (a stage that
    runs out hands over to the next, sharper one), and the final LP the rest. It is checked between blocks of linear solves and passed to
    the LP solver, so it is overshot by at most one block and one eigensolve.
    An unfinished run (time limit or ``max_iter`` before ``gap_tol``) warns with its certified
    gap; a time limit too short for even one evaluation raises ``TimeoutError``.
    ``return_history`` adds the list of :class:`FirstOrderStep`, ``return_certificate`` the
    :class:`RateCertificate` (last in the returned tuple).

    Up to :data:`~graphopt.gossip.spectral.DENSE_MAX_NODES` nodes (``method="auto"``) each
    evaluation is dense (Cholesky, O(n³)); larger graphs use a sparse LU and ``2n`` solves with
    it, holding ``Λ⁺`` as one dense ``n × n`` array.
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    edges, _ = edge_rates(graph, None)
    n, m = graph.num_nodes, len(edges)
    _check_first_order_args(max_iter, betas, time_limit, gap_tol, budget, polish)
    polish = m <= _NEWTON_MAX_EDGES if polish is None else polish
    if polish:
        betas = tuple(betas)[:_POLISH_BETAS]
    if init is None:
        u = np.zeros(m)
    else:
        _, lam0 = edge_rates(graph, init)
        if np.any(lam0 <= 0):
            raise ValueError("init must be strictly positive: steps in log-rate cannot revive a zero")
        u = np.log(lam0 / lam0.sum())
    dense = n <= DENSE_MAX_NODES if method == "auto" else method == "dense"
    deadline = np.inf if time_limit is None else start + float(time_limit)
    # The last share of a time limit is kept for the polish or for the LP certificate.
    share = _POLISH_SMOOTHING_SHARE if polish else 1 - _CERTIFY_SHARE
    search_end = np.inf if time_limit is None else start + share * float(time_limit)
    # A whole multiple eigenspace must enter the smoothed λ2 for its gradient to be symmetric.
    num_eigs = min(n - 1, 16)
    bar = tqdm(total=len(betas) * max_iter, disable=not progress or not sys.stderr.isatty(),
               desc="first-order rates")
    search = _Search(n, edges, _SmoothedRatio(n, edges, dense, num_eigs), u, gap_tol, deadline,
                     search_end, bar)
    stopped_by = search.smooth(betas, max_iter, tol)
    if not np.isfinite(search.best_exact):
        bar.close()
        raise TimeoutError(f"time_limit={time_limit} s ran out before the first evaluation of "
                           f"the rates on {n} nodes; no design or bound to return")
    if stopped_by != "gap":
        stopped_by = (search.polish(max_iter) if polish
                      else search.certify(dense, num_eigs, stopped_by))
    bar.close()
    total = float(np.sqrt(search.best_exact))
    lam = search.rates()
    rates = lam * (total / lam.sum())  # exactly on the threshold: ρ(sλ) = ρ(λ)/s²
    if budget is not None:
        if budget < total * (1 - 1e-9):
            raise ValueError(f"infeasible budget={budget:g}: the best rates need a total of at "
                             f"least {total:g} to satisfy 2*chi1*chi2 <= 1")
        rates *= budget / total
    cert = RateCertificate(total=total, lower_bound=search.lower, converged=stopped_by == "gap",
                           stopped_by=stopped_by, evaluations=search.evaluations,
                           seconds=time.perf_counter() - start,
                           cpu_seconds=time.process_time() - cpu_start)
    if not cert.converged:
        warnings.warn(f"first_order_rates stopped by {stopped_by} after {cert.evaluations} "
                      f"evaluations ({cert.seconds:.1f} s) before gap_tol={gap_tol:g}: the "
                      f"design's total {total:.6g} is certified within {cert.relative_gap:.3g} "
                      f"(relative) of the optimum (lower bound {cert.lower_bound:.6g})",
                      RuntimeWarning, stacklevel=2)
    out: tuple = (rates,)
    if return_history:
        out += (search.history,)
    if return_certificate:
        out += (cert,)
    return out[0] if len(out) == 1 else out


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
