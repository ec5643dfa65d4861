"""Seeded, stratified train/val/test splits for datasets published without one.

Shchur et al. (2018), "Pitfalls of Graph Neural Network Evaluation", evaluate on random splits
with 20 labelled nodes per class for training, 30 per class for validation and the rest for
testing; :func:`stratified_split` makes such splits (or fractional ones) reproducibly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["stratified_split"]


def _amount(name: str, value: int | float | None) -> None:
    if value is None:
        return
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be an int (per class) or a float (fraction), got {value!r}")
    if isinstance(value, (float, np.floating)) and not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} as a fraction must lie in [0, 1], got {value}")
    if isinstance(value, (int, np.integer)) and value < 0:
        raise ValueError(f"{name} as a per-class count must be >= 0, got {value}")


def stratified_split(y: Any, train: int | float = 20, val: int | float = 30,
                     test: int | float | None = None,
                     seed: int | np.random.Generator | None = 0
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean ``(train, val, test)`` masks, disjoint, drawn per class.

    Each amount is an ``int`` (that many nodes of every class) or a ``float`` (that fraction of
    every class, rounded). ``test=None`` takes every remaining labelled node. Nodes with label
    ``-1`` are in no mask. For multi-hot ``y`` (``(N, C)``) the split is drawn over all labelled
    nodes, not per class, since a node belongs to several classes.
    """
    for name, value in (("train", train), ("val", val), ("test", test)):
        _amount(name, value)
    y = np.asarray(y)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n = y.shape[0]
    if y.ndim == 2:
        groups = [np.flatnonzero(y.sum(axis=1) > 0)]
    elif y.ndim == 1:
        labelled = np.flatnonzero(y >= 0)
        order = labelled[np.argsort(y[labelled], kind="stable")]
        bounds = np.flatnonzero(np.diff(y[order])) + 1
        groups = np.split(order, bounds) if order.size else []
    else:
        raise ValueError(f"y must be 1-d class ids or 2-d multi-hot, got shape {y.shape}")
    masks = [np.zeros(n, dtype=bool) for _ in range(3)]
    for group in groups:
        perm = rng.permutation(group)
        start = 0
        for mask, amount, name in zip(masks, (train, val, test), ("train", "val", "test")):
            if amount is None:
                take = perm.size - start
            elif isinstance(amount, (float, np.floating)):
                # Rounding several fractions of a small class can overshoot by one; clip.
                take = min(int(round(amount * perm.size)), perm.size - start)
            else:
                take = int(amount)
            if start + take > perm.size:
                raise ValueError(f"{name}={amount!r} asks for more nodes than a class has left "
                                 f"({perm.size - start} of {perm.size})")
            mask[perm[start:start + take]] = True
            start += take
    return masks[0], masks[1], masks[2]
