"""Graph: validation, conversions (networkx, scipy, PyG, torch), normalizations, subgraphs."""

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphopt import Graph


def _weighted_graph(rng, n=12, directed=False):
    nxg = nx.gnp_random_graph(n, 0.35, seed=3, directed=directed)
    for u, v in nxg.edges:
        nxg[u][v]["weight"] = float(rng.integers(1, 9)) / 4  # exact in float32 too
    for v in nxg.nodes:
        nxg.nodes[v]["x"] = rng.standard_normal(3).astype(np.float32)
        nxg.nodes[v]["y"] = int(rng.integers(0, 3))
        nxg.nodes[v]["train_mask"] = bool(v % 2)
    return nxg


def _same_structure(a: Graph, b: Graph):
    assert a.num_nodes == b.num_nodes
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    if a.weights is None:
        assert b.weights is None
    else:
        np.testing.assert_allclose(a.weights, b.weights)


# ---------------------------------------------------------------------------- validation
@pytest.mark.parametrize("make, match", [
    (lambda: Graph.from_edge_index(np.array([[0, 1], [1, 5]]), 4), "out of range"),
    (lambda: Graph.from_edge_index(np.array([[0, -1], [1, 2]]), 4), "out of range"),
    (lambda: Graph(np.array([0, 1, 2]), np.array([1, 7])), "out of range"),
    (lambda: Graph(np.array([0, 1, 1]), np.array([1, 0])), "indptr"),
    (lambda: Graph.from_edge_index(np.array([[0], [1]]), 2, weights=[np.nan]), "NaN"),
    (lambda: Graph.from_edge_index(np.array([[0], [1]]), 2, x=np.array([[1.0], [np.inf]])), "x contains 1 NaN"),
    (lambda: Graph.from_edge_index(np.array([[0], [1]]), 2, x=sp.csr_matrix([[np.nan], [0.0]])), "x contains"),
    (lambda: Graph.from_edge_index(np.array([[0], [1]]), 2, x=np.ones((3, 2))), "x has 3 rows"),
    (lambda: Graph.from_edge_index(np.array([[0], [1]]), 2, train_mask=np.ones(3, bool)), "train_mask has shape"),
    (lambda: Graph.from_edge_index(np.array([0, 1]), 2), "shape"),
])
def test_bad_input_raises_clear_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_type_errors_name_the_argument():
    with pytest.raises(TypeError, match="train_mask must be a boolean"):
        Graph.from_edge_index(np.array([[0], [1]]), 2, train_mask=np.array([1, 0]))
    with pytest.raises(TypeError, match="edge_index must hold integers"):
        Graph.from_edge_index(np.array([[0.0], [1.0]]), 2)
    with pytest.raises(TypeError, match="unknown node data"):
        Graph.from_edge_index(np.array([[0], [1]]), 2).replace(colour=1)


def test_from_edge_index_merges_duplicates_and_symmetrizes():
    ei = np.array([[0, 0, 1, 2], [1, 1, 0, 2]])
    g = Graph.from_edge_index(ei, 3, weights=[1.0, 2.0, 5.0, 1.0], reduce="sum")
    assert g.to_scipy().toarray()[0, 1] == 3.0 and g.to_scipy().toarray()[1, 0] == 5.0
    assert not g.is_undirected()
    u = Graph.from_edge_index(ei, 3, weights=[1.0, 2.0, 5.0, 1.0], undirected=True, reduce="max")
    a = u.to_scipy().toarray()
    np.testing.assert_array_equal(a, a.T)
    assert a[0, 1] == 5.0 and a[2, 2] == 1.0
    assert u.is_undirected() and u.num_edges == 2 and u.has_self_loops()


def test_is_undirected_checks_weights_and_reverse_edges():
    assert not Graph.from_edge_index(np.array([[0, 1], [1, 0]]), 2, weights=[1.0, 2.0]).is_undirected()
    assert Graph.from_edge_index(np.array([[0, 1], [1, 0]]), 2, weights=[2.0, 2.0]).is_undirected()
    directed = Graph.from_edge_index(np.array([[0, 1], [1, 2]]), 3)
    assert not directed.is_undirected()
    assert directed.to_undirected().is_undirected()
    assert directed.to_undirected().num_edges == 2


# ---------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("directed", [False, True])
def test_networkx_round_trip_preserves_everything(rng, directed):
    nxg = _weighted_graph(rng, directed=directed)
    g = Graph.from_networkx(nxg)
    assert g.is_undirected() == (not directed)
    assert g.num_nodes == nxg.number_of_nodes() and g.num_edges == nxg.number_of_edges()
    back = g.to_networkx()
    assert back.is_directed() == directed
    assert set(back.edges) == set(nxg.edges) if directed else \
        {frozenset(e) for e in back.edges} == {frozenset(e) for e in nxg.edges}
    for u, v, d in nxg.edges(data=True):
        assert back[u][v]["weight"] == d["weight"]
    for v in nxg.nodes:
        np.testing.assert_array_equal(back.nodes[v]["x"], nxg.nodes[v]["x"])
        assert back.nodes[v]["y"] == nxg.nodes[v]["y"]
        assert back.nodes[v]["train_mask"] == nxg.nodes[v]["train_mask"]
    _same_structure(g, Graph.from_networkx(back))


def test_scipy_round_trip(rng):
    g = Graph.from_networkx(_weighted_graph(rng))
    h = Graph.from_scipy(g.to_scipy(), x=g.x, y=g.y)
    _same_structure(g, h)
    assert Graph.from_scipy(sp.csr_matrix(np.ones((3, 3)))).weights is None
    with pytest.raises(ValueError, match="square"):
        Graph.from_scipy(sp.csr_matrix(np.ones((2, 3))))
    with pytest.raises(TypeError, match="scipy sparse"):
        Graph.from_scipy(np.ones((2, 2)))


@pytest.mark.parametrize("directed", [False, True])
def test_pyg_round_trip(rng, directed):
    g = Graph.from_networkx(_weighted_graph(rng, directed=directed))
    g = g.replace(val_mask=~g.train_mask, test_mask=np.zeros(g.num_nodes, bool))
    data = g.to_pyg()
    assert data.num_nodes == g.num_nodes and data.edge_index.shape[1] == g.indices.size
    h = Graph.from_pyg(data)
    _same_structure(g, h)
    assert h.is_undirected() == (not directed)
    np.testing.assert_array_equal(h.x, g.x)
    for key in ("y", "train_mask", "val_mask", "test_mask"):
        np.testing.assert_array_equal(getattr(h, key), getattr(g, key))


def test_cora_round_trips_preserve_node_data(cora):
    h = Graph.from_pyg(cora.to_pyg())
    _same_structure(cora, h)
    np.testing.assert_array_equal(h.x, cora.x.toarray())
    np.testing.assert_array_equal(h.test_mask, cora.test_mask)
    s = Graph.from_scipy(cora.to_scipy(), x=cora.x)
    _same_structure(cora, s)
    assert (s.x != cora.x).nnz == 0


def test_torch_sparse_matches_scipy(rng):
    g = Graph.from_networkx(_weighted_graph(rng))
    for norm in (None, "sym", "diag_enhanced"):
        expected = (g.to_scipy() if norm is None else g.normalized_adjacency(norm)).toarray()
        for layout in ("csr", "coo"):
            t = g.to_torch_sparse(norm, layout=layout)
            assert t.dtype == torch.float32
            np.testing.assert_allclose(t.to_dense().numpy(), expected, rtol=1e-6)


# ---------------------------------------------------------------------------- matrices
def test_normalizations_match_their_formulas(rng):
    g = Graph.from_networkx(_weighted_graph(rng))
    a = g.to_scipy().toarray()
    n = g.num_nodes
    a_hat = a + np.eye(n)
    d = a_hat.sum(axis=1)
    sym = np.diag(d ** -0.5) @ a_hat @ np.diag(d ** -0.5)
    rw = np.diag(1 / (a.sum(axis=1) + 1)) @ a_hat  # (D + I)^-1 (A + I), Cluster-GCN eq. 10
    np.testing.assert_allclose(g.normalized_adjacency("sym").toarray(), sym, rtol=1e-6)
    np.testing.assert_allclose(g.normalized_adjacency("rw").toarray(), rw, rtol=1e-6)
    np.testing.assert_allclose(g.normalized_adjacency("residual").toarray(), rw + np.eye(n), rtol=1e-6)
    lam = 0.7
    np.testing.assert_allclose(g.normalized_adjacency("diag_enhanced", lam=lam).toarray(),
                               rw + lam * np.diag(np.diag(rw)), rtol=1e-6)
    with pytest.raises(ValueError, match="normalization must be one of"):
        g.normalized_adjacency("bogus")


def test_laplacian_degree_and_self_loops(rng):
    g = Graph.from_networkx(_weighted_graph(rng)).add_self_loops(3.0)
    assert g.has_self_loops()
    np.testing.assert_array_equal(g.to_scipy().diagonal(), 3.0)
    lap = g.laplacian().toarray()
    np.testing.assert_allclose(lap.sum(axis=1), 0, atol=1e-12)
    a = g.remove_self_loops().to_scipy().toarray()
    np.testing.assert_allclose(lap, np.diag(a.sum(axis=1)) - a)
    np.testing.assert_allclose(g.degree(weighted=True), g.to_scipy().toarray().sum(axis=1))
    assert not g.remove_self_loops().has_self_loops()
    assert g.remove_self_loops().num_edges == g.num_edges - g.num_nodes


def test_edges_lists_each_undirected_edge_once(cora):
    e, w = cora.edges(return_weights=True)
    assert e.shape == (cora.num_edges, 2) and np.all(e[:, 0] <= e[:, 1]) and np.all(w == 1)
    assert len({tuple(p) for p in e.tolist()}) == cora.num_edges
    directed = Graph.from_edge_index(np.array([[0, 1], [1, 0]]), 2, weights=[1.0, 2.0])
    assert directed.edges().shape == (2, 2)


def test_subgraph_matches_networkx_induced_subgraph(rng):
    nxg = nx.gnp_random_graph(60, 0.1, seed=1)
    g = Graph.from_networkx(nxg).replace(y=np.arange(60))
    nodes = rng.choice(60, size=25, replace=False)  # unsorted on purpose
    sub = g.subgraph(nodes)
    np.testing.assert_array_equal(sub.node_map, nodes)
    np.testing.assert_array_equal(sub.y, nodes)
    relabel = {int(v): i for i, v in enumerate(nodes)}
    expected = {frozenset((relabel[u], relabel[v])) for u, v in nxg.subgraph(nodes.tolist()).edges}
    assert {frozenset(e) for e in sub.edges().tolist()} == expected
    assert np.all(np.diff(sub.indices[sub.indptr[0]:sub.indptr[1]]) > 0)
    # the undirected flag is inherited, and it agrees with a check from scratch
    assert sub.is_undirected() and Graph(sub.indptr, sub.indices).is_undirected()
    directed = Graph.from_edge_index(np.array([[0, 1, 2], [1, 2, 0]]), 3)
    assert not directed.subgraph([0, 1]).is_undirected()
    # node_map composes back to the root graph
    subsub = sub.subgraph(np.array([3, 1]))
    np.testing.assert_array_equal(subsub.node_map, nodes[[3, 1]])
    with pytest.raises(ValueError, match="duplicates"):
        g.subgraph([1, 1])
    with pytest.raises(ValueError, match="out of range"):
        g.subgraph([60])


def test_content_hash_tracks_structure_and_weights():
    g = Graph.from_edge_index(np.array([[0, 1], [1, 2]]), 3, undirected=True)
    assert g.content_hash() == Graph.from_edge_index(np.array([[1, 2], [0, 1]]), 3, undirected=True).content_hash()
    assert g.content_hash() != Graph.from_edge_index(np.array([[0, 1], [1, 2]]), 4, undirected=True).content_hash()
    assert g.content_hash() != g.with_weights(np.full(4, 2.0)).content_hash()
