"""Cluster-GCN (Chiang et al., "Cluster-GCN: An Efficient Algorithm for Training Deep and Large
Graph Convolutional Networks", KDD 2019): METIS-partitioned mini-batch training of deep GCNs.

Five lines::

    from graphopt import Partition
    from graphopt.cluster_gcn import ClusterGCN, fit
    part = Partition.metis(g, 1500)
    model = ClusterGCN(g.num_features, 128, g.num_classes, num_layers=3)
    hist = fit(model, g, part, clusters_per_batch=20, epochs=50)

Data (:mod:`.loader`: batches and normalizations), ``nn`` modules (:mod:`.model`) and the training
loop (:mod:`.train`) are separate, as in PyG. :mod:`.distributed` trains data-parallel over
torch.distributed, each rank on its own shard (:mod:`graphopt.shards`); import it explicitly.
"""

from .._training import TrainingDiverged
from .loader import ClusterBatch, ClusterLoader
from .model import ClusterGCN, ClusterGCNLayer, ConvStack, precalc_features, spectral_features
from .train import (History, evaluate, fit, forward_batch, peak_memory_mb, predict, resolve_device,
                    training_subgraph)

__all__ = ["ClusterBatch", "ClusterLoader", "ClusterGCN",
           "ClusterGCNLayer", "ConvStack", "precalc_features", "spectral_features", "History",
           "evaluate", "fit", "forward_batch", "peak_memory_mb", "predict", "resolve_device",
           "training_subgraph", "TrainingDiverged"]
