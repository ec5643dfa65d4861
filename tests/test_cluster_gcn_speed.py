"""Cluster-GCN's fast formulation computes the paper's layer: same outputs, gradients and dropout law.

The reference is the layer written as the authors write it, densely: ``z = [Â·H ‖ H]``,
``dropout(z) @ W`` with ``W = [W_agg; W_self]``, then LayerNorm and ReLU.
"""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphopt import Graph, Partition
from graphopt._ops import csr_matmul, csr_transpose, dropout
from graphopt.cluster_gcn import ClusterGCN, ClusterGCNLayer, ClusterLoader, evaluate, fit, predict
from graphopt.cluster_gcn import train as train_mod
from graphopt.cluster_gcn.loader import torch_csr


def _graph(n=80, features=30, density=0.08, seed=0):
    rng = np.random.default_rng(seed)
    a = sp.random(n, n, density=0.06, random_state=seed, format="csr")
    a = ((a + a.T) > 0).astype(float)
    x = sp.random(n, features, density=density, random_state=seed + 1, format="csr", dtype=np.float32)
    x.data[:] = rng.uniform(0.5, 2.0, x.nnz).astype(np.float32)
    y = rng.integers(0, 3, n)
    mask = np.zeros(n, dtype=bool)
    mask[: n // 2] = True
    return Graph.from_scipy(a, x=x, y=y, train_mask=mask, val_mask=~mask, test_mask=~mask)


def _batch(g, parts=4, q=2):
    loader = ClusterLoader(Partition.random(g, parts, seed=0), q, normalization="diag_enhanced",
                           diag_lambda=1.0, sparse_features=True)
    return next(iter(loader))


def _reference(model, x_dense, adj_dense):
    """The authors' layer, dense: concat, one product with the whole weight, LayerNorm, ReLU."""
    h = x_dense
    for layer in model.layers:
        z = h if layer.precalc else torch.cat([adj_dense @ h, h], 1)
        w = layer.weight_self if layer.precalc else torch.cat([layer.weight_agg, layer.weight_self])
        out = z @ w
        if layer.bias is not None:
            out = out + layer.bias
        if layer.norm is not None:
            out = layer.norm(out)
        h = torch.relu(out) if layer.activation else out
    return h


def _grads(model):
    return {k: p.grad.clone() for k, p in model.named_parameters()}


@pytest.mark.parametrize("sparse_x", [True, False])
@pytest.mark.parametrize("coo_adj", [False, True])
def test_outputs_and_gradients_match_the_dense_reference(sparse_x, coo_adj):
    g = _graph()
    b = _batch(g)
    torch.manual_seed(0)
    model = ClusterGCN(g.num_features, 16, 3, num_layers=3, dropout=0.0)
    x_dense = b.x.to_dense()
    adj_dense = b.adj.to_dense()
    x = b.x if sparse_x else x_dense
    adj = b.adj.to_sparse_coo() if coo_adj else b.adj
    target = torch.randn(b.num_nodes, 3)

    model.train()
    out = model(x, adj)
    (out * target).sum().backward()
    fast = _grads(model)
    model.zero_grad()
    ref = _reference(model, x_dense, adj_dense)
    (ref * target).sum().backward()
    slow = _grads(model)
    assert torch.allclose(out, ref, atol=1e-5)
    assert fast.keys() == slow.keys()
    for k in fast:
        assert torch.allclose(fast[k], slow[k], atol=1e-5, rtol=1e-4), k

    model.eval()  # evaluation reassociates Â (H W_agg): same numbers
    with torch.no_grad():
        assert torch.allclose(model(x, adj), ref, atol=1e-5)


def test_precalc_sparse_input_matches_reference():
    g = _graph()
    b = _batch(g)
    ax = (b.adj @ b.x).to_dense()
    z = torch.cat([ax, b.x.to_dense()], 1)
    z_sparse = z.to_sparse_csr()
    torch.manual_seed(1)
    model = ClusterGCN(g.num_features, 8, 3, num_layers=2, dropout=0.0, precalc=True).train()
    out = model(z_sparse, b.adj)
    out.sum().backward()
    fast = _grads(model)
    model.zero_grad()
    ref = _reference(model, z, b.adj.to_dense())
    ref.sum().backward()
    assert torch.allclose(out, ref, atol=1e-5)
    for k, v in _grads(model).items():
        assert torch.allclose(fast[k], v, atol=1e-5, rtol=1e-4), k


@pytest.mark.parametrize("sparse_x", [True, False])
def test_dropout_sits_after_the_propagation_with_independent_halves(sparse_x):
    """As in the authors' layers.py: dropout([Â·H ‖ H]). Each output entry of the Â·H half is 0 or
    (Â·H)_ik / (1 - p), never a partial neighbour sum (which dropout before Â would give)."""
    g = _graph(n=120, features=20, density=0.3)
    b = _batch(g, parts=2, q=2)
    p = 0.5
    layer = ClusterGCNLayer(20, 20, dropout=p, layer_norm=False, activation=False).train()
    x = b.x if sparse_x else b.x.to_dense()
    ax = (b.adj.to_dense() @ b.x.to_dense())
    with torch.no_grad():
        layer.weight_agg.copy_(torch.eye(20))
        layer.weight_self.zero_()
    torch.manual_seed(0)
    with torch.enable_grad():
        out = layer(x, b.adj).detach()
    kept = out != 0
    assert torch.allclose(out[kept], ax[kept] / (1 - p), rtol=1e-5)
    frac = kept.sum().item() / (ax != 0).sum().item()
    assert abs(frac - (1 - p)) < 0.05, frac
    # The other half: entries of H itself, with a mask of their own.
    with torch.no_grad():
        layer.weight_agg.zero_()
        layer.weight_self.copy_(torch.eye(20))
    with torch.enable_grad():
        out = layer(x, b.adj).detach()
    xd = b.x.to_dense()
    kept = out != 0
    assert torch.allclose(out[kept], xd[kept] / (1 - p), rtol=1e-5)
    assert abs(kept.sum().item() / (xd != 0).sum().item() - (1 - p)) < 0.05


def test_sparse_dropout_keeps_structure_and_law():
    m = torch.rand(300, 200).mul_(torch.rand(300, 200) < 0.1).to_sparse_csr()
    torch.manual_seed(0)
    d = dropout(m, 0.3)
    assert d.layout == torch.sparse_csr
    assert torch.equal(d.crow_indices(), m.crow_indices()) and torch.equal(d.col_indices(), m.col_indices())
    kept = d.values() != 0
    assert torch.allclose(d.values()[kept], m.values()[kept] / 0.7)
    assert abs(kept.float().mean().item() - 0.7) < 0.03
    assert dropout(m, 0.3, training=False) is m


def test_csr_transpose_and_matmul_gradient():
    m = torch.rand(40, 25).mul_(torch.rand(40, 25) < 0.2).to_sparse_csr()
    mt, perm = csr_transpose(m)
    assert torch.equal(mt.to_dense(), m.to_dense().t())
    assert torch.equal(mt.values(), m.values()[perm])
    other = torch.rand(m.values().numel())
    mt2, _ = csr_transpose(m, other)
    assert torch.equal(mt2.values(), other[perm])
    w = torch.randn(25, 7, requires_grad=True)
    csr_matmul(m, mt, w).pow(2).sum().backward()
    w2 = w.detach().clone().requires_grad_()
    (m.to_dense() @ w2).pow(2).sum().backward()
    assert torch.allclose(w.grad, w2.grad, atol=1e-5)
    with pytest.raises(TypeError, match="CSR"):
        csr_transpose(m.to_dense())


def test_fit_trains_on_sparse_batches_same_as_dense_batches():
    """fit() hands ClusterGCN sparse batches; with dropout off the trained weights equal those of the
    reference formulation trained on the densified batches with the same optimizer."""
    g = _graph(n=100, features=25)
    part = Partition.random(g, 4, seed=0)
    torch.manual_seed(3)
    model = ClusterGCN(25, 8, 3, num_layers=2, dropout=0.0)
    ref_params = {k: v.detach().clone().requires_grad_() for k, v in model.named_parameters()}
    fit(model, g, part, clusters_per_batch=2, epochs=2, lr=0.01, normalization="diag_enhanced",
        eval_every=None, progress=False, seed=7)

    shadow = ClusterGCN(25, 8, 3, num_layers=2, dropout=0.0)
    with torch.no_grad():
        for k, p in shadow.named_parameters():
            p.copy_(ref_params[k])
    opt = torch.optim.Adam(shadow.parameters(), lr=0.01)
    loader = ClusterLoader(part, 2, normalization="diag_enhanced", seed=7)
    for epoch in range(2):
        loader.epoch = epoch
        for batch in loader:
            mask = batch.train_mask
            if not mask.any():
                continue
            opt.zero_grad()
            out = _reference(shadow, batch.x, batch.adj.to_dense())[mask]
            torch.nn.functional.cross_entropy(out, batch.y[mask]).backward()
            opt.step()
    for (k, p), (_, q) in zip(model.named_parameters(), shadow.named_parameters()):
        assert torch.allclose(p, q, atol=1e-4), k


def test_row_block_follows_the_budget():
    assert train_mod._row_block(1000, 256, 256 * 4 * 10) == 10
    assert train_mod._row_block(5, 256, 1 << 30) == 5  # never more rows than there are
    assert train_mod._row_block(1000, 1 << 20, 16) == 1  # at least one row


def test_budgeted_layerwise_prediction_equals_full_forward(monkeypatch):
    g = _graph(n=90, features=12)
    torch.manual_seed(0)
    model = ClusterGCN(12, 16, 3, num_layers=3).eval()
    adj = g.to_torch_sparse("diag_enhanced", lam=1.0)
    x = torch_csr(g.x.indptr.astype(np.int64), g.x.indices.astype(np.int64), g.x.data, 12)
    ref = model(x, adj)
    whole = predict(model, g, normalization="diag_enhanced", diag_lambda=1.0)
    # A budget of a few rows forces many blocks; the result must not change.
    monkeypatch.setattr(train_mod, "INFERENCE_BLOCK_BYTES", 7 * 4 * (12 + 3 * 16))
    blocked = predict(model, g, normalization="diag_enhanced", diag_lambda=1.0)
    assert torch.allclose(whole, ref, atol=1e-5) and torch.allclose(blocked, ref, atol=1e-5)
    assert set(evaluate(model, g, normalization="diag_enhanced")) == {"train", "val", "test"}
