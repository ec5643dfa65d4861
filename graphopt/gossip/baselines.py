"""Baselines for decentralized optimization, on the same problem and Graph interface as DADAO.

- Randomized gossip averaging (Boyd et al., 2006): edges average their endpoints at the events
  of per-edge Poisson processes. Synchronous gossip: ``x <- W x`` every round.
- Decentralized gradient descent (Nedic & Ozdaglar, 2009) and D-PSGD (Lian et al., 2017, its
  stochastic-gradient form): ``x <- W x - step * grad F(x)``; a constant step converges to a
  neighbourhood of ``x*`` of size ``O(step)``, not to ``x*``.
- MSDA (Scaman et al., ICML 2017, Algorithm 2): dual accelerated gradient with Chebyshev
  accelerated gossip.
- ADOM+ (Kovalev et al., NeurIPS 2021), with and without its multi-consensus inner loop.
- Continuized accelerated decentralized method (Even et al., NeurIPS 2021, Appendix H), with
  edge resistances computed once (the reference code recomputes a pseudo-inverse per event).

The asynchronous ones (randomized gossip, Continuized; DADAO in :mod:`graphopt.gossip.dadao`) are
written once as per-worker rules (:class:`~graphopt.gossip.methods.WorkerRule`) that the simulator
and the process runtime both drive; the synchronous ones run on the simulator only.

Every method counts local gradient evaluations (dual methods: conjugate-gradient evaluations)
and edge activations (one pairwise exchange; a synchronous round over ``E`` edges costs ``E``),
so all methods compare on both axes. Dual methods assume each ``f_i`` has a cheap conjugate
gradient (closed form for least squares, a few Newton steps for logistic regression).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from graphopt.gossip import rates as design
from graphopt.gossip.methods import ArrayState, FlowBasis, FlowState, WorkerRule
from graphopt.gossip.simulator import (GossipMethod, LinearFlow, Topology, Tracker, drive,
                                       resolve_rates)
from graphopt.gossip.spectral import gossip_spectrum, rate_laplacian
from graphopt.graph import Graph

__all__ = ["RandomizedGossip", "SynchronousGossip", "DGD", "MSDA", "ADOMPlus", "Continuized",
           "gossip_matrix", "RandomizedGossipRule", "ContinuizedRule"]

_WEIGHTS = {"metropolis": "metropolis_weights", "max_degree": "max_degree_weights",
            "fmmc": "fmmc_weights", "fdla": "fdla_weights"}


def gossip_matrix(graph: Graph, weights: str | np.ndarray = "metropolis") -> sp.csr_matrix:
    """The mixing matrix ``W = I - sum_e w_e b_e b_e^T`` of a weight design.

    ``weights`` names a design of :mod:`graphopt.gossip.rates` (``"metropolis"``,
    ``"max_degree"``, ``"fmmc"``, ``"fdla"``) or gives per-edge weights.
    """
    if isinstance(weights, str):
        if weights not in _WEIGHTS:
            raise ValueError(f"weights must be one of {sorted(_WEIGHTS)} or an array, "
                             f"got {weights!r}")
        weights = getattr(design, _WEIGHTS[weights])(graph)
    return design.averaging_matrix(graph, weights)


def _rounds(tracker: Tracker, step, checkpoint) -> None:
    """Synchronous loop: ``step(k)`` updates the counts; checkpoints every ``record_every``."""
    if tracker.record(0, checkpoint()):
        return
    k = 0
    while True:
        step(k)
        k += 1
        due = tracker.tick()
        if tracker.exhausted(k):
            tracker.record(k, checkpoint())
            return
        if due and tracker.record(k, checkpoint()):
            return


def _local_minimizers(problem) -> np.ndarray:
    return np.stack([problem.conjugate_grad(i, np.zeros(problem.dim))
                     for i in range(problem.num_workers)])


def _single_graph(graphs: list[Graph], name: str) -> Graph:
    if len(graphs) != 1:
        raise ValueError(f"{name} runs on a fixed graph; got a sequence of {len(graphs)}")
    return graphs[0]


class RandomizedGossipRule(WorkerRule):
    """Randomized gossip for one worker: no gradient events, ``x <- (x_i + x_j) / 2`` at an edge
    event (Boyd et al., 2006)."""

    name = "randomized_gossip"
    node_rate = 0.0

    def init(self, x0: np.ndarray, t0: float = 0.0) -> ArrayState:
        return ArrayState(np.array(x0, dtype=np.float64), t0)

    def advance(self, state: ArrayState, t: float) -> None:
        state.t = t

    def message(self, state: ArrayState, oracle=None) -> np.ndarray:
        return state.x.copy()

    def on_message(self, state: ArrayState, own: np.ndarray, peer: np.ndarray, edge: int) -> None:
        state.x[...] = 0.5 * (own + peer)

    def params(self, state: ArrayState) -> np.ndarray:
        return state.x


class RandomizedGossip(GossipMethod):
    """Randomized gossip averaging: at the events of edge ``(i, j)`` (rate ``rates[e]``) both
    endpoints take the average ``(x_i + x_j) / 2``.

    It starts from the local minimizers and converges to their mean, which is ``x*`` for the
    averaging problem (:func:`~graphopt.gossip.problems.averaging_problem`) and otherwise the
    one-shot-averaging estimate (its error floor shows what gradients add). ``x0`` is ignored.
    """

    name = "randomized_gossip"

    def __init__(self, rates: str | np.ndarray = "weights", *, period: float = 1.0,
                 seed: int = 0) -> None:
        self.rates, self.period, self.seed = rates, period, seed

    def _default_record(self, problem, edges: list[np.ndarray]) -> int:
        return max(1, len(edges[0]))

    def _run(self, problem, graphs, edges, x0, tracker):
        topologies = [Topology(e, resolve_rates(g, self.rates)) for g, e in zip(graphs, edges)]
        x = _local_minimizers(problem)
        tracker.grads += problem.num_workers
        rule = RandomizedGossipRule()
        states = [ArrayState(row) for row in x]
        exchange = rule.exchange

        def on_edge(i: int, j: int, t: float) -> None:
            exchange(states[i], states[j], None, None, -1)
            tracker.comms += 1

        drive(tracker, np.random.default_rng(self.seed), problem.num_workers, topologies,
              self.period, 0.0, None, on_edge, lambda t: problem.error(x))
        return x


class SynchronousGossip(GossipMethod):
    """Synchronous gossip ``x <- W x`` from the local minimizers (see :class:`RandomizedGossip`);
    a sequence of graphs is cycled one per round."""

    name = "synchronous_gossip"

    def __init__(self, weights: str | np.ndarray = "metropolis") -> None:
        self.weights = weights

    def _run(self, problem, graphs, edges, x0, tracker):
        Ws = [gossip_matrix(g, self.weights) for g in graphs]
        x = _local_minimizers(problem)
        tracker.grads += problem.num_workers

        def step(k: int) -> None:
            x[...] = Ws[k % len(Ws)] @ x
            tracker.comms += len(edges[k % len(Ws)])

        _rounds(tracker, step, lambda: problem.error(x))
        return x


class DGD(GossipMethod):
    """Decentralized gradient descent ``x <- W x - step * grad F(x)``; with ``batch_size`` set,
    D-PSGD (local mini-batch gradients). ``step=None`` uses ``(1 + lambda_min(W)) / (2 L)``, half
    the largest step for which the iteration is stable (Yuan, Ling & Yin, 2016)."""

    name = "dgd"

    def __init__(self, step: float | None = None, *, weights: str | np.ndarray = "metropolis",
                 batch_size: int | None = None, seed: int = 0) -> None:
        if step is not None and not step > 0:
            raise ValueError(f"step must be > 0, got {step}")
        self.step, self.weights, self.batch_size, self.seed = step, weights, batch_size, seed
        if batch_size is not None:
            self.name = "dpsgd"

    def _run(self, problem, graphs, edges, x0, tracker):
        Ws = [gossip_matrix(g, self.weights) for g in graphs]
        lam_min = min(np.linalg.eigvalsh(W.toarray())[0] for W in Ws)
        step_size = self.step or (1 + lam_min) / (2 * problem.L)
        rng = np.random.default_rng(self.seed)
        x = x0.copy()
        n = problem.num_workers

        def grads(x: np.ndarray) -> np.ndarray:
            if self.batch_size is None:
                return problem.grads(x)
            return np.stack([problem.grad(i, x[i], rng, self.batch_size) for i in range(n)])

        def step(k: int) -> None:
            x[...] = Ws[k % len(Ws)] @ x - step_size * grads(x)
            tracker.grads += n
            tracker.comms += len(edges[k % len(Ws)])

        _rounds(tracker, step, lambda: problem.error(x))
        return x


class MSDA(GossipMethod):
    """Multi-Step Dual Accelerated method (Scaman et al., 2017, Algorithm 2) on a fixed graph.

    The gossip matrix is the graph's (rate-weighted) Laplacian; each outer step takes one
    conjugate gradient per worker and ``K = floor(1/sqrt(gamma))`` Chebyshev-accelerated
    gossip rounds, ``gamma`` the Laplacian's eigengap ``lambda_min^+ / lambda_max``.
    """

    name = "msda"

    def __init__(self, rates: str | np.ndarray = "weights") -> None:
        self.rates = rates

    def _run(self, problem, graphs, edges, x0, tracker):
        graph = _single_graph(graphs, "MSDA")
        r = resolve_rates(graph, self.rates)
        W = rate_laplacian(graph, r)
        spec = gossip_spectrum(graph, r)
        lam_max, lam_min = spec.lambda_max, spec.lambda2
        gap = lam_min / lam_max
        K = max(1, int(1 / np.sqrt(gap)))
        c3 = 2 / ((1 + gap) * lam_max)
        if K == 1:
            c1k = (1 - np.sqrt(gap)) / (1 + np.sqrt(gap))

            def acc_gossip(v: np.ndarray) -> np.ndarray:
                return c3 * (W @ v)
        else:
            c1k = ((1 - np.sqrt(gap)) / (1 + np.sqrt(gap))) ** K
            c2 = (1 + gap) / (1 - gap)

            def acc_gossip(v: np.ndarray) -> np.ndarray:
                a_prev, a = 1.0, c2
                v_prev, v_cur = v, c2 * (v - c3 * (W @ v))
                for _ in range(1, K):
                    a_prev, a = a, 2 * c2 * a - a_prev
                    v_prev, v_cur = v_cur, 2 * c2 * (v_cur - c3 * (W @ v_cur)) - v_prev
                return v - v_cur / a

        kappa = problem.L / problem.mu
        eta = problem.mu * (1 + c1k ** 2) / (1 + c1k) ** 2
        momentum = (((1 + c1k) * np.sqrt(kappa) - 1 + c1k)
                    / ((1 + c1k) * np.sqrt(kappa) + 1 - c1k))
        self.K_ = K
        n, E = problem.num_workers, len(edges[0])
        dual = np.zeros((n, problem.dim))
        dual_prev = dual.copy()
        theta = problem.conjugate_grads(dual)
        tracker.grads += n

        def step(k: int) -> None:
            nonlocal dual, dual_prev, theta
            y = dual - eta * acc_gossip(theta)
            dual, dual_prev = (1 + momentum) * y - momentum * dual_prev, y
            theta = problem.conjugate_grads(dual)
            tracker.grads += n
            tracker.comms += K * E

        _rounds(tracker, step, lambda: problem.error(theta))
        return theta


class ADOMPlus(GossipMethod):
    """ADOM+ (Kovalev et al., 2021): accelerated primal-dual method for time-varying networks.

    The gossip operator of each graph is its Laplacian over ``lambda_max``; ``chi`` is the worst
    ``lambda_max / lambda_min^+`` over the sequence. With ``multi_consensus=True`` each step
    applies ``q = ceil(chi ln 2)`` consecutive gossip matrices, which brings ``chi`` to 2.
    """

    name = "adom+"

    def __init__(self, *, multi_consensus: bool = False) -> None:
        self.multi_consensus = multi_consensus
        if multi_consensus:
            self.name = "adom+mc"

    def _run(self, problem, graphs, edges, x0, tracker):
        laps, chi = [], 1.0
        for g, e in zip(graphs, edges):
            spec = gossip_spectrum(g, np.ones(len(e)))
            laps.append(rate_laplacian(g, np.ones(len(e))) / spec.lambda_max)
            chi = max(chi, spec.condition_number)
        n = problem.num_workers
        q = int(np.ceil(chi * np.log(2))) if self.multi_consensus else 1
        if q > 1:
            chi = 2.0
        self.chi_, self.q_ = chi, q
        mu, L = problem.mu, problem.L
        tau1, tau2 = 1 / (np.sqrt(L / mu) + 0.5), np.sqrt(mu / L)
        sigma2 = tau2 / (16 * chi)
        sigma1 = 1 / (1 / sigma2 + 0.5)
        eta, alpha, beta, delta, nu = 1 / (L * tau2), mu / 2, 1 / (2 * L), 1 / (17 * L), mu / 2
        gamma, theta, zeta = nu / (14 * sigma2 * chi ** 2), nu / (4 * sigma2), 0.5
        c5 = 1 / (1 + eta * alpha)
        c1 = 1 / ((1 + theta * beta) + theta * eta * c5)
        c2 = theta * beta + eta * theta * c5
        c3 = theta * (beta * nu + eta * (nu + alpha) * c5)
        c4 = theta * c5
        x, y = x0.copy(), np.zeros_like(x0)
        z, m = np.zeros_like(x0), np.zeros_like(x0)
        x_f, y_f, z_f = x.copy(), y.copy(), z.copy()
        state = dict(x=x, y=y, z=z, m=m, x_f=x_f, y_f=y_f, z_f=z_f, k_mix=0)

        def step(k: int) -> None:
            s = state
            js = [(s["k_mix"] + r) % len(laps) for r in range(q)]
            s["k_mix"] += q
            tracker.comms += sum(len(edges[j]) for j in js)
            x_g = tau1 * s["x"] + (1 - tau1) * s["x_f"]
            g = problem.grads(x_g)
            tracker.grads += n
            y_g = sigma1 * s["y"] + (1 - sigma1) * s["y_f"]
            z_g = sigma1 * s["z"] + (1 - sigma1) * s["z_f"]
            y_new = c1 * (s["y"] + c2 * g - c3 * x_g - c4 * s["x"] - (theta / nu) * (y_g + z_g))
            x_new = c5 * (s["x"] + eta * alpha * x_g - eta * (g - nu * x_g - y_new))
            msg = (gamma / nu) * (y_g + z_g) + s["m"]
            # W = (I - L_j1)...(I - L_jq) applied by q sparse products on both messages at once.
            mixed = np.hstack([msg, y_g + z_g])
            for j in reversed(js):
                mixed = mixed - laps[j] @ mixed
            mix_msg, mix_yz = np.hsplit(mixed, 2)
            z_new = s["z"] + gamma * delta * (z_g - s["z"]) - (msg - mix_msg)
            s["m"] = mix_msg
            s["x_f"] = x_g + tau2 * (x_new - s["x"])
            s["y_f"] = y_g + sigma2 * (y_new - s["y"])
            s["z_f"] = z_g - zeta * (y_g + z_g - mix_yz)
            s["x"], s["y"], s["z"] = x_new, y_new, z_new

        _rounds(tracker, step, lambda: problem.error(state["x"]))
        return state["x"]


class ContinuizedRule(WorkerRule):
    """Continuized (Even et al., 2021) for one worker: ``(y, z)`` mix by a linear ODE; at an edge
    event both endpoints send ``grad f^*(y)`` and move ``y`` by ``-gamma R_e (g_i - g_j)`` and
    ``z`` by ``-gamma~ (g_i - g_j)``. No gradient events of its own: the conjugate gradients are
    taken at edge events (each counts as one gradient)."""

    name = "continuized"
    node_rate = 0.0

    def __init__(self, eta: float, gamma: float, gamma_tilde: float,
                 resistances: np.ndarray) -> None:
        self.basis = FlowBasis(np.array([[-eta, eta], [eta, -eta]]))
        self.read_y = self.basis.observer(np.array([1.0, 0.0]))
        self.read_z = self.basis.observer(np.array([0.0, 1.0]))
        # One kick moves y by -gamma R_e g and z by -gamma~ g; R_e varies, so split the two.
        self.kick_y = self.basis.kick(np.array([-gamma, 0.0]))
        self.kick_z = self.basis.kick(np.array([0.0, -gamma_tilde]))
        self.resistances = np.asarray(resistances, dtype=np.float64)
        self._w_col = self.basis.w_col

    def init(self, x0: np.ndarray, t0: float = 0.0) -> FlowState:
        return FlowState(self.basis.to_eigen(np.zeros((2, len(x0)))), t0)

    def advance(self, state: FlowState, t: float) -> None:
        state.advance(self._w_col, t)

    def message(self, state: FlowState, oracle=None) -> np.ndarray:
        return oracle.conjugate_grad((self.read_y @ state.u).real)

    def on_message(self, state: FlowState, own: np.ndarray, peer: np.ndarray, edge: int) -> None:
        state.u += np.multiply.outer(self.resistances[edge] * self.kick_y + self.kick_z,
                                     own - peer)

    def exchange(self, si: FlowState, sj: FlowState, oi, oj, edge: int) -> None:
        jump = np.multiply.outer(self.resistances[edge] * self.kick_y + self.kick_z,
                                 self.message(si, oi) - self.message(sj, oj))
        si.u += jump
        sj.u -= jump

    def dual(self, state: FlowState) -> np.ndarray:
        """``z``, whose conjugate gradient is the worker's primal iterate."""
        return (self.read_z @ state.u).real


class Continuized(GossipMethod):
    """Continuized accelerated decentralized method (Even et al., 2021, Appendix H).

    Edge ``e`` is activated with probability ``p_e`` (proportional to ``rates``) at the events
    of a rate-1 Poisson process; both endpoints take one conjugate gradient and exchange their
    difference. Between events each node's ``(y, z)`` mixes by a linear ODE integrated lazily.
    Constants come from the spectrum of ``L_p = sum_e p_e (e_i - e_j)(e_i - e_j)^T``.
    """

    name = "continuized"

    def __init__(self, rates: str | np.ndarray = "weights", *, seed: int = 0) -> None:
        self.rates, self.seed = rates, seed

    def _default_record(self, problem, edges: list[np.ndarray]) -> int:
        return max(1, len(edges[0]))

    def _run(self, problem, graphs, edges, x0, tracker):
        graph = _single_graph(graphs, "Continuized")
        r = resolve_rates(graph, self.rates)
        p = r / r.sum()
        spec = gossip_spectrum(graph, p)
        mu_gossip, R = spec.lambda2, spec.resistances
        r_over_p = R.max()
        mu, L = problem.mu, problem.L
        eta = np.sqrt(mu_gossip / r_over_p) * np.sqrt(mu / L)
        gamma = mu / (2 * r_over_p)
        gamma_t = np.sqrt(L * mu / (2 * mu_gossip * r_over_p))
        n = problem.num_workers
        rule = ContinuizedRule(eta, gamma, gamma_t, R)
        flow = LinearFlow(rule.basis.M, np.zeros((n, 2, problem.dim)), basis=rule.basis)
        states, u, read_z = flow.states, flow.u, rule.read_z
        edge_id = {(int(a), int(b)): k for k, (a, b) in enumerate(edges[0])}
        oracles = [problem.local(i) for i in range(n)]
        advance, exchange = rule.advance, rule.exchange

        def on_edge(i: int, j: int, t: float) -> None:
            si, sj = states[i], states[j]
            advance(si, t)
            advance(sj, t)
            exchange(si, sj, oracles[i], oracles[j], edge_id[i, j])
            tracker.grads += 2
            tracker.comms += 1

        def checkpoint(t: float) -> float:
            flow.advance_all(t)
            return problem.error(problem.conjugate_grads((read_z @ u).real))

        drive(tracker, np.random.default_rng(self.seed), n, [Topology(edges[0], p)], 1.0, 0.0,
              None, on_edge, checkpoint)
        return problem.conjugate_grads((read_z @ u).real)
