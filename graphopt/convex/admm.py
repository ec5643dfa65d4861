"""ADMM for the exact and gated convex ReLU programs (Bai, Gautam & Sojoudi, arXiv 2201.01965, Alg. 1).

Variables ``u = (v_1..v_P, w_1..w_P)`` are split as in the paper, each copy handled by its prox:

    u = t          (group-lasso prox: block soft-thresholding)
    G u = s >= 0   (projection; G = blockdiag((2 D_i - I) X), the cone constraints; exact only)

and the u-step solves ``(c_F F^T F + I + G^T G) u = r`` with ``F u = sum_i D_i X (v_i - w_i)``:
the squared loss enters exactly (``c_F = 1/rho``), the logistic loss through its quadratic
majorizer (``c_F = 1/(4 rho)``, curvature bound 1/4) and the hinge loss, which has none, is split
off as ``z = F u`` with its elementwise prox (``c_F = 1``). One cached factorization serves all.

The two splittings get their own penalties: ``rho`` for ``u = t`` and ``cone_rho`` for
``G u = s`` (``G`` is scaled by ``sqrt(cone_rho / rho)``, so ``G^T G = (cone_rho / rho) I (x) X^T X``).
The group-lasso threshold is ``beta / rho``, so ``rho`` must grow with ``beta``, i.e. with n,
while ``G^T G`` and the loss already grow with n: with one penalty, the logistic loss's weight
``1/(4 rho)`` against ``G^T G`` shrank like 1/n and the iterates crawled (a9a, n = 32561).

The u-step matrix is never formed from the ``D_i X`` blocks. Since ``(2 D_i - I)^2 = I``,
``G^T G = I (x) X^T X``; rotating to ``v + w`` and ``v - w`` decouples it into ``I (x) S``
(``S = I + X^T X``, one d x d inverse) and ``T = I (x) S + c A^T A`` (c = 2 c_F) with
``A = [D_1 X .. D_P X]``. ``T`` is solved by a dense Cholesky of its dP x dP matrix (accumulated
over row chunks; refactored when rho changes), by Woodbury through the n x n matrix
``I/c + (X S^-1 X^T) ∘ (D D^T)`` (Cholesky-factored for a fixed rho; eigendecomposed once when
rho adapts, so its changes are free), or matrix-free
by block-Jacobi preconditioned CG, whichever is cheapest within ``memory_limit``. Gated programs
drop ``w`` and ``G``: ``S = I`` and ``c = c_F``. Strongly regularized gated squared-loss programs
are screened first (FISTA picks the patterns worth the factorization; ``solve_admm(screen=...)``).
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from .losses import loss_prox
from .patterns import Patterns
from .programs import ConvergenceWarning, ConvexReLUProgram, ConvexSolution
from .recovery import polish_solution

__all__ = ["solve_admm", "choose_linear_solver", "SCREEN_RATIO", "SCREEN_ITERATIONS",
           "FLOAT32_WOODBURY_LIMIT"]

SCREEN_RATIO = 0.05
SCREEN_ITERATIONS = 30
FLOAT32_WOODBURY_LIMIT = 2e4

LINEAR_SOLVERS = ("auto", "cholesky", "woodbury", "cg")
_CHUNK_BYTES = 64 * 2**20


def choose_linear_solver(n: int, d: int, P: int, memory_limit: float = 2e9,
                         adaptive: bool = False, iterations: int = 1000) -> str:
    """The cheapest u-step solver (by flop count over ``iterations`` solves) whose matrices fit in
    ``memory_limit`` bytes.

    Dense Cholesky keeps three (dP)^2 matrices, costs ``n (dP)^2 / 4 + (dP)^3/3`` flops to set up
    (the Gram from pair products, :func:`_gram`; and
    ``(dP)^3/3`` per change of rho) and ``4 (dP)^2`` per solve; Woodbury keeps three n^2 matrices,
    costs ``n^2 (d + P)`` plus a Cholesky (``n^3/3``) or, when rho adapts (``adaptive``), an
    eigendecomposition (about ``9 n^3``), and ``4 n^2 + 4 n d P`` per solve; CG keeps only the data.
    """
    m = d * P
    options = []
    if 24.0 * m * m <= memory_limit:
        options.append((n * m * m / 4 + m ** 3 / 3 + iterations * 4 * m * m, "cholesky"))
    if 24.0 * n * n <= memory_limit:
        setup = n * n * (d + P) + (9 if adaptive else 1 / 3) * n ** 3
        options.append((setup + iterations * (4 * n * n + 4 * n * m), "woodbury"))
    return min(options)[1] if options else "cg"


def _cholesky(M: torch.Tensor) -> torch.Tensor:
    """Cholesky factor of the u-step's SPD matrix, with an error that says what to do."""
    try:
        return torch.linalg.cholesky(M)
    except torch.linalg.LinAlgError as err:
        scale = float(M.abs().max())
        raise ValueError(f"the ADMM u-step matrix (I + X^T X and the loss term, entries up to "
                         f"{scale:.3g}) is not numerically positive definite: X is too large or "
                         f"too ill-conditioned for float64; standardize or rescale X") from err


def _cholesky_solve(B: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """``(L L^T)^-1 B`` by two triangular solves: 3-7x faster than ``torch.cholesky_solve`` on
    one thread for the few right-hand sides of a u-step (that one copies ``L`` on every call)."""
    return torch.linalg.solve_triangular(
        L.mT, torch.linalg.solve_triangular(L, B, upper=False), upper=True)


def _pair_products(M: torch.Tensor) -> torch.Tensor:
    """Rows ``M[a] * M[b]`` for ``a <= b`` (row-major over the upper triangle) of a (k, m) matrix."""
    k = M.shape[0]
    out = torch.empty(k * (k + 1) // 2, M.shape[1], dtype=M.dtype, device=M.device)
    lo = 0
    for a in range(k):
        torch.mul(M[a:a + 1], M[a:], out=out[lo:lo + k - a])
        lo += k - a
    return out


def _triangle_index(k: int, device: torch.device) -> torch.Tensor:
    """(k, k) map from ``(a, b)`` to the position of ``min, max`` in :func:`_pair_products`."""
    a, b = torch.triu_indices(k, k, device=device)
    index = torch.empty(k, k, dtype=torch.long, device=device)
    index[a, b] = index[b, a] = torch.arange(len(a), device=device)
    return index


def _gram(X: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
    """``A^T A`` for ``A = [D_1 X .. D_P X]`` with columns ordered (feature, pattern), as a dP x dP
    matrix.

    Entry ``((a, i), (b, j))`` is ``sum_k x_ka x_kb d_ki d_kj``: one product of the n x d(d+1)/2
    feature pairs with the n x P(P+1)/2 pattern pairs covers every entry once up to the two
    symmetries, a quarter of the flops of ``A^T A`` (which also streams the n x dP matrix ``A``)."""
    n, d = X.shape
    P = D.shape[1]
    Xt, Dt = X.T.contiguous(), D.T.contiguous()
    M = torch.zeros(d * (d + 1) // 2, P * (P + 1) // 2, dtype=X.dtype, device=X.device)
    rows = max(1, int(_CHUNK_BYTES // (X.element_size() * (M.shape[0] + M.shape[1]))))
    for lo in range(0, n, rows):
        M.addmm_(_pair_products(Xt[:, lo:lo + rows]), _pair_products(Dt[:, lo:lo + rows]).T)
    pairs_d, pairs_p = _triangle_index(d, X.device), _triangle_index(P, X.device).reshape(-1)
    out = torch.empty(d, P, d, P, dtype=X.dtype, device=X.device)
    for a in range(d):  # row by row, so the gather index stays d P^2 long
        out[a] = M[pairs_d[a]][:, pairs_p].reshape(d, P, P).permute(1, 0, 2)
    return out.reshape(d * P, d * P)


class _Operators:
    """``F``, ``G`` and their adjoints on u of shape (d, K, C), K = 2P (exact) or P (gated)."""

    def __init__(self, X: torch.Tensor, D: torch.Tensor, gated: bool, cone_scale: float = 1.0
                 ) -> None:
        self.X, self.D, self.gated, self.cone_scale = X, D, gated, cone_scale
        self.n, self.d = X.shape
        self.P = D.shape[1]
        self.K = self.P if gated else 2 * self.P
        if not gated:
            sign = 2.0 * D - 1.0
            self.sign = math.sqrt(cone_scale) * torch.cat([sign, sign], dim=1)[:, :, None]

    def apply(self, u: torch.Tensor, need_F: bool = True
              ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``(F u, G u)`` with shapes (n, C) and (n, K, C) (``G u`` is None when gated, ``F u``
        when not ``need_F``)."""
        C = u.shape[2]
        XU = (self.X @ u.reshape(self.d, -1)).reshape(self.n, self.K, C)
        if self.gated:
            return (self.D[:, :, None] * XU).sum(1), None
        Fu = (self.D[:, :, None] * (XU[:, :self.P] - XU[:, self.P:])).sum(1) if need_F else None
        return Fu, self.sign * XU

    def adjoint(self, a: torch.Tensor | None, t: torch.Tensor | None) -> torch.Tensor:
        """``F^T a + G^T t`` as (d, K, C'); a None term is zero (C' = columns of the other)."""
        if a is None and t is None:
            raise ValueError("adjoint needs at least one of a and t")
        M = None if t is None or self.gated else self.sign * t
        if a is not None:
            Fa = self.D[:, :, None] * a[:, None, :]
            if not self.gated:
                Fa = torch.cat([Fa, -Fa], dim=1)
            M = Fa if M is None else M + Fa
        return (self.X.T @ M.reshape(self.n, -1)).reshape(self.d, self.K, -1)


def _residuals(ops: _Operators, u: torch.Tensor, t: torch.Tensor, t_old: torch.Tensor,
               Fu: torch.Tensor | None, z: torch.Tensor | None, z_old: torch.Tensor | None,
               eta: torch.Tensor | None, Gu: torch.Tensor | None, s: torch.Tensor | None,
               s_old: torch.Tensor | None, nu: torch.Tensor | None
               ) -> tuple[float, float, float, float, float]:
    """Primal residual, dual residual over rho, ``||A x||``, ``||B y||`` and ``||F^T eta + G^T nu||``
    of the ADMM with constraints ``u = t``, ``F u = z`` (loss split off) and ``G u = s`` (cones)."""
    pairs = [(u, t)] + ([(Fu, z)] if z is not None else []) + ([(Gu, s)] if s is not None else [])
    r_sq = sum(float((p - q).square().sum()) for p, q in pairs)
    norm_ax = math.sqrt(sum(float(p.square().sum()) for p, _ in pairs))
    norm_b = math.sqrt(sum(float(q.square().sum()) for _, q in pairs))
    C = u.shape[2]
    if z is None and s is None:
        return math.sqrt(r_sq), float((t - t_old).norm()), norm_ax, norm_b, 0.0
    # the splitting variables' change and the duals, mapped back by one product with X^T
    both = ops.adjoint(None if z is None else torch.cat([z - z_old, eta], 1),
                       None if s is None else torch.cat([s - s_old, nu], 2))
    dual = float((both[:, :, :C] + t - t_old).norm())
    return math.sqrt(r_sq), dual, norm_ax, norm_b, float(both[:, :, C:].norm())


class _USolver:
    """Solves ``(I (x) S + c_F F^T F + ...) u = r``, the u-step, for any loss weight ``c_F``.

    ``set_weight`` changes ``c_F`` (it moves with ``rho`` when the loss sits in the u-step): free
    for CG and for an ``adaptive`` Woodbury (eigendecomposition of the n x n matrix), a
    refactorization for dense Cholesky (of the cached ``A^T A``) and a fixed-rho Woodbury.
    """

    def __init__(self, ops: _Operators, method: str, adaptive: bool = False,
                 core_dtype: torch.dtype | None = None) -> None:
        self.ops, self.method, self.adaptive = ops, method, adaptive
        X, D = ops.X, ops.D
        dtype = X.dtype
        # Woodbury's y - S^-1 A^T z cancels digits (see FLOAT32_WOODBURY_LIMIT): a float64 core
        # keeps them in a float32 solve, at float64's cost for A and A^T in the u-step only.
        self.core = dtype if core_dtype is None else core_dtype
        self.Xc, self.Dc = X.to(self.core), D.to(self.core)
        X64, D64 = X.to(torch.float64), D.to(torch.float64)
        d, P, n = ops.d, ops.P, ops.n
        eye = torch.eye(d, dtype=torch.float64, device=X.device)
        S = eye if ops.gated else eye + ops.cone_scale * (X64.T @ X64)
        self.S = S.to(dtype)
        self.S_inv = torch.cholesky_inverse(_cholesky(S)).to(self.core)
        self.weight = None
        if method == "cholesky":
            self.AtA = _gram(X64, D64)
            # gated: S = I, so the core matrix is c A^T A plus one on the diagonal
            self.kronS = None if ops.gated else torch.kron(
                S, torch.eye(P, dtype=torch.float64, device=X.device))
        elif method == "woodbury":
            H = (X64 @ self.S_inv.to(torch.float64) @ X64.T).mul_(D64 @ D64.T)
            if adaptive:  # rho will move: one eigendecomposition serves every weight
                evals, evecs = torch.linalg.eigh(H)
                self.evals = evals.clamp_(min=0.0).to(self.core)
                self.evecs = evecs.to(self.core)
            else:  # a fixed weight needs one Cholesky (n^3 / 3 flops, ~25x cheaper than eigh)
                self.H = H
        elif method == "cg":
            blocks = []
            rows = max(1, int(_CHUNK_BYTES // (8 * n * d)))
            for lo in range(0, P, rows):
                XD = D64[:, lo:lo + rows].T[:, :, None] * X64[None]  # (p, n, d)
                blocks.append(torch.bmm(XD.transpose(1, 2), XD))
            self.blocks = torch.cat(blocks)
            self.S64 = S
            self.x_prev: torch.Tensor | None = None
            self.cg_iterations = 0
        else:
            raise ValueError(f"linear_solver must be one of {LINEAR_SOLVERS}, got {method!r}")

    def set_weight(self, weight: float) -> None:
        """Use ``c_F = weight``; the core matrix is then ``I (x) S + c A^T A``, c = 2 c_F (exact)."""
        if weight == self.weight:
            return
        self.weight = weight
        self.c = weight if self.ops.gated else 2.0 * weight
        dtype = self.ops.X.dtype
        if self.method == "cholesky":
            if self.kronS is None:
                M = self.c * self.AtA
                M.diagonal().add_(1.0)
            else:
                M = self.kronS + self.c * self.AtA
            self.L = _cholesky(M).to(dtype)
        elif self.method == "woodbury" and self.adaptive:
            self.inv_evals = 1.0 / (1.0 / self.c + self.evals)
        elif self.method == "woodbury":
            self.L = _cholesky(self.H + torch.eye(self.ops.n, dtype=self.H.dtype,
                                                  device=self.H.device) / self.c).to(self.core)
        elif self.method == "cg":
            B = self.blocks * self.c + self.S64
            self.block_inv = torch.cholesky_inverse(_cholesky(B)).to(dtype)

    def _A(self, y: torch.Tensor) -> torch.Tensor:
        ops, X, D = self.ops, self.Xc, self.Dc
        XY = (X @ y.reshape(ops.d, -1)).reshape(ops.n, ops.P, y.shape[2])
        return (D[:, :, None] * XY).sum(1)

    def _At(self, z: torch.Tensor) -> torch.Tensor:
        ops, X, D = self.ops, self.Xc, self.Dc
        M = (D[:, :, None] * z[:, None, :]).reshape(ops.n, -1)
        return (X.T @ M).reshape(ops.d, ops.P, z.shape[1])

    def _block(self, M: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        return (M @ r.reshape(r.shape[0], -1)).reshape(r.shape)

    def _solve_T(self, r: torch.Tensor, rtol: float) -> torch.Tensor:
        """``(I (x) S + c A^T A)^-1 r`` for r of shape (d, P, C)."""
        if self.method == "cholesky":
            return _cholesky_solve(r.reshape(-1, r.shape[2]), self.L).reshape(r.shape)
        if self.method == "woodbury":
            y = self._block(self.S_inv, r.to(self.core))
            if self.adaptive:
                z = self.evecs @ (self.inv_evals[:, None] * (self.evecs.T @ self._A(y)))
            else:
                z = _cholesky_solve(self._A(y), self.L)
            return (y - self._block(self.S_inv, self._At(z))).to(r.dtype)
        return self._cg(r, rtol)

    def _cg(self, r: torch.Tensor, rtol: float) -> torch.Tensor:
        def T(x: torch.Tensor) -> torch.Tensor:
            return self._block(self.S, x) + self.c * self._At(self._A(x))

        def precond(x: torch.Tensor) -> torch.Tensor:
            return torch.bmm(self.block_inv, x.permute(1, 0, 2)).permute(1, 0, 2)

        x = torch.zeros_like(r) if self.x_prev is None else self.x_prev
        res = r - T(x)
        target = rtol * float(r.norm()) + 1e-300
        z = precond(res)
        p = z
        rz = torch.sum(res * z)
        for _ in range(500):
            if float(res.norm()) <= target:
                break
            Tp = T(p)
            alpha = rz / torch.sum(p * Tp)
            x = x + alpha * p
            res = res - alpha * Tp
            z = precond(res)
            rz_new = torch.sum(res * z)
            p = z + (rz_new / rz) * p
            rz = rz_new
            self.cg_iterations += 1
        self.x_prev = x
        return x

    def solve(self, r: torch.Tensor, rtol: float = 1e-10) -> torch.Tensor:
        if self.ops.gated:
            return self._solve_T(r, rtol)
        P = self.ops.P
        total = self._block(self.S_inv, r[:, :P] + r[:, P:])
        diff = self._solve_T(r[:, :P] - r[:, P:], rtol)
        return torch.cat([total + diff, total - diff], dim=1) * 0.5


def _group_shrink(x: torch.Tensor, threshold: float) -> torch.Tensor:
    """Block soft-thresholding over dim 0 (the prox of ``threshold * sum of group norms``)."""
    norms = x.norm(dim=0, keepdim=True)
    return x * torch.clamp(1.0 - threshold / torch.clamp(norms, min=1e-300), min=0.0)


def _check_memory(program: ConvexReLUProgram, K: int, itemsize: int, limit: float) -> None:
    need = 10.0 * program.num_samples * K * program.num_outputs * itemsize
    if need > limit:
        raise ValueError(
            f"the ADMM state for n={program.num_samples}, {program.num_patterns} patterns and "
            f"C={program.num_outputs} outputs needs about {need / 2**30:.3g} GiB, over "
            f"memory_limit={limit / 2**30:.3g} GiB; sample fewer patterns or raise memory_limit "
            f"(max_memory in the estimators)")


def solve_admm(program: ConvexReLUProgram, *, rho: float | None = None,
               linear_solver: str = "auto", tol: float = 1e-6, max_iter: int = 10000,
               time_limit: float | None = None, warm_start: ConvexSolution | None = None,
               device: str | torch.device | None = None, dtype: torch.dtype = torch.float64,
               adapt_rho: bool = False, relaxation: float = 1.6, memory_limit: float = 2e9,
               eval_every: int = 10, progress: bool = True, cone_rho: float | None = None,
               callback: Callable[[dict[str, Any]], None] | None = None,
               polish: bool = True, screen: bool | None = None) -> ConvexSolution:
    """Solve an exact or gated convex ReLU program by ADMM.

    The squared loss sits in the u-step (as in the paper); the logistic loss is majorized there by
    its curvature bound 1/4 (so the same cached factorization serves it); the hinge loss is split
    off (``z = F u``) and handled by its prox. Stops when the primal and dual residuals (checked
    every 10 iterations and at each logged one: they cost an extra product with ``X^T``) fall
    below ``tol`` relative to the iterates' and duals' norms (Boyd et al. 2011, Sec. 3.3), or at
    ``max_iter`` / ``time_limit`` seconds of process CPU time (``time.process_time``, setup and
    logging included; summed over this process's threads, so it runs ahead of the wall clock with
    several threads), in which case a :class:`ConvergenceWarning` says how far it got.
    ``dtype=torch.float32`` halves the memory traffic of every step (about 1.6x faster on one
    thread in our runs) and is ample for a 1e-3 gap; float64 for tight tolerances. On gated
    programs with ``||F||^2 / rho`` above :data:`FLOAT32_WOODBURY_LIMIT` (weak beta), ``auto``
    runs a Woodbury u-step in float64 inside the float32 solve (``solver_info["u_step_dtype"]``),
    where float32 Woodbury loses the precision. ``rho`` defaults to ``beta / rms(y)`` for the squared loss, ``2 * beta`` for the
    logistic and ``beta / 2`` for the hinge loss, the best fixed values across our measurements.
    ``cone_rho``, the penalty of the cone splitting ``G u = s``, defaults to ``rho`` except for
    the logistic loss, where it is capped at 1/2 (twice the curvature bound, independent of n and
    beta: see the module docstring). ``adapt_rho=True`` adapts both (their ratio fixed) by
    residual balancing (free for Woodbury and CG, a refactorization for Cholesky), which we
    measured to stall the exact program, hence off by default. A ``warm_start`` from an ADMM
    solution resumes its primal and dual iterates (e.g. along a beta path). ``relaxation`` is the
    over-relaxation factor (1 = plain ADMM). ``history`` has one record per residual check
    (iteration, residuals, rho, ``time`` / ``cpu_time``: wall / process CPU seconds); every
    ``eval_every`` iterations it also holds the group-sparse iterate's convex and network
    objectives and cone violation, whose cost the logged times leave out. The logged iterates
    are the returned weights, so inactive neurons are exactly zero (cone violation in
    ``solver_info``). ``callback``, if given, is called with each log record as it is made
    (progress lines that work without a terminal, unlike the ``progress`` bar).
    ``polish=True`` (default) finishes with :func:`~graphopt.convex.recovery.polish_solution`:
    the active groups' magnitudes are refit (squared loss; a non-negative least-squares problem
    on the active set, so the objective does not rise) and at most ``n + 1`` neurons per
    output are kept (Carathéodory), so the returned network is group-sparse; ``state`` keeps the
    unpolished ADMM iterates for warm starts.
    ``screen`` (gated squared-loss programs; default: when ``beta >= 0.05 beta_max``, where most
    groups are zero) first runs :data:`SCREEN_ITERATIONS` FISTA steps on the whole program, then
    ADMM on the patterns FISTA left active, warm-started from it, adding any pattern that breaks
    the optimality condition ``||(D_i X)^T r|| <= beta`` and resolving until none does: the
    u-step's dP x dP factorization, ADMM's setup, then only covers the active patterns.
    """
    if not isinstance(program, ConvexReLUProgram):
        raise TypeError(f"program must be a ConvexReLUProgram, got {type(program).__name__}")
    if program.robust_eps:
        raise NotImplementedError("the robust program (robust_eps > 0) is solved by solve_cvxpy; "
                                  "ADMM handles robust_eps = 0 only")
    if linear_solver not in LINEAR_SOLVERS:
        raise ValueError(f"linear_solver must be one of {LINEAR_SOLVERS}, got {linear_solver!r}")
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol!r}")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be None or > 0 (seconds of CPU time), got {time_limit!r}")
    if rho is not None and not rho > 0:
        raise ValueError(f"rho must be positive, got {rho!r}")
    if cone_rho is not None and not cone_rho > 0:
        raise ValueError(f"cone_rho must be positive, got {cone_rho!r}")
    if not 0 < relaxation < 2:
        raise ValueError(f"relaxation must be in (0, 2), got {relaxation!r}")
    for name, value in (("max_iter", max_iter), ("eval_every", eval_every)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    if screen is None:
        screen = (program.gated and program.loss == "squared" and warm_start is None
                  and program.beta >= SCREEN_RATIO * program.beta_max())
    if screen:
        if not (program.gated and program.loss == "squared"):
            raise ValueError("screen=True needs a gated squared-loss program")
        return _screened(program, dict(
            rho=rho, linear_solver=linear_solver, tol=tol, max_iter=max_iter,
            time_limit=time_limit, device=device, dtype=dtype, adapt_rho=adapt_rho,
            relaxation=relaxation, memory_limit=memory_limit, eval_every=eval_every,
            progress=progress, callback=callback), polish)
    start, cpu_start = time.perf_counter(), time.process_time()
    eval_cpu = eval_wall = 0.0
    n, d, P, C = (program.num_samples, program.num_features, program.num_patterns,
                  program.num_outputs)
    gated, loss = program.gated, program.loss
    K = P if gated else 2 * P
    _check_memory(program, K, torch.finfo(dtype).bits // 8, memory_limit)
    method = (choose_linear_solver(n, d, P, memory_limit, adapt_rho) if linear_solver == "auto"
              else linear_solver)

    X = torch.as_tensor(program.X, dtype=dtype, device=device)
    D = torch.as_tensor(program.patterns.D, dtype=dtype, device=device)
    Y = torch.as_tensor(program.Y, dtype=dtype, device=device)
    split = loss == "hinge"  # no smooth majorizer: split the loss off and use its prox
    curvature = {"squared": 1.0, "logistic": 0.25, "hinge": 1.0}[loss]
    if rho is None:
        # ADMM on the squared loss is equivariant under (y, beta) -> (a y, a beta), so its rho
        # depends on beta / |y|; the classification losses have labels of size 1
        scale = float(np.sqrt(np.mean(program.Y ** 2))) if loss == "squared" else 1.0
        factor = {"squared": 1.0, "logistic": 2.0, "hinge": 0.5}[loss]
        rho = factor * program.beta / max(scale, 1e-12)
    rho = float(rho)
    if cone_rho is None:
        # the logistic loss sits in the u-step beside the cones, both summed over samples, so the
        # cone penalty is capped by its curvature (1/4 per sample), independent of n and beta;
        # tying it to rho ~ beta ~ n made the loss term n-times weaker at large n
        cone_rho = min(rho, 2.0 * curvature) if loss == "logistic" else rho
    cone_rho = float(cone_rho)
    ops = _Operators(X, D, gated, cone_rho / rho)
    core_dtype = None
    if (linear_solver == "auto" and gated and dtype == torch.float32 and method == "woodbury"
            and (1.0 if split else curvature / rho) * _norm_sq(ops) > FLOAT32_WOODBURY_LIMIT):
        # float32 Woodbury cancels y - A^T z, both ~ ||F||^2 / rho times the answer: past this
        # ratio it held no 1e-3 gap (synthetic 4e4, a9a 1e5); in float64 the cancellation is
        # harmless, and costs less than the dense Cholesky (dP = 6480 on a9a)
        core_dtype = torch.float64
    usolver = _USolver(ops, method, adapt_rho, core_dtype)
    setup_time = time.perf_counter() - start
    like = dict(dtype=dtype, device=device)

    u = torch.zeros(d, K, C, **like)
    lam = torch.zeros_like(u)
    eta = torch.zeros(n, C, **like) if split else None
    nu = None if gated else torch.zeros(n, K, C, **like)
    state = warm_start.state if warm_start is not None else None
    if state is not None and tuple(state["u"].shape) == (d, K, C) and state["split"] == split:
        # scaled duals are y / rho: carry the unscaled duals over to this run's rho; the cone
        # duals live in the cone_scale-scaled space (G = sqrt(cone_scale) G_0)
        ratio = float(state["rho"]) / rho
        u, lam = state["u"].to(**like), state["lam"].to(**like) * ratio
        eta = state["eta"].to(**like) * ratio if split else None
        cone_ratio = ratio * math.sqrt(float(state.get("cone_scale", 1.0)) / ops.cone_scale)
        nu = None if gated else state["nu"].to(**like) * cone_ratio
    elif warm_start is not None:
        parts = [warm_start.V] if gated else [warm_start.V, warm_start.W]
        if any(p is None or tuple(p.shape) != (P, d, C) for p in parts):
            raise ValueError(f"warm_start weights must have shape {(P, d, C)}")
        u = torch.cat([p.to(**like).permute(1, 0, 2) for p in parts], dim=1)
    Fu, Gu = ops.apply(u)
    t = u.clone()
    z = Fu.clone() if split else None
    s = None if gated else torch.clamp(Gu, min=0.0)
    need_F = split or loss == "logistic"  # the squared loss never needs F u inside the loop

    def pull() -> torch.Tensor:
        """``F^T (z - eta) + G^T (s - nu)``: the part of the u-step's right side that moves with
        the splitting variables and their duals (one product with X^T)."""
        if gated and not split:
            return torch.zeros(d, K, C, **like)
        return ops.adjoint(z - eta if split else None, None if gated else s - nu)

    def evaluate(w: torch.Tensor) -> dict[str, float]:
        V = w[:, :P].permute(1, 0, 2)
        W = None if gated else w[:, P:].permute(1, 0, 2)
        return {"objective": program.objective(V, W), "cone_violation": program.cone_violation(V, W),
                "network_objective": program.network_objective(V, W)}

    moving = pull()
    FtY = ops.adjoint(Y, None) if loss == "squared" else None
    history: list[dict[str, Any]] = []
    converged, it, a = False, 0, relaxation
    eps_primal = eps_dual = float("nan")
    rho_every = 50 if method == "cholesky" else 10  # a rho change costs a refactorization there
    bar = tqdm(total=max_iter, disable=not progress or not sys.stderr.isatty(), desc="admm")
    for it in range(1, max_iter + 1):
        usolver.set_weight(1.0 if split else curvature / rho)
        rhs = moving + t - lam
        if loss == "squared":
            rhs += FtY / rho
        elif loss == "logistic":
            # majorize at the current u: gradient of sum softplus(-y f) is -y sigmoid(-y f)
            grad = -Y * torch.sigmoid(-Y * Fu)
            rhs = rhs + ops.adjoint((curvature * Fu - grad) / rho, None)
        u = usolver.solve(rhs)
        Fu, Gu = ops.apply(u, need_F) if need_F or not gated else (None, None)
        t_old, s_old, z_old = t, s, z
        # over-relaxed point a x + (1 - a) x_old, then prox and scaled-dual update of each split
        w = torch.lerp(t_old, u, a).add_(lam)
        t = _group_shrink(w, program.beta / rho)
        lam = w.sub_(t)
        if split:
            w = torch.lerp(z_old, Fu, a).add_(eta)
            z = loss_prox(w, Y, loss, rho)
            eta = w.sub_(z)
        if not gated:
            w = torch.lerp(s_old, Gu, a).add_(nu)
            s = torch.clamp(w, min=0.0)
            nu = w.sub_(s)
        moving = pull()
        cpu_now = time.process_time() - cpu_start - eval_cpu
        # the limit counts all of this call's CPU, the log's evaluations included
        out_of_time = time_limit is not None and time.process_time() - cpu_start > time_limit
        bar.update(1)
        # the residuals cost as much as an iteration's products: check them every 10 iterations
        # (and wherever the objective is logged), so the stopping rule fires at most 9 late
        if not (it == 1 or it % 10 == 0 or it % eval_every == 0 or out_of_time or it == max_iter):
            continue
        primal, dual, norm_ax, norm_b, norm_dual = _residuals(
            ops, u, t, t_old, Fu, z, z_old, eta, Gu, s, s_old, nu)
        dual *= rho
        eps_primal = tol * max(norm_ax, norm_b) + 1e-3 * tol
        # Boyd's scale ||A^T y|| = ||F^T eta + lam + G^T nu|| tends to 0 when the loss is split off
        # (stationarity), so scale by the larger of its parts instead
        eps_dual = tol * rho * max(norm_dual, float(lam.norm())) + 1e-3 * tol
        record: dict[str, Any] = {"iteration": it, "time": time.perf_counter() - start - eval_wall,
                                  "cpu_time": cpu_now, "primal_residual": primal,
                                  "dual_residual": dual, "rho": rho}
        converged = primal <= eps_primal and dual <= eps_dual
        if it % eval_every == 0 or converged or out_of_time or it == max_iter:
            # the log's objective evaluations are bookkeeping: their cost is kept out of the times
            c0, w0 = time.process_time(), time.perf_counter()
            record.update(evaluate(t))
            eval_cpu += time.process_time() - c0
            eval_wall += time.perf_counter() - w0
        history.append(record)
        if callback is not None:
            callback(record)
        if converged or out_of_time:
            break
        if adapt_rho and it % rho_every == 0:
            ratio = (primal / eps_primal) / max(dual / eps_dual, 1e-300)
            scale = 2.0 if ratio > 10.0 else 0.5 if ratio < 0.1 else 1.0
            if scale != 1.0:
                rho *= scale
                lam = lam / scale
                eta = eta / scale if split else None
                nu = None if gated else nu / scale
                moving = pull()
    bar.close()

    V = t[:, :P].permute(1, 0, 2).to(device="cpu", dtype=torch.float64).contiguous()
    W = None if gated else t[:, P:].permute(1, 0, 2).to(device="cpu",
                                                         dtype=torch.float64).contiguous()
    objective = program.objective(V, W)
    violation = program.cone_violation(V, W)
    last = history[-1]
    if not converged:
        warnings.warn(
            f"ADMM stopped after {it} iterations ({last['cpu_time']:.1f} s CPU, {last['time']:.1f} s "
            f"wall) without converging: primal "
            f"residual {last['primal_residual']:.3g} (tolerance {eps_primal:.3g}), dual residual "
            f"{last['dual_residual']:.3g} (tolerance {eps_dual:.3g}), objective {objective:.6g}, "
            f"cone violation {violation:.3g}", ConvergenceWarning, stacklevel=2)
    info = {"solver": "admm", "linear_solver": method,
            "u_step_dtype": str(usolver.core).removeprefix("torch."), "rho": rho,
            "cone_rho": rho * ops.cone_scale, "tol": tol,
            "setup_time": setup_time, "solve_time": time.perf_counter() - start,
            "cone_violation": violation, "dtype": str(dtype), "device": str(device)}
    if method == "cg":
        info["cg_iterations"] = usolver.cg_iterations

    def cpu(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else x.to(device="cpu")

    state = {"u": cpu(u), "lam": cpu(lam), "eta": cpu(eta), "nu": cpu(nu), "rho": rho,
             "split": split, "cone_scale": ops.cone_scale}
    solution = ConvexSolution(V=V, W=W, objective=objective, converged=converged, iterations=it,
                              history=history, solver_info=info, state=state)
    if polish:
        c0 = time.process_time()
        solution = polish_solution(solution, program)
        solution.solver_info.update({
            "polish_cpu_time": time.process_time() - c0, "objective_unpolished": objective,
            "cone_violation": program.cone_violation(solution.V, solution.W)})
    return solution


def _norm_sq(ops: _Operators, steps: int = 5) -> float:
    """Power-iteration estimate (from below) of ``||F||^2`` for a gated program."""
    probe = torch.ones(ops.d, ops.K, 1, dtype=ops.X.dtype, device=ops.X.device)
    value = 0.0
    for _ in range(steps):
        probe = ops.adjoint(ops.apply(probe)[0], None)
        value = float(probe.norm())
        probe = probe / max(value, 1e-300)
    return value


def _fista(ops: _Operators, Y: torch.Tensor, beta: float, iterations: int
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """``iterations`` FISTA steps from zero on ``0.5 ||F u - Y||^2 + beta sum ||u_i||`` (gated),
    with backtracking from a power-iteration estimate of ``||F||^2``; returns ``u`` and ``F u - Y``.
    """
    x = torch.zeros(ops.d, ops.K, Y.shape[1], dtype=Y.dtype, device=Y.device)
    L = max(_norm_sq(ops), 1e-12)  # a lower estimate; backtracking raises it where needed
    Fx = torch.zeros_like(Y)
    z, Fz, step = x, Fx, 1.0
    for _ in range(iterations):
        rz = Fz - Y
        grad, fz = ops.adjoint(rz, None), 0.5 * float(rz.square().sum())
        while True:
            x_new = _group_shrink(z - grad / L, beta / L)
            Fx_new = ops.apply(x_new)[0]
            delta = x_new - z
            if (0.5 * float((Fx_new - Y).square().sum())
                    <= fz + float((grad * delta).sum()) + 0.5 * L * float(delta.square().sum())):
                break
            L *= 2.0
        step_new = (1.0 + math.sqrt(1.0 + 4.0 * step * step)) / 2.0
        momentum = (step - 1.0) / step_new
        z, Fz = x_new + momentum * (x_new - x), Fx_new + momentum * (Fx_new - Fx)
        x, Fx, step = x_new, Fx_new, step_new
    return x, Fx - Y


def _screened(program: ConvexReLUProgram, kwargs: dict[str, Any], polish: bool) -> ConvexSolution:
    """``solve_admm(screen=True)``: FISTA, then ADMM on the active patterns until no other pattern
    breaks ``||(D_i X)^T r|| <= beta``; the history's times include every stage."""
    start, cpu_start = time.perf_counter(), time.process_time()
    X, Y, D = program._torch_data()
    ops = _Operators(X, D, gated=True)
    beta, P = program.beta, program.num_patterns
    u, r = _fista(ops, Y, beta, SCREEN_ITERATIONS)
    active = u.norm(dim=(0, 2)) > 0
    history: list[dict[str, Any]] = []
    time_limit, max_iter, rounds = kwargs["time_limit"], kwargs["max_iter"], 0
    while True:
        rounds += 1
        if not bool(active.any()):  # FISTA left nothing: start from the strongest pattern
            active[int(ops.adjoint(r, None).norm(dim=(0, 2)).argmax())] = True
        keep = torch.nonzero(active).flatten()
        idx = keep.numpy()
        raw = program.X[:, :-1] if program.patterns.bias else program.X  # the program re-augments
        sub = ConvexReLUProgram(raw, program.Y,
                                Patterns(program.patterns.G[:, idx], program.patterns.D[:, idx],
                                         program.patterns.bias, program.patterns.requested),
                                loss="squared", beta=beta, gated=True)
        grad = ops.adjoint(r, None)
        # unscaled duals at rho = 1 (solve_admm rescales them to its rho): at a fixed point the
        # scaled dual of u = t is -(D_i X)^T r / rho
        state = {"u": u[:, keep].contiguous(), "lam": -grad[:, keep].contiguous(), "eta": None,
                 "nu": None, "rho": 1.0, "split": False, "cone_scale": 1.0}
        warm = ConvexSolution(V=u[:, keep].permute(1, 0, 2), W=None, objective=float("nan"),
                              converged=False, iterations=0, state=state)
        cpu0, wall0 = time.process_time() - cpu_start, time.perf_counter() - start
        limit = None if time_limit is None else max(time_limit - cpu0, 1e-3)
        sol = solve_admm(sub, **{**kwargs, "time_limit": limit, "max_iter": max_iter},
                         warm_start=warm, polish=False, screen=False)
        for h in sol.history:
            history.append({**h, "cpu_time": h["cpu_time"] + cpu0, "time": h["time"] + wall0})
        max_iter -= sol.iterations
        u = torch.zeros_like(u)
        u[:, keep] = sol.V.permute(1, 0, 2).to(u.dtype)
        r = ops.apply(u)[0] - Y
        violated = (ops.adjoint(r, None).norm(dim=0) > beta * (1 + 1e-3)).any(1) & ~active
        if not sol.converged or max_iter < 1 or not bool(violated.any()):
            break
        active |= violated
    V = u.permute(1, 0, 2).contiguous()
    grad = ops.adjoint(r, None)
    rho = sol.solver_info["rho"]
    lam_full = -grad / rho
    lam_full[:, keep] = sol.state["lam"].to(torch.float64)
    u_full = torch.zeros_like(u)
    u_full[:, keep] = sol.state["u"].to(torch.float64)
    info = {**sol.solver_info, "screen_rounds": rounds, "screened_patterns": int(active.sum()),
            "solve_time": time.perf_counter() - start}
    solution = ConvexSolution(
        V=V, W=None, objective=program.objective(V), converged=sol.converged,
        iterations=kwargs["max_iter"] - max_iter, history=history,
        solver_info=info, state={"u": u_full, "lam": lam_full, "eta": None, "nu": None,
                                 "rho": rho, "split": False, "cone_scale": 1.0})
    if polish:
        c0, objective = time.process_time(), solution.objective
        solution = polish_solution(solution, program)
        solution.solver_info.update({"polish_cpu_time": time.process_time() - c0,
                                     "objective_unpolished": objective})
    return solution
