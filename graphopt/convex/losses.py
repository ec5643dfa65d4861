"""Losses of the convex ReLU programs: value, worst-case value under an l_inf attack, and prox.

The ADMM of :mod:`graphopt.convex.admm` splits the loss off (``z = F u``), so each loss only needs
its elementwise proximal operator ``argmin_z loss(z, y) + (rho/2)(z - t)^2``. The worst-case values
follow the robust program of Bai, Gautam & Sojoudi (arXiv 2201.01965, Sec. 5): a perturbation of
radius eps moves a prediction by at most ``r = eps * ||z_k||_1`` where ``z_k`` is the input-gradient.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["LOSSES", "check_targets", "loss_value", "loss_prox"]

LOSSES = ("squared", "logistic", "hinge")


def check_targets(Y: np.ndarray, loss: str) -> None:
    """Raise ``ValueError`` when targets are non-finite or outside the loss's domain."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if not np.all(np.isfinite(Y)):
        bad = int(Y.size - np.count_nonzero(np.isfinite(Y)))
        raise ValueError(f"Y contains {bad} NaN or infinite values")
    if loss != "squared":
        bad = ~np.isin(Y, (-1.0, 1.0))
        if bad.any():
            raise ValueError(f"the {loss} loss needs labels in {{-1, +1}}; Y has "
                             f"{int(bad.sum())} other values, e.g. {Y[bad].ravel()[0]!r}")


def loss_value(z: torch.Tensor, y: torch.Tensor, loss: str,
               radius: torch.Tensor | None = None) -> torch.Tensor:
    """Summed loss of predictions ``z`` against targets ``y``; worst case over ``|dz| <= radius``."""
    if loss == "squared":
        r = (z - y).abs() if radius is None else (z - y).abs() + radius
        return 0.5 * (r * r).sum()
    margin = y * z if radius is None else y * z - radius
    if loss == "logistic":
        return torch.nn.functional.softplus(-margin).sum()
    return torch.clamp(1.0 - margin, min=0.0).sum()


def loss_prox(t: torch.Tensor, y: torch.Tensor, loss: str, rho: float) -> torch.Tensor:
    """Elementwise ``argmin_z loss(z, y) + (rho/2)(z - t)^2`` (labels ``y`` in {-1, +1} unless squared)."""
    if loss == "squared":
        return (y + rho * t) / (1.0 + rho)
    m = y * t  # both classification losses depend on the margin only; y^2 = 1
    if loss == "hinge":
        out = torch.where(m >= 1.0, m, torch.clamp(m + 1.0 / rho, max=1.0))
        return y * out
    # logistic: root of -sigmoid(-x) + rho (x - m) on the bracket [m, m + 1/rho]; safeguarded Newton
    lo, hi = m, m + 1.0 / rho
    x = m + 0.5 / rho
    tol = 10.0 * torch.finfo(t.dtype).eps * (1.0 + rho)
    for _ in range(40):
        sig = torch.sigmoid(-x)
        g = -sig + rho * (x - m)
        lo = torch.where(g < 0, x, lo)
        hi = torch.where(g >= 0, x, hi)
        if float(g.abs().max()) < tol:
            break
        step = x - g / (sig * (1.0 - sig) + rho)
        x = torch.where((step > lo) & (step < hi), step, 0.5 * (lo + hi))
    return y * x
