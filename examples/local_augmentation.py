"""Local augmentation (LA-GNN, Liu et al., ICML 2022) on Cora: pre-train the neighbour CVAE once,
then train a plain GCN and LA-GCN side by side, and wrap a PyG GraphSAGE model into its LA version.

    PYTHONPATH=. GRAPHOPT_DATA=/work/shared/datasets python examples/local_augmentation.py
"""

import torch
import torch.nn.functional as F
from torch_geometric.nn import SAGEConv

from graphopt.augment import LAGCN, LAClassifier, LocalAugmentation, NeighborCVAE
from graphopt.datasets import load_planetoid


class SAGE(torch.nn.Module):
    """A user's model, written with no knowledge of local augmentation."""

    def __init__(self, f: int, hidden: int, c: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = SAGEConv(f, hidden), SAGEConv(hidden, c)

    def forward(self, x, edge_index):
        x = F.dropout(x, 0.5, self.training)
        return self.conv2(F.dropout(F.relu(self.conv1(x, edge_index)), 0.5, self.training), edge_index)


def main() -> None:
    torch.set_num_threads(1)  # small dense models: extra threads mostly wait on a shared machine
    g = load_planetoid("cora")
    # One generator for every run, as in the paper; fit(g, partition) trains it on Cluster-GCN batches instead.
    cvae = NeighborCVAE(epochs=10, seed=0).fit(g)
    xbar = cvae.sample(g, 1, seed=0)[0]
    print(f"generated X̄: {tuple(xbar.shape)}, rows sum to {xbar.sum(1).mean():.3f}")

    common = dict(epochs=300, patience=100, pool_size=16, seed=0)
    gcn = LAClassifier(LAGCN(g.num_features, 16, g.num_classes, num_generated=0),
                       num_samples=1, consistency=0.0, **common).fit(g)
    la = LAClassifier(LAGCN(g.num_features, 16, g.num_classes, num_generated=1), cvae, **common).fit(g)
    sage = LAClassifier(LocalAugmentation(SAGE(g.num_features, 16, g.num_classes), dropout=0.5), cvae,
                        **common).fit(g)
    print(f"test accuracy  GCN {gcn.score():.3f}  LA-GCN {la.score():.3f}  LA-SAGE {sage.score():.3f}")


if __name__ == "__main__":
    main()
