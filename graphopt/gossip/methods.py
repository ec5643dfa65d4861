"""Asynchronous decentralized methods as per-worker state plus event handlers.

In DADAO (Nabli & Oyallon, ICML 2023, arXiv 2208.00779) and the other asynchronous gossip methods,
a worker only ever does three things: its state follows a flow between events that does not
couple workers; at the events of its own Poisson clock it takes a local gradient; at the events of
an edge's clock it exchanges a message with the neighbour on that edge. A :class:`WorkerRule`
writes these down once, optax-style, over explicit state:

- ``init(x0, t0)`` returns one worker's state;
- ``advance(state, t)`` applies the exact flow up to time ``t``;
- ``on_gradient(state, oracle)`` is a gradient event (``oracle.grad(x)``: the worker's own
  function, full or mini-batch);
- ``message(state, oracle)`` is what the worker sends on an edge event and
  ``on_message(state, own, peer, edge)`` what it does with its own and its neighbour's message;
- ``params(state)`` is the worker's current iterate.

Two drivers run the same rules: the event simulator (:mod:`graphopt.gossip.simulator`, all workers
in one process, states as rows of one array) and the process runtime
(:mod:`graphopt.gossip.runtime`, one process per worker over ``torch.distributed``). A simulator
may call :meth:`WorkerRule.exchange` to update both endpoints of an edge at once; it must equal
the two ``on_message`` calls (rules whose message is linear in the state use this to form one
message of the difference).

This module holds the shared pieces: the exact flow of a linear ODE in its eigenbasis
(:class:`FlowBasis`) and asynchronous gossip SGD (:class:`GossipSGDRule`: local stochastic gradient
steps and pairwise averaging, Boyd et al. 2006 / Lian et al. 2018). DADAO's rule is in
:mod:`graphopt.gossip.dadao`, randomized gossip's and Continuized's in
:mod:`graphopt.gossip.baselines`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import scipy.linalg

__all__ = ["Oracle", "WorkerRule", "FlowBasis", "FlowState", "ArrayState", "GossipSGDRule"]


class Oracle(Protocol):
    """A worker's own function: what a gradient event queries (dual rules: ``conjugate_grad``)."""

    def grad(self, x: np.ndarray) -> np.ndarray: ...


class WorkerRule:
    """One asynchronous method, written per worker (see the module docstring).

    ``node_rate`` is the rate of a worker's gradient clock (0: no gradient events) in the
    method's time unit; edge rates come with the communication graph.
    """

    name = "rule"
    node_rate = 1.0

    def init(self, x0: np.ndarray, t0: float = 0.0) -> Any:
        raise NotImplementedError

    def advance(self, state: Any, t: float) -> None:
        """Apply the flow between events (nothing for rules without one)."""

    def on_gradient(self, state: Any, oracle: Oracle) -> None:
        raise NotImplementedError

    def message(self, state: Any, oracle: Oracle | None = None) -> np.ndarray:
        raise NotImplementedError

    def on_message(self, state: Any, own: np.ndarray, peer: np.ndarray, edge: int) -> None:
        raise NotImplementedError

    def exchange(self, si: Any, sj: Any, oi: Oracle | None, oj: Oracle | None,
                 edge: int) -> None:
        """Both endpoints of edge ``edge`` at once (simulator); two ``on_message`` calls."""
        mi, mj = self.message(si, oi), self.message(sj, oj)
        self.on_message(si, mi, mj, edge)
        self.on_message(sj, mj, mi, edge)

    def params(self, state: Any) -> np.ndarray:
        raise NotImplementedError


class FlowBasis:
    """Exact flow of ``ds/dt = M s`` in the eigenbasis ``M = V diag(w) V^-1``.

    States are kept in eigen-coordinates ``u = V^-1 s``, where advancing by ``dt`` multiplies by
    ``exp(w dt)`` (``O(s d)``). ``eig`` gives the eigenpairs when LAPACK's would be degenerate
    (see :func:`graphopt.gossip.simulator.block_triangular_eig`); they are checked against
    :func:`scipy.linalg.expm` at construction.
    """

    def __init__(self, M: np.ndarray, eig: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.M = np.asarray(M, dtype=np.float64)
        w, V = eig if eig is not None else np.linalg.eig(self.M)
        self.w, self.V = np.asarray(w, dtype=complex), np.asarray(V, dtype=complex)
        self.Vinv = np.linalg.inv(self.V)
        for dt in (0.37, 5.1, 83.0):
            exact = scipy.linalg.expm(self.M * dt)
            approx = ((self.V * np.exp(self.w * dt)) @ self.Vinv).real
            if not np.allclose(approx, exact, rtol=1e-8, atol=1e-10 * np.abs(exact).max()):
                raise ValueError("the flow matrix is not diagonalizable in floating point; pass "
                                 "its eigenpairs through eig=")
        self.w_col = self.w[:, None]

    def to_eigen(self, state: np.ndarray) -> np.ndarray:
        """Eigen-coordinates of real states ``(..., s, d)``."""
        return np.einsum("ab,...bd->...ad", self.Vinv, np.asarray(state, dtype=np.float64))

    def observer(self, rows: np.ndarray) -> np.ndarray:
        """Functionals ``rows @ s`` as ``(rows @ V) @ u`` (take ``.real`` of the product)."""
        return np.asarray(rows, dtype=np.float64) @ self.V

    def kick(self, direction: np.ndarray) -> np.ndarray:
        """Eigen-coordinates of a jump ``s += outer(direction, g)``: add ``outer(result, g)``."""
        return self.Vinv @ np.asarray(direction, dtype=np.float64)


class FlowState:
    """One worker's state under a :class:`FlowBasis`: eigen-coordinates ``u`` and their time.

    ``u`` may be a row of a larger array (the simulator keeps every worker in one array).
    """

    __slots__ = ("u", "t")

    def __init__(self, u: np.ndarray, t: float) -> None:
        self.u, self.t = u, float(t)

    def advance(self, w_col: np.ndarray, t: float) -> np.ndarray:
        dt = t - self.t
        if dt > 0:
            self.u *= np.exp(w_col * dt)
            self.t = t
        return self.u


@dataclass
class ArrayState:
    """A state that is just the iterate ``x`` (a view when the simulator holds all workers)."""

    x: np.ndarray
    t: float = 0.0


class GossipSGDRule(WorkerRule):
    """Asynchronous gossip SGD: ``x <- x - lr * g`` at gradient events, ``x_i = x_j = (x_i + x_j)/2``
    at edge events (randomized gossip averaging with local steps; with a constant ``lr`` it
    reaches an ``O(lr)`` neighbourhood of ``x*``, like DGD)."""

    name = "gossip-sgd"

    def __init__(self, lr: float) -> None:
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.lr = float(lr)

    def init(self, x0: np.ndarray, t0: float = 0.0) -> ArrayState:
        return ArrayState(np.array(x0, dtype=np.float64), t0)

    def advance(self, state: ArrayState, t: float) -> None:
        state.t = t

    def on_gradient(self, state: ArrayState, oracle: Oracle) -> None:
        state.x -= self.lr * oracle.grad(state.x)

    def message(self, state: ArrayState, oracle: Oracle | None = None) -> np.ndarray:
        return state.x.copy()

    def on_message(self, state: ArrayState, own: np.ndarray, peer: np.ndarray, edge: int) -> None:
        state.x[...] = 0.5 * (own + peer)

    def params(self, state: ArrayState) -> np.ndarray:
        return state.x
