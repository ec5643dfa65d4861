"""Deeper Cluster-GCNs on Coauthor-CS, with and without diagonal enhancement (paper Section 4 / Table 11).

Usage: ``PYTHONPATH=. python benchmarks/bench_cluster_gcn_depth.py [--layers 2 4 6 8] [--epochs 40]``.
The paper's model (concat, LayerNorm) with the random-walk normalization ``(D+I)^-1(A+I)`` (eq. 10)
against diagonal enhancement ``Ã + λ diag(Ã)`` (eq. 11, λ = 1). For CPU time the 6805 bag-of-words
features are reduced to 128 by a truncated SVD (same reduction for every run).
Writes ``benchmarks/bench_cluster_gcn_depth.json``.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy.sparse.linalg import svds

from graphopt import Partition
from graphopt.cluster_gcn import ClusterGCN, fit
from graphopt._io import write_atomic
from graphopt.datasets import load


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, nargs="+", default=[2, 4, 6, 8])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--parts", type=int, default=50)
    ap.add_argument("--clusters-per-batch", type=int, default=10)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--no-layer-norm", action="store_true",
                    help="drop the layers' LayerNorm (it may let the plain normalization train deep models too)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    g = load("coauthor-cs", train_per_class=20, val_per_class=30)
    u, s, _ = svds(g.x.astype(np.float64), k=128, random_state=0)
    g = g.replace(x=(u * s).astype(np.float32))
    out = Path(__file__).with_suffix(".json")
    stored = json.loads(out.read_text()) if out.exists() else {}
    results = {}
    for norm in ("rw", "diag_enhanced"):
        for depth in args.layers:
            accs, losses = [], []
            for seed in range(args.seeds):
                part = Partition.metis(g, args.parts, seed=seed)
                torch.manual_seed(seed)
                model = ClusterGCN(g.num_features, 128, g.num_classes, depth, dropout=0.2,
                                   layer_norm=not args.no_layer_norm)
                hist = fit(model, g, part, clusters_per_batch=args.clusters_per_batch, epochs=args.epochs,
                           lr=args.lr, normalization=norm, diag_lambda=1.0, eval_every=5, seed=seed,
                           progress=False)
                accs.append(100 * hist.final["test"])
                losses.append(hist.epochs[-1]["loss"])
            results[f"{norm}/{depth}"] = {"test_acc": accs, "final_train_loss": losses}
            print(norm, depth, accs, losses, flush=True)
    names = {"rw": "(D+I)^-1(A+I)", "diag_enhanced": "diag. enhanced, λ=1"}
    print(f"\nlr {args.lr}, {args.epochs} epochs, {args.seeds} seed(s), LayerNorm {not args.no_layer_norm}")
    print("| normalization | " + " | ".join(f"{d} layers" for d in args.layers) + " |")
    print("|---|" + "---:|" * len(args.layers))
    for norm in ("rw", "diag_enhanced"):
        cells = []
        for d in args.layers:
            r = results[f"{norm}/{d}"]
            cells.append(f"{np.mean(r['test_acc']):.1f} (loss {np.mean(r['final_train_loss']):.2f})")
        print(f"| {names[norm]} | " + " | ".join(cells) + " |")
    key = f"lr={args.lr}" + (", no LayerNorm" if args.no_layer_norm else "")
    result = stored | {key: {"args": vars(args), "results": results}}
    write_atomic(out, lambda f: json.dump(result, f, indent=1), mode="w")


if __name__ == "__main__":
    main()
