"""Cluster-GCN: batches, normalizations, model, training paths and bad input."""

import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphopt import Graph, Partition
from graphopt.cluster_gcn import (ClusterGCN, ClusterLoader, ConvStack, fit, precalc_features, predict,
                                  training_subgraph)
from graphopt.graph import normalize_csr
from graphopt.datasets import load_graphsage, save_graphsage


def _random_graph(n=120, p=0.06, seed=0, weighted=False, classes=3, features=8):
    rng = np.random.default_rng(seed)
    a = sp.random(n, n, density=p, random_state=seed, format="csr")
    a = ((a + a.T) > 0).astype(float)
    if weighted:
        u = sp.triu(a, 1).tocoo()
        w = rng.uniform(0.5, 2.0, u.nnz)
        a = sp.coo_matrix((np.r_[w, w], (np.r_[u.row, u.col], np.r_[u.col, u.row])), shape=(n, n))
    y = rng.integers(0, classes, n)
    x = rng.normal(size=(n, features)).astype(np.float32)
    mask = np.zeros(n, dtype=bool)
    mask[: n // 2] = True
    return Graph.from_scipy(a, weighted=weighted, x=x, y=y, train_mask=mask, val_mask=~mask)


def _dense_reference(a, kind, lam):
    """The paper's formulas written densely: A with self-loops replaced by I."""
    a = a.copy()
    np.fill_diagonal(a, 0.0)
    a_hat = a + np.eye(len(a))
    d = a_hat.sum(1)
    if kind == "sym":
        return a_hat / np.sqrt(d)[:, None] / np.sqrt(d)[None, :]
    rw = a_hat / d[:, None]
    if kind == "rw":
        return rw
    if kind == "residual":
        return rw + np.eye(len(a))
    return rw + lam * np.diag(np.diag(rw))


@pytest.mark.parametrize("weighted,numbered_by_part", [(False, False), (True, False), (True, True)])
def test_batches_are_exact_induced_subgraphs(weighted, numbered_by_part):
    g = _random_graph(weighted=weighted)
    # A graph numbered part by part takes the loader's no-copy path.
    part = (Partition.from_assignment(g, np.arange(g.num_nodes) * 7 // g.num_nodes, 7)
            if numbered_by_part else Partition.random(g, 7, seed=1))
    loader = ClusterLoader(part, 3, seed=0)
    for batch in loader:
        nodes = batch.nodes.numpy()
        ref = g.subgraph(nodes).to_scipy()
        got = batch.to_graph().to_scipy()
        assert ((ref != 0) != (got != 0)).nnz == 0 and abs(ref - got).max() < 1e-6
        # Edges between two different chosen parts really come back.
        a = part.assignment[nodes]
        ei = batch.edge_index.numpy()
        cross = a[ei[0]] != a[ei[1]]
        full_cross = g.subgraph(nodes).edges()
        assert cross.sum() == 2 * np.count_nonzero(a[full_cross[:, 0]] != a[full_cross[:, 1]])
        assert np.array_equal(batch.x.numpy(), g.x[nodes])
        assert np.array_equal(batch.y.numpy(), g.y[nodes])
        assert np.array_equal(batch.train_mask.numpy(), g.train_mask[nodes])


def test_cora_metis_batches_match_subgraph(cora):
    part = Partition.metis(cora, 20, seed=0)
    loader = ClusterLoader(part, 4, normalization="sym")
    batch = next(iter(loader))
    sub = cora.subgraph(batch.nodes.numpy())
    assert (sub.to_scipy() != batch.to_graph().to_scipy()).nnz == 0
    ref = sub.normalized_adjacency("sym").toarray()
    assert np.allclose(batch.adj.to_dense().numpy(), ref, atol=1e-6)
    assert len(loader) == 5


def test_every_node_once_per_epoch_and_reshuffled():
    g = _random_graph(n=200)
    part = Partition.random(g, 9, seed=0)
    loader = ClusterLoader(part, 2, seed=3)
    orders = []
    for _ in range(3):
        nodes = np.concatenate([b.nodes.numpy() for b in loader])
        assert np.array_equal(np.sort(nodes), np.arange(g.num_nodes))
        orders.append(nodes)
    assert len(loader) == 5
    assert not np.array_equal(orders[0], orders[1])
    again = ClusterLoader(part, 2, seed=3)
    assert np.array_equal(np.concatenate([b.nodes.numpy() for b in again]), orders[0])


@pytest.mark.parametrize("kind", ["sym", "rw", "residual", "diag_enhanced"])
@pytest.mark.parametrize("weighted", [False, True])
def test_normalizations_match_formulas(kind, weighted):
    g = _random_graph(n=40, p=0.15, weighted=weighted, seed=2)
    a = g.to_scipy().toarray()
    a[3, 3] = 5.0  # an existing self-loop is replaced by the unit loop
    sa = sp.csr_matrix(a)
    ptr, idx, val = normalize_csr(sa.indptr.astype(np.int64), sa.indices.astype(np.int64),
                                  sa.data, kind, diag_lambda=0.7)
    got = sp.csr_matrix((val, idx, ptr), shape=a.shape)
    assert np.allclose(got.toarray(), _dense_reference(a, kind, 0.7), atol=1e-6)


def test_unsorted_columns_are_handled():
    a = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=float)
    ptr, idx = np.array([0, 2, 4, 6]), np.array([2, 1, 2, 0, 1, 0])
    _, i2, v2 = normalize_csr(ptr, idx, None, "rw")
    got = sp.csr_matrix((v2, i2, np.array([0, 3, 6, 9])), shape=(3, 3)).toarray()
    assert np.allclose(got, _dense_reference(a, "rw", 0))


def test_workers_give_the_same_batches():
    g = _random_graph(n=150)
    part = Partition.random(g, 6, seed=0)
    serial = [b.nodes.numpy() for b in ClusterLoader(part, 2, seed=5)]
    parallel = [b.nodes.numpy() for b in ClusterLoader(part, 2, seed=5, num_workers=2)]
    assert all(np.array_equal(s, p) for s, p in zip(serial, parallel))


def test_layerwise_prediction_equals_full_forward():
    g = _random_graph(n=90, features=6, weighted=True)
    torch.manual_seed(0)
    for precalc in (False, True):
        model = ClusterGCN(6, 16, 3, num_layers=3, precalc=precalc).eval()
        x = precalc_features(g) if precalc else g.x
        full = torch.from_numpy(np.asarray(x, dtype=np.float32))
        adj = g.to_torch_sparse("diag_enhanced", lam=0.5)
        ref = model(full, adj)
        got = predict(model, g, normalization="diag_enhanced", diag_lambda=0.5, features=x,
                      chunk_size=17)
        assert torch.allclose(got, ref, atol=1e-5)


def test_precalc_features_is_ax_concat_x():
    g = _random_graph(n=30, weighted=True)
    f = precalc_features(g)
    assert np.allclose(f[:, :8], g.to_scipy() @ g.x, atol=1e-5)
    assert np.allclose(f[:, 8:], g.x)
    fs = precalc_features(g, sp.csr_matrix(g.x))
    assert sp.issparse(fs) and np.allclose(fs.toarray(), f, atol=1e-5)


def test_cora_two_layer_reaches_75_percent(cora):
    part = Partition.metis(cora, 10, seed=0)
    torch.manual_seed(0)
    model = ClusterGCN(cora.num_features, 64, cora.num_classes, num_layers=2, dropout=0.5)
    hist = fit(model, cora, part, clusters_per_batch=5, epochs=30, weight_decay=5e-4,
               eval_every=3, progress=False, seed=0)
    assert hist.final["test"] > 0.75, hist.final
    assert {"loss", "time", "batch_time", "peak_mb", "val"} <= set(hist.epochs[-1])


def test_pyg_conv_stack_trains_on_batches(cora):
    from torch_geometric.nn import GCNConv

    part = Partition.metis(cora, 8, seed=0)
    torch.manual_seed(0)
    model = ConvStack([GCNConv(cora.num_features, 32), GCNConv(32, cora.num_classes)])
    hist = fit(model, cora, part, clusters_per_batch=4, epochs=15, lr=0.01, weight_decay=5e-4,
               eval_every=5, progress=False)
    assert hist.final["test"] > 0.6
    assert hist.epochs[-1]["loss"] < hist.epochs[0]["loss"]


def _multilabel_graph(n=240, seed=0):
    rng = np.random.default_rng(seed)
    block = rng.integers(0, 4, n)
    p = np.where(block[:, None] == block[None, :], 0.12, 0.005)
    a = np.triu(rng.random((n, n)) < p, 1)
    a = sp.csr_matrix((a | a.T).astype(float))
    x = (np.eye(4)[block] + rng.normal(scale=1.0, size=(n, 4))).astype(np.float32)
    y = np.stack([np.isin(block, [0, 1]), np.isin(block, [1, 2]), block == 3], 1).astype(np.int64)
    split = rng.permutation(n)
    masks = [np.isin(np.arange(n), split[s]) for s in (slice(0, 120), slice(120, 180), slice(180, n))]
    return Graph.from_scipy(a, x=x, y=y, train_mask=masks[0], val_mask=masks[1], test_mask=masks[2])


def test_multilabel_end_to_end():
    g = _multilabel_graph()
    part = Partition.metis(g, 6, seed=0)
    torch.manual_seed(0)
    model = ClusterGCN(4, 32, 3, num_layers=2, dropout=0.1)
    hist = fit(model, g, part, clusters_per_batch=2, epochs=40, eval_every=5, progress=False)
    # Features alone are too noisy for these labels; the block structure makes them easy.
    assert hist.final["test"] > 0.85, hist.final


def test_inductive_graphsage_format(tmp_path):
    prefix = save_graphsage(_multilabel_graph(seed=1), tmp_path, "toy")
    g = load_graphsage(prefix)
    train = training_subgraph(g)
    part = Partition.metis(train, 4, seed=0)
    seen = np.concatenate([b.nodes.numpy() for b in ClusterLoader(part, 2)])
    assert np.all(g.train_mask[train.node_map[seen]])  # batches never touch val/test nodes
    torch.manual_seed(0)
    model = ClusterGCN(4, 32, 3, num_layers=2, dropout=0.1, precalc=True)
    hist = fit(model, g, part, clusters_per_batch=2, epochs=40, eval_every=5, progress=False)
    assert set(hist.final) == {"train", "val", "test"}
    assert hist.final["test"] > 0.8, hist.final


def test_checkpoint_resume_matches_uninterrupted_run(tmp_path):
    g = _random_graph(n=100)
    part = Partition.random(g, 4, seed=0)

    def run(epochs, resume, path):
        torch.manual_seed(1)
        model = ClusterGCN(8, 8, 3, num_layers=2)
        fit(model, g, part, clusters_per_batch=2, epochs=epochs, checkpoint=path, resume=resume,
            progress=False, seed=4)
        return torch.load(path, weights_only=True)["model"]

    full = run(4, False, tmp_path / "a.pt")
    run(2, False, tmp_path / "b.pt")
    resumed = run(4, True, tmp_path / "b.pt")
    assert all(torch.equal(full[k], resumed[k]) for k in full)
    with pytest.raises(ValueError, match="was made with"):
        model = ClusterGCN(8, 8, 3, num_layers=2)
        fit(model, g, part, clusters_per_batch=1, epochs=5, checkpoint=tmp_path / "b.pt",
            resume=True, progress=False, seed=4)


def test_bad_input_is_rejected_clearly():
    g = _random_graph(n=30)
    model = ClusterGCN(8, 8, 3)
    with pytest.raises(ValueError, match="30"):
        Partition.random(g, 31)
    with pytest.raises(ValueError, match="only 30 nodes"):
        ClusterLoader(Partition.from_assignment(g, np.arange(30) % 3, 40), 1)
    with pytest.raises(ValueError, match="clusters_per_batch"):
        ClusterLoader(Partition.random(g, 3), 4)
    directed = Graph.from_edge_index(np.array([[0, 1], [1, 2]]), 3, x=np.ones((3, 2)),
                                     y=np.zeros(3, int), train_mask=np.ones(3, bool))
    with pytest.raises(ValueError, match="directed"):
        fit(model, directed, Partition.random(directed, 1), progress=False)
    y = g.y.copy()
    y[0] = -1
    with pytest.raises(ValueError, match="no label"):
        fit(model, g.replace(y=y), Partition.random(g, 3), progress=False)
    nan = g.replace()
    nan.x = g.x.copy()
    nan.x[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit(model, nan, Partition.random(nan, 3), progress=False)
    with pytest.raises(ValueError, match="normalization"):
        ClusterLoader(Partition.random(g, 3), 1, normalization="both")
    with pytest.raises(ValueError, match="resume"):
        fit(model, g, Partition.random(g, 3), resume=True, progress=False)


def test_sparse_features_reach_pyg_convs_undensified():
    from torch_geometric.nn import GCNConv

    g = _random_graph(n=80)
    xs = g.x.copy()
    xs[np.abs(xs) < 1.0] = 0.0
    g = g.replace(x=sp.csr_matrix(xs))
    part = Partition.random(g, 4, seed=0)
    batch = next(iter(ClusterLoader(part, 2, sparse_features=True)))
    assert batch.x.layout == torch.sparse_csr
    assert np.allclose(batch.x.to_dense().numpy(), xs[batch.nodes.numpy()])
    assert np.allclose(batch.to_graph().x.toarray(), xs[batch.nodes.numpy()])
    torch.manual_seed(0)
    model = ConvStack([GCNConv(8, 8), GCNConv(8, 3)])
    dense = predict(model, g, partition=part, clusters_per_batch=2)
    sparse = predict(model, g, partition=part, clusters_per_batch=2, sparse_features=True)
    assert torch.allclose(dense, sparse, atol=1e-5)
    fit(model, g, part, clusters_per_batch=2, epochs=2, sparse_features=True, progress=False)


def test_cli_trains_resumes_and_rejects_bad_input(shared_root, tmp_path, capsys):
    from graphopt.cli import main

    base = ["cluster-gcn", "--dataset", "cora", "--root", str(shared_root), "--parts", "6",
            "--clusters-per-batch", "3", "--hidden", "16", "--threads", "1", "--quiet",
            "--checkpoint", str(tmp_path / "c.pt")]
    assert main(base + ["--epochs", "2"]) == 0
    assert main(base + ["--epochs", "3", "--resume", "--json", str(tmp_path / "h.json")]) == 0
    out = capsys.readouterr().out
    assert "accuracy: train" in out
    assert len(json.loads((tmp_path / "h.json").read_text())["epochs"]) == 3
    assert main(base + ["--epochs", "2", "--clusters-per-batch", "7"]) == 2
    assert "clusters_per_batch" in capsys.readouterr().err


def test_device_cpu_is_honoured_end_to_end(monkeypatch):
    from graphopt.cluster_gcn import ClusterBatch

    g = _random_graph()
    part = Partition.random(g, 4, seed=0)
    moved = []
    real_to = ClusterBatch.to
    monkeypatch.setattr(ClusterBatch, "to", lambda self, d, non_blocking=False:
                        moved.append(torch.device(d)) or real_to(self, d, non_blocking))
    seen = []
    model = ClusterGCN(g.num_features, 16, 3, 2)
    model.register_forward_pre_hook(lambda m, args: seen.append({a.device for a in args}))
    hist = fit(model, g, part, clusters_per_batch=2, epochs=2, progress=False, device="cpu")
    assert moved and set(moved) == {torch.device("cpu")}
    assert seen and all(s == {torch.device("cpu")} for s in seen)
    assert {p.device for p in model.parameters()} == {torch.device("cpu")}
    assert set(hist.final) == {"train", "val"}
    assert predict(model, g, device=torch.device("cpu")).device == torch.device("cpu")
    batch = next(iter(ClusterLoader(part, 2)))
    same = batch.to("cpu")
    assert torch.equal(same.x, batch.x) and torch.equal(same.adj.to_dense(), batch.adj.to_dense())


def test_bad_devices_and_amp_are_rejected_clearly():
    g = _random_graph()
    part = Partition.random(g, 3, seed=0)
    model = ClusterGCN(g.num_features, 8, 3, 2)
    for bad in ("meta", "gpu", "cuda:99"):
        with pytest.raises(ValueError, match="device"):
            fit(model, g, part, epochs=1, progress=False, device=bad)
    with pytest.raises(TypeError, match="device"):  # not a name at all
        fit(model, g, part, epochs=1, progress=False, device=3.5)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            predict(model, g, device="cuda")
    with pytest.raises(ValueError, match="amp"):
        fit(model, g, part, epochs=1, progress=False, amp="int8")
    with pytest.raises(ValueError, match="not supported for ClusterGCN on CPU"):
        fit(model, g, part, epochs=1, progress=False, device="cpu", amp="bf16")


def test_amp_bf16_trains_a_pyg_stack_on_cpu(cora):
    from torch_geometric.nn import GCNConv

    torch.manual_seed(0)
    model = ConvStack([GCNConv(cora.num_features, 32), GCNConv(32, cora.num_classes)])
    hist = fit(model, cora, Partition.metis(cora, 10), clusters_per_batch=5, epochs=10,
               weight_decay=5e-4, progress=False, device="cpu", amp="bf16")
    assert hist.final["test"] >= 0.7
