"""Activation patterns ``D_i = diag(1[X h_i >= 0])`` for the convex ReLU programs.

The convex reformulation of a two-layer ReLU network (Pilanci & Ergen, ICML 2020) enumerates the
sign patterns a hidden neuron can take on the training data; in practice a subset is sampled from
random Gaussian gates (Bai, Gautam & Sojoudi, arXiv 2201.01965, Sec. 2) or read off the first-layer
weights of a trained network. Patterns on graph-propagated features ``S^k X`` give an SGC-style
convex node classifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["Patterns", "sample_patterns", "patterns_from_weights", "propagate_features",
           "as_feature_matrix"]


def as_feature_matrix(X: Any, name: str = "X") -> np.ndarray:
    """``X`` as a finite 2-d float64 array (scipy sparse and torch tensors are densified)."""
    if sp.issparse(X):
        X = X.toarray()
    elif hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-d array (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        bad = int(X.size - np.count_nonzero(np.isfinite(X)))
        raise ValueError(f"{name} contains {bad} NaN or infinite values")
    return X


def _augment(X: np.ndarray, bias: bool) -> np.ndarray:
    return np.hstack([X, np.ones((X.shape[0], 1))]) if bias else X


@dataclass(frozen=True)
class Patterns:
    """Sampled activation patterns.

    ``G`` (d', P) holds the gate vectors (d' = d + 1 when ``bias``: the last row is the gate's
    offset), ``D`` (n, P) the boolean patterns ``X̃ G >= 0`` on the training data, with duplicate and
    all-zero columns removed. ``requested`` is how many gates were drawn before deduplication.
    """

    G: np.ndarray
    D: np.ndarray
    bias: bool = False
    requested: int = 0

    @property
    def num_patterns(self) -> int:
        return int(self.D.shape[1])

    @property
    def num_features(self) -> int:
        """Input dimension ``d`` (without the bias coordinate)."""
        return int(self.G.shape[0]) - int(self.bias)

    def augment(self, X: Any) -> np.ndarray:
        """``X`` with a column of ones appended when the patterns carry a bias."""
        X = as_feature_matrix(X)
        if X.shape[1] != self.num_features:
            raise ValueError(f"X has {X.shape[1]} features but the patterns were built on "
                             f"{self.num_features}")
        return _augment(X, self.bias)

    def gate(self, X: Any) -> np.ndarray:
        """Patterns ``1[X̃ g_i >= 0]`` of new data (n_new, P), e.g. to predict with a gated model."""
        return self.augment(X) @ self.G >= 0

    def __repr__(self) -> str:
        return (f"Patterns(n={self.D.shape[0]}, d={self.num_features}, bias={self.bias}, "
                f"num_patterns={self.num_patterns} of {self.requested} requested)")


def _unique_nonzero_columns(D: np.ndarray) -> np.ndarray:
    """Indices (in original order) of the first occurrence of each distinct non-zero column."""
    packed = np.ascontiguousarray(np.packbits(D, axis=0).T)
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first = np.unique(keys, return_index=True)
    first = np.sort(first)
    return first[D[:, first].any(axis=0)]


def _check_size(n: int, P: int, d: int, memory_limit: float) -> None:
    need = float(n) * P + 8.0 * d * P  # boolean patterns plus float64 gates
    if need > memory_limit:
        raise ValueError(f"{P} patterns on {n} samples need {need / 2**30:.2f} GiB for the "
                         f"patterns and gates alone, over memory_limit={memory_limit / 2**30:.2f} "
                         "GiB; sample fewer patterns")


def _build(X: np.ndarray, G: np.ndarray, bias: bool, memory_limit: float = 2e9) -> Patterns:
    n, P = X.shape[0], G.shape[1]
    _check_size(n, P, G.shape[0], memory_limit)
    Xa = _augment(X, bias)
    D = np.empty((n, P), dtype=bool)
    step = max(1, int(2**26 // (8 * n)))  # gates per chunk: keep the float product small
    for lo in range(0, P, step):
        D[:, lo:lo + step] = Xa @ G[:, lo:lo + step] >= 0
    keep = _unique_nonzero_columns(D)
    return Patterns(G=G[:, keep].copy(), D=np.ascontiguousarray(D[:, keep]), bias=bias,
                    requested=int(G.shape[1]))


def sample_patterns(X: Any, num_patterns: int, *, seed: int | np.random.Generator = 0,
                    bias: bool = False, memory_limit: float = 2e9) -> Patterns:
    """Sample patterns from standard Gaussian gates ``h_i ~ N(0, I)``.

    Duplicate and all-zero patterns are dropped, so ``result.num_patterns`` (the realized count)
    can be below ``num_patterns``. With ``bias=True`` the gates act on ``[X, 1]`` and the
    programs built on these patterns fit a hidden-layer bias. Raises ``ValueError`` when the
    (n, num_patterns) boolean pattern matrix would exceed ``memory_limit`` bytes.
    """
    X = as_feature_matrix(X)
    if isinstance(num_patterns, bool) or not isinstance(num_patterns, (int, np.integer)) \
            or num_patterns < 1:
        raise ValueError(f"num_patterns must be a positive integer, got {num_patterns!r}")
    _check_size(X.shape[0], int(num_patterns), X.shape[1] + int(bias), memory_limit)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    G = rng.standard_normal((X.shape[1] + int(bias), int(num_patterns)))
    return _build(X, G, bias, memory_limit)


def patterns_from_weights(X: Any, W: Any, b: Any = None) -> Patterns:
    """Patterns of a trained network's hidden layer: ``1[X W^T + b >= 0]``.

    ``W`` is the (hidden, d) first-layer weight (array, tensor or ``torch.nn.Linear``, whose bias
    is then used); ``b`` an optional (hidden,) bias. Used to warm-start the convex program from an
    SGD-trained network.
    """
    if hasattr(W, "weight") and hasattr(W, "in_features"):
        layer = W
        W = layer.weight
        if b is None and layer.bias is not None:
            b = layer.bias
    W = as_feature_matrix(W, "W")
    X = as_feature_matrix(X)
    if W.shape[1] != X.shape[1]:
        raise ValueError(f"W has shape {W.shape} but X has {X.shape[1]} features; "
                         "expected W of shape (hidden, n_features)")
    G = W.T
    if b is not None:
        b = as_feature_matrix(np.reshape(b.detach().cpu().numpy() if hasattr(b, "detach") else b,
                                         (1, -1)), "b")
        if b.shape[1] != W.shape[0]:
            raise ValueError(f"b has {b.shape[1]} entries but W has {W.shape[0]} rows")
        G = np.vstack([G, b])
    return _build(X, np.ascontiguousarray(G), b is not None)


def propagate_features(graph: Any, k: int = 2, normalization: str = "sym") -> np.ndarray:
    """``S^k X`` for a :class:`graphopt.Graph` (SGC, Wu et al. 2019), as dense float64.

    ``S`` is ``graph.normalized_adjacency(normalization)`` (self-loops included). Fitting a convex
    ReLU program on these features gives a convex node classifier.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be a non-negative integer, got {k!r}")
    if graph.x is None:
        raise ValueError("graph has no node features (graph.x is None)")
    S = graph.normalized_adjacency(normalization, dtype=np.float64)
    H = graph.x.toarray() if sp.issparse(graph.x) else np.asarray(graph.x)
    H = np.asarray(H, dtype=np.float64)
    for _ in range(k):
        H = S @ H
    return H
