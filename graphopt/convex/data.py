"""The benchmark tasks of Bai, Gautam & Sojoudi (SIMODS 2023, arXiv 2201.01965) as train/test splits.

MNIST digits 2 vs 8 (the paper's binary task; only the official 10k test images are available,
so the ~2000 images of the two digits are split with a seed) and LIBSVM a9a (its own train/test
files). Labels are in {-1, +1}, the domain of the logistic and hinge programs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from graphopt.datasets import load_idx, load_libsvm

__all__ = ["BinaryTask", "mnist_pair", "a9a"]


@dataclass(frozen=True)
class BinaryTask:
    """A binary classification task: float64 features, labels in {-1, +1}."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    def __repr__(self) -> str:
        return (f"BinaryTask({self.name!r}, train={self.X_train.shape}, test={self.X_test.shape}, "
                f"positive rate={np.mean(self.y_train > 0):.3f})")


def mnist_pair(digits: tuple[int, int] = (2, 8), *, test_fraction: float = 0.2, seed: int = 0,
               root: str | os.PathLike | None = None) -> BinaryTask:
    """MNIST images of two digits from the official test split, pixels scaled to [0, 1].

    ``digits[0]`` is labelled -1 and ``digits[1]`` +1. The images are shuffled with ``seed`` and
    the last ``test_fraction`` of them held out.
    """
    a, b = digits
    if a == b or not all(isinstance(d, (int, np.integer)) and 0 <= d <= 9 for d in digits):
        raise ValueError(f"digits must be two different integers in 0..9, got {digits!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    images, labels = load_idx("mnist", "test", root)
    keep = np.flatnonzero((labels == a) | (labels == b))
    keep = keep[np.random.default_rng(seed).permutation(keep.size)]
    X = images[keep].reshape(keep.size, -1).astype(np.float64) / 255.0
    y = np.where(labels[keep] == b, 1.0, -1.0)
    n_test = int(round(test_fraction * keep.size))
    return BinaryTask(f"mnist-{a}v{b}", X[:-n_test], y[:-n_test], X[-n_test:], y[-n_test:])


def a9a(root: str | os.PathLike | None = None) -> BinaryTask:
    """LIBSVM a9a (UCI Adult, 123 binary features): 32561 training and 16281 test rows."""
    # 123 binary columns: dense float64 is 32 MB, and the solvers work on dense blocks anyway
    X_train, y_train = load_libsvm("a9a", "train", root)
    X_test, y_test = load_libsvm("a9a", "test", root)
    return BinaryTask("a9a", X_train.toarray(), y_train.astype(np.float64), X_test.toarray(),
                      y_test.astype(np.float64))
