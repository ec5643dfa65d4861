"""Cluster-GCN vs full-batch GCN (PyG ``GCNConv``) on Coauthor-Physics, same split, same model.

Usage: ``PYTHONPATH=. python benchmarks/bench_cluster_gcn_fullbatch.py [--seeds 3] [--epochs 100]``.
Both runs train the same 2-layer ``GCNConv`` stack with the same optimizer; full-batch is the
special case of one part holding the whole graph. Sparse features are passed to ``GCNConv`` as a
sparse tensor. Split: 20 train / 30 validation per class, the rest test (Shchur et al.).
Writes ``benchmarks/bench_cluster_gcn_fullbatch.json`` (one entry per parts/q setting).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch_geometric.nn import GCNConv

from graphopt import Partition
from graphopt.cluster_gcn import ConvStack, fit
from graphopt._io import write_atomic
from graphopt.datasets import load


def run(g, part, q, seed, epochs):
    torch.manual_seed(seed)
    model = ConvStack([GCNConv(g.num_features, 64), GCNConv(64, g.num_classes)], dropout=0.5)
    t0 = time.perf_counter()
    hist = fit(model, g, part, clusters_per_batch=q, epochs=epochs, lr=0.01, weight_decay=5e-4,
               eval_every=5, patience=4, seed=seed, sparse_features=True, progress=False)
    train_s = sum(r["time"] for r in hist.epochs)
    return 100 * hist.final["test"], train_s / len(hist.epochs), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="coauthor-physics")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--parts", type=int, default=40)
    ap.add_argument("--clusters-per-batch", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)
    g = load(args.dataset)
    whole = Partition.from_assignment(g, np.zeros(g.num_nodes, dtype=np.int64), 1)
    res = {"cluster": [], "full": []}
    for seed in range(args.seeds):
        part = Partition.metis(g, args.parts, seed=seed)
        res["cluster"].append(run(g, part, args.clusters_per_batch, seed, args.epochs))
        res["full"].append(run(g, whole, 1, seed, args.epochs))
        print(seed, res["cluster"][-1], res["full"][-1], flush=True)
    acc = {k: np.array([r[0] for r in v]) for k, v in res.items()}
    ep = {k: np.mean([r[1] for r in v]) for k, v in res.items()}
    print(f"\n| {args.dataset} ({g.num_nodes} nodes) | test accuracy (%), {args.seeds} seeds | "
          f"train time / epoch (s) |")
    print("|---|---:|---:|")
    print(f"| Cluster-GCN ({args.parts} METIS parts, q={args.clusters_per_batch}) | "
          f"{acc['cluster'].mean():.1f} ± {acc['cluster'].std():.1f} | {ep['cluster']:.2f} |")
    print(f"| full-batch GCN | {acc['full'].mean():.1f} ± {acc['full'].std():.1f} | {ep['full']:.2f} |")
    gap = acc["full"].mean() - acc["cluster"].mean()
    print(f"\ngap (full − Cluster-GCN): {gap:.2f} points; goal: within 1 point -> "
          f"{'met' if abs(gap) <= 1 else 'NOT met'}")
    out = Path(__file__).with_suffix(".json")
    run_key = f"p={args.parts},q={args.clusters_per_batch}"
    stored = json.loads(out.read_text()) if out.exists() else {}
    stored = stored if "args" not in stored else {"p=40,q=10": stored}  # first format: one run
    result = stored | {run_key: {"args": vars(args), "test_acc": {k: v.tolist() for k, v in acc.items()},
                                 "epoch_s": ep, "gap": gap}}
    write_atomic(out, lambda f: json.dump(result, f, indent=1), mode="w")


if __name__ == "__main__":
    main()
