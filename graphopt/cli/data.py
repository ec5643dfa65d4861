"""``graphopt info`` and ``graphopt partition``: inspect a dataset, partition its graph."""

from __future__ import annotations

import argparse
from typing import Any

from . import GRAPH_FORMATS, HelpFormatter, datasets_of, lazy

__all__ = ["register"]


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def register(sub: Any) -> None:
    graphs = ", ".join(datasets_of(*GRAPH_FORMATS))
    vectors = ", ".join(sorted(set(datasets_of()) - set(datasets_of(*GRAPH_FORMATS))))
    info = sub.add_parser("info", help="nodes, edges, features, classes and split sizes of a dataset",
                          formatter_class=HelpFormatter,
                          description=f"Graph datasets: {graphs}, or a GraphSAGE folder / prefix.\n"
                                      f"Feature-vector datasets: {vectors}.")
    info.add_argument("dataset", help="dataset name from the manifest, or a GraphSAGE folder / prefix")
    info.add_argument("--root", help="data root (default: $GRAPHOPT_DATA, then datasets/)")
    info.add_argument("--split", choices=("train", "test"), default="train",
                      help="for LIBSVM / IDX datasets: which file to describe")
    info.set_defaults(func=lazy("_data:info"))

    part = sub.add_parser("partition", help="partition a dataset's graph: edge cut, balance, time",
                          formatter_class=HelpFormatter,
                          description=f"Graph datasets: {graphs}, or a GraphSAGE folder / prefix.")
    part.add_argument("dataset", help="graph dataset name, or a GraphSAGE folder / prefix")
    part.add_argument("--parts", "-k", type=_positive, required=True, help="number of parts")
    part.add_argument("--method", choices=("metis", "random"), default="metis", help="how to partition")
    part.add_argument("--recursive", action="store_true", help="METIS recursive bisection instead of k-way")
    part.add_argument("--seed", type=int, default=0, help="seed of METIS or of the random assignment")
    part.add_argument("--root", help="data root (default: $GRAPHOPT_DATA, then datasets/)")
    part.add_argument("--output", "-o", help="save the partition to this .npz file "
                                             "(with --shards: the folder for the shards)")
    part.add_argument("--shards", type=_positive, metavar="R",
                      help="group the parts into R ranks and write one shard per rank to -o DIR")
    part.set_defaults(func=lazy("_data:partition"))
