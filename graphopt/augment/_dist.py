"""The few collectives LA-GNN's data-parallel fits need, over torch.distributed's default process group.

Whoever starts the ranks (torchrun, or graphopt's spawn helper) initializes the group; the fits only
use it: ``DistributedDataParallel`` for gradients, and small all-reduces of counters so that every
rank takes the same number of steps and the same early-stopping decisions.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["Comm", "shard_parts"]


class Comm:
    """Rank, world size and reductions of the default process group, for tensors on ``device``."""

    def __init__(self, device: torch.device, who: str) -> None:
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError(f"{who} runs on every rank of a torch.distributed process group, and none is "
                               "initialized: start the ranks with torchrun (or graphopt's spawn helper), or "
                               "call the single-process fit")
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.device = device
        # gloo reduces host tensors, nccl device tensors
        self.wire = device if dist.get_backend() == "nccl" else torch.device("cpu")

    def sum(self, values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=self.wire)
        dist.all_reduce(t)
        return t.tolist()

    def max(self, value: int) -> int:
        t = torch.tensor([value], dtype=torch.int64, device=self.wire)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return int(t.item())

    def min(self, value: int) -> int:
        return -self.max(-value)

    def sum_tensor(self, t: torch.Tensor) -> torch.Tensor:
        out = t.detach().to(self.wire, torch.float64).clone()
        dist.all_reduce(out)
        return out.to(t.device)

    def same(self, text: str, what: str) -> None:
        """Every rank must pass the same ``text`` (its configuration): one that differs would train
        another model or take another number of steps, and the others would wait for it forever."""
        h = int.from_bytes(hashlib.sha256(text.encode()).digest()[:7], "big")
        if self.min(h) != self.max(h):
            raise ValueError(f"{what} differs across ranks (rank {self.rank}: {text}); every rank must "
                             "be started with the same settings")

    def wrap(self, module: nn.Module) -> nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)


def shard_parts(graph: Any, partition: Any) -> tuple[Any, Any]:
    """``(graph, partition)`` of this rank: a :class:`graphopt.shards.Shard` gives its own subgraph
    and the partition of it into the rank's parts; otherwise both are taken as given."""
    if partition is None and hasattr(graph, "graph") and hasattr(graph, "partition"):
        return graph.graph, graph.partition
    if partition is None:
        raise ValueError("a data-parallel fit needs this rank's parts: pass a Shard, or the rank's graph "
                         "and a Partition of it")
    return graph, partition
