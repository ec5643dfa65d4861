"""LA-GNN training (Liu et al., ICML 2022, Sec. 3.3): K passes per step with fresh ``X̄``, consistency loss.

Loss per step: the mean cross-entropy of K forward passes, each with freshly sampled generated
matrices, plus ``lambda`` times the consistency loss (squared distance of every pass's prediction
to the sharpened average prediction, temperature T, over all nodes). The model kept is the one with
the lowest validation loss; the ``X̄`` used for that validation pass is kept for test time.

On graphs too large for full-batch training, :meth:`LAClassifier.fit` takes a
:class:`~graphopt.Partition`: each step trains on one Cluster-GCN batch (a union of METIS parts,
inter-part edges kept) with ``X̄`` generated for that batch only, and evaluation runs batch by
batch with a fixed grouping, regenerating the kept validation ``X̄`` from its seed.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._device import resolve_device
from .._ops import adam
from .._training import EpochLog, check_logits, check_loss, check_model_fits
from ..graph import Graph
from ._dist import Comm, shard_parts
from ._features import (Amp, autocast, backward_step, check_amp, feature_tensor, generator, grad_scaler,
                        require_features, to_device)
from .cvae import NeighborCVAE

__all__ = ["LAClassifier", "consistency_loss"]

log = logging.getLogger(__name__)


class _Passes(nn.Module):
    """The K forward passes of a step as one call, so that ``DistributedDataParallel`` sees one
    forward per backward (it reduces gradients once per step, not once per pass)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor,
                generated: list[Sequence[torch.Tensor]]) -> list[torch.Tensor]:
        return [self.model(x, edge_index, g) for g in generated]


def consistency_loss(log_probs: Sequence[torch.Tensor], temperature: float = 0.5) -> torch.Tensor:
    """Mean over passes of ``mean_i ||p_i - sharpen(mean p)_i||^2`` (the sharpened target is not differentiated)."""
    probs = [lp.exp() for lp in log_probs]
    avg = torch.stack(probs).mean(0)
    sharp = avg.pow(1.0 / temperature)
    sharp = (sharp / sharp.sum(dim=1, keepdim=True)).detach()
    return torch.stack([(p - sharp).pow(2).sum(1).mean() for p in probs]).mean()


class LAClassifier:
    """Node classification with local augmentation; scikit-learn style around a torch model.

    ``model`` is called as ``model(x, edge_index, generated)`` and must say how many generated
    matrices it takes through a ``num_generated`` attribute (all :mod:`graphopt.augment` models
    do; a model without one gets none, i.e. a plain backbone). Sparse features reach the model as a
    torch sparse tensor only if it sets ``sparse_input = True`` (the built-in models do); any other
    model gets them dense. ``generator`` is a fitted
    :class:`NeighborCVAE` (``None`` for a plain backbone). Defaults are the paper's LA-GCN settings
    on Cora/CiteSeer except ``epochs`` (the reference runs 2000 with no early stop; ``patience``
    stops after that many epochs without a lower validation loss).

    ``pool_size`` trades freshness for speed on CPU: that many matrices are generated once per fit
    and each pass draws from them (``None``: every pass samples anew, as in the paper). A
    partitioned fit always samples anew, since each batch is a different node set.

    ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"``; None is the CPU) is where the model
    trains and predicts; features, edges and labels are moved there, and generated matrices are
    moved there from the generator's own device when the two differ. ``amp`` (``"bf16"``/``"fp16"``)
    runs the forward passes under autocast (losses in float32; fp16 with a gradient scaler).

    Fitted state: ``model_`` (best validation loss, on ``device``), ``generated_`` (its validation
    ``X̄``; for a partitioned fit ``generated_seed_`` regenerates it), ``best_epoch_``, ``history_``.
    """

    def __init__(self, model: nn.Module, generator: NeighborCVAE | None = None, *, num_samples: int = 4,
                 consistency: float = 1.0, temperature: float = 0.5, epochs: int = 2000, lr: float = 0.01,
                 weight_decay: float = 5e-4, patience: int | None = 200, pool_size: int | None = None,
                 normalize_features: bool = True, seed: int = 0, progress: bool = True,
                 device: str | torch.device | None = None, amp: Amp = None) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.num_generated = int(getattr(model, "num_generated", 0))
        if self.num_generated and generator is None:
            raise ValueError(f"model takes {self.num_generated} generated matrices but generator is None")
        if generator is not None and not isinstance(generator, NeighborCVAE):
            raise TypeError(f"generator must be a NeighborCVAE, got {type(generator).__name__}")
        for name, v in (("num_samples", num_samples), ("epochs", epochs)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        if consistency < 0:
            raise ValueError(f"consistency must be >= 0, got {consistency!r}")
        if patience is not None and patience < 1:
            raise ValueError(f"patience must be positive or None, got {patience!r}")
        if pool_size is not None and pool_size < max(1, self.num_generated):
            raise ValueError(f"pool_size must be at least num_generated={self.num_generated}, got {pool_size!r}")
        self.model, self.generator = model, generator
        self.num_samples, self.consistency, self.temperature = num_samples, consistency, temperature
        self.epochs, self.lr, self.weight_decay, self.patience = epochs, lr, weight_decay, patience
        self.pool_size, self.normalize_features = pool_size, normalize_features
        self.seed, self.progress = seed, progress
        self.device = resolve_device(device)
        check_amp(amp)
        self.amp = amp

    # ------------------------------------------------------------------ helpers
    def _inputs(self, graph: Graph) -> tuple[torch.Tensor, torch.Tensor]:
        x = feature_tensor(graph.x, self.normalize_features, getattr(self.model, "sparse_input", False))
        return to_device(x, self.device), to_device(torch.from_numpy(graph.edge_index()), self.device)

    def _generator(self, seed: int) -> torch.Generator:
        """Random stream for sampling ``X̄`` and drawing from the pool: on the CVAE's device."""
        return generator(seed, self.generator.device if self.generator is not None else self.device)

    def _optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        groups = model.param_groups(self.weight_decay) if hasattr(model, "param_groups") else None
        return adam(groups or model.parameters(), fused=False, lr=self.lr,
                    weight_decay=self.weight_decay)

    def _drawer(self, graph: Graph, gen: torch.Generator, pool: bool = True):
        """A function returning ``num_generated`` matrices for ``graph`` per call."""
        m = self.num_generated
        if m == 0:
            return lambda: []
        sampler, dev = self.generator.sampler(graph), self.device
        if self.pool_size is None or not pool:
            return lambda: [g.to(dev) for g in sampler.sample(m, gen)]
        pool = [g.to(dev) for g in sampler.sample(self.pool_size, gen)]
        return lambda: [pool[i] for i in torch.randperm(len(pool), generator=gen, device=gen.device)[:m].tolist()]

    def _step(self, passes: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, ei: torch.Tensor,
              y: torch.Tensor, train: torch.Tensor, draw, scaler=None) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step of the K passes (``passes``: a :class:`_Passes`, or DDP around one);
        returns the detached losses (read once per epoch: no device sync per step)."""
        passes.train()
        opt.zero_grad()
        with autocast(self.amp, self.device):
            outs = [F.log_softmax(o.float(), dim=1)
                    for o in passes(x, ei, [draw() for _ in range(self.num_samples)])]
        # a shape check (no device sync), for models that declare no out_channels
        check_logits(outs[0].shape[1], self.num_classes_, False, type(self.model).__name__)
        ce = torch.stack([F.nll_loss(o[train], y[train]) for o in outs]).mean()
        cons = consistency_loss(outs, self.temperature) if self.consistency and len(outs) > 1 else ce.new_zeros(())
        loss = ce + self.consistency * cons
        backward_step(loss, opt, scaler)
        return ce.detach(), cons.detach()

    def _forward(self, model: nn.Module, x: torch.Tensor, ei: torch.Tensor, generated: Sequence[torch.Tensor]
                 ) -> torch.Tensor:
        """Evaluation pass: float32 log-probabilities."""
        model.eval()
        with torch.no_grad(), autocast(self.amp, self.device):
            return F.log_softmax(model(x, ei, generated).float(), dim=1)

    def _labels(self, graph: Graph) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Labels and masks on the device, once the model is known to fit the graph."""
        for name in ("y", "train_mask", "val_mask"):
            if getattr(graph, name) is None:
                raise ValueError(f"LAClassifier.fit needs graph.{name} (validation loss selects the model)")
        check_model_fits(self.model, graph.num_features, graph.num_classes)
        self.num_classes_ = graph.num_classes
        return tuple(to_device(torch.from_numpy(a), self.device)
                     for a in (graph.y, graph.train_mask, graph.val_mask))

    # ------------------------------------------------------------------ fitting
    def fit(self, graph: Graph, partition: Any = None, parts_per_batch: int = 1) -> LAClassifier:
        """Train on ``graph`` full-batch, or over Cluster-GCN batches of ``partition``."""
        graph = require_features(graph, "LAClassifier.fit")
        y, train, val = self._labels(graph)
        if partition is not None:
            return self._fit_clustered(graph, partition, parts_per_batch, y, train, val)
        gen = self._generator(self.seed)
        x, ei = self._inputs(graph)
        with self._fork_rng():
            torch.manual_seed(self.seed)  # dropout and weight init repeat with the seed
            model = self._fresh_model()
            passes = _Passes(model)
            opt = self._optimizer(model)
            scaler = grad_scaler(self.amp, self.device)
            draw = self._drawer(graph, gen)

            def run_epoch():
                ce, cons = self._step(passes, opt, x, ei, y, train, draw, scaler)
                gen_val = draw()
                logp = self._forward(model, x, ei, gen_val)
                return (float(ce), float(cons), float(F.nll_loss(logp[val], y[val])),
                        float((logp[val].argmax(1) == y[val]).float().mean()), gen_val, float(ce))

            self.generated_ = self._select(model, run_epoch, "LA-GNN")
        self.graph_, self.partition_, self.comm_ = graph, None, None
        return self

    def _select(self, model: nn.Module, run_epoch, desc: str, show: bool = True) -> Any:
        """The epoch loop of every fit: keep the model with the lowest validation loss and return what
        ``run_epoch`` kept for that validation pass (its X̄, or the seed that regenerates it).
        ``run_epoch`` returns (train CE, consistency, validation loss, validation accuracy, kept,
        the CE of the epoch's first step); in a data-parallel fit these are over all ranks, so every
        rank decides alike (early stopping, and :class:`~graphopt.TrainingDiverged` against the
        run's first step). ``show=False`` (ranks but the first) shows no progress."""
        best, bad, best_state, kept, first = float("inf"), 0, None, None, None
        self.history_: list[dict[str, float]] = []
        with EpochLog(range(self.epochs), desc, logger=log, enabled=self.progress and show,
                      keys=("train_loss", "val_loss", "val_acc")) as bar:
            for epoch in bar:
                ce, cons, val_loss, val_acc, val_generated, first_step = run_epoch()
                first = first_step if first is None else first
                check_loss(ce, epoch, first, what="training loss")
                check_loss(val_loss, epoch, what="validation loss")
                row = {"epoch": epoch, "train_loss": ce, "consistency": cons, "val_loss": val_loss,
                       "val_acc": val_acc}
                self.history_.append(row)
                bar.update(epoch, row)
                if val_loss < best:
                    best, bad, best_state, kept = val_loss, 0, copy.deepcopy(model.state_dict()), val_generated
                    self.best_epoch_ = epoch
                else:
                    bad += 1
                    if self.patience is not None and bad >= self.patience:
                        break
        model.load_state_dict(best_state)
        model.eval()
        self.model_, self.best_val_loss_ = model, best
        return kept

    def _fresh_model(self) -> nn.Module:
        model = copy.deepcopy(self.model)
        for m in model.modules():
            if m is not model and hasattr(m, "reset_parameters"):
                m.reset_parameters()
        return model.to(self.device)

    def _fork_rng(self):
        """Seeding inside leaves the caller's global streams (CPU, and the chosen CUDA device) untouched."""
        return torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else [])

    def fit_distributed(self, graph: Any, partition: Any = None, parts_per_batch: int = 1) -> LAClassifier:
        """Data-parallel fit over this rank's parts; call it on every rank of an initialized
        ``torch.distributed`` group.

        ``graph`` is this rank's :class:`~graphopt.shards.Shard` (or the rank's own graph with a
        ``partition`` of it into the rank's parts). Each step every rank trains on one batch of
        ``parts_per_batch`` of its own parts, with ``X̄`` generated for that batch on the rank;
        ``DistributedDataParallel`` averages the gradients. Every rank takes the same number of
        steps per epoch (the largest rank's count of batches holding training nodes; the others
        revisit batches), and validation loss and accuracy are summed over all ranks, so model
        selection and early stopping agree everywhere. The generator must be identical on every
        rank (e.g. fitted with :meth:`NeighborCVAE.fit_distributed`, or loaded from one checkpoint).

        After it, :meth:`predict_proba` and :meth:`predict` answer for this rank's nodes, and
        :meth:`score` (called on every rank) is the accuracy over all ranks' nodes.
        """
        graph, partition = shard_parts(graph, partition)
        graph = require_features(graph, "LAClassifier.fit_distributed")
        comm = Comm(self.device, "LAClassifier.fit_distributed")
        weights = 0.0
        if self.generator is not None:
            self.generator._check_fitted()
            weights = float(sum(p.detach().double().sum() for p in self.generator.net_.parameters()))
        comm.same(f"{self._config_text()} parts_per_batch={parts_per_batch} features={graph.num_features} "
                  f"classes={graph.num_classes} generator={weights!r}",
                  "the classifier's configuration, the data's shape or the generator's weights")
        y, train, val = self._labels(graph)
        return self._fit_clustered(graph, partition, parts_per_batch, y, train, val, comm)

    def _config_text(self) -> str:
        keys = ("num_generated", "num_samples", "consistency", "temperature", "epochs", "lr", "weight_decay",
                "patience", "pool_size", "normalize_features", "seed", "amp")
        return " ".join(f"{k}={getattr(self, k)!r}" for k in keys) + f" model={type(self.model).__name__}"

    def _fit_clustered(self, graph: Graph, partition: Any, parts_per_batch: int, y: torch.Tensor,
                       train: torch.Tensor, val: torch.Tensor, comm: Comm | None = None) -> LAClassifier:
        if partition.graph.num_nodes != graph.num_nodes:
            raise ValueError(f"partition covers {partition.graph.num_nodes} nodes, graph has {graph.num_nodes}")
        if not isinstance(parts_per_batch, int) or not 1 <= parts_per_batch <= partition.num_parts:
            raise ValueError(f"parts_per_batch must be in [1, {partition.num_parts}], got {parts_per_batch!r}")
        rank = 0 if comm is None else comm.rank
        gen = self._generator(self.seed + rank)
        rng = np.random.default_rng(self.seed + rank)
        self.partition_, self.parts_per_batch_, self.graph_, self.comm_ = partition, parts_per_batch, graph, comm
        part_nodes = partition.parts()
        labelled = np.array([bool(graph.train_mask[nodes].any()) for nodes in part_nodes])
        if comm is not None and comm.min(int(labelled.any())) == 0:
            raise ValueError(f"a rank has no training node (rank {rank} has {int(graph.train_mask.sum())}): "
                             "every rank needs labelled nodes in its parts")
        with self._fork_rng():
            torch.manual_seed(self.seed)  # the same initial weights on every rank
            model = self._fresh_model()
            passes = _Passes(model) if comm is None else comm.wrap(_Passes(model))
            opt = self._optimizer(model)
            scaler = grad_scaler(self.amp, self.device)
            if rank:
                torch.manual_seed(self.seed + rank)  # but each rank its own dropout masks

            def run_epoch():
                order = rng.permutation(partition.num_parts)
                groups = [order[s:s + parts_per_batch] for s in range(0, partition.num_parts, parts_per_batch)]
                groups = [grp for grp in groups if labelled[grp].any()]
                steps = len(groups) if comm is None else comm.max(len(groups))
                ces, conss = [], []
                for i in range(steps):
                    ids = partition.nodes_of(groups[i % len(groups)])  # in graph (node_map would be root ids)
                    sub, nodes = graph.subgraph(ids), to_device(torch.from_numpy(ids), self.device)
                    x, ei = self._inputs(sub)
                    ce, cons = self._step(passes, opt, x, ei, y[nodes], train[nodes], self._drawer(sub, gen, False),
                                          scaler)
                    ces.append(ce)
                    conss.append(cons)
                val_seed = int(torch.randint(2**62, (1,), generator=gen, device=gen.device))
                logp = self._predict_clustered(model, val_seed)
                nll = F.nll_loss(logp[val], y[val], reduction="sum")
                stats = torch.stack([torch.stack(ces).sum(), torch.stack(conss).sum(), nll,
                                     (logp[val].argmax(1) == y[val]).sum(), ces[0]]).double()
                counts = [float(steps), float(val.sum()), 1.0]
                if comm is not None:
                    stats, counts = comm.sum_tensor(stats), comm.sum(counts)
                ce_sum, cons_sum, nll_sum, correct, first_sum = stats.tolist()
                return (ce_sum / counts[0], cons_sum / counts[0], nll_sum / max(counts[1], 1),
                        correct / max(counts[1], 1), val_seed, first_sum / counts[2])

            desc = "LA-GNN (clusters)" if comm is None else f"LA-GNN x{comm.world}"
            # the numbers are over all ranks: the first one shows them
            self.generated_seed_ = self._select(model, run_epoch, desc, show=rank == 0)
        return self

    def _predict_clustered(self, model: nn.Module, seed: int) -> torch.Tensor:
        """Log-probabilities for every node, batch by batch over a fixed grouping of parts."""
        p, q = self.partition_, self.parts_per_batch_
        gen = self._generator(seed)
        out = torch.empty(self.graph_.num_nodes, self.graph_.num_classes, device=self.device)
        for start in range(0, p.num_parts, q):
            ids = p.nodes_of(np.arange(start, min(start + q, p.num_parts)))
            sub = self.graph_.subgraph(ids)
            x, ei = self._inputs(sub)
            out[to_device(torch.from_numpy(ids), self.device)] = \
                self._forward(model, x, ei, self._drawer(sub, gen, False)())
        return out

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise RuntimeError("LAClassifier is not fitted: call fit(graph) first")

    def predict_proba(self, graph: Graph | None = None, seed: int = 0) -> torch.Tensor:
        """Class probabilities for every node of the fitted graph (with the kept validation ``X̄``) or,
        for another graph, with ``X̄`` freshly sampled from ``seed``; a tensor on ``device``."""
        self._check_fitted()
        if graph is None and self.partition_ is not None:
            return self._predict_clustered(self.model_, self.generated_seed_).exp()
        g = self.graph_ if graph is None else graph
        g = require_features(g, "LAClassifier.predict_proba")
        x, ei = self._inputs(g)
        generated = (self.generated_ if graph is None else self._drawer(g, self._generator(seed))())
        return self._forward(self.model_, x, ei, generated).exp()

    def predict(self, graph: Graph | None = None, seed: int = 0) -> np.ndarray:
        """Predicted class per node (see :meth:`predict_proba`), as a numpy array."""
        return self.predict_proba(graph, seed).argmax(1).cpu().numpy()

    def score(self, graph: Graph | None = None, mask: str = "test_mask", seed: int = 0) -> float:
        """Accuracy on the nodes of ``mask`` (a mask attribute name of the graph); after
        :meth:`fit_distributed` and without ``graph``, over every rank's nodes (call it on every rank)."""
        g = self.graph_ if graph is None else graph
        m = getattr(g, mask, None) if isinstance(mask, str) else None
        if m is None:
            raise ValueError(f"mask must name a boolean mask the graph has, got {mask!r}")
        correct, count = float((self.predict(graph, seed)[m] == g.y[m]).sum()), float(m.sum())
        if graph is None and getattr(self, "comm_", None) is not None:
            correct, count = self.comm_.sum([correct, count])  # every rank's nodes
        return correct / max(count, 1.0)
