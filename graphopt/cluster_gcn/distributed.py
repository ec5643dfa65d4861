"""Data-parallel Cluster-GCN over torch.distributed: Chiang et al. (KDD 2019), Algorithm 1 on each rank.

Every rank reads only its own shard (:mod:`graphopt.shards`): the parts it owns, their induced
subgraph and data, and the ids of its halo. Training draws batches of q of the rank's own parts
per step (edges between the chosen parts restored, as in :class:`ClusterLoader`) and averages
gradients with ``DistributedDataParallel`` (gloo on CPU, nccl on CUDA). Every rank takes the
same number of steps per epoch, so no rank waits on a collective that another never joins.

Inference is exact and layer-wise: each rank computes its own nodes' rows of every layer and
fetches only the previous layer's rows of its halo from their owners, with one
``all_to_all_single`` per layer (gloo implements it on CPU), never an all-gather of everything.
Evaluation sums per-rank counts with ``all_reduce``. Early stopping and best weights are decided
on rank 0 and broadcast; rank 0 writes checkpoints atomically, every rank resumes from them.

Launch with ``torchrun --nproc-per-node R -m graphopt cluster-gcn ... --shards DIR`` or with
``graphopt cluster-gcn ... --nproc R``; :func:`run_local` runs a function on R local ranks.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
import torch
import torch.distributed as dist
from torch import Tensor, nn

from .._device import resolve_device
from .._io import check_parent, write_atomic
from .._ops import adam
from .._training import EpochLog, check_loss, check_model_fits, load_checkpoint
from ..graph import Normalization
from ..shards import Shard
from .loader import ClusterLoader, torch_csr
from .model import ClusterGCN
from .train import CHECKPOINT_KEYS, History, _loss, _rows, peak_memory_mb

log = logging.getLogger(__name__)

__all__ = ["init_distributed", "shutdown_distributed", "check_same", "HaloExchange", "predict_distributed",
           "evaluate_distributed", "fit_distributed", "run_local", "launch_local", "free_port",
           "rank_seed"]


def init_distributed(device: Any = "cpu", timeout: float = 300.0) -> torch.device:
    """Join the process group described by the environment (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``, as torchrun sets them) and return this rank's device.

    gloo serves CPU ranks and nccl CUDA ranks (``cuda`` becomes ``cuda:LOCAL_RANK``). ``timeout``
    (seconds) bounds the rendezvous and every collective: a peer that stops answering makes
    the others fail with an error instead of waiting forever.
    """
    if device == "auto" or (isinstance(device, str) and device == "cuda"):
        device = resolve_device(device)
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    dev = resolve_device(device)
    if not dist.is_initialized():
        missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
        if missing:
            raise ValueError(f"environment lacks {', '.join(missing)}: launch with torchrun, "
                             "graphopt ... --nproc R, or run_local")
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo",
                                timeout=datetime.timedelta(seconds=timeout))
    return dev


def shutdown_distributed() -> None:
    """Leave the process group :func:`init_distributed` joined (nothing if none is initialized).

    A barrier first: rank 0 hosts the rendezvous store, and a peer still using it aborts if
    rank 0 tears it down first."""
    if dist.is_available() and dist.is_initialized():
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()


def check_same(obj: Any, what: str) -> None:
    """Raise the same ``ValueError`` on every rank unless ``obj`` is identical on all of them."""
    digest = hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, digest)
    bad = [r for r, d in enumerate(gathered) if d != gathered[0]]
    if bad:
        raise ValueError(f"{what} differs across ranks: rank(s) {bad} disagree with rank 0")


def rank_seed(seed: int, rank: int) -> int:
    """This rank's seed, derived from the run's ``seed`` (independent streams per rank)."""
    return int(np.random.SeedSequence([int(seed), int(rank)]).generate_state(1)[0])


def _comm_device(device: torch.device) -> torch.device:
    return device if dist.get_backend() == "nccl" else torch.device("cpu")


class HaloExchange:
    """Send each owner's rows that other ranks have in their halo; receive this rank's halo rows.

    The plan is the shard's: rows ``send_index`` go out in ``send_counts`` blocks (one per
    destination rank), and ``recv_counts`` rows come back from each owner, in halo order.
    ``bytes_sent`` counts what this rank sent.
    """

    def __init__(self, shard: Shard, device: Any = "cpu") -> None:
        self.comm = _comm_device(torch.device(device))  # nccl moves CUDA tensors only
        self.send_index = torch.from_numpy(shard.send_index)
        self.send_counts = [int(c) for c in shard.send_counts]
        self.recv_counts = [int(c) for c in shard.recv_counts]
        self.num_halo = sum(self.recv_counts)
        self.bytes_sent = 0

    def _a2a(self, send: Tensor, send_counts: list[int], recv_counts: list[int]) -> Tensor:
        send = send.to(self.comm).contiguous()
        recv = send.new_empty((sum(recv_counts),) + tuple(send.shape[1:]))
        dist.all_to_all_single(recv, send, recv_counts, send_counts)
        self.bytes_sent += send.numel() * send.element_size()
        return recv

    def rows(self, h: Tensor) -> Tensor:
        """Halo rows ``(num_halo, d)`` of the dense per-rank matrix ``h`` (own rows)."""
        send = h.index_select(0, self.send_index.to(h.device))
        return self._a2a(send, self.send_counts, self.recv_counts).to(h.device)

    def csr_rows(self, x: sp.csr_matrix) -> sp.csr_matrix:
        """Halo rows of a scipy CSR matrix, sent sparse (row lengths, then columns and values)."""
        sub = sp.csr_matrix(x[self.send_index.numpy()])
        lengths = torch.from_numpy(np.diff(sub.indptr).astype(np.int64))
        got = self._a2a(lengths, self.send_counts, self.recv_counts).cpu().numpy()
        send_nnz = [int(s.sum()) for s in np.split(np.diff(sub.indptr), np.cumsum(self.send_counts)[:-1])]
        recv_nnz = [int(s.sum()) for s in np.split(got, np.cumsum(self.recv_counts)[:-1])]
        idx = self._a2a(torch.from_numpy(sub.indices.astype(np.int64)), send_nnz, recv_nnz)
        val = self._a2a(torch.from_numpy(sub.data.astype(np.float32)), send_nnz, recv_nnz)
        indptr = np.concatenate([[0], np.cumsum(got)])
        return sp.csr_matrix((val.cpu().numpy(), idx.cpu().numpy(), indptr),
                             shape=(self.num_halo, x.shape[1]))


def _plain(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


@torch.no_grad()
def predict_distributed(model: nn.Module, shard: Shard, *, normalization: Normalization = "rw",
                        diag_lambda: float = 1.0, chunk_size: int = 65536,
                        device: Any = None) -> Tensor:
    """Logits of this rank's nodes (``shard.nodes`` order), exactly as single-process
    :func:`~graphopt.cluster_gcn.predict` computes them for the whole graph.

    Layer by layer: the previous layer's halo rows are fetched from their owners
    (:class:`HaloExchange`), then the rank's rows of the full normalized adjacency
    (:meth:`Shard.adjacency_rows`) propagate over ``[own ‖ halo]`` rows in blocks of ``chunk_size``.
    A collective: every rank must call it.
    """
    model = _plain(model)
    if not isinstance(model, ClusterGCN):
        raise TypeError(f"distributed inference needs a ClusterGCN, got {type(model).__name__}")
    if model.precalc:
        raise ValueError("precalc models are not supported on shards ([A·X ‖ X] needs the whole graph)")
    dev = resolve_device(device, model)
    model.to(dev)
    model.eval()
    adj = shard.adjacency_rows(normalization, diag_lambda)
    ex = HaloExchange(shard, dev)
    n, width = shard.num_nodes, adj.shape[1]
    h: Any = shard.graph.x
    for layer in model.layers:
        if isinstance(h, Tensor):
            ext: Any = torch.cat([h, ex.rows(h)])
        elif sp.issparse(h):
            ext = sp.vstack([h, ex.csr_rows(sp.csr_matrix(h))], format="csr")
        else:
            own = np.ascontiguousarray(h, dtype=np.float32)
            ext = np.vstack([own, ex.rows(torch.from_numpy(own)).cpu().numpy()])
        blocks = []
        for r0 in range(0, n, chunk_size):
            r1 = min(r0 + chunk_size, n)
            block = adj[r0:r1]
            h_self = _rows(h, r0, r1)
            h_self = (h_self.to_dense() if h_self.layout != torch.strided else h_self).to(dev)
            if isinstance(h, Tensor):
                a = torch_csr(block.indptr.astype(np.int64), block.indices.astype(np.int64),
                              block.data, width).to(dev)
                blocks.append(layer(ext, a, h_self))
            else:
                agg = block @ ext
                agg = agg.toarray() if sp.issparse(agg) else agg
                agg = torch.from_numpy(np.ascontiguousarray(agg, dtype=np.float32)).to(dev)
                blocks.append(layer.transform(torch.cat([agg, h_self], 1)))
        h = torch.cat(blocks)
    return h


_SPLITS = ("train", "val", "test")


def evaluate_distributed(model: nn.Module, shard: Shard, **predict_kw: Any) -> dict[str, float]:
    """Accuracy (or micro-F1 for multi-label) over the whole graph, the same on every rank."""
    logits = predict_distributed(model, shard, **predict_kw)
    multilabel = bool(shard.manifest["multilabel"])
    y = torch.from_numpy(np.asarray(shard.graph.y)).to(logits.device)
    counts = torch.zeros(len(_SPLITS), 3, dtype=torch.float64, device=logits.device)
    present = []
    for i, split in enumerate(_SPLITS):
        mask = getattr(shard.graph, f"{split}_mask")
        if mask is None:
            continue
        present.append(i)
        m = torch.from_numpy(mask).to(logits.device)
        out, true = logits[m], y[m]
        if multilabel:
            pred, t = out > 0, true > 0
            counts[i] = torch.stack([(pred & t).sum(), (pred & ~t).sum(), (~pred & t).sum()]).double()
        else:
            keep = true >= 0
            counts[i, 0] = (out[keep].argmax(1) == true[keep]).sum().double()
            counts[i, 1] = keep.sum().double()
    comm = counts.to(_comm_device(logits.device))
    dist.all_reduce(comm)
    counts = comm.cpu().numpy()
    result = {}
    for i in present:
        c = counts[i]
        if multilabel:
            denom = 2 * c[0] + c[1] + c[2]
            if denom or c.any():
                result[_SPLITS[i]] = float(2 * c[0] / denom) if denom else 0.0
        elif c[1] > 0:
            result[_SPLITS[i]] = float(c[0] / c[1])
    return result


def _deal(num_parts: int, q: int, steps: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``steps`` batches of q of this rank's parts: shuffled passes over them, so a rank with
    fewer parts than ``steps * q`` starts another pass (every rank takes ``steps`` steps)."""
    need = steps * q
    seq = np.concatenate([rng.permutation(num_parts) for _ in range(-(-need // num_parts))])[:need]
    return [np.unique(seq[i * q:(i + 1) * q]) for i in range(steps)]


def _counting_allreduce(state: dict[str, int], bucket):  # type: ignore[no-untyped-def]
    """DDP's default all-reduce, counting the bytes of every gradient bucket it reduces.

    (Unannotated: DDP rejects string annotations, which ``from __future__`` would make them.)"""
    from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

    buf = bucket.buffer()
    state["bytes"] += buf.numel() * buf.element_size()
    return allreduce_hook(None, bucket)


def _check_fit_args(model: ClusterGCN, shard: Shard, q: Any, epochs: Any, eval_every: Any,
                    patience: Any, checkpoint: Any, resume: bool) -> tuple[int, int]:
    """:func:`fit_distributed`'s argument checks; returns ``(rank, world size)``."""
    if not dist.is_available() or not dist.is_initialized():
        raise ValueError("torch.distributed is not initialized: call init_distributed() first")
    if not isinstance(model, ClusterGCN):
        raise TypeError(f"model must be a ClusterGCN, got {type(model).__name__}")
    if not isinstance(shard, Shard):
        raise TypeError(f"shard must be a graphopt.shards.Shard, got {type(shard).__name__}")
    rank, world = dist.get_rank(), dist.get_world_size()
    manifest = shard.manifest
    # Checks below read only what every rank shares (the manifest), so all ranks agree on them.
    if world > manifest["num_parts"]:
        raise ValueError(f"world size {world} exceeds the number of parts {manifest['num_parts']}")
    if world != shard.num_shards or shard.rank != rank:
        raise ValueError(f"rank {rank} of {world} was given shard {shard.rank} of {shard.num_shards}")
    min_parts = min(e["parts"] for e in manifest["shards"])
    if not isinstance(q, (int, np.integer)) or not 1 <= q <= min_parts:
        raise ValueError(f"clusters_per_batch must be an integer in [1, {min_parts}] (the fewest "
                         f"parts a rank holds), got {q!r}")
    for name, v in (("epochs", epochs), ("eval_every", 1 if eval_every is None else eval_every)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if patience is not None and patience < 1:
        raise ValueError(f"patience must be a positive integer or None, got {patience!r}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs a checkpoint path")
    if checkpoint is not None:  # a typo fails now, not after the first epoch
        check_parent(checkpoint, "checkpoint")
    check_model_fits(model, manifest["num_features"], manifest["num_classes"],
                     multilabel=bool(manifest["multilabel"]))
    return rank, world


def _resume(path: Path, config: dict, model: ClusterGCN, optimizer: torch.optim.Optimizer,
            rank: int, dev: torch.device) -> tuple[History, Any, int, int, float | None]:
    """Load a :func:`fit_distributed` checkpoint made with ``config`` into ``model`` and
    ``optimizer``; returns the history, best weights, epochs without progress, the next epoch
    and the first loss."""
    state = load_checkpoint(path, kind="Cluster-GCN training", required=CHECKPOINT_KEYS, map_location=dev)
    made_with, now = state["config"].get("shards"), config["shards"]
    if made_with != now:
        raise ValueError(f"checkpoint {path} was made on shards {made_with} (graph:partition:ranks hashes), "
                         f"these shards are {now}: resume on the shards the run started with")
    if state["config"] != config:
        raise ValueError(f"checkpoint {path} was made with {state['config']}, not {config}")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"][rank].cpu())
    history = History(state["history"], state["best_epoch"], state["best_val"])
    first_loss = state.get("first_loss", history.epochs[0]["loss"] if history.epochs else None)
    return history, state["best_state"], state["bad"], state["epoch"] + 1, first_loss


def _train_steps(ddp: nn.Module, optimizer: torch.optim.Optimizer, loader: ClusterLoader,
                 batches: list[np.ndarray], dev: torch.device, multilabel: bool
                 ) -> tuple[float, int, int, float | None]:
    """One epoch's steps on this rank: returns the loss summed over training nodes, their count,
    the nodes seen, and the first step's loss (None if no batch had a training node)."""
    loss_sum, count, nodes, first_step = 0.0, 0, 0, None
    for parts in batches:
        batch = loader.batch(parts)
        n_train = int(batch.train_mask.sum())
        nodes += batch.num_nodes
        batch = batch.to(dev, non_blocking=True)
        optimizer.zero_grad()
        out = ddp(batch.x, batch.adj)
        if n_train:
            loss = _loss(out[batch.train_mask], batch.y[batch.train_mask], multilabel)
        else:
            # Still joins the gradient all-reduce (with zeros), so no peer waits for it.
            loss = out.sum() * 0.0
        loss.backward()
        optimizer.step()
        value = loss.item()
        if first_step is None and n_train:
            first_step = value
        loss_sum += value * n_train
        count += n_train
    return loss_sum, count, nodes, first_step


def fit_distributed(model: ClusterGCN, shard: Shard, *, clusters_per_batch: int = 1,
                    epochs: int = 200, lr: float = 0.01, weight_decay: float = 0.0,
                    normalization: Normalization = "rw", diag_lambda: float = 1.0,
                    eval_every: int | None = 1, patience: int | None = None,
                    checkpoint: str | os.PathLike | None = None, resume: bool = False,
                    seed: int = 0, device: Any = None, progress: bool = True) -> History:
    """Train ``model`` data-parallel on this rank's ``shard``; call it on every rank at once.

    ``clusters_per_batch`` is q per rank (a step's global batch is R·q parts). The process
    group must be initialized (:func:`init_distributed`). The configuration, model shape and
    shard identity are compared across ranks first. History rows carry, besides
    :func:`~graphopt.cluster_gcn.fit`'s, this rank's ``nodes_per_s`` and the ``allreduce_bytes``
    per step; ``History.final`` holds the metrics of the best weights, identical on all ranks.
    As in :func:`~graphopt.cluster_gcn.fit`: ``resume=True`` with a missing checkpoint is a
    ``FileNotFoundError``, a checkpoint of other shards a ``ValueError`` naming both, a diverging
    loss a :class:`~graphopt.TrainingDiverged` (on every rank: the loss is all-reduced); rank 0
    shows the progress.
    """
    rank, world = _check_fit_args(model, shard, clusters_per_batch, epochs, eval_every, patience,
                                  checkpoint, resume)
    manifest, q = shard.manifest, clusters_per_batch
    dev = resolve_device(device, model)
    config = {"clusters_per_batch": int(q), "lr": float(lr), "weight_decay": float(weight_decay),
              "normalization": normalization, "diag_lambda": float(diag_lambda), "seed": int(seed),
              "shards": shard.identity, "world_size": world,
              "model": [[k, list(v.shape)] for k, v in model.state_dict().items()]}
    # A resumed run may train for more epochs; ranks of one run must agree on everything.
    check_same({**config, "epochs": int(epochs), "eval_every": eval_every, "patience": patience,
                "checkpoint": None if checkpoint is None else str(checkpoint), "resume": bool(resume),
                "checkpoint_exists": resume and Path(checkpoint).exists()},
               "the training configuration")
    if resume and not Path(checkpoint).exists():  # on every rank alike (compared just above)
        raise FileNotFoundError(f"resume=True but checkpoint {checkpoint} does not exist: check the path, "
                                "or drop resume to start a new run")
    train_total = torch.tensor([int(shard.graph.train_mask.sum()) if shard.graph.train_mask is not None
                                else 0], device=_comm_device(dev))
    dist.all_reduce(train_total)
    if int(train_total) == 0:
        raise ValueError("the graph has no training nodes (train_mask missing or all False)")

    model.to(dev)
    ddp = nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    reduced = {"bytes": 0}
    ddp.register_comm_hook(reduced, _counting_allreduce)
    optimizer = adam(ddp.parameters(), fused=False, lr=lr, weight_decay=weight_decay)
    torch.manual_seed(rank_seed(seed, rank))
    p_local = shard.partition.num_parts
    loader = ClusterLoader(shard.partition, min(q, p_local), shuffle=False,
                           normalization=normalization, diag_lambda=diag_lambda)
    steps = -(-max(e["parts"] for e in manifest["shards"]) // q)
    multilabel = bool(manifest["multilabel"])
    eval_kw = dict(normalization=normalization, diag_lambda=diag_lambda, device=dev)

    history, best_state, bad, start, first_loss = History(), None, 0, 0, None
    path = None if checkpoint is None else Path(checkpoint)
    if resume and path is not None:
        history, best_state, bad, start, first_loss = _resume(path, config, model, optimizer, rank, dev)

    with EpochLog(range(start, epochs), f"cluster-gcn x{world}", logger=log,
                  enabled=progress and rank == 0) as bar:
        for epoch in bar:
            ddp.train()
            t0, c0 = time.perf_counter(), time.process_time()
            reduced["bytes"] = 0
            batches = _deal(p_local, q, steps, np.random.default_rng([seed, rank, epoch]))
            loss_sum, count, nodes, first_step = _train_steps(ddp, optimizer, loader, batches, dev,
                                                              multilabel)
            seconds = time.perf_counter() - t0
            totals = torch.tensor([loss_sum, count, first_step or 0.0, first_step is not None],
                                  dtype=torch.float64, device=_comm_device(dev))
            dist.all_reduce(totals)
            row: dict[str, float] = {"epoch": epoch, "loss": float(totals[0] / max(float(totals[1]), 1.0)),
                                     "time": seconds, "cpu_time": time.process_time() - c0,
                                     "nodes_per_s": nodes / max(seconds, 1e-9),
                                     "allreduce_bytes": reduced["bytes"] / steps}
            if first_loss is None and totals[3] > 0:  # the ranks' first steps, averaged
                first_loss = float(totals[2] / totals[3])
            check_loss(row["loss"], epoch, first_loss)  # all-reduced losses: every rank raises alike
            stop = False
            if eval_every is not None and ((epoch + 1) % eval_every == 0 or epoch == epochs - 1):
                row.update(evaluate_distributed(model, shard, **eval_kw))
                val = row.get("val", row.get("train", -row["loss"]))
                flags = torch.tensor([val > history.best_val, 0], dtype=torch.int64, device=_comm_device(dev))
                if rank == 0:
                    flags[1] = int(not flags[0] and patience is not None and bad + 1 >= patience)
                dist.broadcast(flags, 0)  # rank 0 decides; the others follow its decision
                if flags[0]:
                    history.best_val, history.best_epoch, bad = val, epoch, 0
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    bad += 1
                stop = bool(flags[1])
            row["peak_mb"] = peak_memory_mb()
            history.epochs.append(row)
            bar.update(epoch, row)
            if path is not None:
                rngs: list[Any] = [None] * world
                dist.all_gather_object(rngs, torch.get_rng_state())
                if rank == 0:
                    ckpt = {"config": config, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "torch_rng": rngs, "history": history.epochs, "best_epoch": history.best_epoch,
                            "best_val": history.best_val, "best_state": best_state, "bad": bad,
                            "epoch": epoch, "first_loss": first_loss}
                    write_atomic(path, lambda f: torch.save(ckpt, f))
            if stop:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    for t in model.state_dict().values():  # rank 0's weights are the result everywhere
        comm = t.to(_comm_device(dev))
        dist.broadcast(comm, 0)
        t.copy_(comm)
    if eval_every is not None:
        history.final = evaluate_distributed(model, shard, **eval_kw)
    return history


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _local_entry(rank: int, fn: Callable[..., Any], nproc: int, port: int, timeout: float,
                 args: tuple) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(nproc),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    init_distributed("cpu", timeout=timeout)
    try:
        fn(*args)
    except BaseException:
        dist.destroy_process_group()  # no barrier: the peers may never reach it
        raise
    shutdown_distributed()


def run_local(fn: Callable[..., Any], nproc: int, args: tuple = (), *, timeout: float = 120.0) -> None:
    """Run ``fn(*args)`` on ``nproc`` local CPU ranks (gloo on 127.0.0.1, a free port, one thread
    each). ``fn`` must be importable (a module-level function). Raises if a rank fails, and a
    ``TimeoutError`` (after stopping the ranks) if they are not done within ``timeout`` seconds.
    """
    if not isinstance(nproc, (int, np.integer)) or nproc < 1:
        raise ValueError(f"nproc must be a positive integer, got {nproc!r}")
    ctx = torch.multiprocessing.start_processes(
        _local_entry, args=(fn, nproc, free_port(), timeout, args), nprocs=nproc, join=False,
        start_method="spawn")
    deadline = time.monotonic() + timeout
    while not ctx.join(timeout=1.0):  # join raises (and stops the others) when a rank fails
        if time.monotonic() > deadline:
            for p in ctx.processes:
                if p.is_alive():
                    p.kill()
            raise TimeoutError(f"ranks still running after {timeout}s; stopped")


def launch_local(command: list[str], nproc: int, *, threads: int = 1, grace: float = 10.0,
                 log: Callable[[str], None] | None = None) -> None:
    """Run ``command`` as ``nproc`` local ranks, the way torchrun would (``RANK``, ``LOCAL_RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR=127.0.0.1``, a free ``MASTER_PORT``, ``OMP_NUM_THREADS``).

    When a rank exits with an error the others get ``grace`` seconds to notice (their
    collectives fail as soon as a peer's connection drops) and are then stopped; a
    ``RuntimeError`` names the rank that failed first. ``log`` receives one line per rank started.
    """
    import signal
    import subprocess

    if not isinstance(nproc, (int, np.integer)) or nproc < 1:
        raise ValueError(f"nproc must be a positive integer, got {nproc!r}")
    port = free_port()
    procs = []
    try:
        for r in range(nproc):
            env = dict(os.environ, RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE=str(nproc),
                       LOCAL_WORLD_SIZE=str(nproc), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                       OMP_NUM_THREADS=str(threads))
            procs.append(subprocess.Popen(command, env=env))
            if log is not None:
                log(f"rank {r}: pid {procs[-1].pid}")
        failed: tuple[int, int] | None = None
        deadline = None
        while any(p.poll() is None for p in procs):
            if failed is None:
                failed = next(((r, p.returncode) for r, p in enumerate(procs)
                               if p.returncode not in (None, 0)), None)
                if failed is not None:
                    deadline = time.monotonic() + grace
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if failed is None:
            failed = next(((r, p.returncode) for r, p in enumerate(procs) if p.returncode != 0), None)
    finally:
        for p in procs:  # only the ranks this call started, by their own handles
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    if failed is not None:
        # Ranks killed by a signal first: those that exited with an error mostly noticed them.
        bad = sorted((r for r, p in enumerate(procs) if p.returncode != 0),
                     key=lambda r: (procs[r].returncode >= 0, r != failed[0], r))

        def how(code: int) -> str:
            return f"signal {signal.Signals(-code).name}" if code < 0 else f"status {code}"

        raise RuntimeError("; ".join(f"rank {r} (pid {procs[r].pid}) exited with {how(procs[r].returncode)}"
                                     for r in bad) + "; the run was stopped")
