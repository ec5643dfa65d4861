"""Scikit-learn-style estimators for globally optimal two-layer ReLU networks.

``ConvexReLUClassifier`` / ``ConvexReLURegressor`` solve the convex program of Pilanci & Ergen
(ICML 2020) over sampled activation patterns with the ADMM of Bai, Gautam & Sojoudi (arXiv
2201.01965), its CVXPY reference, or the paper's sampled-convex-program (SCP) algorithm, and hand
back the recovered network as a ``torch.nn.Module`` acting on the *original* features.
``beta_max`` / ``beta_path`` give the regularization path with warm starts.

Preprocessing, done at fit and undone in the recovered network: zero-variance columns dropped,
columns standardized, and every hidden neuron given a bias (patterns on ``[X, 1]``).
"""

from __future__ import annotations

import hashlib
import math
import numbers
import os
import time
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .recovery import GatedReLUNetwork, TwoLayerReLU, recover_network, reduce_neurons
from .patterns import sample_patterns
from .programs import ConvexReLUProgram, zero_beta
from .admm import solve_admm
from .reference import solve_cvxpy
from .scp import solve_scp

__all__ = ["ConvexReLUClassifier", "ConvexReLURegressor", "NotFittedError", "beta_max", "beta_path"]

_SOLVERS = ("admm", "cvxpy", "scp")
# beyond this magnitude, standardizing (x - mean) / std overflows float64 (squares of 1e154+)
_MAX_ABS = 1e150


def _available_memory() -> int:
    # MemAvailable counts reclaimable page cache, which free-page counts miss on a busy machine
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2


def _dense(X) -> np.ndarray:
    return X.toarray() if hasattr(X, "toarray") else X


def _check_magnitude(X: np.ndarray, name: str = "X") -> None:
    big = float(np.abs(X).max()) if X.size else 0.0
    if big > _MAX_ABS:
        raise ValueError(f"{name} has entries of magnitude {big:.3g}, beyond {_MAX_ABS:g}: the "
                         f"standardization and the solver's squares and products would overflow float64; "
                         f"rescale {name}")


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


class _ConvexReLU(BaseEstimator):
    """Shared fit/predict machinery; subclasses say how labels become targets and back."""

    _loss_choices: tuple[str, ...] = ()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # densified: the solvers work on dense blocks
        return tags

    def _validate_X(self, X, y=None, reset: bool = True):
        """scikit-learn's input validation (dtype, shape, finiteness, complex, feature names and
        ``n_features_in_``), densifying sparse input, plus our overflow guard."""
        kw = dict(accept_sparse=("csr", "csc", "coo"), dtype=np.float64, reset=reset)
        if y is None:
            X = validate_data(self, X, **kw)
        else:
            X, y = validate_data(self, X, y, y_numeric=self._numeric_targets, ensure_min_samples=2,
                                 multi_output=self._numeric_targets, **kw)
        X = _dense(X)
        _check_magnitude(X)
        return X if y is None else (X, y)

    # -- validation and preprocessing ---------------------------------------------------------
    def _check_params(self) -> None:
        if self.loss not in self._loss_choices:
            raise ValueError(f"loss must be one of {self._loss_choices}, got {self.loss!r}")
        # numbers.Real admits numpy scalars (np.float32(0.1)) as scikit-learn's own estimators do
        for name in ("beta", "tol"):
            value = getattr(self, name)
            if not (_is_real(value) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        for name in ("num_patterns", "max_iter"):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
                    and value >= 1):
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.solver not in _SOLVERS:
            raise ValueError(f"solver must be one of {_SOLVERS}, got {self.solver!r}")
        if not (_is_real(self.robust_eps) and math.isfinite(self.robust_eps) and self.robust_eps >= 0):
            raise ValueError(f"robust_eps must be a finite number >= 0, got {self.robust_eps!r}")
        for name in ("time_limit", "max_memory", "rho", "cone_rho"):
            value = getattr(self, name)
            if value is not None and not (_is_real(value) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be None or a finite number > 0, got {value!r}")
        if self.robust_eps > 0 and self.solver != "cvxpy":
            raise ValueError(f"robust_eps > 0 needs solver='cvxpy' (the robust program has no "
                             f"{self.solver.upper()} solver yet), got solver={self.solver!r}")
        if self.solver == "scp" and self.loss == "hinge":
            raise ValueError("solver='scp' needs a smooth loss ('logistic' or 'squared'), got loss='hinge'")
        if not (isinstance(self.verbose, numbers.Integral) and self.verbose >= 0):
            raise ValueError(f"verbose must be an integer >= 0 (or a bool), got {self.verbose!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")

    def _memory_budget(self) -> float:
        return float(self.max_memory) if self.max_memory is not None else 0.5 * _available_memory()

    def _fit_transform_features(self, X: np.ndarray) -> np.ndarray:
        std, amax = X.std(axis=0), np.abs(X).max(axis=0)
        # the squares of tiny columns (1e-200) underflow to a zero variance: measure those in units
        # of their largest entry (only those, so ordinary columns keep their bit-exact scale)
        tiny = (amax > 0) & (amax < 1e-100)
        if tiny.any():
            std[tiny] = (X[:, tiny] / amax[tiny]).std(axis=0) * amax[tiny]
        # relative to the column's own size: a column of tiny values (1e-200) is not constant
        self.informative_ = std > 1e-12 * amax
        if not self.informative_.any():
            raise ValueError("every column of X is constant; there is nothing to learn from")
        Xi = X[:, self.informative_]
        if self.standardize and self.robust_eps > 0:
            # one common scale keeps the ℓ∞ ball a ball: ε is divided by it for the program
            self.mean_ = Xi.mean(axis=0)
            self.scale_ = np.full(Xi.shape[1], float(std[self.informative_].mean()))
        elif self.standardize:
            self.mean_, self.scale_ = Xi.mean(axis=0), std[self.informative_]
        else:
            self.mean_, self.scale_ = np.zeros(Xi.shape[1]), np.ones(Xi.shape[1])
        return self._transform(X)

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return (X[:, self.informative_] - self.mean_) / self.scale_

    # -- progress lines -----------------------------------------------------------------------
    def _logger(self, solver: str):
        """The solver callback printing progress lines for ``verbose``, or None when silent.

        Plain printed lines rather than the ``progress`` bar, so they also show in logs and
        notebooks: verbose=1 about every 5% of ``max_iter`` (ADMM's evaluated iterations, at
        least 10 apart) and every SCP round, verbose>=2 every evaluated iteration."""
        if not self.verbose:
            return None
        name = type(self).__name__
        if solver == "scp":
            return lambda r: print(f"{name} scp round {r['round']}: {r['directions']} directions, "
                                   f"objective {r['objective']:.6g}, violation rate "
                                   f"{r['violation_rate']:.3f}, {r['time']:.1f} s", flush=True)
        every = 1 if self.verbose >= 2 else max(1, self.max_iter // 20)

        def log(r: dict) -> None:
            # only ADMM's evaluated iterations carry objectives
            if "objective" in r and (r["iteration"] % every < 10 or r["iteration"] == self.max_iter):
                print(f"{name} admm iter {r['iteration']}/{self.max_iter}: objective "
                      f"{r['objective']:.6g}, network objective {r['network_objective']:.6g}, cone "
                      f"violation {r['cone_violation']:.2g}, primal/dual residual "
                      f"{r['primal_residual']:.2g}/{r['dual_residual']:.2g}, {r['cpu_time']:.1f} s CPU",
                      flush=True)
        return log

    # -- fit ------------------------------------------------------------------------------------
    def fit(self, X, y) -> "_ConvexReLU":
        """Solve the convex program on ``(X, y)`` and recover the network."""
        self._check_params()
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        X, y = self._validate_X(X, y)
        Y = self._encode_targets(y)
        Z = self._fit_transform_features(X)
        dtype = torch.float32 if self.dtype == "float32" else torch.float64
        eps = self.robust_eps / float(self.scale_[0]) if self.robust_eps > 0 else 0.0
        start = time.perf_counter()
        if self.solver == "scp":
            self._fit_scp(Z, Y, dtype)
        else:
            self._fit_convex(Z, Y, eps, dtype)
        self.fit_time_ = time.perf_counter() - start
        self._check_finite(Y)
        # scikit-learn's convention for iterative solvers (CVXPY reports its interior-point steps)
        self.n_iter_ = max(1, int(self.report_["iterations"]))
        self.network_ = self._map_back(self._network_z)
        if self.verbose:
            r = self.report_
            print(f"{type(self).__name__} fit: {self.solver}, {r['iterations']} iterations, "
                  f"{'converged' if r['converged'] else 'not converged'}, {self.fit_time_:.1f} s, "
                  f"objective {r['convex_objective']:.6g}, {r['active_neurons']} active neurons",
                  flush=True)
        return self

    def _fit_convex(self, Z: np.ndarray, Y: np.ndarray, eps: float, dtype: torch.dtype) -> None:
        patterns = sample_patterns(Z, self.num_patterns, seed=self.seed, bias=self.fit_intercept)
        program = ConvexReLUProgram(Z, Y, patterns, loss=self.loss, beta=self.beta, gated=self.gated,
                                    robust_eps=eps)
        key = (hashlib.blake2b(Z.tobytes() + Y.tobytes(), digest_size=16).hexdigest(), self.seed,
               self.num_patterns, self.gated, self.fit_intercept, self.loss)
        # a warm start is only meaningful on the very same patterns and data
        warm = self.solution_ if self.warm_start and getattr(self, "_warm_key", None) == key else None
        if self.solver == "admm":
            # without max_memory, ADMM's own default budget also steers its choice of linear solver
            limit = {} if self.max_memory is None else {"memory_limit": float(self.max_memory)}
            sol = solve_admm(program, rho=self.rho, cone_rho=self.cone_rho, linear_solver=self.linear_solver,
                             tol=self.tol,
                             max_iter=self.max_iter, time_limit=self.time_limit, warm_start=warm,
                             device=self.device, dtype=dtype, progress=self.progress,
                             callback=self._logger("admm"), **limit)
        else:
            sol = solve_cvxpy(program)
        if not eps:
            # an optimum needs at most n + 1 neurons: drop the rest, predictions and objective kept
            sol = reduce_neurons(sol, program)
        net = recover_network(sol, program, dtype=torch.float64)
        self.patterns_, self.program_, self.solution_, self._network_z = patterns, program, sol, net
        self._warm_key = key
        self.history_ = list(sol.history)
        self.report_ = {
            "num_patterns": int(patterns.num_patterns),
            "convex_objective": float(program.objective(sol.V, sol.W)),
            # for a robust program this is the clean objective; the convex one is the worst case
            "recovered_objective": net.objective(Z, Y, loss=self.loss, beta=self.beta),
            "cone_violation": float(program.cone_violation(sol.V, sol.W)),
            "active_neurons": int(net.active_neurons),
            "converged": bool(sol.converged),
            "iterations": int(sol.iterations),
        }

    def _fit_scp(self, Z: np.ndarray, Y: np.ndarray, dtype: torch.dtype) -> None:
        Za = np.hstack([Z, np.ones((Z.shape[0], 1))]) if self.fit_intercept else Z
        # the feature matrix (Xu)₊, its fresh-sample twin and a gradient: three n x N arrays
        need = 3 * Z.shape[0] * self.num_patterns * (4 if dtype == torch.float32 else 8)
        if need > self._memory_budget():
            raise ValueError(f"num_patterns={self.num_patterns} SCP directions on {Z.shape[0]} samples need "
                             f"about {need / 2**30:.3g} GiB, over max_memory={self._memory_budget() / 2**30:.3g} "
                             f"GiB; lower num_patterns or raise max_memory")
        sol = solve_scp(Za, Y, num_samples=self.num_patterns, loss=self.loss, beta=self.beta,
                        tol=self.tol, max_iter=self.max_iter, time_limit=self.time_limit, seed=self.seed,
                        device=self.device, dtype=dtype, progress=self.progress,
                        callback=self._logger("scp"))
        W1, W2 = (w.double().cpu() for w in sol.network_weights())
        d, h = Z.shape[1], max(W1.shape[0], 1)  # one zero unit keeps an all-zero solution a module
        net = TwoLayerReLU(d, h, Y.shape[1], bias=self.fit_intercept).double()
        with torch.no_grad():
            for p in net.parameters():
                p.zero_()
            net.hidden.weight[: W1.shape[0]] = W1[:, :d]
            if self.fit_intercept:
                net.hidden.bias[: W1.shape[0]] = W1[:, d]
            net.output.weight[:, : W1.shape[0]] = W2
        self.solution_, self._network_z, self.history_ = sol, net, list(sol.history)
        self.report_ = {"num_patterns": int(sol.U.shape[1]), "convex_objective": sol.objective,
                        "recovered_objective": net.objective(Z, Y, loss=self.loss, beta=self.beta),
                        "cone_violation": 0.0, "active_neurons": int(W1.shape[0]),
                        "converged": bool(sol.converged), "iterations": int(sol.iterations),
                        "violation_rate": sol.violation_rate}

    def _check_finite(self, Y: np.ndarray) -> None:
        """Refuse a solve that overflowed: its network would predict NaN/inf without a word."""
        weights = [p.detach() for p in self._network_z.parameters()]
        if math.isfinite(self.report_["convex_objective"]) and all(bool(torch.isfinite(w).all()) for w in weights):
            return
        raise ValueError(f"the {self.solver} solve overflowed float64 (objective "
                         f"{self.report_['convex_objective']}, after {self.report_['iterations']} "
                         f"iterations): targets up to {float(np.abs(Y).max()):.3g} against beta="
                         f"{self.beta:.3g}; rescale y (e.g. sklearn.compose.TransformedTargetRegressor"
                         f" with a StandardScaler) or X, or raise beta")

    def _to_raw(self, A: np.ndarray, axis: int, has_bias: bool) -> np.ndarray:
        """Coefficients on ``[z, 1]`` (z the normalized informative columns) as coefficients on
        ``[x, 1]`` (x the raw features), along ``axis``: ``a·z + b = (a/σ)·x + (b - a·μ/σ)``."""
        A = np.moveaxis(np.asarray(A, dtype=np.float64), axis, 0)
        k = int(self.informative_.sum())
        Az = A[:k] / self.scale_.reshape(-1, *[1] * (A.ndim - 1))
        out = np.zeros((self.n_features_in_ + 1,) + A.shape[1:])
        out[np.flatnonzero(self.informative_)] = Az
        out[-1] = (A[k] if has_bias else 0.0) - np.tensordot(self.mean_, Az, axes=(0, 0))
        return np.moveaxis(out, 0, axis)

    def _map_back(self, net: torch.nn.Module) -> torch.nn.Module:
        """The same network on raw features: undo standardization and column dropping."""
        if isinstance(net, GatedReLUNetwork):
            gates = self._to_raw(net.gates.double().numpy(), 0, net.bias)
            weights = self._to_raw(net.weights.detach().double().numpy(), 1, net.bias)
            return GatedReLUNetwork(torch.from_numpy(gates), torch.from_numpy(weights), bias=True).eval()
        W = net.hidden.weight.detach().double().numpy()
        b = net.hidden.bias.detach().double().numpy() if net.hidden.bias is not None else np.zeros(len(W))
        raw = self._to_raw(np.vstack([W.T, b]), 0, True)
        out = TwoLayerReLU(self.n_features_in_, W.shape[0], net.output.out_features, bias=True).double()
        with torch.no_grad():
            out.hidden.weight.copy_(torch.from_numpy(raw[:-1].T))
            out.hidden.bias.copy_(torch.from_numpy(raw[-1]))
            out.output.weight.copy_(net.output.weight.detach().double())
        return out.eval()

    # -- prediction -----------------------------------------------------------------------------
    def _outputs(self, X) -> np.ndarray:
        """Network outputs on raw features: ``(n,)`` for one output, ``(n, C)`` for several."""
        check_is_fitted(self, "network_")
        X = self._validate_X(X, reset=False)
        with torch.no_grad():
            f = self.network_(torch.from_numpy(X)).numpy()
        return f[:, 0] if f.shape[1] == 1 else f


class ConvexReLUClassifier(ClassifierMixin, _ConvexReLU):
    """Binary or one-vs-all multi-class classifier: a two-layer ReLU network trained to global optimality.

    Parameters
    ----------
    beta : weight decay (group-lasso weight), > 0.
    loss : 'logistic' (default), 'hinge' or 'squared' (on ±1 targets).
    num_patterns : sampled activation patterns (ADMM/CVXPY) or sampled directions (SCP).
    gated : solve the gated-ReLU program (no cone constraints).
    solver : 'admm' (default), 'cvxpy' (reference, small n) or 'scp'.
    robust_eps : ℓ∞ radius in raw-feature units for convex adversarial training (0 = standard);
        needs ``solver='cvxpy'``.
    standardize, fit_intercept : preprocessing, undone in ``network_``.
    warm_start : start from the previous solution when refitting on the same data (β paths).
    tol, max_iter, time_limit, rho, cone_rho, linear_solver, device, dtype : solver controls
        (``cone_rho``: ADMM's penalty on the cone constraints, see :func:`solve_admm`;
        ``time_limit``: seconds of process CPU time, ADMM and SCP; CVXPY has none).
    max_memory : bytes the solve may use (default: ADMM's own budget; half the available memory
        for SCP); a solve that would need more raises ``ValueError`` before starting.
    progress : a tqdm bar while solving, shown on a terminal only.
    verbose : 0 silent; 1 printed progress lines (about every 5% of ``max_iter``, each SCP round)
        and a summary after the fit, in logs and notebooks too; 2 a line every 10 ADMM iterations.

    A scikit-learn estimator (``BaseEstimator`` + ``ClassifierMixin``): ``get_params``/``set_params``,
    ``clone``, ``GridSearchCV``, ``cross_val_score`` and ``Pipeline`` work; ``score`` is accuracy.

    Fitted attributes: ``classes_``, ``network_`` (``torch.nn.Module`` on raw features),
    ``report_`` (convex objective, recovered objective, cone violation, active neurons, ...),
    ``solution_``, ``patterns_``, ``history_``, ``fit_time_``, ``n_features_in_``.
    """

    _loss_choices = ("logistic", "hinge", "squared")
    _numeric_targets = False

    def __init__(self, *, beta: float = 1e-3, loss: str = "logistic", num_patterns: int = 100,
                 gated: bool = False, solver: str = "admm", robust_eps: float = 0.0,
                 standardize: bool = True, fit_intercept: bool = True, warm_start: bool = False,
                 tol: float = 1e-6, max_iter: int = 2000, time_limit: float | None = None,
                 rho: float | None = None, cone_rho: float | None = None, linear_solver: str = "auto",
                 device: str | None = None, dtype: str = "float64", max_memory: float | None = None,
                 seed: int = 0, progress: bool = False, verbose: int = 0) -> None:
        self.beta = beta
        self.loss = loss
        self.num_patterns = num_patterns
        self.gated = gated
        self.solver = solver
        self.robust_eps = robust_eps
        self.standardize = standardize
        self.fit_intercept = fit_intercept
        self.warm_start = warm_start
        self.tol = tol
        self.max_iter = max_iter
        self.time_limit = time_limit
        self.rho = rho
        self.cone_rho = cone_rho
        self.linear_solver = linear_solver
        self.device = device
        self.dtype = dtype
        self.max_memory = max_memory
        self.seed = seed
        self.progress = progress
        self.verbose = verbose

    def _encode_targets(self, y: np.ndarray) -> np.ndarray:
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError(f"y contains {int(np.size(y) - np.isfinite(y).sum())} NaN or infinite labels")
        # raises "Unknown label type: continuous ..." for real-valued y (use the regressor)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if self.classes_.size < 2:
            raise ValueError(f"y has a single class {self.classes_.tolist()}; a classifier needs at "
                             f"least two classes")
        if self.classes_.size == 2:
            return np.where(y == self.classes_[1], 1.0, -1.0)[:, None]
        return np.where(y[:, None] == self.classes_[None, :], 1.0, -1.0)

    def decision_function(self, X) -> np.ndarray:
        """Network outputs on raw features: ``(n,)`` for two classes, ``(n, n_classes)`` for more."""
        return self._outputs(X)

    def predict(self, X) -> np.ndarray:
        """Class labels (from ``classes_``)."""
        f = self.decision_function(X)
        idx = (f >= 0).astype(int) if f.ndim == 1 else f.argmax(1)
        return self.classes_[idx]

    def _has_proba(self) -> bool:
        if self.loss != "logistic":
            raise AttributeError(f"predict_proba needs loss='logistic' (probabilities are not defined "
                                 f"for loss={self.loss!r})")
        return True

    @available_if(_has_proba)
    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n, n_classes)``: the logistic model's sigmoid, one-vs-all renormalized."""
        f = self.decision_function(X)
        p = 1.0 / (1.0 + np.exp(-f))
        if f.ndim == 1:
            return np.column_stack([1 - p, p])
        return p / p.sum(axis=1, keepdims=True)


class ConvexReLURegressor(RegressorMixin, _ConvexReLU):
    """Least-squares regressor (one or several targets): a globally optimal two-layer ReLU network.

    Parameters as :class:`ConvexReLUClassifier` (the loss is the squared loss); a scikit-learn
    estimator (``BaseEstimator`` + ``RegressorMixin``) whose ``score`` is R².
    """

    _loss_choices = ("squared",)
    _numeric_targets = True
    loss = "squared"  # fixed, so not a hyperparameter

    def __init__(self, *, beta: float = 1e-3, num_patterns: int = 100,
                 gated: bool = False, solver: str = "admm", robust_eps: float = 0.0,
                 standardize: bool = True, fit_intercept: bool = True, warm_start: bool = False,
                 tol: float = 1e-6, max_iter: int = 2000, time_limit: float | None = None,
                 rho: float | None = None, cone_rho: float | None = None, linear_solver: str = "auto",
                 device: str | None = None, dtype: str = "float64", max_memory: float | None = None,
                 seed: int = 0, progress: bool = False, verbose: int = 0) -> None:
        self.beta = beta
        self.num_patterns = num_patterns
        self.gated = gated
        self.solver = solver
        self.robust_eps = robust_eps
        self.standardize = standardize
        self.fit_intercept = fit_intercept
        self.warm_start = warm_start
        self.tol = tol
        self.max_iter = max_iter
        self.time_limit = time_limit
        self.rho = rho
        self.cone_rho = cone_rho
        self.linear_solver = linear_solver
        self.device = device
        self.dtype = dtype
        self.max_memory = max_memory
        self.seed = seed
        self.progress = progress
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _encode_targets(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        _check_magnitude(y, "y")
        self._single_target = y.ndim == 1
        return y[:, None] if y.ndim == 1 else y

    def predict(self, X) -> np.ndarray:
        """Predicted targets, shaped like the ``y`` given to ``fit``."""
        f = self._outputs(X)
        return f if self._single_target or f.ndim == 2 else f[:, None]


def beta_max(estimator: _ConvexReLU, X, y) -> float:
    """Smallest β at which the all-zero network is optimal for ``estimator``'s program on ``(X, y)``.

    ``max_{i,c} ‖(D_i X)ᵀ ∇loss(0)_c‖`` over the estimator's sampled patterns and outputs (one
    group per pattern and output, :func:`~graphopt.convex.programs.zero_beta`): exact for the gated
    program, an upper bound for the exact ReLU program (whose cone constraints can only make zero
    optimal sooner); for SCP a sampled estimate of ``sup_‖u‖=1 ‖∇loss(0)ᵀ(X u)₊‖``.
    """
    est = clone(estimator)
    est._check_params()
    X, y = est._validate_X(X, y)
    Y = est._encode_targets(y)
    Z = est._fit_transform_features(X)
    Za = np.hstack([Z, np.ones((Z.shape[0], 1))]) if est.fit_intercept else Z
    if est.solver == "scp":
        # SCP keeps adding directions, so its β_max is a sup over the sphere: estimated by sampling
        U = np.random.default_rng(est.seed).standard_normal((Za.shape[1], max(est.num_patterns, 2000)))
        U /= np.linalg.norm(U, axis=0)
        G = Y * (0.5 if est.loss == "logistic" else 1.0)  # |∇loss| at f = 0
        return float(np.linalg.norm(np.maximum(Za @ U, 0).T @ G, axis=1).max())
    D = sample_patterns(Z, est.num_patterns, seed=est.seed, bias=est.fit_intercept).D
    return zero_beta(Za, Y, D, est.loss)


def beta_path(estimator: _ConvexReLU, X, y, betas=None, *, num: int = 8, min_ratio: float = 1e-3,
              X_val=None, y_val=None) -> list[dict]:
    """Fit ``estimator``'s configuration along decreasing β, each fit warm-started from the last.

    ``betas`` defaults to ``num`` values log-spaced from ``beta_max`` down to ``min_ratio``
    times it. Returns one record per β: ``beta``, the fit's ``report_`` entries, ``fit_time``,
    ``train_score``, ``val_score`` (if ``X_val``) and the fitted ``estimator``.
    """
    if betas is None:
        if num < 1 or not 0 < min_ratio < 1:
            raise ValueError(f"num must be >= 1 and min_ratio in (0, 1), got {num!r}, {min_ratio!r}")
        bmax = beta_max(estimator, X, y)
        betas = bmax * np.geomspace(1.0, min_ratio, num)
    betas = sorted((float(b) for b in betas), reverse=True)
    est = clone(estimator).set_params(warm_start=True)
    path = []
    for b in betas:
        est.set_params(beta=b).fit(X, y)
        record = {"beta": b, **est.report_, "fit_time": est.fit_time_, "train_score": est.score(X, y)}
        if X_val is not None:
            record["val_score"] = est.score(X_val, y_val)
        # a snapshot for the caller, while ``est`` keeps its state for the next warm start
        snap = clone(est).set_params(warm_start=False)
        snap.__dict__.update({k: v for k, v in est.__dict__.items() if k.endswith("_") or k.startswith("_")})
        record["estimator"] = snap
        path.append(record)
    return path
