"""DADAO, the baselines, the problems and the event simulator of graphopt.gossip."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.linalg

from graphopt.gossip.baselines import (DGD, MSDA, ADOMPlus, Continuized, RandomizedGossip,
                                       SynchronousGossip)
from graphopt.gossip.dadao import DADAO, _flow_matrix, dadao_constants
from graphopt.gossip.problems import (LeastSquares, Logistic, averaging_problem, split_rows,
                                      synthetic_least_squares, synthetic_logistic)
from graphopt.gossip.rates import uniform_rates
from graphopt.gossip.runner import METHODS, run
from graphopt.gossip.simulator import LinearFlow, block_triangular_eig, poisson_events
from graphopt.gossip.spectral import chi1, chi2
from graphopt.graph import Graph
from graphopt.partition import Partition

N = 8


def nx_graph(g) -> Graph:
    return Graph.from_networkx(g)


@pytest.fixture(scope="module")
def cycle() -> Graph:
    return nx_graph(nx.cycle_graph(N))


@pytest.fixture(scope="module")
def ls() -> LeastSquares:
    return synthetic_least_squares(N, dim=4, samples_per_worker=20, heterogeneity=1.0, seed=1)


@pytest.fixture(scope="module")
def logit() -> Logistic:
    return synthetic_logistic(N, dim=4, samples_per_worker=20, heterogeneity=1.0, reg=0.2, seed=1)


# ---------------------------------------------------------------------- problems
def test_least_squares_optimum_and_constants(ls):
    assert np.allclose(ls.grads(np.tile(ls.x_star, (N, 1))).sum(0), 0, atol=1e-10)
    eig = np.concatenate([np.linalg.eigvalsh(h) for h in ls.H])
    assert ls.mu == pytest.approx(eig.min()) and ls.L == pytest.approx(eig.max())
    x = np.random.default_rng(0).standard_normal(4)
    a, b = ls._A[3], ls._b[3]
    assert np.allclose(ls.grad(3, x), a.T @ (a @ x - b) / len(a))


def test_logistic_optimum_and_conjugate(logit):
    assert np.linalg.norm(logit.grads(np.tile(logit.x_star, (N, 1))).sum(0)) < 1e-9
    y = np.random.default_rng(0).standard_normal(4) * 0.1
    assert np.allclose(logit.grad(2, logit.conjugate_grad(2, y)), y, atol=1e-9)
    # Finite differences of the loss confirm the gradient.
    s, x, h = logit._S[0], np.array([0.3, -0.2, 0.1, 0.5]), 1e-6
    f = lambda z: np.mean(np.log1p(np.exp(-(s @ z)))) + 0.1 * z @ z
    fd = np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(4)])
    assert np.allclose(logit.grad(0, x), fd, atol=1e-6)


def test_least_squares_conjugate_inverts_gradient(ls):
    Y = np.random.default_rng(2).standard_normal((N, 4))
    assert np.allclose(ls.grads(ls.conjugate_grads(Y)), Y)


def test_split_rows_by_partition_assignment_and_random():
    g = nx_graph(nx.grid_2d_graph(6, 6))
    part = Partition.random(g, 4, seed=0)
    rows = split_rows(36, part)
    assert sorted(np.concatenate(rows).tolist()) == list(range(36))
    assert all(np.all(part.assignment[r] == k) for k, r in enumerate(rows))
    rand = split_rows(36, 5, seed=3)
    assert [len(r) for r in rand] == [8, 7, 7, 7, 7] and rand[0].tolist() == split_rows(
        36, 5, seed=3)[0].tolist()
    A = np.random.default_rng(0).standard_normal((36, 3))
    prob = LeastSquares(A, A @ np.ones(3), part)
    assert prob.num_workers == 4 and np.allclose(prob.x_star, 1)


def test_problem_bad_input():
    A = np.random.default_rng(0).standard_normal((20, 5))
    with pytest.raises(ValueError, match="mu"):
        LeastSquares(A, np.zeros(20), 10)  # 2 rows per worker, 5 features: not strongly convex
    with pytest.raises(ValueError, match="reg"):
        LeastSquares(A, np.zeros(20), 2, reg=-1)
    with pytest.raises(ValueError, match="reg"):
        Logistic(A, np.sign(A[:, 0]), 2, reg=0)
    with pytest.raises(ValueError, match="labels"):
        Logistic(A, np.arange(20.0), 2)
    with pytest.raises(ValueError, match="split"):
        LeastSquares(A, np.zeros(20), 0)
    with pytest.raises(ValueError, match="rows"):
        LeastSquares(A, np.zeros(19), 2)


# ---------------------------------------------------------------------- simulator
def test_poisson_counts_match_rates_in_expectation():
    rng = np.random.default_rng(0)
    node_rates, edge_rates = np.ones(4), np.array([0.5, 2.0, 0.0, 1.5])
    T = 2000.0
    ids = np.concatenate([i for _, i in poisson_events(node_rates, edge_rates, rng, 0, T,
                                                        chunk=4096)])
    counts = np.bincount(ids, minlength=8)
    expected = np.concatenate([node_rates, edge_rates]) * T
    assert counts[6] == 0
    nz = expected > 0
    assert np.all(np.abs(counts[nz] - expected[nz]) < 5 * np.sqrt(expected[nz]))


def test_linear_flow_is_exact_and_lazy():
    M = _flow_matrix(dadao_constants(0.1, 3.0, 2.0))
    state = np.random.default_rng(0).standard_normal((3, 6, 2))
    start = state.copy()
    flow = LinearFlow(M, state, eig=block_triangular_eig(M, [[0, 1], [4, 5], [2, 3]]))
    flow.advance(0, 0.7)
    flow.advance(0, 2.5)
    final = flow.advance_all(4.0)
    for i in range(3):
        assert np.allclose(final[i], scipy.linalg.expm(4.0 * M) @ start[i], atol=1e-12)


def test_plain_eig_of_dadao_flow_is_rejected():
    # Two zero eigenvalues in uncoupled blocks: LAPACK returns parallel eigenvectors.
    M = _flow_matrix(dadao_constants(1.0, 32.0, 1.0))
    with pytest.raises(ValueError, match="diagonalizable"):
        LinearFlow(M, np.zeros((1, 6, 1)))


# ---------------------------------------------------------------------- DADAO
def test_dadao_converges_least_squares_and_logistic(cycle, ls, logit):
    for prob in (ls, logit):
        m = DADAO(seed=0).fit(prob, cycle, tol=1e-8, max_time=3000, progress=False)
        assert m.history_.stop_reason == "tol"
        assert np.mean(np.sum((m.x_ - prob.x_star) ** 2, 1)) <= 1e-8 * m.history_.error[0]


def test_dadao_same_seed_same_trajectory(cycle, ls):
    a = run("dadao", ls, cycle, options=dict(seed=5), max_events=3000, progress=False)
    b = run("dadao", ls, cycle, options=dict(seed=5), max_events=3000, progress=False)
    c = run("dadao", ls, cycle, options=dict(seed=6), max_events=3000, progress=False)
    assert a.error == b.error and a.comms == b.comms and a.time == b.time
    assert a.error != c.error


def test_dadao_counts_in_expectation(cycle, ls):
    rates = uniform_rates(cycle)
    T = 300.0
    h = DADAO(rates=rates, seed=0).fit(ls, cycle, max_time=T, progress=False).history_
    exp_grads, exp_comms = N * T, rates.sum() * T
    assert abs(h.grads[-1] - exp_grads) < 5 * np.sqrt(exp_grads)
    assert abs(h.comms[-1] - exp_comms) < 5 * np.sqrt(exp_comms)
    assert h.events == h.grads[-1] + h.comms[-1]


def test_dadao_threshold_error_and_force(cycle, ls):
    low = 0.5 * uniform_rates(cycle)
    with pytest.raises(ValueError, match="threshold"):
        DADAO(rates=low).fit(ls, cycle, max_events=10, progress=False)
    with pytest.warns(RuntimeWarning, match="threshold"):
        DADAO(rates=low, force=True).fit(ls, cycle, max_events=10, progress=False)


def test_dadao_time_varying_uses_worst_case_chis(ls):
    graphs = [nx_graph(nx.cycle_graph(N)), nx_graph(nx.path_graph(N)),
              nx_graph(nx.star_graph(N - 1))]
    base = [np.ones(g.num_edges) for g in graphs]
    c1 = max(chi1(g, r) for g, r in zip(graphs, base))
    c2 = max(chi2(g, r) for g, r in zip(graphs, base))
    scale = np.sqrt(2 * c1 * c2)
    m = DADAO(rates=[scale * r for r in base], period=2.0, seed=0)
    m.fit(ls, graphs, tol=1e-6, max_time=3000, progress=False)
    assert 2 * m.chi1_ * m.chi2_ == pytest.approx(1.0)
    assert m.history_.stop_reason == "tol"


def test_dadao_stochastic_gradients_reach_noise_floor(cycle, ls):
    h = DADAO(batch_size=4, seed=0).fit(ls, cycle, max_time=300, progress=False).history_
    assert np.all(np.isfinite(h.error)) and h.relative_error[-1] < 0.1


# ---------------------------------------------------------------------- baselines
@pytest.mark.parametrize("name", ["msda", "adom+", "adom+mc", "continuized", "dadao"])
def test_accelerated_methods_reach_optimum(name, cycle, ls):
    h = run(name, ls, cycle, tol=1e-8, max_grads=400_000, progress=False)
    assert h.stop_reason == "tol", (name, h.relative_error[-1])


@pytest.mark.parametrize("name", ["msda", "continuized"])
def test_dual_methods_on_logistic(name, cycle, logit):
    assert run(name, logit, cycle, tol=1e-8, max_grads=200_000,
               progress=False).stop_reason == "tol"


@pytest.mark.parametrize("method", [RandomizedGossip(seed=0), SynchronousGossip(),
                                    SynchronousGossip("fmmc")])
def test_gossip_averages_exactly(method, cycle):
    prob = averaging_problem(np.random.default_rng(0).standard_normal((N, 3)))
    h = method.fit(prob, cycle, tol=1e-10, max_comms=100_000, progress=False).history_
    assert h.stop_reason == "tol"
    assert np.allclose(method.x_, prob.x_star, atol=1e-4)


def test_dgd_neighbourhood_shrinks_with_step(cycle, ls):
    errs = [DGD(step=s).fit(ls, cycle, max_grads=N * 4000, progress=False).history_.error[-1]
            for s in (0.2 / ls.L, 0.05 / ls.L)]
    assert errs[1] < errs[0] < DGD().fit(ls, cycle, max_grads=N, progress=False).history_.error[0]
    h = run("dpsgd", ls, cycle, max_grads=N * 2000, progress=False)
    assert h.relative_error[-1] < 0.5


def test_synchronous_counts_are_exact(cycle, ls):
    E = cycle.num_edges
    h = MSDA().fit(ls, cycle, max_time=7, progress=False)
    assert h.history_.grads[-1] == 8 * N and h.history_.comms[-1] == 7 * h.K_ * E
    a = ADOMPlus(multi_consensus=True).fit(ls, cycle, max_time=5, progress=False)
    assert a.q_ > 1 and a.history_.comms[-1] == 5 * a.q_ * E and a.history_.grads[-1] == 5 * N
    c = Continuized(seed=0).fit(ls, cycle, max_events=500, progress=False).history_
    assert c.comms[-1] == 500 and c.grads[-1] == 1000


# ---------------------------------------------------------------------- bad input
def test_bad_graphs_and_budgets(ls):
    directed = Graph.from_edge_index(np.array([[i for i in range(N)],
                                               [(i + 1) % N for i in range(N)]]), N)
    with pytest.raises(ValueError, match="undirected"):
        DADAO().fit(ls, directed, max_events=10, progress=False)
    two = nx.disjoint_union(nx.cycle_graph(4), nx.cycle_graph(4))
    with pytest.raises(ValueError, match="disconnected"):
        DADAO().fit(ls, nx_graph(two), max_events=10, progress=False)
    with pytest.raises(ValueError, match="workers"):
        DADAO().fit(ls, nx_graph(nx.cycle_graph(5)), max_events=10, progress=False)
    cycle = nx_graph(nx.cycle_graph(N))
    with pytest.raises(ValueError, match="non-negative"):
        DADAO(rates=-np.ones(N)).fit(ls, cycle, max_events=10, progress=False)
    with pytest.raises(ValueError, match="budget"):
        DADAO().fit(ls, cycle, progress=False)
    with pytest.raises(ValueError, match="mu"):
        dadao_constants(0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="unknown method"):
        run("sgd", ls, cycle, max_events=1)
    assert set(METHODS) >= {"dadao", "msda", "adom+", "adom+mc", "continuized", "dgd",
                            "dpsgd", "randomized_gossip", "synchronous_gossip"}


def test_libsvm_a9a_split_and_dadao(shared_root):
    from graphopt.gossip.problems import libsvm_problem

    prob = libsvm_problem("a9a", N, max_samples=800, reg=0.5, seed=0, root=str(shared_root))
    assert prob.dim == 123 and prob.num_workers == N and prob.mu == 0.5
    assert np.linalg.norm(prob.grads(np.tile(prob.x_star, (N, 1))).sum(0)) < 1e-8
    h = DADAO(seed=0).fit(prob, nx_graph(nx.cycle_graph(N)), tol=1e-6, max_time=2000,
                          progress=False).history_
    assert h.stop_reason == "tol"


def test_sdp_rates_save_communications_as_predicted(ls):
    from graphopt.datasets import communication_graph
    from graphopt.gossip.rates import sdp_rates

    barbell = communication_graph("barbell", N)
    uni, sdp = uniform_rates(barbell), sdp_rates(barbell)
    comms = [DADAO(rates=r, seed=0).fit(ls, barbell, tol=1e-6, max_time=1e5, progress=False)
             .history_.first_below(1e-6, "comms") for r in (uni, sdp)]
    predicted = uni.sum() / sdp.sum()
    assert predicted > 1.5
    assert comms[0] / comms[1] == pytest.approx(predicted, rel=0.15)
