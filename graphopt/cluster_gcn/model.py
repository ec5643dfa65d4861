"""The GCN of Cluster-GCN (Chiang et al., KDD 2019) and a wrapper for a stack of PyG convolutions.

Each :class:`ClusterGCNLayer` computes ``concat(Â·H, H) → dropout → linear → LayerNorm → ReLU``
as in the authors' code (google-research ``cluster_gcn/layers.py``); the last layer has neither
LayerNorm nor ReLU. With ``precalc`` the first propagation ``[A·X ‖ X]`` is computed once on the
whole training graph (:func:`precalc_features`) and the first layer only transforms it.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from .._ops import dropout
from ..graph import Graph

__all__ = ["ClusterGCN", "ClusterGCNLayer", "ConvStack", "precalc_features", "spectral_features"]


class ClusterGCNLayer(nn.Module):
    """One Cluster-GCN layer: ``act(norm(dropout([Â·H ‖ H]) W))``.

    With ``precalc`` the input already is ``[A·X ‖ X]``: ``act(norm(dropout(H) W))``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, dropout: float = 0.2,
                 layer_norm: bool = True, activation: bool = True, precalc: bool = False) -> None:
        super().__init__()
        self.precalc = precalc
        fan_in = in_channels if precalc else 2 * in_channels
        # LayerNorm's offset already plays the bias's role (the authors' layers have no bias).
        self.linear = nn.Linear(fan_in, out_channels, bias=not layer_norm)
        nn.init.xavier_uniform_(self.linear.weight)
        self.dropout = dropout
        self.norm = nn.LayerNorm(out_channels, eps=1e-9) if layer_norm else None
        self.activation = activation

    def forward(self, h: Tensor, adj: Tensor | None = None, h_self: Tensor | None = None) -> Tensor:
        """``adj`` may be a row block of the adjacency; then ``h_self`` holds those rows' own ``h``."""
        if self.precalc:
            return self.transform(h)
        if adj is None:
            raise ValueError("adj is required unless the layer is precalculated")
        return self.transform(torch.cat([adj @ h, h if h_self is None else h_self], dim=1))

    def transform(self, z: Tensor) -> Tensor:
        """Everything after the propagation: dropout, linear, LayerNorm, ReLU."""
        out = self.linear(dropout(z, self.dropout, self.training))
        if self.norm is not None:
            out = self.norm(out)
        return torch.relu(out) if self.activation else out


class ClusterGCN(nn.Module):
    """The paper's GCN of ``num_layers`` layers; ``forward(x, adj)`` returns logits.

    ``precalc=True`` expects ``x`` to be ``[A·X ‖ X]`` (width ``2 * in_channels``) from
    :func:`precalc_features`, so the first layer does no propagation.
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
        h = x
        for layer in self.layers:
            h = layer(h, adj)
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
