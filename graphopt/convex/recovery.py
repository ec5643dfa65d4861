"""Recover the two-layer network from a convex solution (Pilanci & Ergen, ICML 2020, Thm. 1).

Each non-zero ``v_i`` becomes a neuron with first-layer weight ``v_i / sqrt(||v_i||)`` and output
weight ``+sqrt(||v_i||)``, each ``w_i`` one with ``-sqrt(||w_i||)``. On the training data, when the
cone constraints hold, the network's output equals the convex model's and its weight-decay
objective ``loss + beta/2 (||U||^2 + ||alpha||^2)`` equals the convex objective. Gated solutions
give a :class:`GatedReLUNetwork` (fixed gates, Mishkin et al. 2022 style) instead.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .losses import loss_value
from .patterns import Patterns
from .programs import ConvexReLUProgram, ConvexSolution

__all__ = ["TwoLayerReLU", "GatedReLUNetwork", "recover_network", "active_neurons", "reduce_neurons",
           "refit_neurons", "polish_solution"]


def _penalty(module: nn.Module, beta: float) -> torch.Tensor:
    return 0.5 * beta * sum(p.square().sum() for p in module.parameters())


class TwoLayerReLU(nn.Module):
    """``output(relu(hidden(x)))``; ``output`` has no bias, as in the convex program."""

    def __init__(self, in_features: int, hidden_features: int, out_features: int = 1,
                 bias: bool = False) -> None:
        super().__init__()
        self.hidden = nn.Linear(in_features, hidden_features, bias=bias)
        self.output = nn.Linear(hidden_features, out_features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(torch.relu(self.hidden(x)))

    @property
    def active_neurons(self) -> int:
        """Hidden units with non-zero input and output weights."""
        w_in = self.hidden.weight.detach().abs().sum(1)
        if self.hidden.bias is not None:
            w_in = w_in + self.hidden.bias.detach().abs()
        return int(((w_in > 0) & (self.output.weight.detach().abs().sum(0) > 0)).sum())

    def objective(self, X: Any, Y: Any, loss: str = "squared", beta: float = 0.0) -> float:
        """Non-convex training objective ``sum loss(f(X), Y) + beta/2 * ||all weights||^2``."""
        return _objective(self, X, Y, loss, beta)


class GatedReLUNetwork(nn.Module):
    """``f(x)_c = sum_i 1[x̃ g_i >= 0] x̃^T v_ic`` with fixed gates ``g_i`` (x̃ = [x, 1] with bias)."""

    def __init__(self, gates: torch.Tensor, weights: torch.Tensor, bias: bool = False) -> None:
        super().__init__()
        self.bias = bias
        self.register_buffer("gates", gates)
        self.weights = nn.Parameter(weights)  # (P, d', C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bias:
            x = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
        mask = (x @ self.gates >= 0).to(x.dtype)
        return torch.einsum("np,npc->nc", mask, torch.einsum("nd,pdc->npc", x, self.weights))

    @property
    def active_neurons(self) -> int:
        return int((self.weights.detach().norm(dim=1) > 0).sum())

    def objective(self, X: Any, Y: Any, loss: str = "squared", beta: float = 0.0) -> float:
        """``sum loss(f(X), Y) + beta * sum_i ||v_ic||`` (the gated program's objective)."""
        X, Y = _as_tensors(self, X, Y)
        with torch.no_grad():
            return float(loss_value(self(X), Y, loss)
                         + beta * self.weights.norm(dim=1).sum())


def _as_tensors(module: nn.Module, X: Any, Y: Any) -> tuple[torch.Tensor, torch.Tensor]:
    dtype = next(module.parameters()).dtype
    X = torch.as_tensor(X, dtype=dtype)
    Y = torch.as_tensor(Y, dtype=dtype)
    return X, Y[:, None] if Y.ndim == 1 else Y


def _objective(module: nn.Module, X: Any, Y: Any, loss: str, beta: float) -> float:
    X, Y = _as_tensors(module, X, Y)
    with torch.no_grad():
        return float(loss_value(module(X), Y, loss) + _penalty(module, beta))


def active_neurons(solution: ConvexSolution, tol: float = 0.0) -> int:
    """Number of non-zero groups ``v_ic``, ``w_ic`` (norm above ``tol``) in a convex solution."""
    count = int((solution.V.norm(dim=1) > tol).sum())
    if solution.W is not None:
        count += int((solution.W.norm(dim=1) > tol).sum())
    return count


def recover_network(solution: ConvexSolution, patterns: Patterns | ConvexReLUProgram, *,
                    tol: float = 0.0, dtype: torch.dtype = torch.float32
                    ) -> TwoLayerReLU | GatedReLUNetwork:
    """The network of a convex solution: a :class:`TwoLayerReLU` for exact solutions (``W`` set),
    a :class:`GatedReLUNetwork` for gated ones. Groups with norm ``<= tol`` are dropped."""
    if isinstance(patterns, ConvexReLUProgram):
        patterns = patterns.patterns
    if not isinstance(patterns, Patterns):
        raise TypeError(f"patterns must be a Patterns or ConvexReLUProgram, got "
                        f"{type(patterns).__name__}")
    V = solution.V.to(torch.float64)
    P, d_aug, C = V.shape
    if P != patterns.num_patterns or d_aug != patterns.G.shape[0]:
        raise ValueError(f"solution weights have shape {tuple(V.shape)} but the patterns have "
                         f"P={patterns.num_patterns}, d'={patterns.G.shape[0]}")
    if solution.W is None:
        gates = torch.as_tensor(patterns.G, dtype=dtype)
        return GatedReLUNetwork(gates, V.to(dtype), bias=patterns.bias)
    units, alphas, columns = [], [], []
    for weights, sign in ((V, 1.0), (solution.W.to(torch.float64), -1.0)):
        norms = weights.norm(dim=1)  # (P, C)
        for i, c in (norms > tol).nonzero().tolist():
            scale = norms[i, c].sqrt()
            units.append(weights[i, :, c] / scale)
            alphas.append(sign * scale)
            columns.append(c)
    m = max(len(units), 1)  # keep one (zero) unit so an all-zero solution is still a module
    d = d_aug - int(patterns.bias)
    net = TwoLayerReLU(d, m, C, bias=patterns.bias).to(dtype)
    U = torch.zeros(m, d_aug, dtype=torch.float64)
    A = torch.zeros(C, m, dtype=torch.float64)
    for j, (unit, alpha, c) in enumerate(zip(units, alphas, columns)):
        U[j], A[c, j] = unit, alpha
    with torch.no_grad():
        net.hidden.weight.copy_(U[:, :d])
        if patterns.bias:
            net.hidden.bias.copy_(U[:, d])
        net.output.weight.copy_(A)
    return net


def _caratheodory(H: torch.Tensor, c: torch.Tensor, limit: int) -> torch.Tensor:
    """Weights ``c' >= 0`` with ``H c' = H c``, ``sum c' = sum c`` and at most ``limit`` non-zeros.

    While more than ``limit = rows + 1`` weights are positive, ``rows + 2`` of the columns of
    ``[H; 1]`` are linearly dependent: moving along a null vector ``z`` keeps ``H c`` and ``sum c``
    and, stepped until a weight hits zero, drops that column (Carathéodory's theorem).
    """
    c = c.clone()
    while True:
        active = torch.nonzero(c > 0).flatten()
        if len(active) <= limit:
            return c
        cols = active[: H.shape[0] + 2]
        A = torch.cat([H[:, cols], torch.ones(1, len(cols), dtype=H.dtype)])
        z = torch.linalg.svd(A, full_matrices=True).Vh[-1]  # A z = 0
        if not (z > 0).any():
            z = -z
        pos = z > 0
        t = (c[cols][pos] / z[pos]).min()
        new = c[cols] - t * z
        new[new <= 1e-15 * float(c[cols].max())] = 0.0
        c[cols] = new


def reduce_neurons(solution: ConvexSolution, program: ConvexReLUProgram) -> ConvexSolution:
    """An equivalent solution with at most ``n + 1`` active neurons per output (exact programs).

    Each active group ``u`` (a ``v_i`` or ``w_i``) is a neuron whose training outputs are
    ``±(X u)_+ = ±||u|| h``; the network's outputs are ``sum_j c_j h_j`` with ``c_j = ||u_j||``
    and its weight-decay penalty is ``beta * sum_j c_j``. Carathéodory's theorem rescales the
    groups (directions, hence patterns and cone feasibility, unchanged) so that at most ``n + 1``
    stay non-zero while the training predictions and the penalty are kept exactly: the network
    objective does not change. Gated solutions are returned as they are.
    """
    if solution.W is None or program.gated:
        return solution
    X = torch.from_numpy(program.X)
    n = X.shape[0]
    V, W = solution.V.clone(), solution.W.clone()
    for col in range(V.shape[2]):
        groups = [(A, i) for A in (V, W) for i in torch.nonzero(A[:, :, col].norm(dim=1) > 0).flatten().tolist()]
        if len(groups) <= n + 1:
            continue
        norms = torch.stack([A[i, :, col].norm() for A, i in groups])
        H = torch.stack([(1.0 if A is V else -1.0) * torch.relu(X @ A[i, :, col]) / norms[k]
                         for k, (A, i) in enumerate(groups)], dim=1)
        new = _caratheodory(H, norms, n + 1)
        for k, (A, i) in enumerate(groups):
            A[i, :, col] *= new[k] / norms[k]
    return ConvexSolution(V=V, W=W, objective=program.objective(V, W), converged=solution.converged,
                          iterations=solution.iterations, history=solution.history,
                          solver_info={**solution.solver_info, "reduced_to_n_plus_1": True},
                          state=solution.state)


def _nonnegative_qp(Q: torch.Tensor, b: torch.Tensor, c: torch.Tensor, max_iter: int) -> torch.Tensor:
    """``argmin_{c >= 0} c^T Q c / 2 - b^T c`` by the Lawson-Hanson active-set method, started at
    the feasible ``c``: solve on the free set, step back to the boundary while a free weight would
    turn negative, then free the weight with the most negative gradient until none is left."""
    K = len(b)
    scale = float(Q.diagonal().abs().max()) + 1e-300
    ridge = 1e-12 * scale * torch.eye(K, dtype=Q.dtype)  # Q is singular once K > n
    free = c > 0
    for _ in range(max_iter):
        idx = torch.nonzero(free).flatten()
        z = torch.zeros_like(c)
        if len(idx):
            z[idx] = torch.linalg.solve(Q[idx][:, idx] + ridge[:len(idx), :len(idx)], b[idx])
        bad = free & (z <= 0)
        if bad.any():  # step from c towards z until the first free weight reaches zero
            alpha = (c[bad] / (c[bad] - z[bad])).min()
            c = c + alpha * (z - c)
            free &= c > 1e-14 * float(c.max().clamp(min=1e-300))
            c[~free] = 0.0
            continue
        c = z
        grad = Q @ c - b
        grad[free] = 0.0
        j = int(grad.argmin())
        if float(grad[j]) >= -1e-12 * (float(b.abs().max()) + 1e-300):
            break
        free[j] = True
    return c


def refit_neurons(solution: ConvexSolution, program: ConvexReLUProgram, cone_tol: float = 1e-3
                  ) -> ConvexSolution:
    """Rescale the active groups to minimize the program's objective (squared loss).

    With the directions ``u_j / ||u_j||`` fixed, a group's contribution to the convex model is
    ``c_j h_j`` (``h_j = ±D_j X u_j / ||u_j||``) and its penalty ``beta c_j``: the best magnitudes
    ``c >= 0`` solve a small non-negative least-squares problem (Gram matrix of the active
    groups' outputs), started at the current ones, so the objective never rises. Rescaling keeps
    each group's cone constraints, and where they hold the network the weights define has the
    same objective; groups whose direction breaks its cone by more than ``cone_tol`` (relative)
    are left as they are. Scales to zero drop groups. Other losses are returned unchanged.
    """
    if program.loss != "squared" or program.robust_eps:
        return solution
    X = torch.from_numpy(program.X)
    D = torch.from_numpy(program.patterns.D).to(torch.float64)
    V = solution.V.clone()
    W = None if solution.W is None else solution.W.clone()
    for col in range(V.shape[2]):
        groups = [(A, i, sign) for A, sign in ((V, 1.0), (W, -1.0)) if A is not None
                  for i in torch.nonzero(A[:, :, col].norm(dim=1) > 0).flatten().tolist()]
        if not groups:
            continue
        y = torch.from_numpy(program.Y[:, col]).clone()
        if not program.gated:
            # only groups whose direction keeps its cone (2 D_i - I) X u >= 0 are rescaled: a tiny
            # group pointing outside it would otherwise be blown up to exploit the violation
            kept = []
            for A, i, sign in groups:
                Xu = X @ A[i, :, col]
                slack = torch.clamp((2.0 * D[:, i] - 1.0) * Xu, max=0.0).norm()
                if slack <= cone_tol * Xu.norm():
                    kept.append((A, i, sign))
                else:  # held fixed: its output moves into the target
                    y -= sign * D[:, i] * Xu
            groups = kept
            if not groups:
                continue
        norms = torch.stack([A[i, :, col].norm() for A, i, _ in groups])
        H = torch.stack([sign * D[:, i] * (X @ A[i, :, col]) / norms[k]
                         for k, (A, i, sign) in enumerate(groups)], dim=1)
        b = H.T @ y - program.beta
        Q = H.T @ H
        new = _nonnegative_qp(Q, b, norms.clone(), max_iter=3 * len(groups) + 10)

        def value(c: torch.Tensor) -> float:  # network objective minus the constant ||y||^2 / 2
            return float(c @ Q @ c / 2 - b @ c)

        if not value(new) < value(norms):  # rounding on a singular Gram matrix: keep the iterate
            continue
        for k, (A, i, _) in enumerate(groups):
            A[i, :, col] *= new[k] / norms[k]
    return ConvexSolution(V=V, W=W, objective=program.objective(V, W), converged=solution.converged,
                          iterations=solution.iterations, history=solution.history,
                          solver_info={**solution.solver_info, "refit": True},
                          state=solution.state)


def polish_solution(solution: ConvexSolution, program: ConvexReLUProgram) -> ConvexSolution:
    """:func:`refit_neurons` (squared loss; the objective does not rise), then
    :func:`reduce_neurons` (at most ``n + 1`` active neurons per output on exact programs,
    keeping the network's training predictions and penalty)."""
    return reduce_neurons(refit_neurons(solution, program), program)
