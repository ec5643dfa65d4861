"""DADAO: Decoupled Accelerated Decentralized Asynchronous Optimization.

Nabli & Oyallon, ICML 2023 (arXiv 2208.00779).

Each worker ``i`` holds six variables ``(x, x~, y, y~, z, z~)``. Between events they follow a
linear ODE that does not couple workers; a worker takes a gradient step at the events of its own
rate-1 Poisson process, and each edge ``(i, j)`` exchanges ``y + z`` at the events of its rate
``lambda_ij`` process. With ``Lambda = sum_ij lambda_ij (e_i - e_j)(e_i - e_j)^T``,
``chi1 = 1 / lambda_min^+(Lambda)`` and ``chi2 = max_ij R_ij(Lambda) / 2``, the method converges
at an accelerated rate when ``2 chi1 chi2 <= 1`` and diverges below it. The constants are the
paper's (``nu = mu / 2``), as used in the authors' reference implementation.
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np

from graphopt.gossip.methods import FlowBasis, FlowState, Oracle, WorkerRule
from graphopt.gossip.simulator import (GossipMethod, LinearFlow, Topology, Tracker,
                                       block_triangular_eig, drive, resolve_rates)
from graphopt.gossip.spectral import gossip_spectrum
from graphopt.graph import Graph

__all__ = ["DADAO", "DadaoRule", "dadao_constants"]


def dadao_constants(mu: float, L: float, chi_1: float) -> dict[str, float]:
    """The paper's step sizes and ODE rates from ``mu``, ``L`` and ``chi1`` (``nu = mu / 2``)."""
    if not mu > 0:
        raise ValueError(f"mu must be > 0, got {mu}")
    if not L >= mu:
        raise ValueError(f"L must be >= mu, got L={L}, mu={mu}")
    nu = mu / 2
    r = np.sqrt(nu / L)
    return dict(nu=nu, alpha=r / 4, alpha_tilde=r / 8, eta=r / 8, eta_tilde=r / 8,
                theta=1 / (2 * r), beta=0.5, beta_tilde=2 * chi_1 / r, delta=r / 4,
                delta_tilde=1.0, gamma=1 / (4 * L), gamma_tilde=1 / (4 * np.sqrt(L * nu)))


def _flow_matrix(c: dict[str, float]) -> np.ndarray:
    """``ds/dt = M s`` for ``s = (x, x~, y, y~, z, z~)``: the paper's mixing ODE."""
    M = np.zeros((6, 6))
    M[0, 0], M[0, 1] = -c["eta"], c["eta"]
    M[1, 0], M[1, 1] = c["eta_tilde"], -c["eta_tilde"]
    M[2, 2], M[2, 3] = -c["alpha"], c["alpha"]
    M[3, 1], M[3, 2], M[3, 4] = -c["theta"] * c["nu"], -c["theta"], -c["theta"]
    M[4, 4], M[4, 5] = -c["alpha"], c["alpha"]
    M[5, 4], M[5, 5] = c["alpha_tilde"], -c["alpha_tilde"]
    return M


class DadaoRule(WorkerRule):
    """DADAO for one worker: state ``(x, x~, y, y~, z, z~)`` in the flow's eigenbasis.

    A gradient event at ``x`` with ``g = grad f_i(x) - nu x - y~`` moves ``x`` by ``-gamma g``,
    ``x~`` by ``-gamma~ g`` and ``y~`` by ``(delta + delta~) g``; an edge event with message
    ``m = y + z`` on both sides moves ``z`` by ``-beta (m_i - m_j)`` and ``z~`` by
    ``-beta~ (m_i - m_j)``. ``constants`` come from :func:`dadao_constants`.
    """

    name = "dadao"

    def __init__(self, constants: dict[str, float]) -> None:
        c = self.constants = dict(constants)
        self.nu = c["nu"]
        M = _flow_matrix(c)
        # (x, x~) and (z, z~) evolve on their own and drive (y, y~).
        self.basis = FlowBasis(M, eig=block_triangular_eig(M, [[0, 1], [4, 5], [2, 3]]))
        e = np.eye(6)
        b = self.basis
        self.read_x_yt = b.observer(e[[0, 3]])
        self.read_x = b.observer(e[0])
        self.read_msg = b.observer(e[2] + e[4])
        self.grad_jump = b.kick(-c["gamma"] * e[0] - c["gamma_tilde"] * e[1]
                                + (c["delta"] + c["delta_tilde"]) * e[3])
        self.comm_jump = b.kick(-c["beta"] * e[4] - c["beta_tilde"] * e[5])
        self._w_col = b.w_col

    def init(self, x0: np.ndarray, t0: float = 0.0) -> FlowState:
        s = np.zeros((6, len(x0)))
        s[0] = x0
        return FlowState(self.basis.to_eigen(s), t0)

    def advance(self, state: FlowState, t: float) -> None:
        state.advance(self._w_col, t)

    def on_gradient(self, state: FlowState, oracle: Oracle) -> None:
        u = state.u
        x, y_t = (self.read_x_yt @ u).real
        u += np.multiply.outer(self.grad_jump, oracle.grad(x) - self.nu * x - y_t)

    def message(self, state: FlowState, oracle: Oracle | None = None) -> np.ndarray:
        return (self.read_msg @ state.u).real

    def on_message(self, state: FlowState, own: np.ndarray, peer: np.ndarray, edge: int) -> None:
        state.u += np.multiply.outer(self.comm_jump, own - peer)

    def exchange(self, si: FlowState, sj: FlowState, oi, oj, edge: int) -> None:
        # The message is linear in the state: one product on the difference.
        jump = np.multiply.outer(self.comm_jump, (self.read_msg @ (si.u - sj.u)).real)
        si.u += jump
        sj.u -= jump

    def params(self, state: FlowState) -> np.ndarray:
        return (self.read_x @ state.u).real


class DADAO(GossipMethod):
    """DADAO on a communication graph (or a sequence of graphs, switched every ``period``).

    Parameters
    ----------
    rates : ``"uniform"`` (equal rates at the threshold ``2 chi1 chi2 = 1``), ``"sdp"``
        (minimum total rate at the threshold), ``"weights"`` (the graph's edge weights) or an
        array of per-edge rates aligned with ``graph.edges()``; for a time-varying network, a
        list with one entry per graph.
    period : time between topology switches of a time-varying network.
    force : run even when ``2 chi1 chi2 > 1`` (a warning instead of an error).
    batch_size : local mini-batch size for stochastic gradients (``None``: full local gradient).
    seed : seeds the event stream and the mini-batches.

    With several graphs, ``chi1`` and ``chi2`` are the worst case over the sequence. With
    stochastic gradients the history reports the current iterates (no time averaging), which
    settle at a noise floor. After ``fit``: ``x_``, ``history_``, ``chi1_``, ``chi2_`` and the
    step sizes ``constants_``.
    """

    name = "dadao"

    def __init__(self, rates: str | np.ndarray | Sequence = "uniform", *, period: float = 1.0,
                 force: bool = False, batch_size: int | None = None, seed: int = 0) -> None:
        if not period > 0:
            raise ValueError(f"period must be > 0, got {period}")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.rates, self.period, self.force = rates, period, force
        self.batch_size, self.seed = batch_size, seed

    def _default_record(self, problem, edges: list[np.ndarray]) -> int:
        return 2 * problem.num_workers

    def _topologies(self, graphs: list[Graph], edges: list[np.ndarray]) -> list[Topology]:
        per_graph = self.rates if (not isinstance(self.rates, (str, np.ndarray))
                                   and len(graphs) > 1) else [self.rates] * len(graphs)
        if len(per_graph) != len(graphs):
            raise ValueError(f"rates has {len(per_graph)} entries for {len(graphs)} graphs")
        return [Topology(e, resolve_rates(g, r)) for g, e, r in zip(graphs, edges, per_graph)]

    def _run(self, problem, graphs: list[Graph], edges: list[np.ndarray], x0: np.ndarray,
             tracker: Tracker) -> np.ndarray:
        topologies = self._topologies(graphs, edges)
        spectra = [gossip_spectrum(g, t.rates) for g, t in zip(graphs, topologies)]
        chi_1, chi_2 = max(s.chi1 for s in spectra), max(s.chi2 for s in spectra)
        self.chi1_, self.chi2_ = chi_1, chi_2
        if 2 * chi_1 * chi_2 > 1 + 1e-9:
            msg = (f"2*chi1*chi2 = {2 * chi_1 * chi_2:.4g} > 1: the communication rates are below "
                   "DADAO's threshold and the method may diverge; scale the rates up by "
                   f"{np.sqrt(2 * chi_1 * chi_2):.4g}")
            if not self.force:
                raise ValueError(msg + " (or pass force=True)")
            warnings.warn(msg, RuntimeWarning, stacklevel=3)
        c = self.constants_ = dadao_constants(problem.mu, problem.L, chi_1)
        rule = DadaoRule(c)
        n = problem.num_workers
        state = np.zeros((n, 6, problem.dim))
        state[:, 0] = x0
        flow = LinearFlow(rule.basis.M, state, basis=rule.basis)
        states, u, read_x = flow.states, flow.u, rule.read_x
        rng_events, rng_batch = np.random.default_rng(self.seed).spawn(2)
        oracles = [_BatchOracle(problem, i, rng_batch, self.batch_size) for i in range(n)]
        advance, on_gradient, exchange = rule.advance, rule.on_gradient, rule.exchange

        def on_node(i: int, t: float) -> None:
            s = states[i]
            advance(s, t)
            on_gradient(s, oracles[i])
            tracker.grads += 1

        def on_edge(i: int, j: int, t: float) -> None:
            si, sj = states[i], states[j]
            advance(si, t)
            advance(sj, t)
            exchange(si, sj, None, None, -1)
            tracker.comms += 1

        def checkpoint(t: float) -> float:
            flow.advance_all(t)
            return problem.error((read_x @ u).real)

        errors = None
        if tracker.record_every < n:
            # Frequent recording: an O(n d) checkpoint per record would dominate, so the error is
            # kept up to date per event instead (it moves only at touched nodes).
            errors = _IncrementalError.for_rule(rule, flow, problem.x_star)
        if errors is not None:
            touch, touch_pair = errors.touch, errors.touch_pair

            def on_node(i: int, t: float) -> None:  # noqa: F811
                s = states[i]
                advance(s, t)
                on_gradient(s, oracles[i])
                touch(i, t)
                tracker.grads += 1

            def on_edge(i: int, j: int, t: float) -> None:  # noqa: F811
                si, sj = states[i], states[j]
                advance(si, t)
                advance(sj, t)
                exchange(si, sj, None, None, -1)
                touch_pair(i, j, t)
                tracker.comms += 1

            checkpoint = errors.error  # noqa: F811

        drive(tracker, rng_events, n, topologies, self.period, 1.0, on_node, on_edge, checkpoint)
        flow.advance_all(tracker.history.time[-1])
        return (read_x @ u).real


class _IncrementalError:
    """``(1/n) sum_i ||x_i(t) - x*||^2`` at any ``t``, updated in ``O(d)`` per touched node.

    DADAO's ``x`` depends on ``(x, x~)`` only, whose flow has two real modes, adjacent in the
    eigenbasis: a constant one (coordinate ``u_z``, read with weight ``r_z``) and one decaying as
    ``exp(lam t)`` (``u_o``, ``r_o``). Node ``i``'s iterate is ``x_i(t) - x* = p_i + exp(lam (t -
    l_i)) q_i`` with ``p_i = r_z (u_z - x* / r_z)``, ``q_i = r_o u_o`` and ``l_i`` its last event,
    so the error is ``S0 + exp(lam (t - t0)) S1 + exp(2 lam (t - t0)) S2`` with per-node sums
    rebased at ``t0``. An event replaces the touched nodes' terms, read off one small Gram
    matrix of their two mode rows. Per-event Python and numpy call overhead, not flops, is the
    cost at this size, so the rows are read through a real view of the complex coordinates
    (their imaginary parts are zero, checked in :meth:`for_rule`) and the sums are Python
    floats. Every ``resync`` events the sums are recomputed from all nodes (``O(n d)``,
    amortized ``O(d)``), which bounds the rounding drift of the updates and keeps the rebasing
    factors ``exp(-lam (l_i - t0))`` small.
    """

    def __init__(self, lo: int, zero: int, weights: np.ndarray, lam: float, flow: LinearFlow,
                 x_star: np.ndarray, resync: int) -> None:
        self.lam, self.flow = lam, flow
        r_z, r_o = float(weights[zero]), float(weights[1 - zero])
        # Gram entries (zero mode first) -> terms of ||p||^2, 2 p.q and ||q||^2.
        self.k = (r_z * r_z, 2 * r_z * r_o, r_o * r_o)
        # (n, s, 2d) real view: real and imaginary parts interleaved on the last axis; the two
        # mode rows, zero mode first (a reversed slice when it comes second: still a view).
        self._uf = flow.u.view(np.float64)
        self._rows = slice(lo, lo + 2) if zero == 0 else slice(lo + 1, lo - 1 if lo else None, -1)
        self.offset = np.zeros((2, 2 * len(x_star)))
        self.offset[0, 0::2] = x_star / r_z
        self.offset2 = np.concatenate((self.offset, self.offset))
        self.n = len(flow.states)
        self.resync_every, self.count = resync, 0
        self.sync(max(s.t for s in flow.states))

    @classmethod
    def for_rule(cls, rule: "DadaoRule", flow: LinearFlow, x_star: np.ndarray
                 ) -> "_IncrementalError | None":
        b, r = rule.basis, rule.read_x
        modes = np.flatnonzero(np.abs(r) > 1e-14 * np.abs(r).max())
        if len(modes) != 2 or modes[1] != modes[0] + 1:
            return None  # not the two-mode structure assumed above: record exactly instead
        w = b.w[modes]
        # Real modes with real read-out weights and a real V^-1 block keep the coordinates real
        # (every jump is V^-1 of a real direction), so their real parts are the whole story.
        tiny = 1e-12 * max(1.0, np.abs(w).max())
        if (np.abs(w.imag).max() > tiny or np.abs(r[modes].imag).max() > 1e-14 * np.abs(r).max()
                or np.abs(b.Vinv[modes].imag).max() > 1e-14 * np.abs(b.Vinv[modes]).max()):
            return None
        zero = np.flatnonzero(np.abs(w) < 1e-12)
        if len(zero) != 1 or not w[1 - zero[0]].real < 0:
            return None
        return cls(int(modes[0]), int(zero[0]), r[modes].real, float(w[1 - zero[0]].real), flow,
                   x_star, resync=2 * len(flow.states))

    def sync(self, t: float) -> None:
        """Recompute every node's terms with the sums rebased at ``t``."""
        W = self._uf[:, self._rows] - self.offset
        G = np.einsum("nad,nbd->nab", W, W)
        last = np.array([s.t for s in self.flow.states])
        decay = np.exp(self.lam * (t - last))
        k0, k1, k2 = self.k
        self.t0 = t
        self.c0 = (k0 * G[:, 0, 0]).tolist()
        self.c1 = (k1 * G[:, 0, 1] * decay).tolist()
        self.c2 = (k2 * G[:, 1, 1] * decay ** 2).tolist()
        self.S = [math.fsum(self.c0), math.fsum(self.c1), math.fsum(self.c2)]

    def touch(self, i: int, t: float) -> None:
        """Node ``i`` changed at time ``t`` (its own time): replace its terms."""
        W = self._uf[i, self._rows] - self.offset
        (a, b), (_, c) = np.dot(W, W.T).tolist()
        self._replace(i, a, b, c, t)

    def touch_pair(self, i: int, j: int, t: float) -> None:
        """Both ends of an edge event: one ``4 x 4`` Gram (its cross terms unused) costs fewer
        numpy calls than two ``2 x 2`` ones."""
        uf, rows = self._uf, self._rows
        W = np.concatenate((uf[i, rows], uf[j, rows])) - self.offset2
        (a, b, _, _), (_, c, _, _), (_, _, a2, b2), (_, _, _, c2) = np.dot(W, W.T).tolist()
        self._replace(i, a, b, c, t)
        self._replace(j, a2, b2, c2, t)

    def _replace(self, i: int, a: float, b: float, c: float, t: float) -> None:
        """Swap node ``i``'s terms for those of the Gram entries ``a, b, c`` read at ``t``."""
        g = math.exp(self.lam * (self.t0 - t))
        k0, k1, k2 = self.k
        a, b, c = k0 * a, k1 * b * g, k2 * c * g * g
        S, c0, c1, c2 = self.S, self.c0, self.c1, self.c2
        S[0] += a - c0[i]
        S[1] += b - c1[i]
        S[2] += c - c2[i]
        c0[i], c1[i], c2[i] = a, b, c
        self.count += 1

    def error(self, t: float) -> float:
        if self.count >= self.resync_every or self.lam * (self.t0 - t) > 20:
            self.sync(t)
            self.count = 0
        e = math.exp(self.lam * (t - self.t0))
        S = self.S
        return max(S[0] + e * S[1] + e * e * S[2], 0.0) / self.n


class _BatchOracle:
    """Worker ``i`` of a simulated problem as an :class:`~graphopt.gossip.methods.Oracle`."""

    __slots__ = ("grad",)

    def __init__(self, problem, i: int, rng: np.random.Generator, batch_size: int | None) -> None:
        grad = problem.grad
        self.grad = lambda x: grad(i, x, rng, batch_size)
