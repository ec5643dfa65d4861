"""The neighbour-feature generator of LA-GNN (Liu et al., ICML 2022, arXiv 2109.03856, Sec. 3.2).

A conditional VAE learns ``p(x_u | x_v)`` over the edges ``(v, u)`` of a graph: the neighbour's
features are the target, the centre's the condition. Encoder ``[x_u || x_v] -> hidden -> (mu,
log sigma^2)``; decoder ``[z || x_v] -> hidden -> features``. Binary / bag-of-words features get a
sigmoid output and BCE, continuous ones a linear output and MSE. Sampling draws ``z ~ N(0, I)`` for
every node and decodes a generated matrix ``X̄`` (row ``v``: a plausible neighbour of ``v``).

Isolated nodes have no (centre, neighbour) pair and so never appear as a training target or
condition; at sampling time they are conditioned like any node (``isolated="generate"``, the
decoder only needs ``x_v``) or, with ``isolated="self"``, their row of ``X̄`` is their own features.

Optional checkpoint selection (``selection="bald"``) follows the paper's Eq. 10: a GCN pre-trained on
``X`` scores each candidate ``X̄`` by BALD, ``H[mean_t p_t] - mean_t H[p_t]`` (mutual information
between prediction and weights, estimated with ``selection_passes`` MC-dropout passes, averaged over
nodes); the checkpoint with the highest score after ``selection_warmup`` steps is kept, and after
each new best the GCN is trained ``selection_update`` more steps on that ``X̄`` (the reference code's
schedule). The reference scores with cross-entropy on training labels instead of entropy; we
follow the paper. Scoring runs every ``selection_every`` steps, not every step, to bound the cost.
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._device import resolve_device
from .._io import write_atomic
from .._ops import adam
from .._training import EpochLog, check_loss, load_checkpoint
from ..graph import Graph
from ._dist import Comm, shard_parts
from ._features import (Amp, autocast, backward_step, check_amp, dense_rows, generator, grad_scaler,
                        require_features, row_normalize, to_device)

__all__ = ["NeighborCVAE", "FeatureSampler", "isolated_nodes"]

log = logging.getLogger(__name__)
CHECKPOINT_KEYS = ("config", "bce", "num_features", "state_dict")


class _CVAENet(nn.Module):
    def __init__(self, num_features: int, hidden: int, latent: int) -> None:
        super().__init__()
        self.enc = nn.Linear(2 * num_features, hidden)
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        # [z || x_v] W = z W_z + x_v W_c: the condition term is computed once per node at sampling time
        self.dec_z = nn.Linear(latent, hidden, bias=False)
        self.dec_c = nn.Linear(num_features, hidden)
        self.dec_out = nn.Linear(hidden, num_features)

    def decode(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.dec_out(F.relu(self.dec_z(z) + cond))

    def forward(self, x_u: torch.Tensor, x_v: torch.Tensor, bce: bool, gen: torch.Generator) -> torch.Tensor:
        """The loss of a batch of pairs (``forward``, so that ``DistributedDataParallel`` sees the call)."""
        h = F.relu(self.enc(torch.cat([x_u, x_v], dim=1)))
        # the latent statistics and the KL term stay float32 under autocast
        mu, logvar = self.mu(h).float(), self.logvar(h).float()
        z = mu + torch.randn(mu.shape, generator=gen, device=mu.device) * torch.exp(0.5 * logvar)
        out = self.decode(z, self.dec_c(x_v)).float()
        rec = (F.binary_cross_entropy_with_logits(out, x_u, reduction="sum") if bce
               else F.mse_loss(out, x_u, reduction="sum"))
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return (rec + kld) / x_u.size(0)


@dataclass
class _Config:
    latent_size: int = 10
    hidden_size: int = 256
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.01
    loss: str = "auto"
    isolated: str = "generate"
    selection: str | None = None
    selection_passes: int = 20
    selection_every: int = 50
    selection_warmup: int = 200
    selection_update: int = 20
    max_pairs_per_epoch: int | None = None
    seed: int = 0


class NeighborCVAE:
    """Conditional VAE over (centre, neighbour) feature pairs; scikit-learn style.

    Defaults follow the reference code for Cora/CiteSeer: latent 10, hidden 256, 10 epochs over all
    pairs, batch 64, Adam lr 0.01. ``loss="auto"`` picks BCE when every feature lies in [0, 1]
    (binary or bag-of-words) and MSE otherwise. ``max_pairs_per_epoch`` subsamples pairs on graphs
    too large for full epochs. ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"``; None is
    the CPU) is where the network trains and samples; ``amp`` (``"bf16"`` or ``"fp16"``) runs its
    products under autocast, the latent statistics and losses staying float32. Fitted state:
    ``net_``, ``bce_``, ``num_features_``, ``history_`` (one dict per epoch) and, with selection,
    ``selection_score_`` and ``selection_history_``.
    """

    def __init__(self, *, latent_size: int = 10, hidden_size: int = 256, epochs: int = 10,
                 batch_size: int = 64, lr: float = 0.01, loss: Literal["auto", "bce", "mse"] = "auto",
                 isolated: Literal["generate", "self"] = "generate",
                 selection: Literal["bald"] | None = None, selection_passes: int = 20,
                 selection_every: int = 50, selection_warmup: int = 200, selection_update: int = 20,
                 max_pairs_per_epoch: int | None = None, seed: int = 0, progress: bool = True,
                 device: str | torch.device | None = None, amp: Amp = None) -> None:
        self.config = _Config(latent_size, hidden_size, epochs, batch_size, lr, loss, isolated, selection,
                              selection_passes, selection_every, selection_warmup, selection_update,
                              max_pairs_per_epoch, seed)
        self.progress = progress
        self.device = resolve_device(device)
        check_amp(amp)
        self.amp = amp
        self._validate()

    def _validate(self) -> None:
        c = self.config
        for name in ("latent_size", "hidden_size", "epochs", "batch_size", "selection_passes",
                     "selection_every"):
            v = getattr(c, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not c.lr > 0:
            raise ValueError(f"lr must be positive, got {c.lr!r}")
        if c.loss not in ("auto", "bce", "mse"):
            raise ValueError(f"loss must be 'auto', 'bce' or 'mse', got {c.loss!r}")
        if c.isolated not in ("generate", "self"):
            raise ValueError(f"isolated must be 'generate' or 'self', got {c.isolated!r}")
        if c.selection not in (None, "bald"):
            raise ValueError(f"selection must be None or 'bald', got {c.selection!r}")
        if c.max_pairs_per_epoch is not None and c.max_pairs_per_epoch < 1:
            raise ValueError(f"max_pairs_per_epoch must be positive or None, got {c.max_pairs_per_epoch!r}")

    # ------------------------------------------------------------------ fitting
    def fit(self, graph: Graph, partition: Any = None, parts_per_batch: int = 1) -> NeighborCVAE:
        """Train on every (centre, neighbour) pair of ``graph`` (self-loops excluded).

        With a :class:`~graphopt.Partition`, the parts are grouped once at random into unions of
        ``parts_per_batch`` parts (Cluster-GCN batches); each epoch visits the batches in random order
        and trains on the pairs inside each, so only one batch's features are ever dense. Edges
        between batches are not used. Without one, the features are read row by row on the CPU
        and moved to an accelerator whole (dense) once.
        """
        graph = self._prepare(graph)
        if partition is not None and partition.graph.num_nodes != graph.num_nodes:
            raise ValueError(f"partition covers {partition.graph.num_nodes} nodes, graph has {graph.num_nodes}")
        batches = self._cluster_batches(graph, partition, parts_per_batch, self.config.seed)
        if sum(b[0].size for b in batches) == 0:
            raise ValueError("graph has no edges between distinct nodes: the CVAE has no (centre, neighbour) pairs")
        self._train(graph, batches, shuffle=partition is not None, max_pairs=self.config.max_pairs_per_epoch)
        return self

    def fit_distributed(self, graph: Any, partition: Any = None, parts_per_batch: int = 1) -> NeighborCVAE:
        """Data-parallel fit; call it on every rank of an initialized ``torch.distributed`` group.

        ``graph`` is this rank's :class:`~graphopt.shards.Shard` (or the rank's own graph with a
        ``partition`` of it into the rank's parts): each rank trains on the (centre, neighbour)
        pairs inside its own Cluster-GCN batches of ``parts_per_batch`` parts, and
        ``DistributedDataParallel`` averages the gradients, so no rank ever reads another's
        features. Every rank takes the same number of steps per epoch (the largest rank's; a rank
        with fewer pairs revisits some), so none waits on another; ``max_pairs_per_epoch`` is
        split evenly over the ranks. Weights end identical on every rank; ``history_`` holds the
        loss over all ranks' pairs. ``selection="bald"`` is single-process only.
        """
        graph, partition = shard_parts(graph, partition)
        comm = Comm(self.device, "NeighborCVAE.fit_distributed")
        c = self.config
        if c.selection is not None:
            raise ValueError("selection='bald' scores X̄ with a GCN on the whole graph: it is single-process only")
        comm.same(f"{asdict(c)} parts_per_batch={parts_per_batch} features={graph.num_features}",
                  "the CVAE's configuration or the number of features")
        graph = self._prepare(graph, comm)
        if partition.graph.num_nodes != graph.num_nodes:
            raise ValueError(f"partition covers {partition.graph.num_nodes} nodes, graph has {graph.num_nodes}")
        batches = self._cluster_batches(graph, partition, parts_per_batch, c.seed + comm.rank)
        cap = None if c.max_pairs_per_epoch is None else -(-c.max_pairs_per_epoch // comm.world)
        local = self._steps(batches, cap)
        if comm.min(local) == 0:
            raise ValueError(f"a rank has no (centre, neighbour) pair inside its batches (this rank: {local} "
                             "steps): use fewer ranks or parts per rank with edges")
        self._train(graph, batches, shuffle=True, max_pairs=cap, rank=comm.rank, steps_per_epoch=comm.max(local),
                    wrap=comm.wrap, reduce=comm.sum_tensor)
        return self

    def _steps(self, batches: list, max_pairs: int | None) -> int:
        """Minibatch steps of one pass over ``batches`` (as :meth:`_epoch_pairs` takes them)."""
        total = sum(b[0].size for b in batches)
        bs = self.config.batch_size
        shares = [b[0].size if max_pairs is None or not b[0].size else max(1, max_pairs * b[0].size // max(1, total))
                  for b in batches]
        return sum(-(-s // bs) for s in shares)

    def _prepare(self, graph: Any, comm: Comm | None = None) -> Graph:
        """``graph`` as a validated :class:`Graph`; chooses the loss from its feature range (over all ranks' features)."""
        graph = require_features(graph, "NeighborCVAE.fit")
        c = self.config
        x = graph.x
        values = x if isinstance(x, np.ndarray) else x.data
        xmin, xmax = float(values.min(initial=0)), float(values.max(initial=0))
        if comm is not None:
            low, high = comm.sum([float(xmin < 0), float(xmax > 1)])
            xmin, xmax = (-1.0 if low else xmin), (2.0 if high else xmax)
        self.bce_ = c.loss == "bce" or (c.loss == "auto" and xmin >= 0 and xmax <= 1)
        if c.loss == "bce" and (xmin < 0 or xmax > 1):
            raise ValueError(f"loss='bce' needs features in [0, 1], got range [{xmin}, {xmax}]"
                             + (" on some rank" if comm is not None else ""))
        self.num_features_ = graph.num_features
        return graph

    def _train(self, graph: Graph, batches: list, shuffle: bool, max_pairs: int | None, *, rank: int = 0,
               steps_per_epoch: int | None = None, wrap=None, reduce=None) -> None:
        """The epoch loop. The distributed fit passes its rank (seeds differ per rank), a fixed
        ``steps_per_epoch`` (equal on every rank, pairs revisited where a rank has fewer), ``wrap``
        (DDP around the network) and ``reduce`` (sums a tensor over ranks)."""
        c, dev = self.config, self.device
        gen = generator(c.seed + rank, dev)
        rng = np.random.default_rng(c.seed + rank)
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(c.seed)  # every rank starts from the same weights
            with torch.device("cpu"):  # initialized on the CPU: one seed, one start, whatever the device
                self.net_ = _CVAENet(self.num_features_, c.hidden_size, c.latent_size)
            self.net_.to(dev)
            selector = _BaldSelector(self, graph, gen) if c.selection == "bald" else None
        net = self.net_ if wrap is None else wrap(self.net_)
        opt = adam(self.net_.parameters(), lr=c.lr)
        scaler = grad_scaler(self.amp, dev)
        self.history_: list[dict[str, Any]] = []
        step = 0
        pairs_total = sum(t[0].size for t in batches)
        first = None  # the loss of the run's first step, the reference for divergence
        desc = "CVAE" if reduce is None else "CVAE (all ranks)"
        with EpochLog(range(c.epochs), desc, logger=log, enabled=self.progress and rank == 0,
                      keys=("loss",)) as bar:
            for epoch in bar:
                total = torch.zeros((), dtype=torch.float64, device=dev)
                first_step = torch.zeros((), dtype=torch.float64, device=dev)
                count = 0
                for x_u, x_v in self._epoch_pairs(graph.x, batches, shuffle, rng, pairs_total, max_pairs,
                                                  steps_per_epoch):
                    net.train()
                    with autocast(self.amp, dev):
                        loss = net(x_u, x_v, self.bce_, gen)
                    opt.zero_grad()
                    backward_step(loss, opt, scaler)
                    if not count:
                        first_step = loss.detach().double()
                    total += loss.detach().double() * x_u.size(0)
                    count += x_u.size(0)
                    step += 1
                    if selector is not None:
                        selector.maybe_score(step)
                ranks = 1
                if reduce is not None:  # summed over ranks: every rank checks the same losses
                    total, count = reduce(total), int(reduce(torch.tensor(float(count), device=dev)))
                    first_step, ranks = reduce(first_step), int(reduce(torch.tensor(1.0, device=dev)))
                row = {"epoch": epoch, "loss": float(total) / max(count, 1), "pairs": count}
                first = float(first_step) / ranks if first is None else first
                check_loss(row["loss"], epoch, first, what="CVAE loss")
                self.history_.append(row)
                bar.update(epoch, row)
        if selector is not None:
            selector.finish()

    def _epoch_pairs(self, x: Any, batches: list, shuffle: bool, rng: np.random.Generator, pairs_total: int,
                     max_pairs: int | None, steps: int | None):
        """Yields ``(x_u, x_v)`` minibatches on the device for one epoch: ``steps`` of them when given
        (cycling over the batches), else one pass over every batch's pairs (``max_pairs`` of them
        in all, shared out by batch size, when given)."""
        c, dev = self.config, self.device
        done = 0
        while True:
            order = rng.permutation(len(batches)) if shuffle else range(len(batches))
            for b in order:
                centre, neighbour, nodes = batches[b]
                if centre.size == 0:
                    continue
                perm = rng.permutation(centre.size)
                if max_pairs is not None:
                    share = max_pairs * centre.size // max(1, pairs_total)
                    perm = perm[:max(1, share)]
                # a batch's features are dense on the device; the whole graph's only on an accelerator
                resident = nodes is not None or dev.type != "cpu"
                if resident:
                    feats = to_device(dense_rows(x, nodes), dev)
                    centre_t = to_device(torch.from_numpy(centre), dev)
                    neighbour_t = to_device(torch.from_numpy(neighbour), dev)
                for start in range(0, perm.size, c.batch_size):
                    idx = perm[start:start + c.batch_size]
                    if resident:
                        i = to_device(torch.from_numpy(idx), dev)
                        yield feats[neighbour_t[i]], feats[centre_t[i]]
                    else:
                        yield dense_rows(x, neighbour[idx]), dense_rows(x, centre[idx])
                    done += 1
                    if steps is not None and done == steps:
                        return
            if steps is None or done == 0:
                return

    @staticmethod
    def _cluster_batches(graph: Graph, partition: Any, parts_per_batch: int,
                         seed: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """(centre, neighbour, nodes) per batch; local ids into ``nodes`` (None: root ids, whole graph)."""
        if partition is None:
            return [(*_pairs(graph), None)]
        if not isinstance(parts_per_batch, int) or not 1 <= parts_per_batch <= partition.num_parts:
            raise ValueError(f"parts_per_batch must be in [1, {partition.num_parts}], got {parts_per_batch!r}")
        order = np.random.default_rng(seed).permutation(partition.num_parts)
        out = []
        for start in range(0, partition.num_parts, parts_per_batch):
            # ids in ``graph`` (a subgraph's node_map would name the root graph's nodes, e.g. on a shard)
            nodes = partition.nodes_of(order[start:start + parts_per_batch])
            out.append((*_pairs(graph.subgraph(nodes)), nodes))
        return out

    # ------------------------------------------------------------------ sampling
    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise RuntimeError("NeighborCVAE is not fitted: call fit(graph) or NeighborCVAE.load(path)")

    def sampler(self, graph: Graph, *, batch_size: int = 4096) -> FeatureSampler:
        """A :class:`FeatureSampler` for ``graph``: the decoder's condition term is computed once per node."""
        self._check_fitted()
        graph = require_features(graph, "NeighborCVAE.sampler")
        if graph.num_features != self.num_features_:
            raise ValueError(f"graph has {graph.num_features} features, the CVAE was fitted on {self.num_features_}")
        return FeatureSampler(self, graph, batch_size)

    def sample(self, graph: Graph, num_samples: int = 1, *, seed: int | torch.Generator | None = 0,
               batch_size: int = 4096) -> list[torch.Tensor]:
        """``num_samples`` generated matrices, each ``(N, F)`` float32 on the CVAE's device, made
        ``batch_size`` rows at a time."""
        return self.sampler(graph, batch_size=batch_size).sample(num_samples, seed)

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted generator to ``path`` atomically (temp file + rename); tensors are saved
        from the CPU so a checkpoint made on an accelerator loads anywhere."""
        self._check_fitted()
        path = Path(path)
        state = {"config": asdict(self.config), "bce": self.bce_, "num_features": self.num_features_,
                 "state_dict": {k: v.detach().cpu() for k, v in self.net_.state_dict().items()}}
        write_atomic(path, lambda f: torch.save(state, f))

    @classmethod
    def load(cls, path: str | os.PathLike, progress: bool = True, *, device: str | torch.device | None = None,
             amp: Amp = None) -> NeighborCVAE:
        """Read a generator written by :meth:`save` onto ``device`` (``weights_only=True``: no code is
        unpickled). A missing file is a ``FileNotFoundError``, any other file a ``ValueError``."""
        dev = resolve_device(device)
        state = load_checkpoint(path, kind="NeighborCVAE", required=CHECKPOINT_KEYS, map_location=dev)
        self = cls(progress=progress, device=dev, amp=amp, **state["config"])
        self.bce_, self.num_features_ = bool(state["bce"]), int(state["num_features"])
        with torch.device("cpu"):
            self.net_ = _CVAENet(self.num_features_, self.config.hidden_size, self.config.latent_size)
        self.net_.to(dev)
        self.net_.load_state_dict(state["state_dict"])
        return self


def _pairs(g: Graph) -> tuple[np.ndarray, np.ndarray]:
    """(centre, neighbour) of every edge but self-loops."""
    src, dst = g.edge_index()
    keep = src != dst
    return src[keep], dst[keep]


def isolated_nodes(graph: Graph) -> np.ndarray:
    """Nodes with no neighbour other than themselves: they are never the centre of a training pair."""
    src, dst = graph.edge_index()
    return np.flatnonzero(np.bincount(src[src != dst], minlength=graph.num_nodes) == 0)


class FeatureSampler:
    """Draws generated matrices ``X̄`` for one graph on the CVAE's device; rows are normalized to sum
    1 under BCE (as the reference does, in O(NF)) and left as decoded under MSE. The condition term
    is computed and kept on the device once; decoding runs ``batch_size`` rows at a time."""

    def __init__(self, cvae: NeighborCVAE, graph: Graph, batch_size: int = 4096) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.net = cvae.net_
        self.bce = cvae.bce_
        self.device, self.amp = cvae.device, cvae.amp
        self.latent = cvae.config.latent_size
        self.x = graph.x
        self.num_nodes = graph.num_nodes
        self.batch_size = batch_size
        self.isolated = isolated_nodes(graph) if cvae.config.isolated == "self" else np.empty(0, np.int64)
        self.net.eval()
        with torch.no_grad(), autocast(self.amp, self.device):
            self._cond = [self.net.dec_c(to_device(dense_rows(self.x, np.arange(s, min(s + batch_size,
                                                                                       self.num_nodes))),
                                                   self.device))
                          for s in range(0, self.num_nodes, batch_size)]

    def sample(self, num_samples: int = 1, seed: int | torch.Generator | None = 0) -> list[torch.Tensor]:
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive int, got {num_samples!r}")
        if isinstance(seed, torch.Generator):
            gen = seed
            if gen.device != self.device:
                raise ValueError(f"seed is a generator on {gen.device}, the sampler runs on {self.device}: "
                                 "pass an int seed or a generator on the CVAE's device")
        else:
            gen = generator(int(seed) if seed is not None else int(torch.seed() % 2**62), self.device)
        out = []
        with torch.no_grad():
            for _ in range(num_samples):
                # z for all nodes at once (O(N * latent)) so the result does not depend on batch_size
                z = torch.randn(self.num_nodes, self.latent, generator=gen, device=self.device).split(self.batch_size)
                parts = []
                for zb, cond in zip(z, self._cond):
                    with autocast(self.amp, self.device):
                        logits = self.net.decode(zb, cond).float()
                    parts.append(row_normalize(torch.sigmoid(logits)) if self.bce else logits)
                xbar = torch.cat(parts)
                if self.isolated.size:
                    own = to_device(dense_rows(self.x, self.isolated), self.device)
                    xbar[to_device(torch.from_numpy(self.isolated), self.device)] = \
                        row_normalize(own) if self.bce else own
                out.append(xbar)
        return out


class _BaldSelector:
    """Checkpoint selection by the paper's Eq. 10 (BALD with MC dropout of a pre-trained GCN)."""

    def __init__(self, cvae: NeighborCVAE, graph: Graph, gen: torch.Generator) -> None:
        from .models import LAGCN

        if graph.y is None or graph.train_mask is None:
            raise ValueError("selection='bald' needs graph.y and graph.train_mask to pre-train the scoring GCN")
        self.cvae, self.graph, self.gen = cvae, graph, gen
        dev = cvae.device
        self.edge_index = to_device(torch.from_numpy(graph.edge_index()), dev)
        self.y = to_device(torch.from_numpy(graph.y), dev)
        self.train = to_device(torch.from_numpy(graph.train_mask), dev)
        with torch.device("cpu"):
            self.gcn = LAGCN(graph.num_features, 32, graph.num_classes, num_generated=0, dropout=0.5)
        self.gcn.to(dev)
        self.opt = adam(self.gcn.parameters(), lr=0.01, weight_decay=5e-4)
        self._fit_gcn(row_normalize(to_device(dense_rows(graph.x), dev)), 100)
        self.best_score, self.best_state = -float("inf"), None
        cvae.selection_score_, cvae.selection_history_ = None, []

    def _fit_gcn(self, x: torch.Tensor, steps: int) -> None:
        self.gcn.train()
        for _ in range(steps):
            self.opt.zero_grad()
            F.cross_entropy(self.gcn(x, self.edge_index)[self.train], self.y[self.train]).backward()
            self.opt.step()

    def maybe_score(self, step: int) -> None:
        c = self.cvae.config
        if step <= c.selection_warmup or step % c.selection_every:
            return
        xbar = self.cvae.sampler(self.graph).sample(1, self.gen)[0]
        self.gcn.train()  # dropout on: MC-dropout passes
        with torch.no_grad():
            probs = torch.stack([F.softmax(self.gcn(xbar, self.edge_index), dim=1)
                                 for _ in range(c.selection_passes)])
        mean = probs.mean(0)
        entropy = lambda p: -(p * torch.log(p.clamp_min(1e-12))).sum(-1)  # noqa: E731
        score = float((entropy(mean) - entropy(probs).mean(0)).mean())
        self.cvae.selection_history_.append({"step": step, "bald": score})
        if score > self.best_score:
            self.best_score, self.best_state = score, copy.deepcopy(self.cvae.net_.state_dict())
            self._fit_gcn(xbar, c.selection_update)

    def finish(self) -> None:
        if self.best_state is not None:
            self.cvae.net_.load_state_dict(self.best_state)
            self.cvae.selection_score_ = self.best_score
