"""Small tensor operations shared by the model layers (no graph logic here)."""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

__all__ = ["adam", "csr_matmul", "csr_transpose", "csr_with_values", "dropout",
           "dropout_linear", "InputDropout", "sparse_propagation"]


def _undecorated(method: Callable) -> Callable:
    return getattr(method, "__wrapped__", method)


class _EagerAdam(torch.optim.Adam):
    """``torch.optim.Adam`` without its ``torch._dynamo`` hooks.

    torch wraps ``step``, ``zero_grad``, ``add_param_group`` and the state-dict methods in
    decorators that import ``torch._dynamo`` on first use (1.3 s of CPU per process in
    ``benchmarks/bench_startup.py``) so that compiled graphs can break around them; graphopt compiles nothing.
    These are the same methods undecorated, so the update, the state dict and GradScaler's
    fused-step contract are torch's own.
    """

    add_param_group = _undecorated(torch.optim.Optimizer.add_param_group)
    zero_grad = _undecorated(torch.optim.Optimizer.zero_grad)
    state_dict = _undecorated(torch.optim.Optimizer.state_dict)
    load_state_dict = _undecorated(torch.optim.Optimizer.load_state_dict)
    _adam_step = _undecorated(torch.optim.Adam.step)

    def step(self, closure: Callable | None = None) -> Any:
        with torch.no_grad():  # what the removed decorator did for a non-differentiable Adam
            return self._adam_step(closure)


def adam(params: Any, *, fused: bool = True, **kwargs: Any) -> torch.optim.Adam:
    """``torch.optim.Adam`` (without the ``torch._dynamo`` import, see :class:`_EagerAdam`), with
    the fused single-pass update where this torch build has it and ``fused`` (same algorithm; the
    CVAE's ~4M-parameter update was as costly as its products, ``benchmarks/bench_ops.py``), the
    default implementation otherwise."""
    params = list(params)
    if fused:
        try:
            return _EagerAdam(params, fused=True, **kwargs)
        except (RuntimeError, TypeError, ValueError):
            pass
    return _EagerAdam(params, **kwargs)


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Inverted dropout with the law of ``F.dropout`` (``p`` rounded to 1/65536), several times faster on CPU.

    ``F.dropout`` draws one Bernoulli per entry; here one 64-bit draw gives four 16-bit uniforms and
    the scaled float mask is built in place, one multiply with ``x`` (``benchmarks/bench_ops.py``). Wide
    dense inputs (bag-of-words features, generated feature matrices) make this the largest cost of
    a small GNN's step. A sparse COO or CSR ``x`` gets dropout on its stored values only (zeros stay
    zero, so the law is the same as dropping entries of the dense matrix).
    """
    if not training or p == 0:
        return x
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability must be in [0, 1], got {p!r}")
    if x.layout == torch.sparse_csr:
        return csr_with_values(x, dropout(x.values(), p))
    if x.is_sparse:
        x = x.coalesce()
        return torch.sparse_coo_tensor(x.indices(), dropout(x.values(), p), x.shape, device=x.device,
                                       is_coalesced=True, check_invariants=False)
    if p == 1:
        return torch.zeros_like(x)
    n = x.numel()
    bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_(-2**63, None)
    uniform16 = bits.view(torch.int16)[:n].view(x.shape)  # uniform on [-32768, 32767]
    mask = (uniform16 >= round(p * 65536) - 32768).to(x.dtype).mul_(1.0 / (1.0 - p))
    return x * mask


def dropout_linear(x: torch.Tensor, linear: Callable[[torch.Tensor], torch.Tensor], p: float,
                   training: bool = True, block_bytes: int = 1 << 21) -> torch.Tensor:
    """``linear(dropout(x))`` for a row-wise ``linear``, computed in row blocks of about ``block_bytes``.

    The dropped copy of a wide dense input (N x F generated features: 49 MB on CiteSeer) then never
    exists whole: each block is drawn, masked and multiplied while it is in cache, and every
    temporary is small enough for the allocator to reuse instead of mapping fresh pages
    (``benchmarks/bench_ops.py`` times a CiteSeer-sized pass both ways). The law is the same.
    """
    if not training or p == 0 or x.is_sparse or x.dim() != 2:
        return linear(dropout(x, p, training))
    rows = max(1, block_bytes // max(1, x.size(1) * x.element_size()))
    if rows >= x.size(0):
        return linear(dropout(x, p))
    return torch.cat([linear(dropout(block, p)) for block in x.split(rows)])


class InputDropout(nn.Module):
    """Wraps a row-wise linear module (``nn.Linear``, PyG ``Linear``) as ``linear(dropout(x))`` via
    :func:`dropout_linear`; put it in place of a convolution's ``lin`` so the convolution's input
    dropout happens block by block inside the product."""

    def __init__(self, linear: nn.Module, p: float) -> None:
        super().__init__()
        self.linear, self.p = linear, p

    def reset_parameters(self) -> None:
        self.linear.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout_linear(x, self.linear, self.p, self.training)


class _SparseMatmul(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, matrix: torch.Tensor, matrix_t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        ctx.matrix_t = matrix_t
        return torch.sparse.mm(matrix, h)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, None, torch.Tensor]:
        return None, None, torch.sparse.mm(ctx.matrix_t, grad)


def sparse_propagation(edge_index: torch.Tensor, weight: torch.Tensor,
                       num_nodes: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """``h -> A h`` with ``A[dst, src] = weight`` (PyG's convention: messages flow along edge_index),
    differentiable in ``h``. Both ``A`` and its transpose are stored as CSR once, so the forward
    and the backward are each one CSR product; torch's own backward of a sparse product is much
    slower than its forward on CPU (``benchmarks/bench_ops.py``), and a 64-layer GCNII runs 128 of them."""
    coo = torch.sparse_coo_tensor(edge_index.flip(0), weight, (num_nodes, num_nodes), device=weight.device,
                                  check_invariants=False).coalesce()
    with warnings.catch_warnings():  # torch flags the CSR layout as beta on every conversion
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        matrix, matrix_t = coo.to_sparse_csr(), coo.t().coalesce().to_sparse_csr()
    return lambda h: _SparseMatmul.apply(matrix, matrix_t, h)


def csr_with_values(matrix: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """The CSR ``matrix``'s structure (shared, not copied) with other stored ``values``."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(matrix.crow_indices(), matrix.col_indices(), values,
                                       size=matrix.shape, check_invariants=False)


def csr_transpose(matrix: torch.Tensor, values: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(matrix.T as CSR, perm)`` with ``matrix.T.values() == matrix.values()[perm]``.

    ``values`` replaces ``matrix.values()`` (e.g. after dropout) in the transpose. ``perm`` lets
    values that change later get the transpose by one gather. Built with scipy's linear-time
    counting sort (CSR to CSC), where torch's own CSR transpose or a stable argsort of the column
    indices were each slower than the product the transpose serves on a Cluster-GCN batch.
    """
    import scipy.sparse as sp

    if matrix.layout != torch.sparse_csr:
        raise TypeError(f"matrix must be a sparse CSR tensor, got layout {matrix.layout}")
    crow, col = matrix.crow_indices().cpu().numpy(), matrix.col_indices().cpu().numpy()
    rows, cols = matrix.shape
    t = sp.csr_matrix((np.arange(col.size, dtype=np.int64), col, crow), shape=(rows, cols)).tocsc()
    device = matrix.device
    perm = torch.from_numpy(t.data).to(device)
    values = matrix.values() if values is None else values
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        transposed = torch.sparse_csr_tensor(
            torch.from_numpy(t.indptr.astype(np.int64, copy=False)).to(device),
            torch.from_numpy(t.indices.astype(np.int64, copy=False)).to(device),
            values.index_select(0, perm), size=(cols, rows), check_invariants=False)
    return transposed, perm


def csr_matmul(matrix: torch.Tensor, matrix_t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``matrix @ h`` for a constant sparse ``matrix``, differentiable in ``h``; the backward is one
    product with the given transpose ``matrix_t`` (see :func:`sparse_propagation`)."""
    return _SparseMatmul.apply(matrix, matrix_t, h)
