"""Feature-matrix and device helpers shared by the generator and the trainer (dense or scipy CSR input)."""

from __future__ import annotations

import contextlib
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import torch

from ..graph import Graph, _scipy_to_torch


def require_features(graph: Any, who: str) -> Graph:
    """``graph`` as a :class:`Graph` (PyG ``Data``, networkx and scipy accepted), checked to have features."""
    graph = Graph.coerce(graph)
    if graph.x is None:
        raise ValueError(f"{who} needs node features, but graph.x is None")
    if graph.y is not None and graph.y.ndim == 2:
        raise ValueError(f"{who} trains single-label classifiers; graph.y is multi-hot {graph.y.shape}")
    return graph


def dense_rows(x: np.ndarray | sp.csr_matrix, rows: np.ndarray | None = None) -> torch.Tensor:
    """Rows of ``x`` (all rows when ``rows`` is None) as a dense float32 tensor."""
    part = x if rows is None else x[rows]
    if sp.issparse(part):
        part = part.toarray()
    return torch.from_numpy(np.ascontiguousarray(part, dtype=np.float32))


def feature_tensor(x: np.ndarray | sp.spmatrix, normalize: bool = True, sparse: bool = False) -> torch.Tensor:
    """The model input: ``x`` (row-normalized if asked) as float32, a torch sparse COO tensor when
    ``sparse`` and ``x`` is scipy-sparse (bag-of-words inputs are ~1% dense: dropout and the first
    product then cost O(nnz), not O(NF)), dense otherwise."""
    if not (sparse and sp.issparse(x)):
        dense = dense_rows(x)
        return row_normalize(dense) if normalize else dense
    m = sp.csr_matrix(x, dtype=np.float32)
    if normalize:
        sums = np.asarray(m.sum(axis=1)).ravel()
        m = sp.diags(1.0 / np.where(sums == 0, 1, sums)).astype(np.float32) @ m
    return _scipy_to_torch(m, "coo")


def row_normalize(x: torch.Tensor) -> torch.Tensor:
    """Divide each row by its sum in O(NF); all-zero rows stay zero (the reference builds a dense N x N diagonal)."""
    s = x.sum(dim=1, keepdim=True)
    return x / torch.where(s == 0, torch.ones_like(s), s)


AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
Amp = Literal["bf16", "fp16"] | None


def check_amp(amp: Any) -> None:
    if amp not in (None, *AMP_DTYPES):
        raise ValueError(f"amp must be None, 'bf16' or 'fp16', got {amp!r}")


def autocast(amp: Amp, device: torch.device) -> contextlib.AbstractContextManager:
    """Mixed precision for the forward pass (matrix products in ``amp``; losses stay float32)."""
    if amp is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=AMP_DTYPES[amp])


def grad_scaler(amp: Amp, device: torch.device) -> torch.amp.GradScaler | None:
    """fp16 needs loss scaling so small gradients do not flush to zero; bf16 has float32's range."""
    return torch.amp.GradScaler(device.type) if amp == "fp16" else None


def backward_step(loss: torch.Tensor, opt: torch.optim.Optimizer,
                  scaler: torch.amp.GradScaler | None) -> None:
    """Backward and optimizer step, through ``scaler`` when fp16 needs one."""
    if scaler is None:
        loss.backward()
        opt.step()
        return
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()


PIN_BYTES = 1 << 20


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host tensor to ``device``; a large one goes to CUDA through pinned memory so the copy is
    asynchronous (pinning a few hundred bytes of indices costs more than copying them)."""
    if t.device == device:
        return t
    if (device.type == "cuda" and t.device.type == "cpu" and not t.is_sparse
            and t.numel() * t.element_size() >= PIN_BYTES):
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)
