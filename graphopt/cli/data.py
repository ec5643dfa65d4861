"""``graphopt info``, ``graphopt partition`` and ``graphopt data verify|fetch``: inspect a dataset,
partition its graph, check dataset files against the manifest's sha256 or (re)download them."""

from __future__ import annotations

import argparse
from typing import Any

from . import GRAPH_FORMATS, HelpFormatter, datasets_of, lazy
from ._paths import output_path

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
    part.add_argument("--output", "-o", type=output_path, help="save the partition to this .npz file "
                                             "(with --shards: the folder for the shards)")
    part.add_argument("--shards", type=_positive, metavar="R",
                      help="group the parts into R ranks and write one shard per rank to -o DIR")
    part.set_defaults(func=lazy("_data:partition"))

    names = ", ".join(datasets_of())
    data = sub.add_parser("data", help="verify dataset files against the manifest, or fetch them",
                          formatter_class=HelpFormatter, description=f"Known datasets: {names}.")
    data_sub = data.add_subparsers(dest="data_command", metavar="{verify,fetch}", required=True)
    verify = data_sub.add_parser(
        "verify", help="hash dataset files against the manifest (all datasets when none is named)",
        formatter_class=HelpFormatter,
        description="Re-hash every present file of the named datasets (all when none is named) "
                    "against the manifest's sha256 and remember the result. Exit status 1 if "
                    "any file is corrupt; missing files are listed, not an error.")
    verify.add_argument("names", nargs="*", metavar="NAME", help="dataset names (default: all)")
    verify.add_argument("--root", help="data root (default: $GRAPHOPT_DATA, then datasets/)")
    verify.set_defaults(func=lazy("_data:verify"))
    fetch = data_sub.add_parser(
        "fetch", help="download missing or corrupt files of datasets, checked against their sha256",
        formatter_class=HelpFormatter,
        description="Download each missing file into the first data root and replace each file "
                    "that fails verification; a download is kept only if its sha256 matches.")
    fetch.add_argument("names", nargs="+", metavar="NAME", help="dataset names")
    fetch.add_argument("--root", help="data root (default: $GRAPHOPT_DATA, then datasets/)")
    fetch.set_defaults(func=lazy("_data:fetch"))
