"""One entry point for every decentralized method of :mod:`graphopt.gossip` (DADAO, Nabli &
Oyallon, ICML 2023, and its baselines), by name, for scripts, the CLI and benchmarks."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Sequence

from graphopt.gossip.baselines import (DGD, MSDA, ADOMPlus, Continuized, RandomizedGossip,
                                       SynchronousGossip)
from graphopt.gossip.dadao import DADAO
from graphopt.gossip.simulator import GossipMethod, History
from graphopt.graph import Graph

__all__ = ["METHODS", "make_method", "run"]

METHODS: dict[str, Callable[..., GossipMethod]] = {
    "dadao": DADAO,
    "continuized": Continuized,
    "msda": MSDA,
    "adom+": ADOMPlus,
    "adom+mc": partial(ADOMPlus, multi_consensus=True),
    "dgd": DGD,
    "dpsgd": partial(DGD, batch_size=1),
    "randomized_gossip": RandomizedGossip,
    "synchronous_gossip": SynchronousGossip,
}


def make_method(name: str, **options: Any) -> GossipMethod:
    """The method registered as ``name``, built with its hyperparameters ``options``."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {sorted(METHODS)}")
    return METHODS[name](**options)


def run(method: str | GossipMethod, problem, graph: Graph | Sequence[Graph], *,
        options: dict[str, Any] | None = None, **fit_kwargs: Any) -> History:
    """Run ``method`` (a name or a method object) on ``problem`` over ``graph``; return its
    :class:`~graphopt.gossip.simulator.History`. ``fit_kwargs`` are the budgets of ``fit``."""
    if isinstance(method, str):
        method = make_method(method, **(options or {}))
    elif options:
        raise ValueError("options only apply when method is given by name")
    return method.fit(problem, graph, **fit_kwargs).history_
