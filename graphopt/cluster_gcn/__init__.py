"""Cluster-GCN (Chiang et al., "Cluster-GCN: An Efficient Algorithm for Training Deep and Large
Graph Convolutional Networks", KDD 2019): METIS-partitioned mini-batch training of deep GCNs.

Five lines (the README runs the same on Cora)::

    from graphopt import Partition
    from graphopt.cluster_gcn import ClusterGCN, fit
    from graphopt.datasets import load_planetoid
    g = load_planetoid("cora")                      # any Graph with x, y and masks
    part = Partition.metis(g, 10, seed=0)          # p parts; batches of q parts
    model = ClusterGCN(g.num_features, 128, g.num_classes, num_layers=3)
    hist = fit(model, g, part, clusters_per_batch=2, epochs=20)

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
