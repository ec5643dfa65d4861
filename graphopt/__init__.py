"""graphopt: learning and optimizing on graphs.

One :class:`Graph` and one :class:`Partition`, and four capabilities built on them:
Cluster-GCN (``graphopt.cluster_gcn``), local augmentation (``graphopt.augment``),
DADAO and gossip (``graphopt.gossip``) and convex ReLU training (``graphopt.convex``).
"""

from ._training import TrainingDiverged
from .graph import Graph
from .partition import Partition

__version__ = "0.1.0"
__all__ = ["Graph", "Partition", "TrainingDiverged", "__version__"]
