"""Multi-label Cluster-GCN on BlogCatalog (39 labels, micro-F1) against an MLP on the same features.

Usage: ``PYTHONPATH=. python benchmarks/bench_cluster_gcn_multilabel.py [--seeds 3] [--epochs 60]``.
BlogCatalog has no node features: both models get 64 spectral features
(:func:`graphopt.cluster_gcn.spectral_features`). Split: 60/20/20 per seed (``load_blogcatalog``).
PPI itself is not available offline; this is the multi-label substitute.
Writes ``benchmarks/bench_cluster_gcn_multilabel.json``.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from graphopt import Partition
from graphopt.cluster_gcn import ClusterGCN, fit, spectral_features
from graphopt._io import write_atomic
from graphopt.datasets import load_blogcatalog


def micro_f1(logits: torch.Tensor, y: torch.Tensor) -> float:
    pred, true = logits > 0, y > 0
    tp = int((pred & true).sum())
    return 2 * tp / (2 * tp + int((pred & ~true).sum()) + int((~pred & true).sum()))


def mlp(g, seed: int, epochs: int) -> float:
    """Two-layer MLP, full batch, best validation epoch's test micro-F1."""
    torch.manual_seed(seed)
    x, y = torch.from_numpy(g.x), torch.from_numpy(g.y).float()
    tr, va, te = (torch.from_numpy(m) for m in (g.train_mask, g.val_mask, g.test_mask))
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 128), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                              torch.nn.Linear(128, y.shape[1]))
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    best = (-1.0, 0.0)
    for _ in range(epochs * 5):
        net.train()
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(net(x[tr]), y[tr]).backward()
        opt.step()
        net.eval()
        with torch.no_grad():
            out = net(x)
        best = max(best, (micro_f1(out[va], y[va]), micro_f1(out[te], y[te])))
    return best[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--parts", type=int, default=50)
    ap.add_argument("--clusters-per-batch", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)
    res = {"cluster-gcn": [], "mlp": []}
    for seed in range(args.seeds):
        g = load_blogcatalog(split_seed=seed)
        g = g.replace(x=spectral_features(g, 64, seed=0))
        part = Partition.metis(g, args.parts, seed=seed)
        torch.manual_seed(seed)
        model = ClusterGCN(64, 128, g.num_classes, num_layers=2, dropout=0.2)
        hist = fit(model, g, part, clusters_per_batch=args.clusters_per_batch, epochs=args.epochs,
                   eval_every=5, seed=seed, progress=False)
        res["cluster-gcn"].append(100 * hist.final["test"])
        res["mlp"].append(100 * mlp(g, seed, args.epochs))
        print(seed, res["cluster-gcn"][-1], res["mlp"][-1], flush=True)
    print(f"\n| BlogCatalog, 64 spectral features | test micro-F1 (%), {args.seeds} seeds |")
    print("|---|---:|")
    print(f"| Cluster-GCN (2 layers, {args.parts} METIS parts, q={args.clusters_per_batch}) | "
          f"{np.mean(res['cluster-gcn']):.1f} ± {np.std(res['cluster-gcn']):.1f} |")
    print(f"| MLP (2 layers, full batch) | {np.mean(res['mlp']):.1f} ± {np.std(res['mlp']):.1f} |")
    out = Path(__file__).with_suffix(".json")
    result = {"args": vars(args), "test_micro_f1": res}
    write_atomic(out, lambda f: json.dump(result, f, indent=1), mode="w")


if __name__ == "__main__":
    main()
