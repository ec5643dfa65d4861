"""``graphopt lagnn``: local augmentation (LA-GNN, Liu et al., ICML 2022) on a Planetoid dataset.

Full-batch by default; --parts P trains over Cluster-GCN batches of a METIS partition; --nproc R
(or torchrun with --shards DIR) trains data-parallel, each rank on its own shard.
"""

from __future__ import annotations

from typing import Any

from . import HelpFormatter, add_threads, datasets_of, lazy
from ._paths import output_path

__all__ = ["register", "BACKBONES"]

BACKBONES = ("gcn", "gat", "gcnii")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("lagnn", help="train LA-GCN / LA-GAT / LA-GCNII with a neighbour CVAE",
                              description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--dataset", default="cora",
                   help="Planetoid graph (public split): " + ", ".join(datasets_of("planetoid")))
    p.add_argument("--root", default=None, help="dataset directory (default: $GRAPHOPT_DATA)")
    p.add_argument("--backbone", choices=BACKBONES, default="gcn", help="the GNN that is augmented")
    p.add_argument("--plain", action="store_true", help="train the backbone without augmentation")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run per seed")
    p.add_argument("--epochs", type=int, default=300, help="classifier epochs at most")
    p.add_argument("--patience", type=int, default=100,
                   help="stop after this many epochs without a lower validation loss")
    p.add_argument("--samples", type=int, default=4, help="K forward passes per step")
    p.add_argument("--lam", type=float, default=1.0, help="consistency weight")
    p.add_argument("--temperature", type=float, default=0.5, help="sharpening temperature")
    p.add_argument("--pool", type=int, default=16, help="pre-generated X̄ per run (0: fresh every pass)")
    p.add_argument("--cvae", default=None, type=output_path, help="CVAE checkpoint: loaded if it exists, else written after training")
    p.add_argument("--cvae-epochs", type=int, default=10, help="CVAE pre-training epochs")
    p.add_argument("--cvae-max-pairs", type=int, default=None, help="pairs per CVAE epoch (default: all)")
    p.add_argument("--device", default="auto",
                   help="auto (CUDA when present), cpu, cuda or cuda:N; the CVAE and the classifier run there")
    p.add_argument("--amp", choices=("bf16", "fp16"), default=None, help="mixed-precision forward passes")
    add_threads(p)
    p.add_argument("--parts", type=int, default=None,
                   help="METIS parts: train over Cluster-GCN batches of them (needed by --nproc)")
    p.add_argument("--parts-per-batch", type=int, default=2, help="parts per batch with --parts / shards")
    p.add_argument("--nproc", type=int, default=None, metavar="R",
                   help="data-parallel on R local ranks (gloo, one thread each), shards written to a temp folder")
    p.add_argument("--shards", default=None, metavar="DIR",
                   help="shard folder (graphopt partition DATASET --parts P --shards R -o DIR); each rank "
                        "reads its own; needed under torchrun")
    p.add_argument("--dist-timeout", type=float, default=300.0, help="seconds before a silent peer is an error")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=lazy("_lagnn:run"), parser=p, timed=True)
