"""Projected gradient descent (PGD) ℓ∞ attacks on classifiers, to measure robust accuracy.

Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks" (ICLR 2018), as used
by Bai, Gautam & Sojoudi (arXiv 2201.01965, Sec. 5) to evaluate convex adversarially trained
two-layer ReLU networks. Works for any ``torch.nn.Module``: a binary classifier returns one score
per row (labels in {-1, +1}), a multi-class one returns ``(n, C)`` logits (labels are class ids).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["pgd_attack", "robust_accuracy", "predict_labels"]


def _as_tensor(a, like: torch.nn.Module) -> torch.Tensor:
    p = next(like.parameters())
    return torch.as_tensor(np.asarray(a) if not torch.is_tensor(a) else a, dtype=p.dtype, device=p.device)


def _attack_loss(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if scores.ndim == 2 and scores.shape[1] > 1:
        return F.cross_entropy(scores, y.long(), reduction="sum")
    # the negative margin: its per-row gradient sign is that of any decreasing margin loss
    return -(y * scores.reshape(-1)).sum()


def predict_labels(model: torch.nn.Module, X) -> torch.Tensor:
    """Labels the model predicts: {-1, +1} for one output, class ids for several."""
    with torch.no_grad():
        scores = model(_as_tensor(X, model))
    if scores.ndim == 2 and scores.shape[1] > 1:
        return scores.argmax(1)
    return torch.where(scores.reshape(-1) >= 0, 1.0, -1.0).to(scores.dtype)


def _check(eps: float, steps: int, X, y) -> None:
    if not np.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps!r}")
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")


def pgd_attack(model: torch.nn.Module, X, y, eps: float, *, steps: int = 20,
               step_size: float | None = None, random_start: bool = True,
               clip: tuple[float, float] | None = None, seed: int = 0,
               batch_size: int = 4096) -> torch.Tensor:
    """Adversarial examples ``X + δ`` with ``‖δ‖∞ ≤ eps`` that maximize the model's loss.

    ``steps`` signed-gradient ascent steps of ``step_size`` (default ``2.5 * eps / steps``), each
    projected back onto the ε-ball and, if ``clip = (lo, hi)``, onto the data range (e.g. pixels
    in [0, 1]). ``random_start`` begins from a uniform point in the ball (drawn with ``seed``).
    """
    _check(eps, steps, X, y)
    X = _as_tensor(X, model)
    y = _as_tensor(y, model)
    if eps == 0:
        return X.clone()
    alpha = 2.5 * eps / steps if step_size is None else float(step_size)
    gen = torch.Generator(device=X.device).manual_seed(seed)
    was_training = model.training
    model.eval()
    out = torch.empty_like(X)
    try:
        for start in range(0, X.shape[0], batch_size):
            x0 = X[start:start + batch_size]
            yb = y[start:start + batch_size]
            delta = torch.zeros_like(x0)
            if random_start:
                delta = (torch.rand(x0.shape, generator=gen, dtype=x0.dtype, device=x0.device) * 2 - 1) * eps
            for _ in range(steps):
                xa = x0 + delta
                if clip is not None:
                    xa = xa.clamp(*clip)
                xa.requires_grad_(True)
                (grad,) = torch.autograd.grad(_attack_loss(model(xa), yb), xa)
                delta = (delta + alpha * grad.sign()).clamp(-eps, eps)
            xa = x0 + delta
            out[start:start + batch_size] = xa.clamp(*clip) if clip is not None else xa
    finally:
        model.train(was_training)
    return out.detach()


def robust_accuracy(model: torch.nn.Module, X, y, eps: float, **attack) -> float:
    """Accuracy on PGD adversarial examples of radius ``eps`` (plain accuracy at ``eps = 0``).

    Keyword arguments go to :func:`pgd_attack`.
    """
    X_adv = pgd_attack(model, X, y, eps, **attack)
    pred = predict_labels(model, X_adv)
    return float((pred == _as_tensor(y, model).to(pred.dtype)).double().mean())
