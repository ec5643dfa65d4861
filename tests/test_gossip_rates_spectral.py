"""Spectral quantities of the gossip Laplacian against dense formulas and closed forms."""

import networkx as nx
import numpy as np
import pytest

from graphopt.graph import Graph
from graphopt.gossip import (algebraic_connectivity, chi1, chi2, effective_resistances,
                             gossip_condition_number, gossip_spectrum, rate_laplacian,
                             threshold_ratio)


def nxg(g: nx.Graph) -> Graph:
    return Graph.from_networkx(nx.convert_node_labels_to_integers(g), weight=None)


def random_connected(n: int, seed: int) -> Graph:
    return nxg(nx.connected_watts_strogatz_graph(n, 4, 0.3, seed=seed))


@pytest.mark.parametrize("n", [3, 7, 12])
def test_complete_graph_closed_form(n):
    g = nxg(nx.complete_graph(n))
    assert algebraic_connectivity(g) == pytest.approx(n)
    np.testing.assert_allclose(effective_resistances(g), 2.0 / n)
    assert chi1(g) == pytest.approx(1.0 / n)
    assert chi2(g) == pytest.approx(1.0 / n)
    assert gossip_condition_number(g) == pytest.approx(1.0)


@pytest.mark.parametrize("n", [5, 10, 17])
@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_cycle_closed_form(n, method):
    g = nxg(nx.cycle_graph(n))
    lam2 = 2 - 2 * np.cos(2 * np.pi / n)
    assert algebraic_connectivity(g, method=method) == pytest.approx(lam2, rel=1e-8)
    # One edge in parallel with the path of the other n-1 edges.
    np.testing.assert_allclose(effective_resistances(g, method=method), (n - 1) / n, rtol=1e-8)
    lam_max = 4.0 if n % 2 == 0 else 2 - 2 * np.cos(np.pi * (n - 1) / n)
    assert gossip_condition_number(g, method=method) == pytest.approx(lam_max / lam2, rel=1e-8)


def test_path_and_tree_resistance_is_inverse_rate():
    # On a tree every edge is a bridge: R_e = 1 / λ_e whatever the other rates.
    g = nxg(nx.random_labeled_tree(15, seed=3))
    rates = np.random.default_rng(0).uniform(0.2, 3.0, g.num_edges)
    np.testing.assert_allclose(effective_resistances(g, rates), 1.0 / rates, rtol=1e-10)


@pytest.mark.parametrize("method", ["dense", "sparse"])
@pytest.mark.parametrize("n", [30, 120])  # 120 goes through eigsh rather than eigh
def test_against_dense_pseudo_inverse(method, n):
    g = random_connected(n, seed=1)
    rates = np.random.default_rng(2).uniform(0.1, 2.0, g.num_edges)
    lap = rate_laplacian(g, rates).toarray()
    pinv = np.linalg.pinv(lap)
    b = np.zeros((g.num_nodes, g.num_edges))
    e = g.edges()
    b[e[:, 0], np.arange(len(e))], b[e[:, 1], np.arange(len(e))] = 1.0, -1.0
    res = np.einsum("ie,ij,je->e", b, pinv, b)
    np.testing.assert_allclose(effective_resistances(g, rates, method=method), res, rtol=1e-8)
    eig = np.linalg.eigvalsh(lap)
    s = gossip_spectrum(g, rates, method=method)
    assert s.lambda2 == pytest.approx(eig[1], rel=1e-8)
    assert s.lambda_max == pytest.approx(eig[-1], rel=1e-8)
    assert s.chi2 == pytest.approx(res.max() / 2, rel=1e-8)
    # The Fiedler vector is a unit eigenvector for λ2, orthogonal to the constants.
    assert np.linalg.norm(lap @ s.fiedler - eig[1] * s.fiedler) < 1e-6
    assert abs(s.fiedler.sum()) < 1e-8
    # Foster's theorem: Σ_e λ_e R_e = n − 1.
    assert np.dot(rates, res) == pytest.approx(g.num_nodes - 1, rel=1e-10)


def test_laplacian_matches_weighted_graph_laplacian():
    g = random_connected(20, seed=4)
    rates = np.arange(1, g.num_edges + 1, dtype=float)
    e = g.edges()
    wg = Graph.from_edge_index(e.T, g.num_nodes, rates, undirected=True)
    np.testing.assert_allclose(rate_laplacian(g, rates).toarray(), wg.laplacian().toarray())
    # rates=None uses the graph's own weights.
    assert effective_resistances(wg) == pytest.approx(effective_resistances(g, rates))


def test_threshold_scales_as_inverse_square():
    g = random_connected(16, seed=5)
    rates = np.random.default_rng(6).uniform(0.5, 2.0, g.num_edges)
    r1 = threshold_ratio(g, rates)
    assert threshold_ratio(g, 3.0 * rates) == pytest.approx(r1 / 9.0)
    assert r1 == pytest.approx(2 * chi1(g, rates) * chi2(g, rates))


def test_zero_rate_on_a_redundant_edge_is_allowed():
    g = nxg(nx.cycle_graph(6))
    rates = np.ones(g.num_edges)
    rates[0] = 0.0  # the cycle becomes a path
    np.testing.assert_allclose(effective_resistances(g, rates)[1:], 1.0)


def test_bad_input():
    disc = nxg(nx.disjoint_union(nx.path_graph(3), nx.path_graph(3)))
    with pytest.raises(ValueError, match="disconnected"):
        chi1(disc)
    directed = Graph.from_edge_index(np.array([[0, 1], [1, 2]]), 3)
    with pytest.raises(ValueError, match="undirected"):
        chi2(directed)
    path = nxg(nx.path_graph(4))
    with pytest.raises(ValueError, match="non-negative"):
        chi1(path, [1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="disconnected"):
        chi1(path, [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="shape"):
        chi1(path, [1.0, 1.0])
    with pytest.raises(ValueError, match="NaN"):
        chi1(path, [1.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="self-loops"):
        chi1(path.add_self_loops())
    with pytest.raises(ValueError, match="method"):
        chi1(path, method="magic")
    with pytest.raises(TypeError, match="Graph"):
        chi1(nx.path_graph(4))
