"""Tests for graphopt.augment (LA-GNN): generator, backbones, wrapper, training, large-graph path, CLI."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import SAGEConv

from graphopt import Graph, Partition
from graphopt.augment import (LAGAT, LAGCN, LAGCNII, AveragedInput, LAClassifier, LocalAugmentation,
                              NeighborCVAE, consistency_loss, isolated_nodes)


def sbm_graph(n=120, classes=3, f=40, seed=0, isolated=0):
    """Planted-partition graph whose binary features are drawn from class-specific word profiles."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    same = y[:, None] == y[None, :]
    a = np.triu(rng.random((n, n)) < np.where(same, 0.12, 0.01), 1)
    a[:, n - isolated:] = False
    a[n - isolated:, :] = False
    src, dst = np.nonzero(a)
    profile = rng.random((classes, f)) < 0.25
    x = ((rng.random((n, f)) < 0.6) & profile[y]) | (rng.random((n, f)) < 0.03)
    idx = rng.permutation(n)
    masks = {k: np.zeros(n, bool) for k in ("train_mask", "val_mask", "test_mask")}
    masks["train_mask"][idx[:30]] = True
    masks["val_mask"][idx[30:60]] = True
    masks["test_mask"][idx[60:]] = True
    return Graph.from_edge_index(np.stack([src, dst]), n, undirected=True, x=x.astype(np.float32), y=y, **masks)


@pytest.fixture(scope="module")
def small():
    return sbm_graph()


@pytest.fixture(scope="module")
def small_cvae(small):
    return NeighborCVAE(epochs=5, hidden_size=32, latent_size=4, seed=0, progress=False).fit(small)


@pytest.fixture(scope="module")
def cora_cvae(cora):
    return NeighborCVAE(epochs=3, hidden_size=64, max_pairs_per_epoch=1200, seed=0, progress=False).fit(cora)


# ---------------------------------------------------------------- generator
def test_cvae_loss_falls_on_cora_pairs(cora_cvae):
    losses = [h["loss"] for h in cora_cvae.history_]
    assert cora_cvae.bce_  # binary bag-of-words features pick the sigmoid + BCE decoder
    assert losses[-1] < 0.9 * losses[0]


def test_generated_features_shape_range_and_row_normalization(cora, cora_cvae):
    a, b = cora_cvae.sample(cora, 2, seed=1)
    assert a.shape == b.shape == (cora.num_nodes, cora.num_features)
    assert a.dtype == torch.float32 and bool((a >= 0).all()) and bool((a <= 1).all())
    torch.testing.assert_close(a.sum(1), torch.ones(cora.num_nodes))
    assert not torch.equal(a, b)
    # batched generation gives the same matrices as one batch
    torch.testing.assert_close(cora_cvae.sample(cora, 1, seed=1, batch_size=500)[0], a)


def test_generator_prefers_the_centres_neighbourhood(small, small_cvae):
    # a generated row should resemble the features of the node's real neighbours more than random nodes'
    xbar = small_cvae.sample(small, 1, seed=0)[0].numpy()
    x = small.x / small.x.sum(1, keepdims=True).clip(1)
    src, dst = small.edge_index()
    near = np.mean(np.sum(xbar[src] * x[dst], 1))
    far = np.mean(np.sum(xbar[src] * x[np.random.default_rng(0).permutation(small.num_nodes)][dst], 1))
    assert near > 1.2 * far


def test_continuous_features_use_mse_without_row_normalization(small):
    g = small.replace(x=np.random.default_rng(0).normal(size=(small.num_nodes, 6)).astype(np.float32))
    cvae = NeighborCVAE(epochs=2, hidden_size=16, latent_size=2, progress=False).fit(g)
    assert not cvae.bce_
    xbar = cvae.sample(g, 1)[0]
    assert bool((xbar < 0).any())  # linear output, not a distribution
    with pytest.raises(ValueError, match="loss='bce'"):
        NeighborCVAE(loss="bce", progress=False).fit(g)


def test_isolated_nodes_are_generated_or_copied():
    g = sbm_graph(n=60, isolated=5)
    iso = isolated_nodes(g)
    assert set(range(55, 60)) <= set(iso) and np.all(g.degree()[iso] == 0)
    gen = NeighborCVAE(epochs=2, hidden_size=16, latent_size=2, progress=False).fit(g).sample(g, 1)[0]
    torch.testing.assert_close(gen[iso].sum(1), torch.ones(iso.size))  # conditioned on x_v like any node
    own = NeighborCVAE(epochs=2, hidden_size=16, latent_size=2, isolated="self", progress=False).fit(g)
    xbar = own.sample(g, 1)[0]
    expect = g.x[iso] / g.x[iso].sum(1, keepdims=True).clip(1e-12)
    torch.testing.assert_close(xbar[iso], torch.from_numpy(expect.astype(np.float32)))


def test_bad_input_is_reported(small):
    with pytest.raises(ValueError, match="graph.x is None"):
        NeighborCVAE(progress=False).fit(small.replace(x=None))
    empty = Graph.from_edge_index(np.zeros((2, 0), np.int64), 4, x=np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match="no .centre, neighbour. pairs"):
        NeighborCVAE(progress=False).fit(empty)
    with pytest.raises(ValueError, match="latent_size"):
        NeighborCVAE(latent_size=0)
    with pytest.raises(RuntimeError, match="not fitted"):
        NeighborCVAE().sample(small)
    with pytest.raises(TypeError, match="graphopt.Graph"):
        NeighborCVAE(progress=False).fit(small.x)


def test_checkpoint_roundtrip_is_exact(tmp_path, small, small_cvae):
    path = tmp_path / "cvae.pt"
    small_cvae.save(path)
    loaded = NeighborCVAE.load(path, progress=False)
    torch.testing.assert_close(loaded.sample(small, 1, seed=3)[0], small_cvae.sample(small, 1, seed=3)[0])
    assert [p.name for p in tmp_path.iterdir()] == ["cvae.pt"]  # no temp file left


def test_bald_selection_keeps_a_scored_checkpoint(small):
    cvae = NeighborCVAE(epochs=3, hidden_size=16, latent_size=2, batch_size=16, selection="bald",
                        selection_passes=5, selection_every=5, selection_warmup=10, progress=False).fit(small)
    scores = [h["bald"] for h in cvae.selection_history_]
    assert scores and cvae.selection_score_ == max(scores) and cvae.selection_score_ >= 0


def test_cvae_is_repeatable_with_a_seed(small):
    a = NeighborCVAE(epochs=2, hidden_size=16, seed=4, progress=False).fit(small)
    b = NeighborCVAE(epochs=2, hidden_size=16, seed=4, progress=False).fit(small)
    assert a.history_ == b.history_
    torch.testing.assert_close(a.sample(small, 1, seed=0)[0], b.sample(small, 1, seed=0)[0])


# ---------------------------------------------------------------- models
def test_branch_widths_sum_to_the_plain_width(small):
    f, c = small.num_features, 3
    assert sum(b.out_channels for b in LAGCN(f, 16, c, num_generated=1).branches) == 16
    assert sum(b.heads for b in LAGAT(f, 8, c, heads=8, num_generated=1).branches) == 8
    assert sum(b.linear.out_features for b in LAGCNII(f, 64, c, num_layers=2, num_generated=3).branches) == 64
    with pytest.raises(ValueError, match="divisible"):
        LAGCN(f, 15, c, num_generated=1)


@pytest.mark.parametrize("cls", [LAGCN, LAGAT, LAGCNII])
def test_models_take_x_edge_index_and_generated(cls, small):
    x = torch.from_numpy(small.x)
    ei = torch.from_numpy(small.edge_index())
    kw = {LAGCNII: {"num_layers": 4}, LAGAT: {"heads": 6}}.get(cls, {})
    model = cls(small.num_features, 18, 3, num_generated=2, **kw).eval()
    assert model(x, ei, [x, x]).shape == (small.num_nodes, 3)
    with pytest.raises(ValueError, match="2 generated-feature branches but got 1"):
        model(x, ei, [x])
    with pytest.raises(ValueError, match="expected"):
        model(x, ei, [x, x[:, :3]])


@pytest.mark.parametrize("cls", [LAGCN, LAGAT, LAGCNII])
def test_sparse_features_give_the_dense_result(cls, small):
    import scipy.sparse as sp

    from graphopt.augment._features import feature_tensor

    dense = feature_tensor(small.x)
    sparse = feature_tensor(sp.csr_matrix(small.x), sparse=True)
    assert sparse.is_sparse and sparse._nnz() == np.count_nonzero(small.x)
    torch.testing.assert_close(sparse.to_dense(), dense)
    torch.testing.assert_close(dense.sum(1), torch.ones(small.num_nodes))  # no isolated rows of zeros here
    ei = torch.from_numpy(small.edge_index())
    kw = {LAGCNII: {"num_layers": 4}, LAGAT: {"heads": 6}}.get(cls, {})
    model = cls(small.num_features, 18, 3, num_generated=2, **kw).eval()
    gen = [torch.rand_like(dense), torch.rand_like(dense)]
    torch.testing.assert_close(model(sparse, ei, gen), model(dense, ei, gen), atol=1e-5, rtol=1e-4)


def test_sparse_training_matches_dense_in_accuracy(small, small_cvae):
    import scipy.sparse as sp

    sparse_graph = small.replace(x=sp.csr_matrix(small.x))
    scores = [LAClassifier(LAGCN(small.num_features, 16, 3, num_generated=1), small_cvae, epochs=60,
                           pool_size=4, seed=0, progress=False).fit(g).score() for g in (small, sparse_graph)]
    assert scores[1] > 0.8 and abs(scores[0] - scores[1]) < 0.1


def test_averaging_design_feeds_the_mean(small):
    x = torch.from_numpy(small.x)
    ei = torch.from_numpy(small.edge_index())
    inner = LAGCN(small.num_features, 16, 3, num_generated=0).eval()
    avg = AveragedInput(inner).eval()
    g = torch.rand_like(x)
    torch.testing.assert_close(avg(x, ei, [g]), inner((x + g) / 2, ei))


def test_consistency_loss_vanishes_only_for_agreeing_confident_passes():
    one_hot = torch.log(torch.tensor([[1.0, 1e-9], [1e-9, 1.0]]))
    assert consistency_loss([one_hot, one_hot]) < 1e-6
    unsure = torch.log(torch.tensor([[0.6, 0.4], [0.3, 0.7]]))
    assert consistency_loss([unsure, unsure.flip(1)]) > 0.04


class UserSAGE(torch.nn.Module):
    def __init__(self, f, hidden, c):
        super().__init__()
        self.conv1, self.conv2 = SAGEConv(f, hidden), SAGEConv(hidden, c)

    def forward(self, x, edge_index):
        return self.conv2(F.relu(self.conv1(F.dropout(x, 0.3, self.training), edge_index)), edge_index)


def test_wrapper_turns_a_sage_model_into_its_la_version(small, small_cvae):
    user = UserSAGE(small.num_features, 16, 3)
    la = LocalAugmentation(user, num_generated=1, dropout=0.3)
    assert la.first_layer == "conv1" and isinstance(user.conv1, SAGEConv)  # the user's model is untouched
    branches = la.model.conv1.branches
    assert [type(b) for b in branches] == [SAGEConv, SAGEConv]
    assert sum(b.out_channels for b in branches) == 16
    clf = LAClassifier(la, small_cvae, num_samples=2, epochs=40, patience=None, seed=0, progress=False).fit(small)
    assert clf.score() > 0.6  # chance is 1/3
    with pytest.raises(ValueError, match="1 generated-feature branches but got 0"):
        la(torch.from_numpy(small.x), torch.from_numpy(small.edge_index()))


def test_wrapper_errors_name_the_layer():
    class NoLayers(torch.nn.Module):
        def forward(self, x, edge_index):
            return x

    with pytest.raises(ValueError, match="no Linear or MessagePassing"):
        LocalAugmentation(NoLayers())
    with pytest.raises(ValueError, match="'conv1' out_channels=15 must be divisible"):
        LocalAugmentation(UserSAGE(8, 15, 3))
    with pytest.raises(ValueError, match="not a submodule"):
        LocalAugmentation(UserSAGE(8, 16, 3), first_layer="conv9")
    with pytest.raises(ValueError, match="no out_channels"):
        LocalAugmentation(torch.nn.Sequential(torch.nn.Sequential()), first_layer="0")


# ---------------------------------------------------------------- training
def test_short_la_gcn_on_cora_beats_chance_widely(cora, cora_cvae):
    model = LAGCN(cora.num_features, 16, cora.num_classes, num_generated=1)
    clf = LAClassifier(model, cora_cvae, num_samples=2, epochs=30, patience=None, lr=0.05, pool_size=3,
                       seed=0, progress=False).fit(cora)
    assert clf.score() > 0.6  # chance on 7 classes is ~0.14, the majority class 0.32
    hist = clf.history_
    assert hist[clf.best_epoch_]["val_loss"] == min(h["val_loss"] for h in hist)
    assert clf.generated_[0].shape == (cora.num_nodes, cora.num_features)


def test_training_is_repeatable_with_a_seed(small, small_cvae):
    def run(seed):
        model = LAGCN(small.num_features, 16, 3, num_generated=1)
        return LAClassifier(model, small_cvae, epochs=8, patience=None, seed=seed, progress=False).fit(small)

    a, b, c = run(1), run(1), run(2)
    assert a.history_ == b.history_
    np.testing.assert_array_equal(a.predict(), b.predict())
    assert a.history_ != c.history_


def test_classifier_bad_input(small, small_cvae):
    model = LAGCN(small.num_features, 16, 3, num_generated=1)
    with pytest.raises(ValueError, match="generator is None"):
        LAClassifier(model)
    with pytest.raises(ValueError, match="graph.val_mask"):
        LAClassifier(model, small_cvae, progress=False).fit(small.replace(val_mask=None))
    with pytest.raises(ValueError, match="graph.x is None"):
        LAClassifier(model, small_cvae, progress=False).fit(small.replace(x=None))
    with pytest.raises(ValueError, match="num_samples"):
        LAClassifier(model, small_cvae, num_samples=0)
    with pytest.raises(RuntimeError, match="not fitted"):
        LAClassifier(model, small_cvae).predict()


def test_cluster_batches_train_generator_and_model():
    g = sbm_graph(n=200, seed=1)
    part = Partition.metis(g, 4, seed=0)
    cvae = NeighborCVAE(epochs=3, hidden_size=16, latent_size=2, progress=False).fit(g, part, parts_per_batch=2)
    within = sum(part.subgraph(p).edge_index().shape[1] for p in ([0, 1], [2, 3]))
    assert cvae.history_[0]["pairs"] <= g.edge_index().shape[1]
    assert cvae.history_[0]["pairs"] >= min(within, g.edge_index().shape[1]) // 2
    model = LAGCN(g.num_features, 16, 3, num_generated=1)
    clf = LAClassifier(model, cvae, num_samples=2, epochs=30, patience=None, seed=0, progress=False)
    clf.fit(g, part, parts_per_batch=2)
    proba = clf.predict_proba()
    assert proba.shape == (200, 3)
    torch.testing.assert_close(proba, clf.predict_proba())  # the kept validation X̄ is regenerated exactly
    assert clf.score() > 0.6


# ---------------------------------------------------------------- CLI
def test_cli_runs_lagnn_on_cora(shared_root, tmp_path, capsys):
    from graphopt.cli import main

    ckpt = tmp_path / "cora.pt"
    argv = ["lagnn", "--dataset", "cora", "--root", str(shared_root), "--epochs", "3", "--samples", "2",
            "--pool", "2", "--cvae-epochs", "1", "--cvae-max-pairs", "500", "--cvae", str(ckpt), "--quiet"]
    assert main(argv) == 0
    assert ckpt.exists() and "LA-GCN on cora: test accuracy" in capsys.readouterr().out
    assert main(["lagnn", "--dataset", "nope", "--quiet"]) == 2


def test_fast_dropout_keeps_the_law_of_inverted_dropout():
    from graphopt._ops import dropout

    x = torch.ones(400, 500)
    torch.manual_seed(0)
    out = dropout(x, 0.6)
    assert abs(float((out == 0).float().mean()) - 0.6) < 0.01
    assert abs(float(out.mean()) - 1.0) < 0.02  # kept entries are scaled by 1 / (1 - p)
    assert dropout(x, 0.6, training=False) is x
    torch.manual_seed(0)
    torch.testing.assert_close(dropout(x, 0.6), out)
    sparse = torch.eye(300).to_sparse()
    kept = dropout(sparse, 0.5).coalesce()
    assert kept.is_sparse and set(kept.values().unique().tolist()) <= {0.0, 2.0}
    assert abs(float((kept.values() == 0).float().mean()) - 0.5) < 0.1
    with pytest.raises(ValueError, match="probability"):
        dropout(x, 1.5)


def test_sparse_propagation_and_gcnii_layer_match_pyg():
    from torch_geometric.nn import GCN2Conv
    from torch_geometric.nn.conv.gcn_conv import gcn_norm

    from graphopt._ops import sparse_propagation
    from graphopt.augment import GCNIILayer

    torch.manual_seed(0)
    n = 50
    ei = torch.randint(0, n, (2, 200))
    w = torch.rand(200)
    dense = torch.zeros(n, n).index_put_((ei[1], ei[0]), w, accumulate=True)  # messages flow src -> dst
    h = torch.randn(n, 4, requires_grad=True)
    out = sparse_propagation(ei, w, n)(h)
    torch.testing.assert_close(out, dense @ h)
    torch.testing.assert_close(torch.autograd.grad(out.square().sum(), h)[0], 2 * dense.t() @ (dense @ h))

    sym = torch.cat([ei, ei.flip(0)], 1)
    e, ew = gcn_norm(sym, None, n, add_self_loops=True)
    ref, ours = GCN2Conv(16, 0.1, 0.5, layer=3, normalize=False), GCNIILayer(16, 0.1, 0.5, layer=3)
    with torch.no_grad():
        ours.weight.copy_(ref.weight1)
    h, h0 = torch.randn(n, 16, requires_grad=True), torch.randn(n, 16)
    a, b = ref(h, h0, e, ew), ours(h, h0, sparse_propagation(e, ew, n))
    torch.testing.assert_close(b, a)
    torch.testing.assert_close(torch.autograd.grad(b.sum(), h)[0], torch.autograd.grad(a.sum(), h)[0])


def test_gcnii_propagation_cache_follows_the_edge_index(small):
    x = torch.from_numpy(small.x)
    ei = torch.from_numpy(small.edge_index()).clone()
    model = LAGCNII(small.num_features, 8, 3, num_layers=3, num_generated=0).eval()
    first = model(x, ei)
    torch.testing.assert_close(model(x, ei), first)  # cached propagation, same result
    other = ei[:, ei[0] < ei[1]]  # a different graph: half the edges, directed
    fresh = copy.deepcopy(model)
    fresh.__dict__.pop("_cache_key", None)
    torch.testing.assert_close(model(x, other), fresh(x, other))
    model(x, ei)  # cached for ei again
    ei[1] = ei[1].flip(0)  # edited in place: same tensor object, new version, another graph
    expected = fresh(x, ei.clone())
    assert not torch.allclose(expected, first)
    torch.testing.assert_close(model(x, ei), expected)
