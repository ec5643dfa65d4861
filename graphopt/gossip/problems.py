"""Distributed convex problems for decentralized optimization (DADAO, Nabli & Oyallon, ICML 2023).

Worker ``i`` holds a local function ``f_i``; the network minimizes ``sum_i f_i(x)``. Two families
are provided, as in the paper's experiments: least squares and l2-regularized logistic regression,
with the data split across workers (synthetic, heterogeneous, or any ``(A, b)`` such as LIBSVM
a9a/w8a split by a :class:`~graphopt.partition.Partition`, an assignment array, or at random).

Every problem knows its strong convexity ``mu`` and smoothness ``L`` (worst case over the local
functions, the constants the algorithms are tuned with), its exact minimizer ``x_star``, and the
paper's error metric ``(1/n) sum_i ||x_i - x*||^2``. Gradients are batched over workers so that
synchronous methods cost one vectorized call; dual methods (MSDA, Continuized) use
``conjugate_grad``, the gradient of the Fenchel conjugate ``f_i^*``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from graphopt.partition import Partition

__all__ = ["DistributedProblem", "LeastSquares", "Logistic", "LocalLeastSquares", "LocalLogistic",
           "split_rows",
           "synthetic_least_squares", "synthetic_logistic", "averaging_problem", "libsvm_problem",
           "ModuleTask", "mnist_task"]


def split_rows(num_rows: int, split: Partition | np.ndarray | int, seed: int | None = 0
               ) -> list[np.ndarray]:
    """Row indices of each worker: a Partition or assignment array over rows, or ``k`` random parts.

    A random split shuffles the rows with ``seed`` and deals them into ``k`` parts of equal size
    (up to one row). A Partition splits by its parts (e.g. METIS on a data graph, which gives the
    heterogeneous split where each worker holds one region of the data).
    """
    if isinstance(split, Partition):
        assignment, k = split.assignment, split.num_parts
    elif isinstance(split, (int, np.integer)):
        k = int(split)
        if not 1 <= k <= num_rows:
            raise ValueError(f"split={k} workers must be between 1 and the {num_rows} rows")
        perm = np.random.default_rng(seed).permutation(num_rows)
        return [np.sort(p) for p in np.array_split(perm, k)]
    else:
        assignment = np.asarray(split)
        if assignment.shape != (num_rows,) or not np.issubdtype(assignment.dtype, np.integer):
            raise ValueError(f"split assignment must be {num_rows} integers, got "
                             f"{assignment.dtype} array of shape {assignment.shape}")
        k = int(assignment.max()) + 1
    if len(assignment) != num_rows:
        raise ValueError(f"split covers {len(assignment)} rows but the data has {num_rows}")
    parts = [np.flatnonzero(assignment == p) for p in range(k)]
    empty = [p for p, rows in enumerate(parts) if rows.size == 0]
    if empty:
        raise ValueError(f"split leaves workers {empty[:5]} without data")
    return parts


class DistributedProblem:
    """``min_x sum_i f_i(x)`` over ``n`` workers, each ``f_i`` ``mu``-strongly convex, ``L``-smooth.

    Subclasses set ``num_workers``, ``dim``, ``mu``, ``L``, ``x_star`` and implement
    :meth:`grads` (all workers at once) and :meth:`grad` (one worker, optionally a mini-batch).
    """

    num_workers: int
    dim: int
    mu: float
    L: float
    x_star: np.ndarray

    def _check_constants(self) -> None:
        if not self.mu > 0:
            raise ValueError(f"the local functions are not strongly convex (mu={self.mu:.3g}); "
                             "give each worker more samples than features or set reg > 0")

    @property
    def condition_number(self) -> float:
        return self.L / self.mu

    def grad(self, i: int, x: np.ndarray, rng: np.random.Generator | None = None,
             batch_size: int | None = None) -> np.ndarray:
        raise NotImplementedError

    def grads(self, X: np.ndarray) -> np.ndarray:
        """``(n, d)`` array of ``grad f_i(X[i])``."""
        raise NotImplementedError

    def conjugate_grad(self, i: int, y: np.ndarray) -> np.ndarray:
        """``grad f_i^*(y) = argmin_x f_i(x) - <y, x>``."""
        raise NotImplementedError

    def conjugate_grads(self, Y: np.ndarray) -> np.ndarray:
        return np.stack([self.conjugate_grad(i, Y[i]) for i in range(self.num_workers)])

    def error(self, X: np.ndarray) -> float:
        """The paper's metric ``(1/n) sum_i ||x_i - x*||^2`` for per-worker iterates ``X``."""
        return float(np.mean(np.sum((X - self.x_star) ** 2, axis=1)))

    def local_samples(self, i: int) -> int:
        raise NotImplementedError

    def local(self, i: int) -> Any:
        """Worker ``i``'s own function, holding only its rows: ``grad(x, rng, batch_size)``,
        ``conjugate_grad(y)`` and ``num_samples`` (what a worker process receives)."""
        if not 0 <= i < self.num_workers:
            raise ValueError(f"worker index must be in [0, {self.num_workers}), got {i}")
        return self._locals[i]


def _as_rows(A: Any, rows: np.ndarray) -> np.ndarray:
    block = A[rows]
    return np.asarray(block.toarray() if sp.issparse(block) else block, dtype=np.float64)


def _check_data(A: Any, b: Any) -> tuple[Any, np.ndarray]:
    if not sp.issparse(A):
        A = np.asarray(A, dtype=np.float64)
        if A.ndim != 2:
            raise ValueError(f"A must be a 2-d array, got shape {A.shape}")
    b = np.asarray(b, dtype=np.float64).ravel()
    if b.shape[0] != A.shape[0]:
        raise ValueError(f"b has {b.shape[0]} entries but A has {A.shape[0]} rows")
    return A, b


class LeastSquares(DistributedProblem):
    """``f_i(x) = (1/(2 m_i)) ||A_i x - b_i||^2 + (reg/2) ||x||^2`` with worker ``i``'s rows.

    Local Hessians ``H_i`` are precomputed (``d`` is small in this setting), so a gradient is one
    ``d x d`` product and the conjugate gradient ``H_i^{-1}(y + c_i)`` one triangular solve pair.
    """

    def __init__(self, A: Any, b: Any, split: Partition | np.ndarray | int, *, reg: float = 0.0,
                 seed: int | None = 0) -> None:
        if reg < 0:
            raise ValueError(f"reg must be >= 0, got {reg}")
        A, b = _check_data(A, b)
        self.reg = float(reg)
        self.parts_ = split_rows(A.shape[0], split, seed)
        self._A = [_as_rows(A, r) for r in self.parts_]
        self._b = [b[r] for r in self.parts_]
        self.num_workers, self.dim = len(self.parts_), A.shape[1]
        eye = np.eye(self.dim)
        self.H = np.stack([a.T @ a / len(a) + self.reg * eye for a in self._A])
        self.c = np.stack([a.T @ y / len(a) for a, y in zip(self._A, self._b)])
        eig = np.linalg.eigvalsh(self.H)
        self.mu, self.L = float(eig[:, 0].min()), float(eig[:, -1].max())
        self._check_constants()
        self.x_star = np.linalg.solve(self.H.sum(0), self.c.sum(0))
        self._H_inv = np.linalg.inv(self.H)
        self._locals = [LocalLeastSquares(a, y, self.reg, H, c, H_inv) for a, y, H, c, H_inv
                        in zip(self._A, self._b, self.H, self.c, self._H_inv)]

    def local_samples(self, i: int) -> int:
        return len(self._b[i])

    def grad(self, i: int, x: np.ndarray, rng: np.random.Generator | None = None,
             batch_size: int | None = None) -> np.ndarray:
        return self._locals[i].grad(x, rng, batch_size)

    def grads(self, X: np.ndarray) -> np.ndarray:
        return np.einsum("nij,nj->ni", self.H, X) - self.c

    def conjugate_grad(self, i: int, y: np.ndarray) -> np.ndarray:
        return self._locals[i].conjugate_grad(y)

    def conjugate_grads(self, Y: np.ndarray) -> np.ndarray:
        return np.einsum("nij,nj->ni", self._H_inv, Y + self.c)


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * t))


class LocalLeastSquares:
    """One worker's ``f_i(x) = (1/(2 m)) ||A x - b||^2 + (reg/2) ||x||^2`` on its own rows."""

    def __init__(self, A: np.ndarray, b: np.ndarray, reg: float, H: np.ndarray | None = None,
                 c: np.ndarray | None = None, H_inv: np.ndarray | None = None) -> None:
        self.A, self.b, self.reg = A, b, float(reg)
        self.H = A.T @ A / len(A) + self.reg * np.eye(A.shape[1]) if H is None else H
        self.c = A.T @ b / len(A) if c is None else c
        self.H_inv = np.linalg.inv(self.H) if H_inv is None else H_inv
        self.num_samples, self.dim = A.shape

    def grad(self, x: np.ndarray, rng: np.random.Generator | None = None,
             batch_size: int | None = None) -> np.ndarray:
        if batch_size is None:
            return self.H @ x - self.c
        rows = rng.integers(0, len(self.b), batch_size)
        a = self.A[rows]
        return a.T @ (a @ x - self.b[rows]) / batch_size + self.reg * x

    def conjugate_grad(self, y: np.ndarray) -> np.ndarray:
        return self.H_inv @ (y + self.c)


def _newton(grad, hess, x: np.ndarray, tol: float = 1e-13, max_iter: int = 100) -> np.ndarray:
    for _ in range(max_iter):
        g = grad(x)
        step = np.linalg.solve(hess(x), g)
        x = x - step
        if np.linalg.norm(step) <= tol * max(1.0, np.linalg.norm(x)):
            break
    return x


def _logistic_grad_hess(s: np.ndarray, reg: float, x: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    p = _sigmoid(-(s @ x))
    g = -(s.T @ p) / len(s) + reg * x
    h = (s.T * (p * (1 - p))) @ s / len(s) + reg * np.eye(s.shape[1])
    return g, h


class LocalLogistic:
    """One worker's ``f_i(x) = (1/m) sum_k log(1 + exp(-s_k.x)) + (reg/2) ||x||^2`` on its rows
    ``s_k = b_k a_k`` (pre-multiplied by their labels)."""

    def __init__(self, S: np.ndarray, reg: float) -> None:
        self.S, self.reg = S, float(reg)
        self.num_samples, self.dim = S.shape
        self._conj_warm = np.zeros(self.dim)

    def grad(self, x: np.ndarray, rng: np.random.Generator | None = None,
             batch_size: int | None = None) -> np.ndarray:
        s = self.S if batch_size is None else self.S[rng.integers(0, len(self.S), batch_size)]
        return -(s.T @ _sigmoid(-(s @ x))) / len(s) + self.reg * x

    def conjugate_grad(self, y: np.ndarray) -> np.ndarray:
        # Warm-started Newton: dual methods query nearby y's, so two or three steps suffice.
        x = _newton(lambda x: _logistic_grad_hess(self.S, self.reg, x)[0] - y,
                    lambda x: _logistic_grad_hess(self.S, self.reg, x)[1], self._conj_warm)
        self._conj_warm = x
        return x


class Logistic(DistributedProblem):
    """``f_i(x) = (1/m_i) sum_k log(1 + exp(-b_k a_k.x)) + (reg/2) ||x||^2``, labels ``b = +-1``.

    ``mu = reg`` and ``L = reg + max_i lambda_max(A_i^T A_i) / (4 m_i)``; ``x*`` is found by
    Newton's method on the full sum to machine precision.
    """

    def __init__(self, A: Any, b: Any, split: Partition | np.ndarray | int, *, reg: float = 0.1,
                 seed: int | None = 0) -> None:
        A, b = _check_data(A, b)
        if not reg > 0:
            raise ValueError(f"reg must be > 0 for a strongly convex logistic loss (mu = reg), "
                             f"got {reg}")
        labels = np.unique(b)
        if not np.all(np.isin(labels, (-1.0, 1.0))):
            raise ValueError(f"logistic labels must be -1/+1, got values {labels[:5]}")
        self.reg = float(reg)
        self.parts_ = split_rows(A.shape[0], split, seed)
        # Rows pre-multiplied by their label: the loss only ever sees b_k a_k.
        self._S = [_as_rows(A, r) * b[r, None] for r in self.parts_]
        self.num_workers, self.dim = len(self.parts_), A.shape[1]
        self.mu = self.reg
        self.L = self.reg + max(np.linalg.eigvalsh(s.T @ s)[-1] / (4 * len(s)) for s in self._S)
        self._check_constants()
        self.x_star = self._newton(lambda x: sum(self._grad_hess(i, x)[0] for i in range(
            self.num_workers)), lambda x: sum(self._grad_hess(i, x)[1] for i in range(
                self.num_workers)), np.zeros(self.dim))
        self._locals = [LocalLogistic(s, self.reg) for s in self._S]

    def local_samples(self, i: int) -> int:
        return len(self._S[i])

    def _grad_hess(self, i: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _logistic_grad_hess(self._S[i], self.reg, x)

    _newton = staticmethod(_newton)

    def grad(self, i: int, x: np.ndarray, rng: np.random.Generator | None = None,
             batch_size: int | None = None) -> np.ndarray:
        return self._locals[i].grad(x, rng, batch_size)

    def grads(self, X: np.ndarray) -> np.ndarray:
        return np.stack([self.grad(i, X[i]) for i in range(self.num_workers)])

    def conjugate_grad(self, i: int, y: np.ndarray) -> np.ndarray:
        return self._locals[i].conjugate_grad(y)


def _synthetic_design(num_workers: int, dim: int, samples_per_worker: int, heterogeneity: float,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian rows; worker ``i``'s rows are shifted by ``heterogeneity`` times its own mean."""
    shift = heterogeneity * rng.standard_normal((num_workers, 1, dim))
    A = rng.standard_normal((num_workers, samples_per_worker, dim)) + shift
    assignment = np.repeat(np.arange(num_workers), samples_per_worker)
    return A.reshape(-1, dim), assignment


def synthetic_least_squares(num_workers: int, dim: int = 10, samples_per_worker: int = 50, *,
                            heterogeneity: float = 0.0, noise: float = 0.1, reg: float = 0.0,
                            seed: int = 0) -> LeastSquares:
    """Least squares with ``b = A w + noise``; ``heterogeneity > 0`` gives each worker its own
    feature mean and regression vector, so the local minimizers disagree."""
    rng = np.random.default_rng(seed)
    A, assignment = _synthetic_design(num_workers, dim, samples_per_worker, heterogeneity, rng)
    w = rng.standard_normal(dim) + heterogeneity * rng.standard_normal((num_workers, dim))[
        assignment]
    b = np.einsum("ij,ij->i", A, np.broadcast_to(w, A.shape)) + noise * rng.standard_normal(len(A))
    return LeastSquares(A, b, assignment, reg=reg)


def synthetic_logistic(num_workers: int, dim: int = 10, samples_per_worker: int = 50, *,
                       heterogeneity: float = 0.0, reg: float = 0.1, seed: int = 0) -> Logistic:
    """Logistic regression with labels drawn from a logistic model on Gaussian rows."""
    rng = np.random.default_rng(seed)
    A, assignment = _synthetic_design(num_workers, dim, samples_per_worker, heterogeneity, rng)
    w = rng.standard_normal(dim)
    b = np.where(rng.random(len(A)) < _sigmoid(A @ w), 1.0, -1.0)
    return Logistic(A, b, assignment, reg=reg)


def averaging_problem(values: np.ndarray) -> LeastSquares:
    """``f_i(x) = ||x - v_i||^2 / 2``: the consensus-averaging problem, ``x* = mean(v)``.

    The problem randomized and synchronous gossip solve; any method can run on it too.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must be (num_workers, dim), got shape {values.shape}")
    n, d = values.shape
    A = np.tile(np.eye(d), (n, 1))
    return LeastSquares(A * np.sqrt(d), values.ravel() * np.sqrt(d), np.repeat(np.arange(n), d))


def libsvm_problem(name: str, split: Partition | np.ndarray | int, *, kind: str = "logistic",
                   reg: float = 0.1, max_samples: int | None = None, seed: int = 0,
                   root: str | None = None) -> DistributedProblem:
    """A LIBSVM binary dataset (``a9a``, ``w8a`` or a file path) as a distributed problem.

    ``kind`` is ``"logistic"`` or ``"least_squares"`` (on the -1/+1 labels); ``max_samples``
    keeps a seeded random subset of rows before splitting.
    """
    from graphopt.datasets import load_libsvm

    if kind not in ("logistic", "least_squares"):
        raise ValueError(f"kind must be 'logistic' or 'least_squares', got {kind!r}")
    X, y = load_libsvm(name, root=root)
    if max_samples is not None and max_samples < X.shape[0]:
        keep = np.sort(np.random.default_rng(seed).choice(X.shape[0], max_samples, replace=False))
        X, y = X[keep], y[keep]
    y = np.where(np.asarray(y) > 0, 1.0, -1.0)
    cls = Logistic if kind == "logistic" else LeastSquares
    return cls(X, y, split, reg=reg, seed=seed)


class ModuleTask:
    """Any ``torch.nn.Module`` trained on per-worker datasets (for the process runtime).

    ``model_fn()`` builds the model (every worker seeds torch identically first, so all start
    from the same weights), ``loss_fn(output, target)`` is the loss, ``shards[i] = (X_i, y_i)``
    worker ``i``'s data, ``test = (X, y)`` a held-out set on which each worker reports its
    accuracy at checkpoints (classification). Gradients are mini-batches of ``batch_size`` rows.
    """

    def __init__(self, model_fn: Any, loss_fn: Any, shards: Any, *, test: Any = None,
                 batch_size: int = 32) -> None:
        if not callable(model_fn) or not callable(loss_fn):
            raise TypeError("model_fn and loss_fn must be callables")
        shards = list(shards)
        if len(shards) < 2:
            raise ValueError(f"shards must hold one dataset per worker (>= 2), got {len(shards)}")
        for i, (X, y) in enumerate(shards):
            if len(X) != len(y) or len(X) == 0:
                raise ValueError(f"shard {i} has {len(X)} inputs and {len(y)} targets")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model_fn, self.loss_fn, self.shards = model_fn, loss_fn, shards
        self.test, self.batch_size = test, int(batch_size)
        self.num_workers = len(shards)

    def restrict(self, i: int) -> "ModuleTask":
        """The same task holding worker ``i``'s shard only (what its process receives)."""
        other = ModuleTask.__new__(ModuleTask)
        other.__dict__.update(self.__dict__)
        other.shards = [self.shards[i] if k == i else None for k in range(self.num_workers)]
        return other


class _MLP:
    """Picklable builder of the MNIST MLP (a lambda would not survive spawn)."""

    def __init__(self, hidden: int) -> None:
        self.hidden = hidden

    def __call__(self) -> Any:
        import torch

        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, self.hidden),
                                   torch.nn.ReLU(), torch.nn.Linear(self.hidden, 10))


def _cross_entropy(out: Any, y: Any) -> Any:
    import torch

    return torch.nn.functional.cross_entropy(out, y)


def mnist_task(num_workers: int, *, hidden: int = 64, train_rows: int = 8000,
               test_rows: int = 2000, batch_size: int = 32, seed: int = 0,
               root: str | None = None) -> ModuleTask:
    """An MLP (784-``hidden``-10) on MNIST, the training rows split at random over workers.

    The shared data root holds MNIST's 10,000 test images only (the 60,000 training images are
    over its size cap), so by default the first ``train_rows`` of a seeded shuffle of those
    10,000 train and the last ``test_rows`` test; with the training images present
    (``load_idx('mnist', 'train')``) pass ``train_rows`` up to 60,000.
    """
    import torch

    from graphopt.datasets import load_idx

    if train_rows + test_rows > 10_000:
        raise ValueError(f"train_rows + test_rows must be <= 10000 (MNIST's test split), got "
                         f"{train_rows} + {test_rows}")
    images, labels = load_idx("mnist", "test", root=root)
    order = np.random.default_rng(seed).permutation(len(labels))
    X = torch.from_numpy(images[order].reshape(-1, 784).astype(np.float32) / 255.0)
    y = torch.from_numpy(labels[order])
    parts = split_rows(train_rows, num_workers, seed)
    shards = [(X[p], y[p]) for p in parts]
    test = (X[train_rows:train_rows + test_rows], y[train_rows:train_rows + test_rows])
    return ModuleTask(_MLP(hidden), _cross_entropy, shards, test=test, batch_size=batch_size)
