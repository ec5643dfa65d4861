"""Input validation at the boundary: foreign graph types coerced once, bad graphs, labels and features refused."""

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from graphopt import Graph
from graphopt.graph import check_features


def _path_graph(n=6) -> Graph:
    ei = np.stack([np.arange(n - 1), np.arange(1, n)])
    return Graph.from_edge_index(ei, n, undirected=True, x=np.eye(n, dtype=np.float32),
                                 y=np.arange(n) % 2)


# ---------------------------------------------------------------------------- Graph.coerce
def test_coerce_returns_a_graph_as_is_and_converts_foreign_graphs():
    g = _path_graph()
    assert Graph.coerce(g) is g
    from_nx = Graph.coerce(g.to_networkx())
    from_pyg = Graph.coerce(g.to_pyg())
    from_sp = Graph.coerce(g.to_scipy())
    for h in (from_nx, from_pyg, from_sp):
        assert isinstance(h, Graph)
        np.testing.assert_array_equal(h.indptr, g.indptr)
        np.testing.assert_array_equal(h.indices, g.indices)
    np.testing.assert_array_equal(from_pyg.y, g.y)
    np.testing.assert_array_equal(from_nx.x, g.x)


@pytest.mark.parametrize("obj", [3, "cora", np.eye(3), [[0, 1], [1, 0]], None])
def test_coerce_refuses_other_objects_naming_the_accepted_types(obj):
    with pytest.raises(TypeError, match=r"graph: expected a graphopt Graph, a PyG Data, a networkx "
                                        rf"graph or a scipy sparse matrix, got {type(obj).__name__}"):
        Graph.coerce(obj)


# ---------------------------------------------------------------------------- features
def test_check_features_accepts_numeric_2d_arrays():
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert check_features(x, 3) is x
    assert sp.issparse(check_features(sp.coo_matrix(x), 3))
    assert check_features(np.ones((3, 1), dtype=bool), 3).shape == (3, 1)


@pytest.mark.parametrize("x, error, match", [
    (np.array([["a", "b"], ["c", "d"], ["e", "f"]]), TypeError, "features must hold real numbers"),
    (np.array([[object()]] * 3), TypeError, "features must hold real numbers"),
    (np.ones((3, 2), dtype=complex), TypeError, "features must hold real numbers"),
    (np.ones(3), ValueError, r"features must be 2-d .* got shape \(3,\); .*reshape\(-1, 1\)"),
    (np.ones((3, 2, 1)), ValueError, "features must be 2-d"),
    (np.ones((4, 2)), ValueError, "features has 4 rows but the graph has 3 nodes"),
    (np.array([[1.0], [np.nan], [np.inf]]), ValueError, "features contains 2 NaN or infinite"),
    (None, ValueError, "features is None"),
])
def test_check_features_names_the_argument(x, error, match):
    with pytest.raises(error, match=match):
        check_features(x, 3, name="features")
