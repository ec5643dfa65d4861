"""Run code of ``graphopt cluster-gcn`` (parser: ``cluster_gcn.py``): train Cluster-GCN, report metrics."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np
import torch

from . import CLIError, auto_parts, launch_ranks, set_threads
from .._io import write_atomic
from ..cluster_gcn import ClusterGCN, fit, peak_memory_mb, spectral_features, training_subgraph
from ..datasets import dataset_format, load
from ..partition import Partition

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    if args.parts is not None and args.parts < 1:
        raise CLIError(f"--parts must be positive, got {args.parts}")
    if args.nproc is not None:
        return _launch(args)
    if args.shards is not None or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return _run_rank(args)
    set_threads(args.threads)
    g, inductive = _graph(args)
    train_graph = training_subgraph(g) if inductive else g
    if args.parts is None:
        args.parts = auto_parts(train_graph.num_nodes, args.clusters_per_batch)
    t0 = time.perf_counter()
    part = _partition(args, train_graph)
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
    metric = "micro-F1" if g.is_multilabel else "accuracy"  # epochs were logged as they ran
    print(f"best epoch {hist.best_epoch}; {metric}: "
          + ", ".join(f"{k} {v:.4f}" for k, v in hist.final.items()))
    if args.json:
        ranks = [{"rank": 0, "nodes": g.num_nodes, "edges": g.num_edges, "peak_mb": peak_memory_mb()}]
        _write_json(args, hist, 1, ranks)
    return 0


def _graph(args: argparse.Namespace) -> tuple[Any, bool]:
    """The dataset's graph (with structural features if asked) and whether to train inductively."""
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
    return g, inductive


def _partition(args: argparse.Namespace, graph: Any) -> Partition:
    if args.partition == "metis":
        return Partition.metis(graph, args.parts, seed=args.seed)
    return Partition.random(graph, args.parts, seed=args.seed)


def _write_json(args: argparse.Namespace, hist: Any, world_size: int, ranks: list[dict]) -> None:
    result = {"args": {k: v for k, v in vars(args).items() if k not in ("func", "parser", "timed")},
              "test": hist.final.get("test"), "final": hist.final, "best_epoch": hist.best_epoch,
              "world_size": world_size, "ranks": ranks, "epochs": hist.epochs}
    write_atomic(args.json, lambda f: json.dump(result, f, indent=1), mode="w")


def _argv(parser: argparse.ArgumentParser, args: argparse.Namespace, drop: set[str]) -> list[str]:
    """The command line that parses back to ``args`` (without the options named in ``drop``)."""
    out = []
    for action in parser._actions:
        if not action.option_strings or action.dest in drop | {"help"}:
            continue
        value = getattr(args, action.dest)
        if isinstance(action, argparse._StoreTrueAction):
            out += [action.option_strings[0]] if value else []
        elif value is not None and value != action.default:
            out += [action.option_strings[0], str(value)]
    return out


def _launch(args: argparse.Namespace) -> int:
    """``--nproc R``: write shards (unless ``--shards`` names them), then run R local ranks."""
    from ..shards import write_shards

    if args.nproc < 1:
        raise CLIError(f"--nproc must be positive, got {args.nproc}")
    g = None
    if args.shards is None:
        g, _ = _graph(args)
        if args.parts is None:  # every rank needs a part
            args.parts = max(args.nproc, auto_parts(g.num_nodes, args.clusters_per_batch))
    if args.parts is not None and args.nproc > args.parts:
        raise CLIError(f"--nproc {args.nproc} exceeds --parts {args.parts}: every rank needs a part")
    tmp = None
    shards = args.shards
    if shards is None:
        tmp = tempfile.mkdtemp(prefix="graphopt-shards-")
        shards = tmp
        write_shards(_partition(args, g), args.nproc, shards, seed=args.seed, dataset=args.dataset)
        del g
    cmd = [sys.executable, "-m", "graphopt", "cluster-gcn",
           *_argv(args.parser, args, {"nproc", "shards"}), "--shards", str(shards)]
    return launch_ranks(cmd, args.nproc, args.threads, tmp)


def _run_rank(args: argparse.Namespace) -> int:
    """One rank of a distributed run (started by torchrun or by ``--nproc``): reads only its shard."""
    import torch.distributed as dist

    from ..cluster_gcn.distributed import fit_distributed, init_distributed, shutdown_distributed
    from ..shards import load_shard

    if args.shards is None:
        raise CLIError("a distributed run reads one shard per rank: pass --shards DIR (made by "
                       "graphopt partition DATASET --parts P --shards R -o DIR), or use --nproc R")
    if args.precalc or args.inductive or args.structural_features:
        raise CLIError("--precalc, --inductive and --structural-features need the whole graph; "
                       "they are not available on shards")
    set_threads(args.threads)
    dev = init_distributed(args.device, timeout=args.dist_timeout)
    rank, world = dist.get_rank(), dist.get_world_size()
    try:
        shard = load_shard(args.shards, rank, num_shards=world, dataset=args.dataset,
                           num_parts=args.parts)
        m = shard.manifest
        torch.manual_seed(args.seed)
        model = ClusterGCN(m["num_features"], args.hidden, m["num_classes"], args.layers,
                           dropout=args.dropout, layer_norm=not args.no_layer_norm)
        hist = fit_distributed(model, shard, clusters_per_batch=args.clusters_per_batch,
                               epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay,
                               normalization=args.normalization, diag_lambda=args.diag_lambda,
                               eval_every=args.eval_every, patience=args.patience,
                               checkpoint=args.checkpoint, resume=args.resume, seed=args.seed,
                               device=dev, progress=not args.quiet)
        mine = {"rank": rank, "nodes": shard.num_nodes, "edges": shard.graph.num_edges,
                "halo": int(shard.halo.size), "peak_mb": peak_memory_mb(),
                "nodes_per_s": float(np.mean([r["nodes_per_s"] for r in hist.epochs])) if hist.epochs else 0.0}
        ranks: list[Any] = [None] * world
        dist.all_gather_object(ranks, mine)
    except RuntimeError as e:  # torch.distributed's errors: a peer died or stopped answering
        raise CLIError(f"rank {rank}: the distributed run failed (a peer process died or stopped "
                       f"responding): {str(e).splitlines()[0]}") from e
    if rank == 0:
        metric = "micro-F1" if m["multilabel"] else "accuracy"  # rank 0 logged the epochs as they ran
        for r in ranks:
            print(f"rank {r['rank']}: {r['nodes']} nodes, {r['edges']} edges, {r['halo']} halo, "
                  f"peak {r['peak_mb']:.0f} MB, {r['nodes_per_s']:.0f} nodes/s")
        print(f"{world} ranks; best epoch {hist.best_epoch}; {metric}: "
              + ", ".join(f"{k} {v:.4f}" for k, v in hist.final.items()))
        if args.json:
            _write_json(args, hist, world, ranks)
    shutdown_distributed()
    return 0
