"""Local augmentation for GNNs, LA-GNN (Liu et al., "Local Augmentation for Graph Neural Networks", ICML 2022).

- :class:`NeighborCVAE`: the conditional VAE that learns ``p(x_neighbour | x_centre)`` over the edges.
- :class:`LAGCN`, :class:`LAGAT`, :class:`LAGCNII`: backbones with the concatenation design;
  :class:`AveragedInput` the averaging design; :class:`LocalAugmentation` wraps a user's PyG model.
- :class:`LAClassifier`: K-pass training with the consistency loss and validation-loss model selection,
  full-batch or over Cluster-GCN batches of a :class:`~graphopt.Partition`.

All of them take ``device=`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"``) and the estimators ``amp=``.
"""

from .._device import resolve_device
from .._training import TrainingDiverged
from .cvae import FeatureSampler, NeighborCVAE, isolated_nodes
from .models import GCNIILayer, LAGAT, LAGCN, LAGCNII, AveragedInput, LocalAugmentation
from .train import LAClassifier, consistency_loss

__all__ = ["NeighborCVAE", "FeatureSampler", "isolated_nodes", "LAGCN", "LAGAT", "LAGCNII", "GCNIILayer",
           "AveragedInput", "LocalAugmentation", "LAClassifier", "consistency_loss", "resolve_device",
           "TrainingDiverged"]
