"""Nonconvex baselines for the convex programs: a two-layer ReLU network trained by Adam, optionally
with PGD adversarial training (Madry et al., ICLR 2018).

The objective is the one the convex program of Pilanci & Ergen (ICML 2020) is equivalent to:
``Σ_k loss(f(x_k), y_k) + (β/2)‖θ‖²`` (weight decay on every parameter, hidden biases included,
as the bias coordinate of ``v_i`` is inside the program's group norm),
minimized on mini-batches as its per-row average, so a convex solution and an Adam-trained
network of the same width can be compared objective to objective and accuracy to accuracy.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from tqdm.auto import tqdm

from .attacks import pgd_attack, predict_labels
from .losses import LOSSES, loss_value

__all__ = ["train_nonconvex"]


def _weight_decay(model: torch.nn.Module) -> torch.Tensor:
    return sum((p ** 2).sum() for p in model.parameters())


def train_nonconvex(model: torch.nn.Module, X, y, *, loss: str = "logistic", beta: float = 1e-3,
                    epochs: int = 50, lr: float = 1e-3, batch_size: int = 128,
                    adversarial_eps: float = 0.0, pgd_steps: int = 7,
                    clip: tuple[float, float] | None = None, eval_set=None, seed: int = 0,
                    time_limit: float | None = None, progress: bool = True) -> list[dict]:
    """Train ``model`` (one output per row, labels in {-1, +1}; or real targets for 'squared') in place.

    With ``adversarial_eps > 0`` each mini-batch is replaced by its PGD ℓ∞ adversarial examples
    (``pgd_steps`` steps, data range ``clip``), i.e. Madry et al.'s adversarial training.
    Returns one record per epoch: ``epoch``, ``time`` (seconds since start, evaluation
    excluded), ``objective`` (full-data, clean), and ``test_accuracy`` if ``eval_set = (X, y)``.
    The final iterate is kept, not the best epoch.
    """
    if beta < 0 or not np.isfinite(beta):
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs!r} and {batch_size!r}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    ell = lambda f, t: loss_value(f, t, loss)
    p0 = next(model.parameters())
    X = torch.as_tensor(np.asarray(X), dtype=p0.dtype, device=p0.device)
    y = torch.as_tensor(np.asarray(y), dtype=p0.dtype, device=p0.device).reshape(-1)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} labels")
    n = X.shape[0]
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[dict] = []
    elapsed = 0.0
    for epoch in tqdm(range(1, epochs + 1), desc="adam", disable=not progress):
        start = time.perf_counter()
        model.train()
        for idx in torch.randperm(n, generator=gen).split(batch_size):
            xb, yb = X[idx], y[idx]
            if adversarial_eps > 0:
                xb = pgd_attack(model, xb, yb, adversarial_eps, steps=pgd_steps, clip=clip,
                                seed=int(torch.randint(2**31, (1,), generator=gen)))
            opt.zero_grad()
            batch_obj = ell(model(xb).reshape(-1), yb) / len(idx) + 0.5 * beta * _weight_decay(model) / n
            batch_obj.backward()
            opt.step()
        elapsed += time.perf_counter() - start
        with torch.no_grad():
            record = {"epoch": epoch, "time": elapsed,
                      "objective": float(ell(model(X).reshape(-1), y) + 0.5 * beta * _weight_decay(model))}
        if eval_set is not None:
            pred = predict_labels(model, eval_set[0])
            record["test_accuracy"] = float((pred.cpu().numpy() == np.asarray(eval_set[1])).mean())
        history.append(record)
        if time_limit is not None and elapsed >= time_limit:
            break
    model.eval()
    return history
