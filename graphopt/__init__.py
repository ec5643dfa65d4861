"""graphopt: learning and optimizing on graphs.

One :class:`Graph` and one :class:`Partition`, and four capabilities built on them:
Cluster-GCN (``graphopt.cluster_gcn``), local augmentation (``graphopt.augment``),
DADAO and gossip (``graphopt.gossip``) and convex ReLU training (``graphopt.convex``).

``Graph`` and ``Partition`` are imported on first use (PEP 562), so ``import graphopt`` and the
command line's ``--help`` do not pay for NumPy and SciPy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Graph", "Partition", "TrainingDiverged", "__version__"]

# public name -> module that defines it
_LAZY = {"Graph": ".graph", "Partition": ".partition", "TrainingDiverged": "._training"}

if TYPE_CHECKING:  # for type checkers and IDEs, which do not run __getattr__
    from .graph import Graph
    from ._training import TrainingDiverged
    from .partition import Partition


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
