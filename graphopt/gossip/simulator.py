"""Event-driven simulation of asynchronous gossip methods (DADAO, Nabli & Oyallon, ICML 2023).

Asynchronous methods in this package are driven by independent Poisson point processes: one of
rate 1 per node for gradient steps and one of rate ``lambda_ij`` per edge for communications.
Their superposition is one Poisson process of the total rate whose events are labelled by a
draw proportional to the rates; :func:`poisson_events` produces that stream in vectorized
chunks from a ``numpy.random.Generator``, so a seed fixes the whole trajectory.

Between events each node follows a linear ODE ``ds/dt = M s`` that does not couple nodes.
:class:`LinearFlow` integrates it exactly and lazily: each node keeps the time of its last
update and is advanced only when an event touches it, by ``exp(M dt)`` built from a
precomputed eigendecomposition (``O(s^2 d)`` work, no per-event dense linear algebra over the
network). :class:`Tracker` holds the shared budgets (events, gradients, communications,
simulated time, wall clock, target error) and records the :class:`History`.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
from tqdm import tqdm

from graphopt.gossip import rates as design
from graphopt.gossip.methods import FlowBasis, FlowState
from graphopt.gossip.problems import DistributedProblem
from graphopt.gossip.spectral import edge_rates
from graphopt.graph import Graph

__all__ = ["History", "LinearFlow", "block_triangular_eig", "Tracker", "Topology",
           "poisson_events", "drive", "check_communication_graph", "resolve_rates", "GossipMethod"]


@dataclass
class History:
    """One run's record: per checkpoint, the clock, the cumulative counts and the error.

    ``time`` is simulated time for asynchronous methods and the round index for synchronous
    ones; ``grads`` counts local gradient (or conjugate-gradient) evaluations and ``comms``
    edge activations (one pairwise exchange). ``error`` is ``(1/n) sum_i ||x_i - x*||^2``.
    """

    method: str
    time: list[float] = field(default_factory=list)
    grads: list[int] = field(default_factory=list)
    comms: list[int] = field(default_factory=list)
    error: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    events: int = 0
    stop_reason: str = ""

    @property
    def relative_error(self) -> np.ndarray:
        err = np.asarray(self.error)
        with np.errstate(over="ignore", invalid="ignore"):
            return err / err[0] if err.size and err[0] > 0 else err

    def rows(self) -> list[dict]:
        """One dict per checkpoint (for CSV writers and pandas)."""
        rel = self.relative_error
        return [dict(method=self.method, time=t, grads=g, comms=c, error=e, relative_error=r,
                     wall=w) for t, g, c, e, r, w in zip(self.time, self.grads, self.comms,
                                                         self.error, rel, self.wall)]

    def first_below(self, rel_tol: float, axis: str = "comms") -> float:
        """Value of ``axis`` at the first checkpoint whose relative error is below ``rel_tol``
        (``nan`` when never reached)."""
        hit = np.flatnonzero(self.relative_error <= rel_tol)
        return float(getattr(self, axis)[hit[0]]) if hit.size else float("nan")


def check_communication_graph(graph: Graph, num_workers: int) -> np.ndarray:
    """The ``(E, 2)`` edges of a valid communication graph for ``num_workers`` workers."""
    edges, _ = edge_rates(graph)
    if graph.num_nodes != num_workers:
        raise ValueError(f"graph has {graph.num_nodes} nodes but the problem has "
                         f"{num_workers} workers")
    return edges


def poisson_events(node_rates: np.ndarray, edge_rates: np.ndarray, rng: np.random.Generator,
                   t_start: float = 0.0, t_end: float = np.inf, chunk: int = 65536
                   ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Superposed Poisson processes as chunks ``(times, ids)`` on ``[t_start, t_end)``.

    ``ids < n`` are node events (node ``id``); ``ids >= n`` are edge events (edge ``id - n``).
    Inter-arrival times are exponential with the total rate; labels are drawn proportionally
    to the individual rates (inverse-CDF on the cumulative rates).
    """
    rates = np.concatenate([np.asarray(node_rates, float), np.asarray(edge_rates, float)])
    total = rates.sum()
    if not total > 0:
        raise ValueError("the total event rate must be positive")
    cdf = np.cumsum(rates) / total
    t = t_start
    while t < t_end:
        times = t + np.cumsum(rng.exponential(1.0 / total, chunk))
        ids = np.minimum(np.searchsorted(cdf, rng.random(chunk), side="right"), len(rates) - 1)
        keep = times < t_end
        if not keep.all():
            times, ids = times[keep], ids[keep]
        if times.size:
            yield times, ids
            t = times[-1]
        if not keep.all():
            return


def block_triangular_eig(M: np.ndarray, blocks: Sequence[Sequence[int]]
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs of ``M``, block lower-triangular in the order of ``blocks`` (index lists).

    Each diagonal block is diagonalized on its own and its eigenvectors are extended through
    the later blocks by back-substitution, so an eigenvalue repeated across uncoupled blocks
    (DADAO's flow has ``0`` twice) keeps independent eigenvectors where LAPACK's ``eig`` on the
    whole matrix returns parallel ones.
    """
    M = np.asarray(M, dtype=np.float64)
    ws, vs = [], []
    for k, bk in enumerate(blocks):
        w, V = np.linalg.eig(M[np.ix_(bk, bk)])
        for a in range(len(w)):
            v = np.zeros(len(M), dtype=complex)
            v[bk] = V[:, a]
            for bj in blocks[k + 1:]:
                rhs = M[bj] @ v
                if np.any(rhs):
                    v[bj] = np.linalg.solve(w[a] * np.eye(len(bj)) - M[np.ix_(bj, bj)], rhs)
            ws.append(w[a])
            vs.append(v)
    return np.array(ws), np.stack(vs, axis=1)


class LinearFlow:
    """Exact lazy integration of ``ds_i/dt = M s_i`` for per-node states ``s_i`` (``s x d``).

    The simulator's storage for rules with a flow (:class:`~graphopt.gossip.methods.FlowBasis`):
    every node's eigen-coordinates are rows of one array ``u`` and ``states[i]`` is node ``i``'s
    :class:`~graphopt.gossip.methods.FlowState` (a view), advanced only when an event touches it
    (``O(s d)`` work); :meth:`advance_all` brings every node to a checkpoint in one product.
    """

    def __init__(self, M: np.ndarray, state: np.ndarray, t0: float = 0.0,
                 eig: tuple[np.ndarray, np.ndarray] | None = None,
                 basis: FlowBasis | None = None) -> None:
        self.basis = basis if basis is not None else FlowBasis(M, eig)
        self.M = self.basis.M
        self._w, self._V, self._Vinv = self.basis.w, self.basis.V, self.basis.Vinv
        self.u = np.einsum("ab,nbd->nad", self._Vinv, np.asarray(state, dtype=np.float64))
        self.states = [FlowState(row, t0) for row in self.u]
        self._w_col = self.basis.w_col

    def observer(self, rows: np.ndarray) -> np.ndarray:
        """Functionals ``rows @ s`` as ``(rows @ V) @ u`` (take ``.real`` of the product)."""
        return self.basis.observer(rows)

    def kick(self, direction: np.ndarray) -> np.ndarray:
        """Eigen-coordinates of a jump ``s += outer(direction, g)``: add ``outer(result, g)``."""
        return self.basis.kick(direction)

    def advance(self, i: int, t: float) -> np.ndarray:
        """Bring node ``i`` to time ``t``; returns its eigen-coordinates ``u_i`` (a view)."""
        return self.states[i].advance(self._w_col, t)

    def advance_all(self, t: float) -> np.ndarray:
        """Bring every node to time ``t``; returns the real states ``(n, s, d)``."""
        last = np.asarray([s.t for s in self.states])
        self.u *= np.exp(np.outer(t - last, self._w))[:, :, None]
        for s in self.states:
            s.t = float(t)
        return self.real_states()

    def real_states(self) -> np.ndarray:
        return np.einsum("ab,nbd->nad", self._V, self.u).real


class Tracker:
    """Budgets, counts and checkpoints shared by every method.

    A run stops at the first of: ``max_events``, ``max_grads``, ``max_comms``, ``max_time``
    (simulated time or rounds), ``max_wall`` seconds, or relative error ``<= tol``. Errors are
    recorded every ``record_every`` events (or rounds) and at the end.
    """

    def __init__(self, method: str, *, max_events: int | None = None,
                 max_grads: int | None = None, max_comms: int | None = None,
                 max_time: float | None = None, max_wall: float | None = None,
                 tol: float | None = None, record_every: int = 1, progress: bool = True) -> None:
        for name, value in dict(max_events=max_events, max_grads=max_grads, max_comms=max_comms,
                                max_time=max_time, max_wall=max_wall, tol=tol).items():
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if all(v is None for v in (max_events, max_grads, max_comms, max_time, max_wall, tol)):
            raise ValueError("give at least one budget: max_events, max_grads, max_comms, "
                             "max_time, max_wall or tol")
        if record_every < 1:
            raise ValueError(f"record_every must be >= 1, got {record_every}")
        self.history = History(method)
        self.max_events = max_events or np.inf
        self.max_grads = max_grads or np.inf
        self.max_comms = max_comms or np.inf
        self.max_time = max_time or np.inf
        self.max_wall = max_wall or np.inf
        self.tol = tol or 0.0
        self.record_every = int(record_every)
        self.grads = self.comms = self.events = 0
        self._start = time.perf_counter()
        total = max_events if max_events is not None else None
        self._bar = tqdm(total=total, desc=method, unit="ev", leave=False,
                         disable=not progress or not sys.stderr.isatty())

    def record(self, t: float, error: float) -> bool:
        """Append a checkpoint; return True when the target error or wall clock is reached."""
        h = self.history
        wall = time.perf_counter() - self._start
        h.time.append(float(t))
        h.grads.append(self.grads)
        h.comms.append(self.comms)
        h.wall.append(wall)
        errors = h.error
        errors.append(float(error))
        if not math.isfinite(error):
            h.stop_reason = "diverged"
        elif error <= self.tol * errors[0] and len(errors) > 1:
            h.stop_reason = "tol"
        elif wall >= self.max_wall:
            h.stop_reason = "max_wall"
        else:
            return False
        return True

    def exhausted(self, t: float) -> bool:
        """True once a count or time budget is used up (checked after each event)."""
        h = self.history
        if self.events >= self.max_events:
            h.stop_reason = "max_events"
        elif self.grads >= self.max_grads:
            h.stop_reason = "max_grads"
        elif self.comms >= self.max_comms:
            h.stop_reason = "max_comms"
        elif t >= self.max_time:
            h.stop_reason = "max_time"
        return bool(h.stop_reason)

    def tick(self, n: int = 1) -> bool:
        """Count ``n`` events; True when a checkpoint is due."""
        before = self.events
        self.events += n
        self._bar.update(n)
        return self.events // self.record_every > before // self.record_every

    def sync_bar(self) -> None:
        if not self._bar.disable:
            self._bar.update(self.events - self._bar.n)

    def close(self) -> History:
        self.sync_bar()
        self._bar.close()
        self.history.events = self.events
        return self.history


def time_segments(graphs: Sequence[Graph], period: float, max_time: float
                  ) -> Iterator[tuple[int, float, float]]:
    """``(graph index, start, end)`` of each constant-topology segment of a time-varying run."""
    if len(graphs) == 1:
        yield 0, 0.0, max_time
        return
    k = 0
    while k * period < max_time:
        yield k % len(graphs), k * period, min((k + 1) * period, max_time)
        k += 1


@dataclass
class Topology:
    """One communication graph of a (possibly time-varying) run: edges and per-edge rates."""

    edges: np.ndarray
    rates: np.ndarray


def drive(tracker: Tracker, rng: np.random.Generator, num_nodes: int,
          topologies: Sequence[Topology], period: float, node_rate: float, on_node, on_edge,
          checkpoint) -> float:
    """Play the event stream through ``on_node(i, t)`` / ``on_edge(i, j, t)`` callbacks.

    Node events arrive at ``node_rate`` per node; edge events at each topology's rates, the
    topology switching every ``period`` units of time (cycling through ``topologies``).
    ``checkpoint(t)`` returns the current error. Returns the final time.
    """
    t = 0.0
    if tracker.record(t, checkpoint(t)):
        return t
    every = tracker.record_every
    # Budgets are compared inline and the tracker's methods bound once: this loop runs once per
    # event, and with record_every=1 the checkpoint branch does too.
    max_events, max_grads, max_comms = tracker.max_events, tracker.max_grads, tracker.max_comms
    record, exhausted = tracker.record, tracker.exhausted
    show_bar = not tracker._bar.disable
    next_check = min(every, max_events)
    for seg, t0, t1 in time_segments(topologies, period, tracker.max_time):
        topo = topologies[seg]
        ei, ej = topo.edges[:, 0].tolist(), topo.edges[:, 1].tolist()
        for times, ids in poisson_events(np.full(num_nodes, float(node_rate)), topo.rates, rng,
                                         t0, t1):
            for t, k in zip(times.tolist(), ids.tolist()):
                if k < num_nodes:
                    on_node(k, t)
                else:
                    on_edge(ei[k - num_nodes], ej[k - num_nodes], t)
                tracker.events += 1
                if (tracker.events >= next_check or tracker.grads >= max_grads
                        or tracker.comms >= max_comms):
                    if show_bar:
                        tracker.sync_bar()
                    events = tracker.events
                    # Event times stay below the segment's end, so only a count can run out here.
                    if ((events >= max_events or tracker.grads >= max_grads
                         or tracker.comms >= max_comms) and exhausted(t)):
                        record(t, checkpoint(t))
                        return t
                    if events % every == 0 and record(t, checkpoint(t)):
                        return t
                    next_check = min(events + every, max_events)
    tracker.history.stop_reason = "max_time"
    tracker.record(t, checkpoint(t))
    return t


def resolve_rates(graph: Graph, rates) -> np.ndarray:
    """Per-edge rates (aligned with ``graph.edges()``) from a name or an array.

    ``"uniform"``: equal rates at DADAO's threshold ``2 chi1 chi2 = 1``; ``"sdp"``: the
    SDP-optimal rates (minimum total rate at the threshold); ``"weights"``: the graph's edge
    weights (1 for an unweighted graph); an array: used as given. Rates must be non-negative
    and the edges with positive rate must connect the graph.
    """
    if isinstance(rates, str):
        if rates == "uniform":
            rates = design.uniform_rates(graph)
        elif rates == "sdp":
            rates = design.sdp_rates(graph)
        elif rates == "weights":
            rates = None
        else:
            raise ValueError(f"rates must be 'uniform', 'sdp', 'weights' or an array, "
                             f"got {rates!r}")
    return edge_rates(graph, rates)[1]


def as_graph_list(graph: Graph | Sequence[Graph]) -> list[Graph]:
    """One graph (anything :meth:`Graph.coerce` takes) or a list/tuple of them, as a list of Graphs."""
    # A networkx graph is iterable (over its nodes), so only lists and tuples mean "sequence".
    items = graph if isinstance(graph, (list, tuple)) else [graph]
    graphs = [Graph.coerce(g) for g in items]
    if not graphs:
        raise ValueError("graph sequence is empty")
    return graphs


class GossipMethod:
    """Base of every method: scikit-learn style, hyperparameters in ``__init__``, ``fit`` runs.

    ``fit(problem, graph, ...)`` accepts one :class:`Graph` or a sequence of graphs on the same
    nodes (a time-varying network) and the budgets of :class:`Tracker`. After it, ``x_`` holds
    the final per-worker iterates and ``history_`` the :class:`History`.
    """

    name = "method"

    def fit(self, problem: DistributedProblem, graph: Graph | Sequence[Graph], *,
            x0: np.ndarray | None = None, max_events: int | None = None,
            max_grads: int | None = None, max_comms: int | None = None,
            max_time: float | None = None,
            max_wall: float | None = None, tol: float | None = None,
            record_every: int | None = None, progress: bool = True) -> "GossipMethod":
        if not isinstance(problem, DistributedProblem):
            raise TypeError(f"problem must be a DistributedProblem (see graphopt.gossip.problems), "
                            f"got {type(problem).__name__}")
        graphs = as_graph_list(graph)
        edges = [check_communication_graph(g, problem.num_workers) for g in graphs]
        if x0 is None:
            x0 = np.zeros((problem.num_workers, problem.dim))
        x0 = np.array(np.broadcast_to(x0, (problem.num_workers, problem.dim)), dtype=np.float64)
        tracker = Tracker(self.name, max_events=max_events, max_grads=max_grads,
                          max_comms=max_comms, max_time=max_time, max_wall=max_wall, tol=tol,
                          record_every=record_every or self._default_record(problem, edges),
                          progress=progress)
        self.x_ = self._run(problem, graphs, edges, x0, tracker)
        self.history_ = tracker.close()
        return self

    def _default_record(self, problem, edges: list[np.ndarray]) -> int:
        return 1

    def _run(self, problem, graphs: list[Graph], edges: list[np.ndarray], x0: np.ndarray,
             tracker: Tracker) -> np.ndarray:
        raise NotImplementedError
