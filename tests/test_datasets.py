"""Datasets: loaders on the real shared files (MANIFEST counts), downloads, safety, generators, splits."""

import gzip
import hashlib
import os
import pickle
import shutil

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from graphopt import Graph
from graphopt import datasets as ds
from graphopt.datasets import _files
from graphopt.datasets.planetoid import safe_unpickle


# ---------------------------------------------------------------------------- real files
@pytest.mark.parametrize("name, nodes, edges, features, classes", [
    ("cora", 2708, 5278, 1433, 7),
    ("citeseer", 3327, 4552, 3703, 6),
    ("cora-npz", 2708, 5278, 1433, 7),
    ("citeseer-npz", 3312, 4536, 3703, 6),
    ("amazon-computers", 13752, 245861, 767, 10),
    ("amazon-photo", 7650, 119081, 745, 8),
    ("coauthor-cs", 18333, 81894, 6805, 15),
    ("coauthor-physics", 34493, 247962, 8415, 5),
    ("blogcatalog", 10312, 333983, 0, 39),
])
def test_graph_loaders_match_manifest_counts(shared_root, name, nodes, edges, features, classes):
    g = ds.load(name, shared_root)
    assert (g.num_nodes, g.num_edges, g.num_features, g.num_classes) == (nodes, edges, features, classes)
    assert g.is_undirected() and not g.has_self_loops() and g.weights is None
    masks = [g.train_mask, g.val_mask, g.test_mask]
    assert not np.any((masks[0] & masks[1]) | (masks[0] & masks[2]) | (masks[1] & masks[2]))


def test_planetoid_public_split(cora, citeseer):
    assert (cora.train_mask.sum(), cora.val_mask.sum(), cora.test_mask.sum()) == (140, 500, 1000)
    np.testing.assert_array_equal(np.bincount(cora.y), [351, 217, 418, 818, 426, 298, 180])
    np.testing.assert_array_equal(np.bincount(cora.y[cora.train_mask]), np.full(7, 20))
    assert sp.issparse(cora.x) and cora.x.dtype == np.float32
    # CiteSeer's 15 featureless placeholders (ids inside the test range but not in test.index)
    # carry no label and sit in no mask.
    unlabeled = citeseer.y == -1
    assert unlabeled.sum() == 15 and citeseer.test_mask.sum() == 1000
    assert not np.any(unlabeled & (citeseer.train_mask | citeseer.val_mask | citeseer.test_mask))
    assert citeseer.x[np.flatnonzero(unlabeled)].nnz == 0


def test_npz_split_and_largest_component(shared_root):
    g = ds.load_npz("amazon-photo", shared_root, split_seed=1)
    np.testing.assert_array_equal(np.bincount(g.y[g.train_mask]), np.full(8, 20))
    np.testing.assert_array_equal(np.bincount(g.y[g.val_mask]), np.full(8, 30))
    assert g.test_mask.sum() == 7650 - 8 * 50
    again = ds.load_npz("amazon-photo", shared_root, split_seed=1)
    np.testing.assert_array_equal(g.train_mask, again.train_mask)
    lcc = ds.load_npz("amazon-photo", shared_root, largest_component=True, split_seed=None)
    assert lcc.num_nodes == 7487 and lcc.train_mask is None and lcc.node_map.size == 7487


def test_blogcatalog_is_multilabel(shared_root):
    g = ds.load_blogcatalog(shared_root)
    assert g.is_multilabel and g.y.shape == (10312, 39) and g.x is None
    assert g.y.sum() == 14476 and (g.y.sum(axis=1) > 1).sum() == 2852


@pytest.mark.parametrize("name, split, rows, nnz, counts", [
    ("a9a", "train", 32561, 451592, [24720, 7841]),
    ("a9a", "test", 16281, 225731, [12435, 3846]),
    ("w8a", "train", 49749, 579586, [48270, 1479]),
])
def test_libsvm_real_files(shared_root, name, split, rows, nnz, counts):
    x, y = ds.load_libsvm(name, split, shared_root)
    assert x.shape[0] == rows and x.nnz == nnz and x.shape[1] == {"a9a": 123, "w8a": 300}[name]
    np.testing.assert_array_equal(np.unique(y, return_counts=True)[1], counts)


def test_idx_real_files(shared_root):
    images, labels = ds.load_idx("mnist", "test", shared_root)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert images.mean() == pytest.approx(33.791, abs=1e-3)
    np.testing.assert_array_equal(np.bincount(labels)[:3], [980, 1135, 1032])
    assert ds.load_idx("fashion-mnist", "train", shared_root, images=False).size == 60000
    with pytest.raises(ds.DatasetNotFoundError, match="no published checksum"):
        ds.load_idx("fashion-mnist", "test", shared_root)


def test_unknown_dataset_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        ds.load("nope")
    with pytest.raises(ValueError, match="unknown gnn-benchmark"):
        ds.load_npz("cora")
    with pytest.raises(ds.DatasetNotFoundError, match="not found"):
        ds.dataset_file("cora", "planetoid/ind.cora.x", tmp_path, download_missing=False)
    assert list(tmp_path.iterdir()) == []
    assert "cora" in ds.list_datasets("planetoid") and "a9a" in ds.list_datasets()


# ---------------------------------------------------------------------------- downloads
def test_download_checks_sha256_and_leaves_no_partial_file(shared_root, tmp_path):
    src = tmp_path / "mirror" / "ind.cora.y"
    src.parent.mkdir()
    shutil.copyfile(shared_root / "planetoid" / "ind.cora.y", src)
    good = hashlib.sha256(src.read_bytes()).hexdigest()
    dest_dir = tmp_path / "root"

    with pytest.raises(ValueError, match="checksum mismatch"):
        ds.download(src.as_uri(), dest_dir / "sub" / "ind.cora.y", "0" * 64)
    assert not dest_dir.exists()  # neither the file, a temp file nor the folders made for them

    dest_dir.mkdir()
    with pytest.raises(ds.DatasetNotFoundError, match="could not download"):
        ds.download((tmp_path / "absent").as_uri(), dest_dir / "x", good)
    assert list(dest_dir.iterdir()) == []  # a folder that was there stays

    out = ds.download(src.as_uri(), dest_dir / "ind.cora.y", good)
    assert out.read_bytes() == src.read_bytes() and list(dest_dir.iterdir()) == [out]


def test_dataset_file_downloads_missing_file_into_root(shared_root, tmp_path, monkeypatch):
    src = shared_root / "libsvm" / "a9a.t"
    entry = {"format": "libsvm", "n_features": 123, "files": [
        {"path": "libsvm/a9a.t", "url": src.as_uri(),
         "sha256": hashlib.sha256(src.read_bytes()).hexdigest()}]}
    monkeypatch.setattr(_files, "manifest", lambda: {"tiny": entry})
    root = tmp_path / "root"
    path = ds.dataset_file("tiny", "libsvm/a9a.t", root)
    assert path == root / "libsvm" / "a9a.t" and path.stat().st_size == src.stat().st_size
    x, _ = ds.load_libsvm("tiny", "test", root)
    assert x.shape == (16281, 123)


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_restricted_unpickler_refuses_code(tmp_path):
    target = tmp_path / "pwned"
    payload = pickle.dumps(_Evil(target), protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle"):
        safe_unpickle(payload)
    assert not target.exists()
    with pytest.raises(pickle.UnpicklingError, match="builtins.print"):
        safe_unpickle(pickle.dumps(print))
    # the real Planetoid pickles load through the same unpickler (test_planetoid_public_split)


# ---------------------------------------------------------------------------- formats
def test_graphsage_round_trip(tmp_path, cora):
    prefix = ds.save_graphsage(cora, tmp_path, "cora")
    g = ds.load_graphsage(tmp_path)  # the one *-G.json in the folder
    assert g.content_hash() == cora.content_hash()
    np.testing.assert_array_equal(g.x, cora.x.toarray())
    np.testing.assert_array_equal(g.y, cora.y)
    np.testing.assert_array_equal(g.val_mask, cora.val_mask)
    np.testing.assert_array_equal(g.train_mask, ~(cora.val_mask | cora.test_mask))
    assert g.content_hash() == ds.load_graphsage(prefix).content_hash()
    assert not [f for f in tmp_path.iterdir() if f.name.startswith(".")]


def test_graphsage_multilabel_and_errors(tmp_path):
    y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    g = Graph.from_edge_index(np.array([[0, 1, 2], [1, 2, 3]]), 4, undirected=True, y=y,
                              test_mask=np.array([False, False, False, True]))
    ds.save_graphsage(g, tmp_path, "toy")
    h = ds.load_graphsage(tmp_path, "toy")
    assert h.is_multilabel and np.array_equal(h.y, y) and h.x is None
    assert h.train_mask.tolist() == [True, True, True, False]
    (tmp_path / "toy-class_map.json").write_text('{"0": 1}')
    with pytest.raises(ValueError, match="class_map.json lacks 3 nodes"):
        ds.load_graphsage(tmp_path, "toy")
    with pytest.raises(FileNotFoundError, match="GraphSAGE file not found"):
        ds.load_graphsage(tmp_path, "absent")
    with pytest.raises(ValueError, match="needs a class map"):
        ds.save_graphsage(g.replace(y=None), tmp_path, "bad")


def test_libsvm_parser(tmp_path):
    p = tmp_path / "toy.svm"
    p.write_text("+1 1:0.5 3:2 # comment\n-1 qid:4 2:1\n\n+1\n")
    x, y = ds.read_libsvm(p)
    assert y.tolist() == [1, -1, 1] and y.dtype == np.int64
    np.testing.assert_array_equal(x.toarray(), [[0.5, 0, 2], [0, 1, 0], [0, 0, 0]])
    assert ds.read_libsvm(p, n_features=5)[0].shape == (3, 5)
    with pytest.raises(ValueError, match="n_features=2"):
        ds.read_libsvm(p, n_features=2)
    p.write_text("1 a:b\n")
    with pytest.raises(ValueError, match="toy.svm:1: not LIBSVM"):
        ds.read_libsvm(p)


def test_idx_reader_checks_header(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = bytes([0, 0, 0x08, 3]) + np.array([2, 3, 4], dtype=">u4").tobytes() + arr.tobytes()
    (tmp_path / "ok.gz").write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(ds.read_idx(tmp_path / "ok.gz"), arr)
    (tmp_path / "short").write_bytes(raw[:-1])
    with pytest.raises(ValueError, match="header says shape"):
        ds.read_idx(tmp_path / "short")
    (tmp_path / "junk").write_bytes(b"PK\x03\x04junk")
    with pytest.raises(ValueError, match="not an IDX file"):
        ds.read_idx(tmp_path / "junk")


# ---------------------------------------------------------------------------- splits, generators
def test_stratified_split():
    y = np.repeat(np.arange(3), 40)
    y[:5] = -1
    tr, va, te = ds.stratified_split(y, 10, 0.25, None, seed=0)
    assert not np.any(tr & va) and not np.any(tr & te) and not np.any(va & te)
    assert np.bincount(y[tr]).tolist() == [10, 10, 10]
    assert not np.any((tr | va | te)[:5]) and (tr | va | te).sum() == 115
    again = ds.stratified_split(y, 10, 0.25, None, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again))
    with pytest.raises(ValueError, match="more nodes than a class has"):
        ds.stratified_split(y, 50, 0)
    with pytest.raises(ValueError, match="train as a fraction"):
        ds.stratified_split(y, 1.5)


def test_contextual_sbm_statistics_and_determinism():
    g = ds.contextual_sbm(4000, 4, 12.0, 16, homophily=0.7, feature_signal=3.0, seed=1)
    assert g.is_undirected() and not g.has_self_loops() and g.num_nodes == 4000
    assert g.x.shape == (4000, 16) and g.x.dtype == np.float32
    assert np.bincount(g.y).tolist() == [1000] * 4
    e = g.edges()
    assert abs(np.mean(g.y[e[:, 0]] == g.y[e[:, 1]]) - 0.7) < 0.02
    assert abs(g.degree().mean() - 12.0) < 0.1
    assert (g.train_mask.sum(), g.val_mask.sum(), g.test_mask.sum()) == (2400, 800, 800)
    # features carry the class: nearest class mean (estimated on train) beats chance by far
    means = np.stack([g.x[g.train_mask & (g.y == c)].mean(axis=0) for c in range(4)])
    pred = np.argmin(((g.x[g.test_mask, None, :] - means) ** 2).sum(-1), axis=1)
    assert np.mean(pred == g.y[g.test_mask]) > 0.8
    h = ds.contextual_sbm(4000, 4, 12.0, 16, homophily=0.7, feature_signal=3.0, seed=1)
    assert h.content_hash() == g.content_hash() and np.array_equal(h.x, g.x)
    assert ds.contextual_sbm(4000, 4, 12.0, 16, seed=2).content_hash() != g.content_hash()
    noise = ds.contextual_sbm(2000, 2, 4.0, 8, feature_signal=0.0, train_per_class=20,
                              val_per_class=30, test_frac=None, seed=0)
    assert noise.train_mask.sum() == 40 and noise.test_mask.sum() == 2000 - 100


@pytest.mark.parametrize("kwargs, match", [
    (dict(homophily=1.5), "homophily"), (dict(avg_degree=-1), "avg_degree"),
    (dict(num_classes=0), "num_classes"), (dict(num_nodes=2.5), "num_nodes"),
])
def test_contextual_sbm_rejects_bad_arguments(kwargs, match):
    args = dict(num_nodes=100, num_classes=3, avg_degree=4.0, num_features=2) | kwargs
    with pytest.raises((ValueError, TypeError), match=match):
        ds.contextual_sbm(**args)


@pytest.mark.parametrize("name, reference", [
    ("complete", nx.complete_graph(12)), ("star", nx.star_graph(11)), ("cycle", nx.cycle_graph(12)),
    ("path", nx.path_graph(12)), ("grid", nx.grid_2d_graph(3, 4)), ("barbell", nx.barbell_graph(6, 0)),
])
def test_deterministic_communication_graphs_match_networkx(name, reference):
    g = ds.communication_graph(name, 12)
    assert g.is_undirected() and g.num_nodes == 12
    assert nx.is_isomorphic(g.to_networkx(), reference)


@pytest.mark.parametrize("name", ["erdos_renyi", "random_geometric"])
def test_random_communication_graphs_are_connected_and_seeded(name):
    g = ds.communication_graph(name, 50, seed=4)
    assert nx.is_connected(g.to_networkx())
    assert g.content_hash() == ds.communication_graph(name, 50, seed=4).content_hash()
    assert g.content_hash() != ds.communication_graph(name, 50, seed=5).content_hash()


def test_communication_graph_errors():
    with pytest.raises(ValueError, match="not connected in 3 tries.*ln\\(n\\)/n"):
        ds.erdos_renyi_graph(200, 0.001, seed=0, max_tries=3)
    with pytest.raises(ValueError, match="not connected in 3 tries"):
        ds.random_geometric_graph(200, 0.01, seed=0, max_tries=3)
    with pytest.raises(ValueError, match="unknown communication graph 'torus'"):
        ds.communication_graph("torus", 10)
    with pytest.raises(ValueError, match="n must be >= 3"):
        ds.cycle_graph(2)
    er = ds.erdos_renyi_graph(30, 0.3, seed=0)
    assert er.num_edges == len({tuple(e) for e in er.edges().tolist()})
    with pytest.raises(TypeError, match="takes no parameters"):
        ds.communication_graph("star", 10, p=0.5)
