"""Training, evaluation and inference for Cluster-GCN (Chiang et al., KDD 2019).

:func:`fit` runs Algorithm 1 with Adam: each epoch visits every part once in batches of q parts,
with early stopping on validation and resumable checkpoints. Transductive when the partition is
of ``graph`` itself; inductive (GraphSAGE/PPI protocol) when it is of the training subgraph
(:func:`training_subgraph`): batches never see validation or test nodes, evaluation runs on the
full graph. :func:`predict` evaluates layer by layer over row blocks of the full adjacency, so the
whole graph's activations of all layers are never held at once.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from .._device import resolve_device
from .._io import check_parent, write_atomic
from .._ops import adam
from .._training import EpochLog, check_logits, check_loss, check_model_fits, load_checkpoint
from ..graph import Graph, Normalization, normalize_csr
from ..partition import Partition
from .loader import ClusterBatch, ClusterLoader, check_graph, torch_csr
from .model import ClusterGCN, _mm, precalc_features

__all__ = ["History", "fit", "forward_batch", "predict", "evaluate", "training_subgraph", "peak_memory_mb",
           "resolve_device"]

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
CHECKPOINT_KEYS = ("config", "model", "optimizer", "torch_rng", "history", "best_epoch", "best_val",
                   "best_state", "bad", "epoch")
log = logging.getLogger(__name__)


@dataclass
class History:
    """Per-epoch log (``loss``, ``train``/``val``/``test`` metric, wall ``time``, process
    ``cpu_time``, ``batch_time`` spent building batches, ``peak_mb``) and the epoch whose weights
    were kept (best validation)."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_val: float = -np.inf
    final: dict[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:
        # A summary: the rows are in .epochs (printing them all would be thousands of numbers).
        last = self.epochs[-1] if self.epochs else {}
        shown = ", ".join(f"{k}={v:.4f}" for k, v in last.items() if k in ("loss", "train", "val", "test"))
        parts = [f"epochs={len(self.epochs)}"] + ([f"last: {shown}"] if shown else [])
        if self.best_epoch >= 0:
            parts.append(f"best_epoch={self.best_epoch}, best_val={self.best_val:.4f}")
        if self.final:
            parts.append("final: " + ", ".join(f"{k}={v:.4f}" for k, v in self.final.items()))
        return f"History({'; '.join(parts)})"


def peak_memory_mb() -> float:
    """High-water mark of this process's resident memory, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def amp_dtype(amp: str | None, device: torch.device, model: nn.Module) -> torch.dtype | None:
    """The autocast dtype for ``amp`` (``None``, ``"bf16"``, ``"fp16"``), refused where unsafe."""
    if amp is None:
        return None
    if amp not in AMP_DTYPES:
        raise ValueError(f"amp must be None, 'bf16' or 'fp16', got {amp!r}")
    if device.type == "cpu" and isinstance(model, ClusterGCN):
        # Autocast lowers the sparse CSR product too, and CPU has no half-precision CSR kernel.
        raise ValueError(f"amp={amp!r} is not supported for ClusterGCN on CPU (no half-precision "
                         "sparse CSR kernel); use it on CUDA or with amp=None")
    return AMP_DTYPES[amp]


def training_subgraph(graph: Graph) -> Graph:
    """The subgraph induced by ``graph.train_mask``: what an inductive run partitions and trains on."""
    if graph.train_mask is None:
        raise ValueError("graph has no train_mask")
    return graph.subgraph(graph.train_mask)


def fit(model: nn.Module, graph: Graph, partition: Partition, *, clusters_per_batch: int = 1,
        epochs: int = 200, lr: float = 0.01, weight_decay: float = 0.0,
        normalization: Normalization = "rw", diag_lambda: float = 1.0, eval_every: int | None = 1,
        patience: int | None = None, eval_partition: Partition | None = None,
        checkpoint: str | os.PathLike | None = None, resume: bool = False, seed: int = 0,
        num_workers: int = 0, sparse_features: bool = False, device: Any = None,
        amp: str | None = None, progress: bool = True) -> History:
    """Train ``model`` with Cluster-GCN batches of ``clusters_per_batch`` parts of ``partition``.

    ``partition`` is of ``graph`` (transductive) or of :func:`training_subgraph` of it (inductive).
    ``model`` is a :class:`ClusterGCN` (fed the batch's normalized adjacency) or any module with
    ``forward(x, edge_index[, edge_weight])`` such as a :class:`ConvStack` of PyG convolutions.
    Every ``eval_every`` epochs the full graph is evaluated (:func:`evaluate`); the weights with
    the best validation metric are restored at the end, and ``patience`` evaluations without
    improvement stop training. ``eval_every=None`` trains without any evaluation (for graphs
    evaluated separately, e.g. with a partition in :func:`predict`). ``checkpoint`` is rewritten
    atomically after each epoch; ``resume=True`` continues from it (same hyperparameters and
    the same partition required; a missing checkpoint is a ``FileNotFoundError``, never a silent
    fresh start). ``sparse_features`` passes a sparse ``x`` to a PyG model as a sparse tensor
    instead of densifying each batch. ``device`` (see :func:`resolve_device`; default: the
    model's) is where the model trains and batches go (pinned, non-blocking copies on CUDA);
    ``amp`` (``"bf16"``/``"fp16"``) runs forward and loss under autocast, fp16 with a gradient
    scaler. A :class:`ClusterGCN` always gets sparse batches.

    A model that declares ``in_channels``/``out_channels`` (graphopt's, PyG's ``BasicGNN``) must
    match the graph's features and classes (``ValueError`` before training). An epoch whose loss
    is not finite, or over a million times the first epoch's, raises :class:`TrainingDiverged`
    naming it; the checkpoint then still holds the last good epoch. ``progress``: a bar on a
    terminal, else one ``logging`` INFO line per epoch (logger ``graphopt.cluster_gcn.train``)
    and the total time.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    graph = check_graph(graph)
    _check_labels(graph)
    check_model_fits(model, graph.num_features, graph.num_classes, multilabel=graph.is_multilabel)
    if not isinstance(partition, Partition):
        raise TypeError(f"partition must be a graphopt.Partition, got {type(partition).__name__}")
    train_graph = partition.graph
    # a graph converted from PyG/networkx is a new object: equal structure counts as the same graph
    same = train_graph is graph or (train_graph.num_nodes == graph.num_nodes
                                    and np.array_equal(train_graph.indptr, graph.indptr)
                                    and np.array_equal(train_graph.indices, graph.indices))
    if not same and (train_graph.node_map is None or train_graph.num_nodes > graph.num_nodes):
        raise ValueError("partition must be of graph itself or of a subgraph of it "
                         "(see training_subgraph) for inductive training")
    for name, v in (("epochs", epochs), ("eval_every", 1 if eval_every is None else eval_every)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if patience is not None and patience < 1:
        raise ValueError(f"patience must be a positive integer or None, got {patience!r}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs a checkpoint path")
    if resume and not Path(checkpoint).exists():
        raise FileNotFoundError(f"resume=True but checkpoint {checkpoint} does not exist: check the path, "
                                "or drop resume to start a new run")
    if checkpoint is not None:  # a typo fails now, not after the first epoch
        check_parent(checkpoint, "checkpoint")
    dev = resolve_device(device, model)
    half = amp_dtype(amp, dev, model)
    model.to(dev)
    scaler = torch.amp.GradScaler(dev.type, enabled=half is torch.float16)

    precalc = bool(getattr(model, "precalc", False))
    train_x = precalc_features(train_graph) if precalc else None
    eval_x = (train_x if train_graph is graph else precalc_features(graph)) if precalc else None
    # ClusterGCN keeps sparse features sparse through its first layer (model.py): never densify its batches.
    sparse_features = sparse_features or isinstance(model, ClusterGCN)
    loader = ClusterLoader(partition, clusters_per_batch, normalization=normalization,
                           diag_lambda=diag_lambda, features=train_x, seed=seed,
                           num_workers=num_workers, sparse_features=sparse_features)
    optimizer = adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    config = {"clusters_per_batch": int(clusters_per_batch), "lr": float(lr),
              "weight_decay": float(weight_decay), "normalization": normalization,
              "diag_lambda": float(diag_lambda), "seed": int(seed),
              "num_parts": int(partition.num_parts), "num_nodes": int(graph.num_nodes)}

    torch.manual_seed(seed)
    path = None if checkpoint is None else Path(checkpoint)
    fingerprint = partition_fingerprint(partition)
    history, best_state, bad, start, first_loss = History(), None, 0, 0, None
    if resume:
        history, best_state, bad, start, first_loss = _resume(path, config, fingerprint, model, optimizer, dev)

    multilabel = graph.is_multilabel
    eval_kw = dict(normalization=normalization, diag_lambda=diag_lambda, features=eval_x,
                   partition=eval_partition, sparse_features=sparse_features, device=dev)
    with EpochLog(range(start, epochs), "cluster-gcn", logger=log, enabled=progress) as bar:
        for epoch in bar:
            loader.epoch = epoch
            row, first_step = _train_epoch(model, loader, optimizer, scaler, dev, multilabel, half,
                                           graph.num_classes)
            first_loss = first_step if first_loss is None else first_loss
            check_loss(row["loss"], epoch, first_loss)  # before the checkpoint: it keeps the last good epoch
            row = {"epoch": epoch, **row}
            if eval_every is not None and ((epoch + 1) % eval_every == 0 or epoch == epochs - 1):
                row.update(evaluate(model, graph, **eval_kw))
                val = row.get("val", row.get("train", -row["loss"]))
                if val > history.best_val:
                    history.best_val, history.best_epoch, bad = val, epoch, 0
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    bad += 1
            row["peak_mb"] = peak_memory_mb()
            history.epochs.append(row)
            bar.update(epoch, row)
            if path is not None:
                ckpt = {"config": config, "partition": fingerprint, "first_loss": first_loss,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
                        "history": history.epochs, "best_epoch": history.best_epoch,
                        "best_val": history.best_val, "best_state": best_state, "bad": bad, "epoch": epoch}
                write_atomic(path, lambda f: torch.save(ckpt, f))
            if patience is not None and bad >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    if eval_every is not None:
        history.final = evaluate(model, graph, **eval_kw)
    return history


def partition_fingerprint(partition: Partition) -> str:
    """A short hash of ``partition``'s assignment: two partitions of the same size differ in it."""
    a = np.ascontiguousarray(partition.assignment, dtype=np.int64)
    return hashlib.sha256(a.tobytes() + str(partition.num_parts).encode()).hexdigest()[:16]


def _resume(path: Path, config: dict[str, Any], fingerprint: str, model: nn.Module,
            optimizer: torch.optim.Optimizer, dev: torch.device) -> tuple[History, Any, int, int, float | None]:
    """Load ``path`` into ``model`` and ``optimizer``; return (history, best_state, bad, next epoch,
    the run's first-step loss)."""
    state = load_checkpoint(path, kind="Cluster-GCN training", required=CHECKPOINT_KEYS, map_location=dev)
    if state["config"] != config:
        raise ValueError(f"checkpoint {path} was made with {state['config']}, not {config}")
    made_with = state.get("partition")  # absent in checkpoints written before it was recorded
    if made_with is not None and made_with != fingerprint:
        raise ValueError(f"checkpoint {path} was made with partition {made_with}, this run's partition is "
                         f"{fingerprint} (same size, other assignment): resume with the partition the run "
                         "started with (same method and seed), or start a new checkpoint")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"].cpu())
    history = History(state["history"], state["best_epoch"], state["best_val"])
    # Checkpoints written before the first step's loss was kept: the first epoch's mean stands in.
    first = state.get("first_loss", history.epochs[0]["loss"] if history.epochs else None)
    return history, state["best_state"], state["bad"], state["epoch"] + 1, first


def _train_epoch(model: nn.Module, loader: ClusterLoader, optimizer: torch.optim.Optimizer, scaler: Any,
                 dev: torch.device, multilabel: bool, half: torch.dtype | None,
                 num_classes: int) -> tuple[dict[str, float], float | None]:
    """One pass over ``loader``'s batches: the row (mean training loss, timings) and the loss of
    the epoch's first step."""
    model.train()
    t0, c0 = time.perf_counter(), time.process_time()
    batch_time, loss_sum, count, first = 0.0, 0.0, 0, None
    it = iter(loader)
    while True:
        tb = time.perf_counter()
        batch = next(it, None)
        batch_time += time.perf_counter() - tb
        if batch is None:
            break
        n_train = int(batch.train_mask.sum())
        if n_train == 0:
            continue
        batch = batch.to(dev, non_blocking=True)
        optimizer.zero_grad()
        loss = _batch_loss(model, batch, multilabel, half, num_classes)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        value = loss.item()
        first = value if first is None else first
        loss_sum += value * n_train
        count += n_train
    return {"loss": loss_sum / max(count, 1), "time": time.perf_counter() - t0,
            "cpu_time": time.process_time() - c0, "batch_time": batch_time}, first


def _batch_loss(model: nn.Module, batch: ClusterBatch, multilabel: bool,
                half: torch.dtype | None, num_classes: int) -> Tensor:
    """Training loss on ``batch``'s training nodes; the forward runs under autocast when ``half``."""
    mask = batch.train_mask
    with torch.autocast(batch.x.device.type, dtype=half or torch.float32, enabled=half is not None):
        out = forward_batch(model, batch)[mask]
    # A shape check, no device sync: also covers models that declare no out_channels.
    check_logits(out.shape[1], num_classes, multilabel, type(model).__name__)
    return _loss(out.float(), batch.y[mask], multilabel)


def forward_batch(model: nn.Module, batch: ClusterBatch) -> Tensor:
    """Logits of ``model`` on ``batch``: the normalized adjacency for :class:`ClusterGCN`, edges otherwise."""
    if isinstance(model, ClusterGCN):
        return model(batch.x, batch.adj)
    if batch.edge_weight is None:
        return model(batch.x, batch.edge_index)
    return model(batch.x, batch.edge_index, batch.edge_weight)


@torch.no_grad()
def predict(model: nn.Module, graph: Graph, *, normalization: Normalization = "rw",
            diag_lambda: float = 1.0, features: Any = None, partition: Partition | None = None,
            clusters_per_batch: int = 1, chunk_size: int | None = None,
            sparse_features: bool = False, device: Any = None) -> Tensor:
    """Logits for every node of ``graph``, shape ``(N, C)``.

    A :class:`ClusterGCN` without ``partition`` is evaluated exactly, layer by layer, over blocks
    of ``chunk_size`` adjacency rows (by default as many as fit in ``INFERENCE_BLOCK_BYTES`` of
    temporaries): only one layer's activations are alive at a time. With a
    ``partition`` (or for other models) the graph is evaluated batch by batch on its parts, as
    the authors evaluate (edges between batches are then dropped). ``features`` overrides ``graph.x``
    (precalculated ``[AX ‖ X]`` for a ``precalc`` model). The model runs on ``device`` (default:
    its own; see :func:`resolve_device`), and so are the returned logits.
    """
    graph = check_graph(graph, require_labels=False)
    dev = resolve_device(device, model)
    model.to(dev)
    model.eval()
    x = graph.x if features is None else features
    if isinstance(model, ClusterGCN) and partition is None:
        return _predict_layerwise(model, graph, x, normalization, diag_lambda, chunk_size, dev)
    if partition is None:
        partition = Partition.from_assignment(graph, np.zeros(graph.num_nodes, dtype=np.int64), 1)
    loader = ClusterLoader(partition, clusters_per_batch, shuffle=False, normalization=normalization,
                           diag_lambda=diag_lambda, features=x, sparse_features=sparse_features)
    out: Tensor | None = None
    for batch in loader:
        batch = batch.to(dev, non_blocking=True)
        logits = forward_batch(model, batch)
        if out is None:
            out = logits.new_empty(graph.num_nodes, logits.shape[1])
        out[batch.nodes] = logits
    return out


# Memory for one row block of layerwise inference's temporaries. The whole graph's activations of
# one layer (input, its product with W_agg, output) stay resident whatever the block; the blocks
# only bound what is created per row on top (densified inputs, products, normalized outputs).
INFERENCE_BLOCK_BYTES = 64 << 20


def _row_block(num_rows: int, width: int, budget_bytes: int = INFERENCE_BLOCK_BYTES) -> int:
    """Rows per block so that ``rows x width`` float32 values fit in ``budget_bytes`` (at least one row)."""
    return max(1, min(num_rows, budget_bytes // (4 * max(1, width))))


def _predict_layerwise(model: ClusterGCN, graph: Graph, x: Any, normalization: Normalization,
                       diag_lambda: float, chunk_size: int | None, device: torch.device) -> Tensor:
    a_ptr, a_idx, a_val = normalize_csr(graph.indptr, graph.indices, graph.weights, normalization,
                                        diag_lambda)
    n = graph.num_nodes
    adj = sp.csr_matrix((a_val, a_idx, a_ptr), shape=(n, n))
    h: Any = x
    for layer in model.layers:
        width_in = h.shape[1]
        width_out = layer.weight_self.shape[1]
        rows = chunk_size or _row_block(n, width_in + 3 * width_out, INFERENCE_BLOCK_BYTES)
        spans = [(r0, min(r0 + rows, n)) for r0 in range(0, n, rows)]
        if layer.precalc:
            h = torch.cat([layer.transform(_rows(h, r0, r1).to(device)) for r0, r1 in spans])
            continue
        # [ÂH ‖ H] W = Â (H W_agg) + H W_self: the wide input is multiplied once, then propagated.
        hw = torch.cat([_mm(_rows(h, r0, r1).to(device), layer.weight_agg) for r0, r1 in spans])
        out = hw.new_empty(n, width_out)
        for r0, r1 in spans:
            block = adj[r0:r1]
            block = torch_csr(block.indptr.astype(np.int64), block.indices.astype(np.int64), block.data, n).to(device)
            out[r0:r1] = layer.finish(torch.sparse.mm(block, hw) + _mm(_rows(h, r0, r1).to(device), layer.weight_self))
        h = out
    return h


def _rows(h: Any, r0: int, r1: int) -> Tensor:
    """Rows ``r0:r1`` of a tensor, array or scipy matrix as a float32 tensor (sparse stays sparse CSR)."""
    if isinstance(h, Tensor):
        return h[r0:r1]
    rows = h[r0:r1]
    if sp.issparse(rows):
        rows = sp.csr_matrix(rows)
        return torch_csr(rows.indptr.astype(np.int64), rows.indices.astype(np.int64), rows.data, rows.shape[1])
    return torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))


def evaluate(model: nn.Module, graph: Graph, **predict_kw: Any) -> dict[str, float]:
    """Accuracy (multi-class) or micro-F1 (multi-label) on each of the train/val/test masks present."""
    graph = Graph.coerce(graph)
    logits = predict(model, graph, **predict_kw)
    y = torch.from_numpy(np.asarray(graph.y)).to(logits.device)
    out = {}
    for split in ("train", "val", "test"):
        mask = getattr(graph, f"{split}_mask")
        if mask is None or not mask.any():
            continue
        m = torch.from_numpy(mask).to(logits.device)
        out[split] = _metric(logits[m], y[m], graph.is_multilabel)
    return out


def _metric(logits: Tensor, y: Tensor, multilabel: bool) -> float:
    if multilabel:
        pred, true = logits > 0, y > 0
        tp = int((pred & true).sum())
        denom = 2 * tp + int((pred & ~true).sum()) + int((~pred & true).sum())
        return 2 * tp / denom if denom else 0.0
    keep = y >= 0
    return float((logits[keep].argmax(1) == y[keep]).float().mean()) if keep.any() else 0.0


def _loss(out: Tensor, y: Tensor, multilabel: bool) -> Tensor:
    if multilabel:
        return nn.functional.binary_cross_entropy_with_logits(out, y.float())
    return nn.functional.cross_entropy(out, y)


def _check_labels(graph: Graph) -> None:
    if graph.train_mask is None or not graph.train_mask.any():
        raise ValueError("graph has no training nodes (train_mask is missing or all False)")
    if not graph.is_multilabel:
        missing = int(np.count_nonzero(graph.y[graph.train_mask] < 0))
        if missing:
            raise ValueError(f"{missing} nodes under train_mask have no label (y == -1)")
