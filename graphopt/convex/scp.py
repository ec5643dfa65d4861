"""The sampled-convex-program (SCP) training algorithm of Bai, Gautam & Sojoudi (arXiv 2201.01965).

The dual of weight-decayed two-layer ReLU training is the semi-infinite program
``max_λ −ℓ*(λ)  s.t.  ‖λᵀ(X u)₊‖₂ ≤ β  for all ‖u‖₂ ≤ 1``. Sampling ``N`` directions ``u_j``
(Calafiore & Campi's scenario approach) leaves finitely many constraints, and the dual of that
sampled program is the unconstrained group-lasso problem over output weights

    min_μ  Σ_k loss(Σ_j (x_kᵀ u_j)₊ μ_j, y_k) + β Σ_j ‖μ_j‖₂,

a two-layer network whose hidden directions are fixed and whose width is chosen by the sparsity
of μ. With ``N ≥ (2/ε)(ln(1/δ) + n)`` samples, the solution violates the remaining constraints
with probability at most ε (confidence 1 − δ); :func:`scp_sample_size` gives that count.
Beyond the paper's one-shot program, :func:`solve_scp` checks a fresh batch of directions
against the dual certificate λ = −∇loss and adds the violated ones (column generation) until the
estimated violation rate is below ``violation_tol`` — an a posteriori certificate of near-optimality.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from .losses import loss_value
from .programs import ConvergenceWarning

__all__ = ["SCPSolution", "solve_scp", "scp_sample_size"]

_CURVATURE = {"squared": 1.0, "logistic": 0.25}


def scp_sample_size(num_constraints_dim: int, eps: float, delta: float) -> int:
    """Scenario count ``⌈(2/ε)(ln(1/δ) + n)⌉`` after which the sampled program's solution violates
    at most an ``eps`` fraction of the semi-infinite constraints, with probability ``1 - delta``
    (Calafiore & Campi 2006); ``num_constraints_dim`` is the dual dimension (rows × outputs)."""
    if not (0 < eps < 1 and 0 < delta < 1):
        raise ValueError(f"eps and delta must be in (0, 1), got {eps!r} and {delta!r}")
    return math.ceil(2.0 / eps * (math.log(1.0 / delta) + num_constraints_dim))


@dataclass
class SCPSolution:
    """Hidden directions ``U`` (d, N) with unit columns, output weights ``coef`` (N, C)."""

    U: torch.Tensor
    coef: torch.Tensor
    objective: float
    violation_rate: float
    converged: bool
    iterations: int
    history: list[dict] = field(default_factory=list)

    @property
    def active(self) -> torch.Tensor:
        """Indices of the directions with nonzero output weights: the network's neurons."""
        return torch.nonzero(self.coef.norm(dim=1) > 0).reshape(-1)

    def network_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Balanced weights ``(W1 (h, d), W2 (C, h))`` of the active neurons: ``u√‖μ‖`` and ``μ/√‖μ‖``,
        so that weight decay ``(β/2)(‖W1‖² + ‖W2‖²)`` equals the program's ``β Σ‖μ_j‖``."""
        idx = self.active
        scale = self.coef[idx].norm(dim=1).sqrt()
        return (self.U[:, idx] * scale).T, (self.coef[idx] / scale[:, None]).T


def _random_directions(d: int, num: int, gen: torch.Generator, dtype, device) -> torch.Tensor:
    U = torch.randn(d, num, generator=gen, dtype=dtype).to(device)
    return U / U.norm(dim=0, keepdim=True).clamp_min(torch.finfo(dtype).tiny)


def _lipschitz(A: torch.Tensor, curvature: float, gen: torch.Generator) -> float:
    v = torch.randn(A.shape[1], 1, generator=gen, dtype=A.dtype).to(A.device)
    for _ in range(30):
        v = A.T @ (A @ v)
        v = v / v.norm().clamp_min(1e-300)
    return curvature * float((A @ v).norm() ** 2) * 1.01 + 1e-12


def _fista(A, Y, ell, beta, coef, L, tol, max_iter, deadline):
    """Accelerated proximal gradient with adaptive restart on the group-lasso program."""
    def smooth(m):
        m = m.detach().requires_grad_(True)
        val = ell(A @ m, Y)
        (g,) = torch.autograd.grad(val, m)
        return float(val.detach()), g

    def prox(m, t):
        norms = m.norm(dim=1, keepdim=True)
        return m * (1 - t * beta / norms.clamp_min(1e-300)).clamp_min(0)

    x, z, theta = coef.clone(), coef.clone(), 1.0
    step = 1.0 / L
    prev_obj = math.inf
    for it in range(1, max_iter + 1):
        _, g = smooth(z)
        x_new = prox(z - step * g, step)
        theta_new = (1 + math.sqrt(1 + 4 * theta * theta)) / 2
        val, _ = smooth(x_new)
        obj = val + beta * float(x_new.norm(dim=1).sum())
        if obj > prev_obj:  # O'Donoghue-Candès restart keeps the iterates monotone-ish
            z, theta = x.clone(), 1.0
            continue
        z = x_new + ((theta - 1) / theta_new) * (x_new - x)
        gap = abs(prev_obj - obj) / max(1.0, abs(obj))
        x, theta, prev_obj = x_new, theta_new, obj
        if gap < tol or time.process_time() > deadline:
            return x, obj, it, gap < tol
    return x, prev_obj, max_iter, False


def solve_scp(X, Y, *, num_samples: int = 1000, loss: str = "logistic", beta: float = 1e-3,
              check_samples: int | None = None, max_rounds: int = 5, violation_tol: float = 0.01,
              max_add: int | None = None, tol: float = 1e-7, max_iter: int = 5000,
              time_limit: float | None = None, seed: int = 0, device=None,
              dtype: torch.dtype = torch.float64, progress: bool = True,
              callback: Callable[[dict], None] | None = None) -> SCPSolution:
    """Train a two-layer ReLU network through sampled convex programs.

    ``X`` (n, d), ``Y`` (n,) or (n, C) (labels in {-1, +1} for 'logistic'; real for 'squared').
    Round 1 solves the program on ``num_samples`` Gaussian directions; each later round draws
    ``check_samples`` (default ``num_samples``) fresh directions, keeps those whose dual
    constraint ``‖λᵀ(Xu)₊‖ ≤ β`` is violated (at most ``max_add``, most violated first) and
    re-solves from the previous coefficients. It stops when the violated fraction is at most
    ``violation_tol`` or after ``max_rounds``; the final rate is ``violation_rate``.
    ``time_limit`` is in seconds of process CPU time (``time.process_time``). ``callback``, if
    given, is called with each round's log record.
    """
    if loss not in _CURVATURE:
        raise ValueError(f"loss must be one of {sorted(_CURVATURE)} for the SCP solver "
                         f"(hinge is not smooth: use the ADMM or CVXPY solvers), got {loss!r}")
    if not (np.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
    if num_samples < 1 or max_rounds < 1:
        raise ValueError(f"num_samples and max_rounds must be >= 1, got {num_samples!r}, {max_rounds!r}")
    if not (np.isfinite(tol) and tol > 0) or max_iter < 1:
        raise ValueError(f"tol must be > 0 and max_iter >= 1, got {tol!r}, {max_iter!r}")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be None or > 0 (seconds of CPU time), got {time_limit!r}")
    ell = lambda f, t: loss_value(f, t, loss)
    X = torch.as_tensor(np.asarray(X), dtype=dtype, device=device)
    Y = torch.as_tensor(np.asarray(Y), dtype=dtype, device=device)
    Y = Y.reshape(-1, 1) if Y.ndim == 1 else Y
    if X.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise ValueError(f"X must be (n, d) with one row per label; got X {tuple(X.shape)}, Y {tuple(Y.shape)}")
    check_samples = num_samples if check_samples is None else check_samples
    max_add = check_samples if max_add is None else max_add
    gen = torch.Generator().manual_seed(seed)
    deadline = math.inf if time_limit is None else time.process_time() + time_limit
    start = time.perf_counter()
    U = _random_directions(X.shape[1], num_samples, gen, dtype, X.device)
    A = torch.relu(X @ U)
    coef = torch.zeros(U.shape[1], Y.shape[1], dtype=dtype, device=X.device)
    history: list[dict] = []
    iterations, rate, converged = 0, 1.0, False
    bar = tqdm(range(1, max_rounds + 1), desc="scp", disable=not progress)
    for rnd in bar:
        coef, obj, its, converged = _fista(A, Y, ell, beta, coef, _lipschitz(A, _CURVATURE[loss], gen),
                                           tol, max_iter, deadline)
        iterations += its
        f = (A @ coef).detach().requires_grad_(True)
        (lam,) = torch.autograd.grad(ell(f, Y), f)  # λ = ∇loss; the dual certificate is −λ
        fresh = _random_directions(X.shape[1], check_samples, gen, dtype, X.device)
        strength = (torch.relu(X @ fresh).T @ lam).norm(dim=1)
        violated = torch.nonzero(strength > beta * (1 + 1e-6)).reshape(-1)
        rate = violated.numel() / check_samples
        history.append({"round": rnd, "directions": U.shape[1], "objective": obj, "iterations": its,
                        "violation_rate": rate, "max_dual_ratio": float(strength.max()) / beta,
                        "active": int((coef.norm(dim=1) > 0).sum()), "time": time.perf_counter() - start})
        bar.set_postfix(obj=f"{obj:.4g}", viol=f"{rate:.3f}")
        if callback is not None:
            callback(history[-1])
        if rate <= violation_tol or rnd == max_rounds or time.process_time() > deadline:
            break
        add = violated[strength[violated].argsort(descending=True)[:max_add]]
        # drop the directions the solution does not use, so the program stays small across rounds
        keep = coef.norm(dim=1) > 0
        U = torch.cat([U[:, keep], fresh[:, add]], dim=1)
        A = torch.cat([A[:, keep], torch.relu(X @ fresh[:, add])], dim=1)
        coef = torch.cat([coef[keep], torch.zeros(add.numel(), Y.shape[1], dtype=dtype, device=X.device)])
    if not converged:
        warnings.warn(f"SCP: the last sampled program stopped before its tolerance {tol:g} "
                      f"(objective {history[-1]['objective']:.6g} after {history[-1]['iterations']} "
                      f"iterations); raise max_iter or time_limit", ConvergenceWarning, stacklevel=2)
    return SCPSolution(U=U, coef=coef.detach(), objective=history[-1]["objective"], violation_rate=rate,
                       converged=converged, iterations=iterations, history=history)
