"""Cluster-GCN on Cora (Chiang et al., KDD 2019): the paper's GCN, then a PyG conv stack, on METIS batches.

Run: ``PYTHONPATH=. python examples/cluster_gcn.py`` (reads Cora from $GRAPHOPT_DATA or downloads it).
"""

import torch
from torch_geometric.nn import SAGEConv

from graphopt import Partition
from graphopt.cluster_gcn import ClusterGCN, ClusterLoader, ConvStack, fit
from graphopt.datasets import load

torch.set_num_threads(1)
g = load("cora")

# The library API in five lines: partition, model, fit.
part = Partition.metis(g, 10, seed=0)
torch.manual_seed(0)
model = ClusterGCN(g.num_features, 64, g.num_classes, num_layers=3, dropout=0.5)
hist = fit(model, g, part, clusters_per_batch=5, epochs=40, weight_decay=5e-4,
           normalization="diag_enhanced", diag_lambda=1.0, eval_every=2, patience=5)
print(f"ClusterGCN: best epoch {hist.best_epoch}, test accuracy {hist.final['test']:.3f}")

# Batches as PyG Data: any conv layer trains on them.
batch = next(iter(ClusterLoader(part, clusters_per_batch=5)))
print(batch.to_pyg())
sage = ConvStack([SAGEConv(g.num_features, 64), SAGEConv(64, g.num_classes)], dropout=0.5)
hist = fit(sage, g, part, clusters_per_batch=5, epochs=30, weight_decay=5e-4, eval_every=2)
print(f"SAGEConv stack: test accuracy {hist.final['test']:.3f}")
