"""The GCN of Cluster-GCN (Chiang et al., KDD 2019) and a wrapper for a stack of PyG convolutions.

Each :class:`ClusterGCNLayer` computes ``concat(Â·H, H) → dropout → linear → LayerNorm → ReLU``
as in the authors' code (google-research ``cluster_gcn/layers.py``); the last layer has neither
LayerNorm nor ReLU. With ``precalc`` the first propagation ``[A·X ‖ X]`` is computed once on the
whole training graph (:func:`precalc_features`) and the first layer only transforms it.
The concatenation is never formed and sparse input features stay sparse (see
:class:`ClusterGCNLayer`): the same model, at a fraction of the cost on bag-of-words features.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from .._ops import csr_matmul, csr_transpose, csr_with_values, dropout
from ..graph import Graph

__all__ = ["ClusterGCN", "ClusterGCNLayer", "ConvStack", "precalc_features", "spectral_features"]


class ClusterGCNLayer(nn.Module):
    """One Cluster-GCN layer: ``act(norm(dropout([Â·H ‖ H]) W + b))``, ``W = [W_agg; W_self]``.

    With ``precalc`` the input already is ``[A·X ‖ X]``: ``act(norm(dropout(H) W_self + b))``.

    ``[Â·H ‖ H]`` is never materialized: the layer computes ``dropout(Â·H) W_agg + dropout(H) W_self``,
    the same law as dropout on the concatenation (the halves get independent masks, dropout sits
    after the propagation as in the authors' ``layers.py``). ``H`` may be a sparse CSR tensor
    (bag-of-words input features, ~1% non-zero): then ``Â·H`` stays sparse, dropout touches stored
    values only and both products are sparse x dense, with the transposes for the backward built
    once. In evaluation (no dropout, no gradient) the product is reassociated as
    ``Â (H W_agg) + H W_self``, so a wide input costs ``O(nnz(H) · out)``.

    The weights are stored input-major, ``(in, out)``: the sparse products read them in place and
    their gradients come back contiguous, with none of the transposing copies of the widest matrix
    that ``nn.Linear``'s ``(out, in)`` layout needs each step.
    """

    def __init__(self, in_channels: int, out_channels: int, *, dropout: float = 0.2,
                 layer_norm: bool = True, activation: bool = True, precalc: bool = False) -> None:
        super().__init__()
        self.precalc = precalc
        fan_in = in_channels if precalc else 2 * in_channels
        # Glorot uniform over the whole concatenated weight, as the authors initialize it.
        bound = (6.0 / (fan_in + out_channels)) ** 0.5
        self.weight_self = nn.Parameter(torch.empty(in_channels, out_channels).uniform_(-bound, bound))
        self.weight_agg = (None if precalc else
                           nn.Parameter(torch.empty(in_channels, out_channels).uniform_(-bound, bound)))
        # LayerNorm's offset already plays the bias's role (the authors' layers have no bias).
        self.bias = None if layer_norm else nn.Parameter(torch.zeros(out_channels))
        self.dropout = dropout
        self.norm = nn.LayerNorm(out_channels, eps=1e-9) if layer_norm else None
        self.activation = activation

    @property
    def weight(self) -> Tensor:
        """The whole ``(out, fan_in)`` weight, ``[W_agg; W_self]ᵀ`` (a copy; for inspection)."""
        if self.weight_agg is None:
            return self.weight_self.t()
        return torch.cat([self.weight_agg, self.weight_self]).t()

    def forward(self, h: Tensor, adj: Tensor | None = None, h_self: Tensor | None = None, *,
                adj_t: Tensor | None = None) -> Tensor:
        """``adj`` may be a row block of the adjacency; then ``h_self`` holds those rows' own ``h``.

        ``adj_t`` (``adj``'s transpose as CSR) saves recomputing it when several layers share ``adj``.
        """
        if self.precalc:
            return self.transform(h)
        if adj is None:
            raise ValueError("adj is required unless the layer is precalculated")
        rows = h if h_self is None else h_self
        if not (self.training and torch.is_grad_enabled()):
            return self.finish(_mm(adj, _mm(h, self.weight_agg)) + _mm(rows, self.weight_self))
        p = self.dropout
        if h.layout == torch.sparse_csr:
            agg = _as_csr(adj) @ h  # input features are constants: no gradient through this product
            return self.finish(_dropped_product(agg, self.weight_agg, p)
                               + _dropped_product(rows, self.weight_self, p))
        if adj_t is None:
            adj, adj_t = _with_transpose(adj)
        agg = csr_matmul(adj, adj_t, h)
        return self.finish(torch.addmm(dropout(agg, p) @ self.weight_agg, dropout(rows, p), self.weight_self))

    def transform(self, z: Tensor) -> Tensor:
        """Everything after the propagation: dropout, linear map, LayerNorm, ReLU (``z = [Â·H ‖ H]``)."""
        if self.weight_agg is not None:
            width = self.weight_agg.shape[0]
            return self.finish(_mm(dropout(z[:, :width], self.dropout, self.training), self.weight_agg)
                               + _mm(dropout(z[:, width:], self.dropout, self.training), self.weight_self))
        if z.layout == torch.sparse_csr and self.training and torch.is_grad_enabled():
            return self.finish(_dropped_product(z, self.weight_self, self.dropout))
        return self.finish(_mm(dropout(z, self.dropout, self.training), self.weight_self))

    def finish(self, out: Tensor) -> Tensor:
        """Bias, LayerNorm and ReLU after the linear map (each where the layer has it)."""
        if self.bias is not None:
            out = out + self.bias
        if self.norm is not None:
            out = self.norm(out)
        return torch.relu(out) if self.activation else out


def _mm(a: Tensor, b: Tensor) -> Tensor:
    return torch.sparse.mm(a, b) if a.layout != torch.strided else a @ b


def _dropped_product(m: Tensor, weight: Tensor, p: float) -> Tensor:
    """``dropout(m) @ weight`` for a constant sparse CSR ``m``: dropout on stored values, and the
    backward's transpose built with the same mask."""
    values = dropout(m.values(), p)
    return csr_matmul(csr_with_values(m, values), csr_transpose(m, values)[0], weight)


def _as_csr(adj: Tensor) -> Tensor:
    return adj if adj.layout == torch.sparse_csr else adj.coalesce().to_sparse_csr()


def _with_transpose(adj: Tensor) -> tuple[Tensor, Tensor]:
    adj = _as_csr(adj)
    return adj, csr_transpose(adj)[0]


class ClusterGCN(nn.Module):
    """The paper's GCN of ``num_layers`` layers; ``forward(x, adj)`` returns logits.

    ``x`` is dense or a sparse CSR tensor (kept sparse through the first layer); ``adj`` is the
    batch's normalized adjacency (sparse CSR or COO). ``precalc=True`` expects ``x`` to be
    ``[A·X ‖ X]`` (width ``2 * in_channels``) from :func:`precalc_features`, so the first layer
    does no propagation.
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, num_layers: int = 2,
                 *, dropout: float = 0.2, layer_norm: bool = True, precalc: bool = False) -> None:
        super().__init__()
        for name, v in (("in_channels", in_channels), ("hidden_channels", hidden_channels),
                        ("out_channels", out_channels), ("num_layers", num_layers)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        self.in_channels, self.out_channels, self.precalc = in_channels, out_channels, precalc
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        if precalc:
            dims[0] = 2 * in_channels
        self.layers = nn.ModuleList(
            ClusterGCNLayer(dims[i], dims[i + 1], dropout=dropout,
                            layer_norm=layer_norm and i < num_layers - 1,
                            activation=i < num_layers - 1, precalc=precalc and i == 0)
            for i in range(num_layers))

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        if x.layout == torch.sparse_coo:
            x = x.coalesce().to_sparse_csr()
        adj_t = None
        if self.training and torch.is_grad_enabled():
            # Every dense layer's backward multiplies by adj's transpose: build it once per batch.
            adj, adj_t = _with_transpose(adj)
        h = x
        for layer in self.layers:
            h = layer(h, adj, adj_t=adj_t)
        return h


class ConvStack(nn.Module):
    """A user's PyG convolutions applied in turn with ReLU and dropout between them.

    Each conv is called as ``conv(h, edge_index)`` or ``conv(h, edge_index, edge_weight)`` when
    the batch is weighted, so ``GCNConv``, ``SAGEConv``, ``GATConv``... all train on Cluster-GCN
    batches. Any module with that ``forward(x, edge_index, edge_weight=None)`` signature (e.g.
    ``torch_geometric.nn.models.GCN``) can be given to :func:`~graphopt.cluster_gcn.fit` directly.
    """

    def __init__(self, convs: Sequence[nn.Module], *, dropout: float = 0.5,
                 activation: Callable[[Tensor], Tensor] = torch.relu) -> None:
        super().__init__()
        if len(convs) == 0:
            raise ValueError("convs must hold at least one convolution")
        self.convs = nn.ModuleList(convs)
        self.dropout = nn.Dropout(dropout)
        self.activation = activation
        # Declared widths, checked against the graph by fit (None where a conv does not say, e.g. lazy -1).
        first, last = self.convs[0], self.convs[-1]
        self.in_channels = getattr(first, "in_channels", None)
        out = getattr(last, "out_channels", None)
        heads = getattr(last, "heads", 1)
        self.out_channels = out * heads if isinstance(out, int) and getattr(last, "concat", False) else out

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        h = x
        for i, conv in enumerate(self.convs):
            if h.layout == torch.strided:  # sparse input features go to the first conv undropped
                h = self.dropout(h)
            h = conv(h, edge_index) if edge_weight is None else conv(h, edge_index, edge_weight)
            if i < len(self.convs) - 1:
                h = self.activation(h)
        return h


def precalc_features(graph: Graph, features: Any = None) -> np.ndarray | sp.csr_matrix:
    """``[A·X ‖ X]`` with ``A`` the raw adjacency of ``graph`` (the authors' "precalc"), float32.

    Sparse features stay sparse, so a wide bag-of-words ``X`` is never densified whole.
    """
    x = graph.x if features is None else features
    ax = graph.to_scipy(np.float32) @ x
    if sp.issparse(x):
        return sp.hstack([ax, x], format="csr", dtype=np.float32)
    return np.hstack([np.asarray(ax, dtype=np.float32), np.asarray(x, dtype=np.float32)])



def spectral_features(graph: Graph, dim: int = 64, seed: int = 0) -> np.ndarray:
    """Structural node features for a graph without any: the top ``dim`` eigenvectors of
    ``D^-1/2 (A+I) D^-1/2``, scaled to unit column variance (float32, shape ``(N, dim)``)."""
    if not isinstance(dim, (int, np.integer)) or not 1 <= dim < graph.num_nodes - 1:
        raise ValueError(f"dim must be an integer in [1, num_nodes - 1), got {dim!r}")
    from scipy.sparse.linalg import eigsh

    a = graph.normalized_adjacency("sym", dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(graph.num_nodes)
    _, vecs = eigsh(a, k=dim, which="LA", v0=v0)
    vecs = vecs * np.sign(vecs.sum(0) + 1e-12)  # fix the eigenvectors' arbitrary signs
    return ((vecs - vecs.mean(0)) / (vecs.std(0) + 1e-12)).astype(np.float32)
