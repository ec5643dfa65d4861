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

import warnings
from typing import Sequence

import numpy as np

from graphopt.gossip.simulator import (GossipMethod, LinearFlow, Topology, Tracker,
                                       block_triangular_eig, drive, resolve_rates)
from graphopt.gossip.spectral import gossip_spectrum
from graphopt.graph import Graph

__all__ = ["DADAO", "dadao_constants"]


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
        nu, gamma, gamma_t = c["nu"], c["gamma"], c["gamma_tilde"]
        delta_sum, beta, beta_t = c["delta"] + c["delta_tilde"], c["beta"], c["beta_tilde"]
        n = problem.num_workers
        state = np.zeros((n, 6, problem.dim))
        state[:, 0] = x0
        M = _flow_matrix(c)
        # (x, x~) and (z, z~) evolve on their own and drive (y, y~).
        flow = LinearFlow(M, state, eig=block_triangular_eig(M, [[0, 1], [4, 5], [2, 3]]))
        e = np.eye(6)
        read_x_yt = flow.observer(e[[0, 3]])
        read_x = flow.observer(e[0])
        read_msg = flow.observer(e[2] + e[4])
        grad_jump = flow.kick(-gamma * e[0] - gamma_t * e[1] + delta_sum * e[3])
        comm_jump = flow.kick(-beta * e[4] - beta_t * e[5])
        u = flow.u
        rng_events, rng_batch = np.random.default_rng(self.seed).spawn(2)
        grad, batch, outer = problem.grad, self.batch_size, np.multiply.outer

        def on_node(i: int, t: float) -> None:
            ui = flow.advance(i, t)
            x, y_t = (read_x_yt @ ui).real
            ui += outer(grad_jump, grad(i, x, rng_batch, batch) - nu * x - y_t)
            tracker.grads += 1

        def on_edge(i: int, j: int, t: float) -> None:
            ui, uj = flow.advance(i, t), flow.advance(j, t)
            jump = outer(comm_jump, (read_msg @ (ui - uj)).real)
            ui += jump
            uj -= jump
            tracker.comms += 1

        def checkpoint(t: float) -> float:
            flow.advance_all(t)
            return problem.error((read_x @ u).real)

        drive(tracker, rng_events, n, topologies, self.period, 1.0, on_node, on_edge, checkpoint)
        return (read_x @ u).real
