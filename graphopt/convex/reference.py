"""Reference solver: the convex ReLU programs written in CVXPY (Pilanci & Ergen, ICML 2020).

For validation and small problems. Handles the exact, gated and robust programs (robust cones
``(2 D_i - I) X v_i >= eps ||v_i||_1`` and the worst-case loss of Bai, Gautam & Sojoudi,
arXiv 2201.01965, Sec. 5). Clarabel by default, SCS as a fallback, MOSEK when installed and asked for.
"""

from __future__ import annotations

import time

import cvxpy as cp
import numpy as np
import torch

from .programs import ConvexReLUProgram, ConvexSolution

__all__ = ["solve_cvxpy", "cvxpy_problem"]


def _loss(pred: cp.Expression, y: np.ndarray, loss: str, radius: cp.Expression | None
          ) -> tuple[cp.Expression, list[cp.Constraint]]:
    """Summed (worst-case when ``radius`` is given) loss and any auxiliary constraints."""
    if loss == "squared":
        if radius is None:
            return 0.5 * cp.sum_squares(pred - y), []
        # worst case of (pred + delta - y)^2 over |delta| <= radius is (|pred - y| + radius)^2;
        # squaring a convex expression is not DCP, so bound it by an epigraph variable
        bound = cp.Variable(y.shape[0])
        return 0.5 * cp.sum_squares(bound), [bound >= cp.abs(pred - y) + radius]
    margin = cp.multiply(y, pred) if radius is None else cp.multiply(y, pred) - radius
    if loss == "logistic":
        return cp.sum(cp.logistic(-margin)), []
    return cp.sum(cp.pos(1 - margin)), []


def cvxpy_problem(program: ConvexReLUProgram) -> tuple[cp.Problem, list[tuple]]:
    """The program as a ``cp.Problem`` and its (V, W) variables per output column; V, W are (d', P)."""
    X, D, eps = program.X, program.patterns.D.astype(np.float64), program.robust_eps
    sign = 2.0 * D - 1.0
    d_attack = program.num_features - int(program.patterns.bias)
    P = program.num_patterns
    terms, constraints, variables = [], [], []
    for c in range(program.num_outputs):
        V = cp.Variable((program.num_features, P))
        W = None if program.gated else cp.Variable((program.num_features, P))
        U = V if W is None else V - W
        pred = cp.sum(cp.multiply(D, X @ U), axis=1)
        radius = None
        if eps:
            radius = eps * cp.sum(cp.abs(D @ U[:d_attack].T), axis=1)
        loss, extra = _loss(pred, program.Y[:, c], program.loss, radius)
        constraints += extra
        reg = cp.sum(cp.norm(V, 2, axis=0))
        for A in ([] if W is None else [V, W]):
            margin = eps * cp.sum(cp.abs(A[:d_attack]), axis=0) if eps else 0
            constraints.append(cp.multiply(sign, X @ A) >= (
                cp.reshape(margin, (1, P), order="C") if eps else 0))
        if W is not None:
            reg = reg + cp.sum(cp.norm(W, 2, axis=0))
        terms.append(loss + program.beta * reg)
        variables.append((V, W))
    return cp.Problem(cp.Minimize(cp.sum(cp.hstack(terms))), constraints), variables


def solve_cvxpy(program: ConvexReLUProgram, solver: str | None = None,
                verbose: bool = False, **solver_options) -> ConvexSolution:
    """Solve the program with CVXPY: ``solver`` is a CVXPY solver name (default MOSEK when
    installed, else Clarabel, falling back to SCS when it fails); extra keyword arguments go to
    ``Problem.solve``."""
    if not isinstance(program, ConvexReLUProgram):
        raise TypeError(f"program must be a ConvexReLUProgram, got {type(program).__name__}")
    installed = cp.installed_solvers()
    if solver is not None and solver.upper() not in installed:
        raise ValueError(f"solver {solver!r} is not installed; installed: {installed}")
    problem, variables = cvxpy_problem(program)
    start = time.perf_counter()
    tried = [solver.upper()] if solver else [
        name for name in ("MOSEK", "CLARABEL", "SCS") if name in installed]
    status, used = None, None
    for name in tried:
        try:
            problem.solve(solver=name, verbose=verbose, **solver_options)
        except cp.SolverError:
            continue
        used, status = name, problem.status
        if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            break
    elapsed = time.perf_counter() - start
    if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise RuntimeError(f"CVXPY did not solve the program (tried {tried}; status {status})")

    def stack(k: int) -> torch.Tensor | None:
        if variables[0][k] is None:
            return None
        return torch.from_numpy(np.stack([np.asarray(v[k].value).T for v in variables], axis=2))

    V, W = stack(0), stack(1)
    return ConvexSolution(
        V=V, W=W, objective=program.objective(V, W), converged=status == cp.OPTIMAL, iterations=int(
            problem.solver_stats.num_iters or 0),
        solver_info={"solver": used, "status": status, "solve_time": elapsed,
                     "cvxpy_objective": float(problem.value),
                     "cone_violation": program.cone_violation(V, W)})
