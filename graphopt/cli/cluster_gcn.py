"""``graphopt cluster-gcn``: train Cluster-GCN (Chiang et al., KDD 2019) on a dataset, report metrics.

Parsing only (standard library): the run code is ``_cluster_gcn.py``, imported when the command runs.
"""

from __future__ import annotations

from typing import Any

from . import GRAPH_FORMATS, NODES_PER_BATCH, HelpFormatter, add_threads, datasets_of, lazy
from ._paths import output_path

__all__ = ["register", "NORMALIZATIONS"]

# graphopt.graph.NORMALIZATIONS, repeated so that --help does not import SciPy (tests/test_cli.py
# checks the two agree)
NORMALIZATIONS = ("sym", "rw", "residual", "diag_enhanced")


def register(sub: Any) -> None:
    p = sub.add_parser("cluster-gcn", help="train Cluster-GCN (METIS-partitioned mini-batches)",
                       formatter_class=HelpFormatter,
                       description="Train the Cluster-GCN model.\n\nGraph datasets: "
                                   + ", ".join(datasets_of(*GRAPH_FORMATS)) + ", or a GraphSAGE "
                                   "folder / prefix (trained inductively).")
    p.add_argument("--dataset", required=True, help="graph dataset name, or a GraphSAGE folder / prefix")
    p.add_argument("--root", help="data root (default: $GRAPHOPT_DATA, then datasets/)")
    p.add_argument("--parts", type=int, default=None,
                   help=f"number of partitions p (default: round(N q / {NODES_PER_BATCH}), at least q, "
                        f"so that a batch of q parts holds about {NODES_PER_BATCH} of the N nodes "
                        "partitioned, as in the paper's settings)")
    p.add_argument("--clusters-per-batch", type=int, default=1, help="parts per batch q")
    p.add_argument("--partition", choices=("metis", "random"), default="metis",
                   help="how the graph is split into parts")
    p.add_argument("--layers", type=int, default=2, help="graph convolution layers")
    p.add_argument("--hidden", type=int, default=128, help="hidden units per layer")
    p.add_argument("--epochs", type=int, default=100, help="passes over the parts")
    p.add_argument("--lr", type=float, default=0.01, help="Adam learning rate")
    p.add_argument("--dropout", type=float, default=0.2, help="dropout probability")
    p.add_argument("--weight-decay", type=float, default=0.0, help="Adam weight decay")
    p.add_argument("--normalization", choices=NORMALIZATIONS, default="rw",
                   help="adjacency normalization of each batch")
    p.add_argument("--diag-lambda", type=float, default=1.0,
                   help="λ of diagonal enhancement (used with --normalization diag_enhanced)")
    p.add_argument("--precalc", action="store_true", help="precompute the first layer's [AX ‖ X]")
    p.add_argument("--no-layer-norm", action="store_true", help="no LayerNorm between layers")
    p.add_argument("--inductive", action="store_true",
                   help="partition and train on the training subgraph only (automatic for GraphSAGE data)")
    p.add_argument("--structural-features", type=int, metavar="K",
                   help="K spectral features for a dataset without node features")
    p.add_argument("--eval-every", type=int, default=1, help="epochs between evaluations")
    p.add_argument("--patience", type=int, help="stop after this many evaluations without improvement")
    p.add_argument("--checkpoint", type=output_path, help="checkpoint file, rewritten after each epoch")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument("--workers", type=int, default=0, help="batch-building worker processes")
    add_threads(p)
    p.add_argument("--device", default="cpu",
                   help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--amp", choices=("bf16", "fp16"), help="mixed precision (autocast) on CUDA")
    p.add_argument("--nproc", type=int, metavar="R",
                   help="train data-parallel on R local processes (gloo on CPU, nccl on CUDA)")
    p.add_argument("--shards", metavar="DIR",
                   help="shard folder from 'graphopt partition --shards' (each rank reads its own); "
                        "needed under torchrun, made in a temporary folder by --nproc otherwise")
    p.add_argument("--dist-timeout", type=float, default=300.0, metavar="S",
                   help="seconds a rank waits on its peers before failing")
    p.add_argument("--seed", type=int, default=0, help="seed of the partition, weights and batches")
    p.add_argument("--json", type=output_path, help="write the history and final metrics to this JSON file")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch log")
    p.set_defaults(func=lazy("_cluster_gcn:run"), parser=p, timed=True)
