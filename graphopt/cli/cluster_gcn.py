"""``graphopt cluster-gcn``: train Cluster-GCN (Chiang et al., KDD 2019) on a dataset, report metrics."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import torch

from . import CLIError
from ..cluster_gcn import ClusterGCN, fit, spectral_features, training_subgraph
from ..graph import NORMALIZATIONS
from ..datasets import dataset_format, list_datasets, load
from ..partition import Partition

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    if args.threads is not None:
        if args.threads < 1:
            raise CLIError(f"--threads must be positive, got {args.threads}")
        torch.set_num_threads(args.threads)
    if dataset_format(args.dataset) in ("libsvm", "idx"):
        raise CLIError(f"dataset {args.dataset!r} holds feature vectors, not a graph")
    g = load(args.dataset, args.root)
    if g.x is None:
        if not args.structural_features:
            raise CLIError(f"dataset {args.dataset!r} has no node features; "
                           "pass --structural-features K to use K spectral features")
        g = g.replace(x=spectral_features(g, args.structural_features, args.seed))
    if g.train_mask is None:
        raise CLIError(f"dataset {args.dataset!r} has no train/val/test split")
    inductive = args.inductive or dataset_format(args.dataset) == "graphsage"
    train_graph = training_subgraph(g) if inductive else g
    t0 = time.perf_counter()
    if args.partition == "metis":
        part = Partition.metis(train_graph, args.parts, seed=args.seed)
    else:
        part = Partition.random(train_graph, args.parts, seed=args.seed)
    print(f"{g.name or args.dataset}: {g.num_nodes} nodes, {g.num_edges} edges; "
          f"{args.partition} into {args.parts} parts of the {'training' if inductive else 'full'} "
          f"graph in {time.perf_counter() - t0:.2f}s")
    torch.manual_seed(args.seed)
    model = ClusterGCN(g.num_features, args.hidden, g.num_classes, args.layers, dropout=args.dropout,
                       layer_norm=not args.no_layer_norm, precalc=args.precalc)
    hist = fit(model, g, part, clusters_per_batch=args.clusters_per_batch, epochs=args.epochs,
               lr=args.lr, weight_decay=args.weight_decay, normalization=args.normalization,
               diag_lambda=args.diag_lambda, eval_every=args.eval_every, patience=args.patience,
               checkpoint=args.checkpoint, resume=args.resume, seed=args.seed,
               num_workers=args.workers, device=args.device, amp=args.amp, progress=not args.quiet)
    metric = "micro-F1" if g.is_multilabel else "accuracy"
    if not args.quiet:
        for row in hist.epochs:
            print("  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    print(f"best epoch {hist.best_epoch}; {metric}: "
          + ", ".join(f"{k} {v:.4f}" for k, v in hist.final.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": {k: v for k, v in vars(args).items() if k != "func"},
                       "final": hist.final, "best_epoch": hist.best_epoch, "epochs": hist.epochs}, f)
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("cluster-gcn", help="train Cluster-GCN (METIS-partitioned mini-batches)",
                       description="Train the Cluster-GCN model; known graph datasets: "
                                   + ", ".join(list_datasets()) + ", or a GraphSAGE folder / prefix "
                                   "(trained inductively).")
    p.add_argument("--dataset", required=True, help="dataset name, or a GraphSAGE folder / prefix")
    p.add_argument("--root", help="data root (default: $GRAPHOPT_DATA, then datasets/)")
    p.add_argument("--parts", type=int, required=True, help="number of partitions p")
    p.add_argument("--clusters-per-batch", type=int, default=1, help="parts per batch q")
    p.add_argument("--partition", choices=("metis", "random"), default="metis")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--normalization", choices=NORMALIZATIONS, default="rw")
    p.add_argument("--diag-lambda", type=float, default=1.0,
                   help="λ of diagonal enhancement (used with --normalization diag_enhanced)")
    p.add_argument("--precalc", action="store_true", help="precompute the first layer's [AX ‖ X]")
    p.add_argument("--no-layer-norm", action="store_true")
    p.add_argument("--inductive", action="store_true",
                   help="partition and train on the training subgraph only (automatic for GraphSAGE data)")
    p.add_argument("--structural-features", type=int, metavar="K",
                   help="K spectral features for a dataset without node features")
    p.add_argument("--eval-every", type=int, default=1)
    p.add_argument("--patience", type=int, help="stop after this many evaluations without improvement")
    p.add_argument("--checkpoint", help="checkpoint file, rewritten after each epoch")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument("--workers", type=int, default=0, help="batch-building worker processes")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--device", default="cpu",
                   help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--amp", choices=("bf16", "fp16"), help="mixed precision (autocast) on CUDA")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the history and final metrics to this JSON file")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch log")
    p.set_defaults(func=_run)
