"""LA-GNN backbones (Liu et al., "Local Augmentation for Graph Neural Networks", ICML 2022).

The paper's concatenation design: the first layer gets one branch for ``X`` and one per generated
matrix ``X̄``; branch widths sum to the plain model's width and the branch outputs are concatenated,
so everything after the first layer is the unmodified backbone. With ``num_generated=0`` each class
*is* the plain backbone (GCN, GAT, GCNII), which keeps baselines and LA models on one code path.

Every model is a ``torch.nn.Module`` called as ``model(x, edge_index, generated)`` where
``generated`` is a sequence of ``num_generated`` tensors shaped like ``x`` (ignored when empty).
Each takes ``device=`` like torch's own modules (parameters made there; ``.to(device)`` works too)
and creates nothing on a fixed device in its forward pass.
:class:`AveragedInput` is the averaging design; :class:`LocalAugmentation` turns a user's PyG model
into its LA version by splitting its first layer.
"""

from __future__ import annotations

import copy
import inspect
import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import GATConv, GCNConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from .._device import resolve_device
from .._ops import InputDropout, dropout, sparse_propagation

__all__ = ["LAGCN", "LAGAT", "LAGCNII", "GCNIILayer", "AveragedInput", "LocalAugmentation"]


def _place(module: nn.Module, device: torch.device | str | None) -> None:
    """Move ``module`` to ``device`` (None: leave it where it is), checking the device exists first."""
    if device is not None:
        module.to(resolve_device(device))


def _split(total: int, parts: int, what: str) -> int:
    if total % parts:
        raise ValueError(f"{what}={total} must be divisible by the {parts} first-layer branches "
                         f"(1 for X + num_generated)")
    return total // parts


def _inputs(x: torch.Tensor, generated: Sequence[torch.Tensor], num_generated: int) -> list[torch.Tensor]:
    if len(generated) != num_generated:
        raise ValueError(f"model has {num_generated} generated-feature branches but got "
                         f"{len(generated)} generated matrices")
    for g in generated:
        if g.shape != x.shape:
            raise ValueError(f"generated matrix has shape {tuple(g.shape)}, expected {tuple(x.shape)} like x")
    return [x, *generated]


def _input_dropout(layer: nn.Module, p: float) -> nn.Module:
    """``layer`` with its input dropout moved inside its linear map (see :class:`InputDropout`): a
    PyG convolution gets its ``lin`` wrapped, an ``nn.Linear`` is wrapped whole."""
    if isinstance(layer, nn.Linear):
        return InputDropout(layer, p)
    layer.lin = InputDropout(layer.lin, p)
    return layer


def _branches(branches: nn.ModuleList, xs: list[torch.Tensor], act, *args: Any) -> torch.Tensor:
    """The branched first layer: (dropout inside) layer, activation per input matrix, concatenated."""
    return torch.cat([act(layer(xi, *args)) for layer, xi in zip(branches, xs)], dim=-1)


class LAGCN(nn.Module):
    """Two-layer GCN (Kipf & Welling) with a branched first layer.

    ``hidden_channels`` is the total first-layer width (16 for the plain GCN, split into
    ``1 + num_generated`` equal branches: 2 x 8 for the paper's Cora/CiteSeer LA-GCN).
    """

    sparse_input = True  # x may be a torch sparse COO tensor (the first layer is linear in x)

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, *,
                 num_generated: int = 1, dropout: float = 0.5, device: torch.device | str | None = None) -> None:
        super().__init__()
        self.num_generated = num_generated
        self.in_channels, self.out_channels = in_channels, out_channels  # checked against the graph by fit
        width = _split(hidden_channels, num_generated + 1, "hidden_channels")
        self.branches = nn.ModuleList(_input_dropout(GCNConv(in_channels, width), dropout)
                                      for _ in range(num_generated + 1))
        self.conv2 = GCNConv(hidden_channels, out_channels)
        self.dropout = dropout
        _place(self, device)

    def forward(self, x: torch.Tensor, edge_index: Any, generated: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        xs = _inputs(x, generated, self.num_generated)
        h = _branches(self.branches, xs, F.relu, edge_index)
        return self.conv2(dropout(h, self.dropout, self.training), edge_index)


class LAGAT(nn.Module):
    """Two-layer GAT (Veličković et al.) with a branched first layer.

    ``heads`` is the total number of first-layer heads (8 for the plain GAT), split across the
    branches (2 x 4 for the paper's LA-GAT), each head ``hidden_channels`` wide; ELU in between.
    """

    sparse_input = True  # x may be a torch sparse COO tensor (the first layer is linear in x)

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, *,
                 heads: int = 8, out_heads: int = 1, num_generated: int = 1, dropout: float = 0.6,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.num_generated = num_generated
        self.in_channels, self.out_channels = in_channels, out_channels  # checked against the graph by fit
        per_branch = _split(heads, num_generated + 1, "heads")
        self.branches = nn.ModuleList(
            _input_dropout(GATConv(in_channels, hidden_channels, heads=per_branch, dropout=dropout), dropout)
            for _ in range(num_generated + 1))
        self.conv2 = GATConv(hidden_channels * heads, out_channels, heads=out_heads, concat=False,
                             dropout=dropout)
        self.dropout = dropout
        _place(self, device)

    def forward(self, x: torch.Tensor, edge_index: Any, generated: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        xs = _inputs(x, generated, self.num_generated)
        h = _branches(self.branches, xs, F.elu, edge_index)
        return self.conv2(dropout(h, self.dropout, self.training), edge_index)


class GCNIILayer(nn.Module):
    """One GCNII layer (Chen et al., ICML 2020): ``s = (1 - alpha) A h + alpha h0``, then
    ``(1 - beta_l) s + beta_l s W`` with ``beta_l = log(theta / l + 1)`` (PyG's ``GCN2Conv`` with
    shared weights, computed with :func:`graphopt._ops.sparse_propagation`)."""

    def __init__(self, channels: int, alpha: float, theta: float, layer: int) -> None:
        super().__init__()
        self.alpha, self.beta = alpha, math.log(theta / layer + 1)
        self.weight = nn.Parameter(torch.empty(channels, channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight)

    def forward(self, h: torch.Tensor, h0: torch.Tensor, propagate) -> torch.Tensor:
        # torch has no half-precision sparse CSR product on the CPU: under autocast it runs in float32
        with torch.autocast(h.device.type, enabled=False):
            ah = propagate(h.float())
        s = (1 - self.alpha) * ah + self.alpha * h0
        return torch.addmm(s, s, self.weight, beta=1 - self.beta, alpha=self.beta)


class LAGCNII(nn.Module):
    """GCNII (Chen et al., ICML 2020) with a branched input projection.

    ``hidden_channels`` is the total width of the deep part (64 on Cora: 2 x 32 branches for
    LA-GCNII); ``alpha`` is the initial-residual weight and ``theta`` the identity-mapping strength
    (``beta_l = log(theta / l + 1)``). :meth:`param_groups` gives the paper's two weight decays.
    """

    sparse_input = True  # x may be a torch sparse COO tensor (the first layer is linear in x)

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, *,
                 num_layers: int = 64, alpha: float = 0.1, theta: float = 0.5, num_generated: int = 1,
                 dropout: float = 0.6, device: torch.device | str | None = None) -> None:
        super().__init__()
        self.num_generated = num_generated
        self.in_channels, self.out_channels = in_channels, out_channels  # checked against the graph by fit
        width = _split(hidden_channels, num_generated + 1, "hidden_channels")
        self.branches = nn.ModuleList(_input_dropout(nn.Linear(in_channels, width), dropout)
                                      for _ in range(num_generated + 1))
        self.convs = nn.ModuleList(GCNIILayer(hidden_channels, alpha, theta, layer=i + 1)
                                   for i in range(num_layers))
        self.out = nn.Linear(hidden_channels, out_channels)
        self.dropout = dropout
        _place(self, device)

    def param_groups(self, weight_decay: float, conv_weight_decay: float = 0.01) -> list[dict[str, Any]]:
        """Optimizer groups: ``conv_weight_decay`` on the deep convolutions, ``weight_decay`` on the linear layers."""
        linear = [*self.branches.parameters(), *self.out.parameters()]
        return [{"params": list(self.convs.parameters()), "weight_decay": conv_weight_decay},
                {"params": linear, "weight_decay": weight_decay}]

    def _propagation(self, edge_index: torch.Tensor, num_nodes: int):
        """The normalized propagation, built once per graph: training calls forward K + 1 times per
        epoch on the same ``edge_index`` (like PyG's ``cached=True``, keyed on the tensor itself)."""
        key = (id(edge_index), edge_index._version, tuple(edge_index.shape), num_nodes)
        if getattr(self, "_cache_key", None) != key:
            self._cache = sparse_propagation(*gcn_norm(edge_index, None, num_nodes, add_self_loops=True), num_nodes)
            self._cache_key, self._cache_ref = key, edge_index  # the reference keeps id() from being reused
        return self._cache

    def forward(self, x: torch.Tensor, edge_index: Any, generated: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        propagate = self._propagation(edge_index, x.size(0))
        h0 = _branches(self.branches, _inputs(x, generated, self.num_generated), F.relu)
        h = h0
        for conv in self.convs:
            h = F.relu(conv(dropout(h, self.dropout, self.training), h0, propagate))
        return self.out(dropout(h, self.dropout, self.training))


class AveragedInput(nn.Module):
    """The averaging design: an unmodified model fed ``(X + mean(X̄)) / 2``."""

    def __init__(self, model: nn.Module, num_generated: int = 1, device: torch.device | str | None = None) -> None:
        super().__init__()
        self.model = model
        self.num_generated = num_generated
        # the wrapped model's widths where it declares them (PyG's BasicGNN models do)
        self.in_channels = getattr(model, "in_channels", None)
        self.out_channels = getattr(model, "out_channels", None)
        _place(self, device)

    def forward(self, x: torch.Tensor, edge_index: Any, generated: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        xs = _inputs(x, generated, self.num_generated)
        if len(xs) > 1:
            x = (x + torch.stack(xs[1:]).mean(0)) / 2
        return self.model(x, edge_index)


_SIMPLE = (int, float, bool, str, tuple, type(None))


def _rebuild(layer: nn.Module, name: str, parts: int) -> list[nn.Module]:
    """Copies of ``layer`` whose output widths sum to its own (heads split when it has concatenated heads)."""
    cls = type(layer)
    if isinstance(layer, nn.Linear):
        width = _split(layer.out_features, parts, f"first layer {name!r} out_features")
        return [nn.Linear(layer.in_features, width, bias=layer.bias is not None) for _ in range(parts)]
    if not hasattr(layer, "out_channels"):
        raise ValueError(f"cannot split first layer {name!r} ({cls.__name__}): it has no out_channels "
                         "attribute; pass first_layer= naming a Linear or PyG convolution")
    kwargs: dict[str, Any] = {}
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        value = getattr(layer, p.name, p.default)
        if value is inspect.Parameter.empty or not isinstance(value, _SIMPLE):
            if p.default is inspect.Parameter.empty:
                raise ValueError(f"cannot split first layer {name!r} ({cls.__name__}): constructor argument "
                                 f"{p.name!r} is not recoverable from the layer")
            continue
        kwargs[p.name] = value
    heads = kwargs.get("heads", 1)
    if heads > 1 and kwargs.get("concat", False):
        kwargs["heads"] = _split(heads, parts, f"first layer {name!r} heads")
    else:
        kwargs["out_channels"] = _split(layer.out_channels, parts, f"first layer {name!r} out_channels")
    return [cls(**kwargs) for _ in range(parts)]


class _BranchedLayer(nn.Module):
    """Stands in for the user's first layer: one branch per input matrix, outputs concatenated."""

    def __init__(self, branches: list[nn.Module], dropout: float) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.dropout = dropout
        self.generated: Sequence[torch.Tensor] = ()

    def reset_parameters(self) -> None:
        # the wrapped model's own reset_parameters (PyG's GCN, ...) calls this on its first layer
        for branch in self.branches:
            branch.reset_parameters()

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        outs = [self.branches[0](x, *args, **kwargs)]
        for branch, g in zip(self.branches[1:], _inputs(x, self.generated, len(self.branches) - 1)[1:]):
            outs.append(branch(dropout(g, self.dropout, self.training), *args, **kwargs))
        return torch.cat(outs, dim=-1)


class LocalAugmentation(nn.Module):
    """Turn a PyG model ``model(x, edge_index, ...)`` into its LA version (concatenation design).

    The first layer (``first_layer`` names the attribute, e.g. ``"conv1"`` or ``"convs.0"``; by
    default the first ``Linear`` or ``MessagePassing`` submodule in registration order) is replaced
    by ``1 + num_generated`` branches of the same class whose widths sum to the original's. ``X``
    goes through the model's own forward (its own input dropout included); each generated matrix
    gets ``dropout`` here, since the model's forward never sees it. The original model is not modified.
    The branches are made on the device (and in the dtype) of the layer they replace; ``device=``
    moves the whole wrapped model.
    """

    def __init__(self, model: nn.Module, num_generated: int = 1, *, first_layer: str | None = None,
                 dropout: float = 0.5, device: torch.device | str | None = None) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if num_generated < 1:
            raise ValueError(f"num_generated must be >= 1, got {num_generated}")
        self.model = copy.deepcopy(model)
        name = first_layer or self._find_first_layer(self.model)
        parent_name, _, attr = name.rpartition(".")
        parent = self.model.get_submodule(parent_name) if parent_name else self.model
        try:
            layer = parent.get_submodule(attr)
        except AttributeError as e:
            raise ValueError(f"first_layer={name!r} is not a submodule of {type(model).__name__}") from e
        self._layer = _BranchedLayer(_rebuild(layer, name, num_generated + 1), dropout)
        like = next(layer.parameters(), None)
        if like is not None:
            self._layer.to(device=like.device, dtype=like.dtype)
        if isinstance(parent, (nn.ModuleList, nn.Sequential)):
            parent[int(attr)] = self._layer
        else:
            setattr(parent, attr, self._layer)
        self.first_layer = name
        self.num_generated = num_generated
        # widths checked against the graph by LAClassifier.fit: the model's own, else its first layer's input
        first_in = layer.in_features if isinstance(layer, nn.Linear) else getattr(layer, "in_channels", None)
        self.in_channels = getattr(model, "in_channels", first_in)
        self.out_channels = getattr(model, "out_channels", None)
        _place(self, device)

    @staticmethod
    def _find_first_layer(model: nn.Module) -> str:
        from torch_geometric.nn.conv import MessagePassing

        for name, m in model.named_modules():
            if name and isinstance(m, (nn.Linear, MessagePassing)):
                return name
        raise ValueError(f"{type(model).__name__} has no Linear or MessagePassing submodule to split; "
                         "pass first_layer=")

    def forward(self, x: torch.Tensor, edge_index: Any, generated: Sequence[torch.Tensor] = (),
                **kwargs: Any) -> torch.Tensor:
        self._layer.generated = generated
        try:
            return self.model(x, edge_index, **kwargs)
        finally:
            self._layer.generated = ()
