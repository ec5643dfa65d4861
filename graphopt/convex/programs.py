"""The convex programs equivalent to training a two-layer ReLU network with weight decay.

Pilanci & Ergen (ICML 2020) show that, over sampled activation patterns ``D_i``,

    min_{v, w}  sum_k loss( sum_i D_i X (v_i - w_i), y )_k + beta * sum_i (||v_i||_2 + ||w_i||_2)
    s.t.        (2 D_i - I) X v_i >= 0,  (2 D_i - I) X w_i >= 0

is the training problem of a ReLU network whose neurons carry those patterns (the *exact* program);
dropping the cone constraints and ``w`` gives the *gated* ReLU program. With ``robust_eps > 0`` the
losses are replaced by their worst case over l_inf perturbations of radius eps and the cones by the
robust cones ``(2 D_i - I) X v_i >= eps ||v_i||_1`` (Bai, Gautam & Sojoudi, arXiv 2201.01965, Sec. 5).

``Y`` has C columns; C > 1 is one-vs-all: C independent programs sharing the patterns (and, in the
ADMM, one factorization). Weights are stored as tensors of shape (P, d', C), d' = d + 1 with a bias.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning

from .losses import LOSSES, check_targets, loss_value
from .patterns import Patterns

__all__ = ["ConvexReLUProgram", "ConvexSolution", "ConvergenceWarning", "zero_beta"]


class ConvergenceWarning(_SklearnConvergenceWarning):
    """A solver stopped at its iteration or time cap before meeting its tolerances (a
    scikit-learn ``ConvergenceWarning``, so model-selection tools treat it as theirs)."""


@dataclass
class ConvexSolution:
    """Result of a solver: weights ``V``, ``W`` (P, d', C) float64 on CPU (``W`` is None for gated).

    ``history`` is a list of dicts (iteration, time, residuals, objective where evaluated);
    ``solver_info`` names the solver and its settings; ``state`` carries what a warm start needs.
    """

    V: torch.Tensor
    W: torch.Tensor | None
    objective: float
    converged: bool
    iterations: int
    history: list[dict[str, Any]] = field(default_factory=list)
    solver_info: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] | None = field(default=None, repr=False)


def zero_beta(X: np.ndarray, Y: np.ndarray, D: np.ndarray, loss: str = "squared") -> float:
    """``max_{i,c} ||(D_i X)^T g_c||`` over the patterns ``D`` (n, P) and outputs ``c`` (each
    ``v_i``'s column is a group of its own), with ``g = -Y`` (squared, hinge: margin 0 < 1) or
    ``-Y/2`` (logistic) the loss gradient at a zero output: the ``beta`` from which the all-zero
    network solves the gated program. ``X`` as the program sees it (bias column included)."""
    Y = np.asarray(Y, dtype=np.float64).reshape(len(Y), -1)
    G = Y * (0.5 if loss == "logistic" else 1.0)  # the sign does not change a norm
    # (D_i X)^T G for every i at once: X^T (D_i * G_c) over columns (i, c)
    cross = X.T @ (D[:, :, None] * G[:, None, :]).reshape(len(X), -1)
    return float(np.linalg.norm(cross, axis=0).max())


class ConvexReLUProgram:
    """Data, patterns, loss and ``beta`` of one (exact, gated and/or robust) convex ReLU program."""

    def __init__(self, X: Any, Y: Any, patterns: Patterns, loss: str = "squared",
                 beta: float = 1e-3, gated: bool = False, robust_eps: float = 0.0) -> None:
        if not isinstance(patterns, Patterns):
            raise TypeError(f"patterns must be a Patterns (see sample_patterns), got "
                            f"{type(patterns).__name__}")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        if isinstance(beta, bool) or not np.isscalar(beta) or not np.isfinite(beta) or beta <= 0:
            raise ValueError(f"beta must be a positive finite number, got {beta!r}")
        if not np.isscalar(robust_eps) or not np.isfinite(robust_eps) or robust_eps < 0:
            raise ValueError(f"robust_eps must be a non-negative number, got {robust_eps!r}")
        X = patterns.augment(X)
        Y = Y.detach().cpu().numpy() if hasattr(Y, "detach") else np.asarray(Y)
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim == 1:
            Y = Y[:, None]
        if Y.ndim != 2 or Y.shape[0] != X.shape[0]:
            raise ValueError(f"Y must have shape ({X.shape[0]},) or ({X.shape[0]}, C), "
                             f"got {Y.shape}")
        check_targets(Y, loss)
        if patterns.D.shape[0] != X.shape[0]:
            raise ValueError(f"patterns were built on {patterns.D.shape[0]} samples but X has "
                             f"{X.shape[0]}")
        self.X = X
        self.Y = Y
        self.patterns = patterns
        self.loss = loss
        self.beta = float(beta)
        self.gated = bool(gated)
        self.robust_eps = float(robust_eps)

    @property
    def num_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def num_features(self) -> int:
        """Columns of the (bias-augmented) data matrix, d'."""
        return int(self.X.shape[1])

    @property
    def num_patterns(self) -> int:
        return self.patterns.num_patterns

    @property
    def num_outputs(self) -> int:
        return int(self.Y.shape[1])

    def beta_max(self) -> float:
        """Smallest ``beta`` at which the all-zero network is optimal: ``max ||(D_i X)^T g_c||``
        over patterns and outputs, ``g`` the loss gradient at zero (:func:`zero_beta`); exact for the gated program, an
        upper bound for the exact one, whose cones can only make zero optimal sooner."""
        return zero_beta(self.X, self.Y, self.patterns.D, self.loss)

    def __repr__(self) -> str:
        kind = "gated" if self.gated else "exact"
        eps = f", robust_eps={self.robust_eps:g}" if self.robust_eps else ""
        return (f"ConvexReLUProgram({kind}, loss={self.loss!r}, beta={self.beta:g}{eps}, "
                f"n={self.num_samples}, d'={self.num_features}, P={self.num_patterns}, "
                f"C={self.num_outputs})")

    # ----------------------------------------------------------------- evaluation
    def _weights(self, V: Any, W: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``V - W`` as a float64 (P, d', C) tensor, checking shapes."""
        shape = (self.num_patterns, self.num_features, self.num_outputs)
        out = []
        for name, A in (("V", V), ("W", W)):
            if A is None:
                out.append(None)
                continue
            A = torch.as_tensor(A, dtype=torch.float64).cpu()
            if A.ndim == 2 and shape[2] == 1:
                A = A[:, :, None]
            if tuple(A.shape) != shape:
                raise ValueError(f"{name} must have shape {shape}, got {tuple(A.shape)}")
            out.append(A)
        return out[0], out[1]

    def _torch_data(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (torch.from_numpy(self.X), torch.from_numpy(self.Y),
                torch.from_numpy(self.patterns.D).to(torch.float64))

    def forward(self, V: Any, W: Any = None, X: Any = None) -> torch.Tensor:
        """Convex model output ``sum_i D_i X (v_i - w_i)`` (n, C) on the training data, or on new
        data ``X`` (gated by the same gate vectors)."""
        V, W = self._weights(V, W)
        U = V if W is None else V - W
        if X is None:
            Xt, _, D = self._torch_data()
        else:
            Xt = torch.from_numpy(self.patterns.augment(X))
            D = torch.from_numpy(self.patterns.gate(X)).to(torch.float64)
        XU = torch.einsum("nd,pdc->npc", Xt, U)
        return (D[:, :, None] * XU).sum(1)

    def _radius(self, U: torch.Tensor, D: torch.Tensor) -> torch.Tensor | None:
        """``eps * ||sum_i d_ik u_i||_1`` per sample and output: the worst-case output shift."""
        if not self.robust_eps:
            return None
        d = self.num_features - int(self.patterns.bias)  # the bias coordinate is not attacked
        grad = torch.einsum("np,pdc->ndc", D, U[:, :d])
        return self.robust_eps * grad.abs().sum(1)

    def data_loss(self, V: Any, W: Any = None) -> float:
        V, W = self._weights(V, W)
        U = V if W is None else V - W
        _, Y, D = self._torch_data()
        return float(loss_value(self.forward(V, W), Y, self.loss, self._radius(U, D)))

    def regularizer(self, V: Any, W: Any = None) -> float:
        V, W = self._weights(V, W)
        reg = V.norm(dim=1).sum()
        if W is not None:
            reg = reg + W.norm(dim=1).sum()
        return float(self.beta * reg)

    def objective(self, V: Any, W: Any = None) -> float:
        """Loss (worst case when robust) plus ``beta * sum of group norms``."""
        return self.data_loss(V, W) + self.regularizer(V, W)

    def network_objective(self, V: Any, W: Any = None) -> float:
        """Objective of the network the weights define: ``loss(sum_i (X v_i)_+ - (X w_i)_+) +
        beta * sum of group norms`` (the weight-decay objective of the recovered network, Pilanci &
        Ergen Thm. 1). Equals :meth:`objective` when the cones hold; unlike it, an iterate that
        breaks the cones is scored by what its network actually predicts. Gated programs: the
        gated network's objective, i.e. :meth:`objective`."""
        if self.gated or self.robust_eps:
            return self.objective(V, W)
        V, W = self._weights(V, W)
        X, Y, _ = self._torch_data()
        f = torch.relu(torch.einsum("nd,pdc->npc", X, V)).sum(1)
        f = f - torch.relu(torch.einsum("nd,pdc->npc", X, W)).sum(1)
        return float(loss_value(f, Y, self.loss)) + self.regularizer(V, W)

    def cone_violation(self, V: Any, W: Any = None) -> float:
        """Relative violation of the (robust) cone constraints:
        ``||min(0, (2D_i - I) X v_i - eps ||v_i||_1)|| / ||X v||`` over all i, v and w (0 if gated)."""
        if self.gated:
            return 0.0
        V, W = self._weights(V, W)
        X, _, D = self._torch_data()
        sign = 2.0 * D - 1.0
        d = self.num_features - int(self.patterns.bias)
        num, den = 0.0, 0.0
        for A in (V, W):
            if A is None:
                continue
            XA = torch.einsum("nd,pdc->npc", X, A)
            slack = sign[:, :, None] * XA - self.robust_eps * A[:, :d].abs().sum(1)[None]
            num += float((torch.clamp(slack, max=0.0) ** 2).sum())
            den += float((XA ** 2).sum())
        return float(np.sqrt(num / den)) if den > 0 else 0.0
