"""Feature-matrix helpers shared by the generator and the trainer (dense or scipy CSR input)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from ..graph import Graph, _scipy_to_torch


def require_features(graph: Any, who: str) -> None:
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a graphopt.Graph, got {type(graph).__name__}")
    if graph.x is None:
        raise ValueError(f"{who} needs node features, but graph.x is None")
    if graph.y is not None and graph.y.ndim == 2:
        raise ValueError(f"{who} trains single-label classifiers; graph.y is multi-hot {graph.y.shape}")


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
