"""Run code of ``graphopt info`` and ``graphopt partition`` (parsers: ``data.py``)."""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from . import CLIError
from ..datasets import (DatasetCorruptError, data_roots, dataset_entry, dataset_format,
                        fetch_dataset, list_datasets, load, verify_file)
from ..graph import Graph
from ..partition import Partition

__all__ = ["info", "partition", "graph_summary", "partition_summary"]


def graph_summary(g: Graph) -> list[tuple[str, Any]]:
    """(label, value) rows describing a graph: size, features, classes, split sizes."""
    rows: list[tuple[str, Any]] = [
        ("name", g.name or "-"), ("nodes", g.num_nodes), ("edges", g.num_edges),
        ("directed", not g.is_undirected()), ("weighted", g.weights is not None),
        ("features", g.num_features), ("classes", g.num_classes),
        ("labels", "multi-hot" if g.is_multilabel else "class ids")]
    for key in ("train_mask", "val_mask", "test_mask"):
        mask = getattr(g, key)
        rows.append((key.split("_")[0], "-" if mask is None else int(mask.sum())))
    return rows


def partition_summary(p: Partition, seconds: float) -> list[tuple[str, Any]]:
    sizes = p.part_sizes()
    return [("method", p.params.get("method")), ("parts", p.num_parts),
            ("edge cut", p.edge_cut()), ("cut fraction", f"{p.edge_cut() / max(p.graph.num_edges, 1):.4f}"),
            ("balance", f"{p.balance():.4f}"), ("part sizes", f"{sizes.min()}..{sizes.max()}"),
            ("time (s)", f"{seconds:.3f}")]


def _print_rows(rows: list[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def _load_graph(name: str, root: str | None) -> Graph:
    fmt = dataset_format(name)
    if fmt in ("libsvm", "idx"):
        raise CLIError(f"dataset {name!r} ({fmt}) holds feature vectors, not a graph")
    return load(name, root)


def info(args: argparse.Namespace) -> int:
    fmt = dataset_format(args.dataset)
    if fmt == "libsvm":
        x, y = load(args.dataset, args.root, split=args.split)
        _print_rows([("name", args.dataset), ("split", args.split), ("instances", x.shape[0]),
                     ("features", x.shape[1]), ("nonzeros", x.nnz),
                     ("labels", ", ".join(f"{c}: {k}" for c, k in zip(*np.unique(y, return_counts=True))))])
    elif fmt == "idx":
        labels = load(args.dataset, args.root, split=args.split, images=False)
        _print_rows([("name", args.dataset), ("split", args.split), ("instances", labels.size),
                     ("classes", int(labels.max()) + 1)])
    else:
        _print_rows(graph_summary(load(args.dataset, args.root)))
    return 0


def partition(args: argparse.Namespace) -> int:
    if args.shards is not None and not args.output:
        raise CLIError("--shards needs -o DIR, the folder to write the shards into")
    if args.shards is not None and args.shards > args.parts:
        raise CLIError(f"--shards {args.shards} exceeds --parts {args.parts}: every rank needs a part")
    g = _load_graph(args.dataset, args.root)
    start = time.perf_counter()
    if args.method == "metis":
        p = Partition.metis(g, args.parts, seed=args.seed, recursive=args.recursive)
    else:
        p = Partition.random(g, args.parts, seed=args.seed)
    seconds = time.perf_counter() - start
    _print_rows([("dataset", args.dataset), ("nodes", g.num_nodes), ("edges", g.num_edges)]
                + partition_summary(p, seconds))
    if args.shards is not None:
        from ..shards import write_shards

        start = time.perf_counter()
        manifest = write_shards(p, args.shards, args.output, seed=args.seed, dataset=args.dataset)
        for e in manifest["shards"]:
            print(f"shard {e['rank']}: {e['parts']} parts, {e['nodes']} nodes, {e['edges']} edges, "
                  f"{e['halo']} halo nodes")
        print(f"wrote {args.shards} shards to {args.output} in {time.perf_counter() - start:.2f}s")
    elif args.output:
        p.save(args.output)
        print(f"saved to {args.output}")
    return 0


def verify(args: argparse.Namespace) -> int:
    """One line per file: ok / CORRUPT / missing / unchecked; status 1 if any file is corrupt."""
    names = args.names or list_datasets()
    for name in names:
        dataset_entry(name)  # unknown names fail before any hashing
    roots = data_roots(args.root)
    corrupt = missing = 0
    for name in names:
        for entry in dataset_entry(name)["files"]:
            local = next((r / entry["path"] for r in roots if (r / entry["path"]).is_file()), None)
            if local is None:
                missing += 1
                print(f"missing    {name}: {entry['path']}")
                continue
            try:
                verify_file(name, local, entry, force=True)
            except DatasetCorruptError as e:
                corrupt += 1
                print(f"CORRUPT    {name}: {e}")
                continue
            checked = "sha256" if entry.get("sha256") else "md5" if entry.get("md5") else None
            print(f"ok         {name}: {local} ({checked})" if checked
                  else f"unchecked  {name}: {local} (no published checksum)")
    print(f"{corrupt} corrupt, {missing} missing"
          + (" (graphopt data fetch NAME downloads them)" if missing or corrupt else ""))
    return 1 if corrupt else 0


def fetch(args: argparse.Namespace) -> int:
    for name in args.names:
        dataset_entry(name)
    for name in args.names:
        try:
            report = fetch_dataset(name, args.root)
        except PermissionError as e:
            raise CLIError(f"cannot write into the data root: {e}") from None
        for path, status in report:
            print(f"{status:<10} {name}: {path}")
    return 0
