"""Random vs METIS partitions for Cluster-GCN (paper Table 2), Cora and CiteSeer, one cluster per batch.

Usage: ``PYTHONPATH=. python benchmarks/bench_cluster_gcn_partition.py [--seeds 10] [--epochs 60]
[--datasets cora citeseer] [--methods random metis]``. Each seed draws a new partition (METIS seed /
random permutation) and a new model initialisation. Runs of a subset (e.g. in parallel processes)
are merged into ``benchmarks/bench_cluster_gcn_partition.json``; the table covers all stored runs.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from graphopt import Partition
from graphopt.cluster_gcn import ClusterGCN, fit
from graphopt._io import write_atomic
from graphopt.datasets import load

PAPER = {"cora": (78.4, 82.5), "citeseer": (None, None)}  # Table 2: random, clustering (F1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--parts", type=int, default=10)
    ap.add_argument("--datasets", nargs="+", default=["cora", "citeseer"])
    ap.add_argument("--methods", nargs="+", default=["random", "metis"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(__file__).with_suffix(".json")
    raw = json.loads(out.read_text())["results"] if out.exists() else {}
    t_start = time.perf_counter()
    for name in args.datasets:
        g = load(name)
        for method in args.methods:
            accs, cuts = [], []
            for seed in range(args.seeds):
                part = (Partition.metis(g, args.parts, seed=seed) if method == "metis"
                        else Partition.random(g, args.parts, seed=seed))
                cuts.append(part.edge_cut() / g.num_edges)
                torch.manual_seed(seed)
                model = ClusterGCN(g.num_features, 64, g.num_classes, num_layers=2, dropout=0.5)
                hist = fit(model, g, part, clusters_per_batch=1, epochs=args.epochs, weight_decay=5e-4,
                           eval_every=10, patience=3, seed=seed, progress=False)
                accs.append(100 * hist.final["test"])
            raw[f"{name}/{method}"] = {"test_acc": accs, "cut_fraction": cuts}
            fresh = json.loads(out.read_text())["results"] if out.exists() else {}
            raw = fresh | {f"{name}/{method}": raw[f"{name}/{method}"]}
            result = {"args": vars(args), "results": raw}
            write_atomic(out, lambda f: json.dump(result, f, indent=1), mode="w")
    rows = []
    for key in sorted(raw, key=lambda k: (k.split("/")[0] != "cora", k)):
        name, method = key.split("/")
        accs, cuts = raw[key]["test_acc"], raw[key]["cut_fraction"]
        paper = PAPER[name][0 if method == "random" else 1]
        rows.append((name, method, f"{np.mean(cuts):.3f}", f"{np.mean(accs):.1f} ± {np.std(accs):.1f}",
                     "-" if paper is None else f"{paper}"))
    print(f"| dataset | partition | edge-cut fraction | test accuracy (%), {args.seeds} seeds | paper (F1 %) |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print(f"\n{args.parts} parts, 1 cluster per batch, 2 layers, hidden 64, dropout 0.5, wd 5e-4, "
          f"<= {args.epochs} epochs (validation every 10 epochs, best-validation weights, patience 3 evaluations); "
          f"{time.perf_counter() - t_start:.0f}s total")


if __name__ == "__main__":
    main()
