"""Partition: METIS quality and reproducibility, awkward inputs, queries, quotient graph, caching."""

import numpy as np
import pytest

from graphopt import Graph, Partition
from graphopt.datasets import contextual_sbm


@pytest.fixture(scope="module")
def csbm():
    return contextual_sbm(600, 4, 8.0, 4, seed=5)


def test_cora_metis_cuts_at_most_a_third_of_random(cora):
    metis = Partition.metis(cora, 10, seed=0)
    random = Partition.random(cora, 10, seed=0)
    assert metis.edge_cut() <= random.edge_cut() / 3
    assert metis.balance() <= 1.1
    assert abs(random.balance() - 1.0) < 0.01


def test_same_seed_same_partition(cora):
    a = Partition.metis(cora, 10, seed=3)
    b = Partition.metis(cora, 10, seed=3)
    np.testing.assert_array_equal(a.assignment, b.assignment)
    np.testing.assert_array_equal(Partition.random(cora, 7, seed=1).assignment,
                                  Partition.random(cora, 7, seed=1).assignment)
    assert not np.array_equal(Partition.random(cora, 7, seed=1).assignment,
                              Partition.random(cora, 7, seed=2).assignment)


def test_metis_handles_directed_input_self_loops_and_isolated_nodes():
    # Two directed triangles with self-loops, one bridge, and four isolated nodes.
    ei = np.array([[0, 1, 2, 3, 4, 5, 0, 3, 2], [1, 2, 0, 4, 5, 3, 0, 3, 3]])
    g = Graph.from_edge_index(ei, 10)
    assert not g.is_undirected() and g.has_self_loops()
    p = Partition.metis(g, 2, seed=0)
    assert p.assignment.shape == (10,) and set(p.assignment.tolist()) <= {0, 1}
    assert p.part_sizes().sum() == 10
    assert p.assignment[0] == p.assignment[1] == p.assignment[2]
    assert p.assignment[3] == p.assignment[4] == p.assignment[5]
    empty = Graph.from_edge_index(np.zeros((2, 0), dtype=np.int64), 5)
    assert Partition.metis(empty, 2).part_sizes().sum() == 5


def test_metis_options(csbm):
    rec = Partition.metis(csbm, 4, recursive=True, seed=0)
    assert rec.num_parts == 4 and rec.params["recursive"]
    weights = np.ones(csbm.num_nodes, dtype=np.int64)
    weights[:100] = 5
    heavy = Partition.metis(csbm, 4, node_weights=weights, seed=0)
    load = np.bincount(heavy.assignment, weights=weights, minlength=4)
    assert load.max() / load.mean() < 1.2
    wg = csbm.with_weights(np.full(csbm.indices.size, 2.5))
    assert Partition.metis(wg, 4, edge_weights=True, seed=0).edge_cut() > 0
    assert Partition.metis(csbm, 1).edge_cut() == 0
    with pytest.raises(ValueError, match="node_weights"):
        Partition.metis(csbm, 4, node_weights=-weights)


@pytest.mark.parametrize("k", [0, -1, 601])
def test_bad_num_parts(csbm, k):
    with pytest.raises(ValueError, match="num_parts"):
        Partition.metis(csbm, k)
    with pytest.raises(ValueError, match="num_parts"):
        Partition.random(csbm, k)


def test_assignment_validation(csbm):
    with pytest.raises(ValueError, match="assignment has shape"):
        Partition.from_assignment(csbm, np.zeros(5, dtype=np.int64))
    with pytest.raises(ValueError, match="must lie in"):
        Partition.from_assignment(csbm, np.full(csbm.num_nodes, 3), num_parts=3)
    with pytest.raises(TypeError, match="integers"):
        Partition.from_assignment(csbm, np.zeros(csbm.num_nodes))


def test_queries_are_consistent(csbm):
    p = Partition.metis(csbm, 6, seed=0)
    parts = p.parts()
    assert sorted(np.concatenate(parts).tolist()) == list(range(csbm.num_nodes))
    np.testing.assert_array_equal([len(x) for x in parts], p.part_sizes())
    a = p.assignment
    e = csbm.edges()
    assert p.edge_cut() == int(np.sum(a[e[:, 0]] != a[e[:, 1]]))
    with pytest.raises(ValueError, match="parts must lie"):
        p.nodes_of([-1])


def test_subgraph_of_parts_keeps_edges_between_them(csbm):
    p = Partition.metis(csbm, 6, seed=0)
    sub = p.subgraph([1, 4])
    nodes = np.flatnonzero(np.isin(p.assignment, [1, 4]))
    np.testing.assert_array_equal(sub.node_map, nodes)
    e = csbm.edges()
    inside = np.isin(e, nodes).all(axis=1)
    between = inside & (p.assignment[e[:, 0]] != p.assignment[e[:, 1]])
    assert between.sum() > 0  # the batch must restore some inter-part edges
    assert sub.num_edges == inside.sum()
    np.testing.assert_array_equal(sub.x, csbm.x[nodes])


@pytest.mark.parametrize("directed", [False, True])
def test_quotient_graph_weights_sum_to_edge_cut(csbm, directed):
    g = csbm
    if directed:
        e = csbm.edges()
        g = Graph.from_edge_index(e.T, csbm.num_nodes)  # each edge one way only
    p = Partition.metis(g, 5, seed=0)
    q = p.quotient_graph()
    assert q.num_nodes == 5 and q.is_undirected() and not q.has_self_loops()
    _, w = q.edges(return_weights=True)
    assert w.sum() == pytest.approx(p.edge_cut())
    np.testing.assert_array_equal(q.x[:, 0], p.part_sizes())
    a = p.assignment
    src, dst = a[g.edge_index()]
    pair = (min(src[src != dst][0], dst[src != dst][0]), max(src[src != dst][0], dst[src != dst][0]))
    count = np.sum((np.minimum(src, dst) == pair[0]) & (np.maximum(src, dst) == pair[1]))
    assert q.to_scipy()[pair] == (count / 2 if not directed else count)


def test_save_load_and_cache_keyed_by_graph_and_params(tmp_path, csbm):
    p = Partition.metis(csbm, 4, seed=0)
    p.save(tmp_path / "p.npz")
    q = Partition.load(tmp_path / "p.npz", csbm)
    np.testing.assert_array_equal(p.assignment, q.assignment)
    assert q.params == p.params
    other = contextual_sbm(600, 4, 8.0, 4, seed=6)
    with pytest.raises(ValueError, match="different graph"):
        Partition.load(tmp_path / "p.npz", other)

    cache = tmp_path / "cache"
    first = Partition.metis(csbm, 4, seed=0, cache_dir=cache)
    files = set(cache.iterdir())
    assert len(files) == 1
    again = Partition.metis(csbm, 4, seed=0, cache_dir=cache)
    np.testing.assert_array_equal(first.assignment, again.assignment)
    assert set(cache.iterdir()) == files  # hit, nothing new written
    Partition.metis(csbm, 4, seed=1, cache_dir=cache)
    Partition.metis(csbm, 4, seed=0, recursive=True, cache_dir=cache)
    Partition.metis(other, 4, seed=0, cache_dir=cache)
    assert len(set(cache.iterdir())) == 4
    assert not [f for f in cache.iterdir() if f.name.startswith(".")]  # no temp files left
