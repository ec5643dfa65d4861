"""Data-parallel LA-GNN on shards: per-rank memory, work and accuracy at 1, 2 and 4 ranks (gloo, loopback).

The graph is cut by METIS into ``--parts`` parts once; for each world size R the parts are grouped
into R shards (``graphopt.shards.write_shards``) and R ranks are spawned, one torch thread each.
Every rank reads only its own shard, fits the neighbour CVAE with
``NeighborCVAE.fit_distributed`` on the pairs inside its batches, then LA-GCN with
``LAClassifier.fit_distributed`` (X̄ generated per batch on the rank); test accuracy is over all
ranks' nodes. The peer is the single-process partition path, ``fit(graph, partition)`` on the whole
graph, run in a spawned process of its own with the same settings. Per rank: peak RSS
(``ru_maxrss``, shard load included) and the part of it above the process's RSS after its imports,
CPU seconds, nodes, edges, and the bytes of graph data the rank holds. These machines have 2 cores,
so R ranks share them: memory and per-rank work are the scaling figures, not wall time.

Each data-parallel step consumes R batches (one per rank), so R ranks take 1/R of the single
process's optimizer steps per epoch. By default R ranks therefore run R times the epochs (of the
CVAE and of LA-GCN), so every run takes the same number of optimizer steps; ``--equal-epochs``
keeps the epochs equal instead. A rank's gradient comes from its own batch of ``q`` parts and DDP
averages R of them, so the like-for-like single-process peer of R ranks is one process with ``R q``
parts per batch and R times the epochs (same nodes per gradient, same number of steps): that peer is
run too, unless ``--no-peers``.

    GRAPHOPT_DATA=/work/shared/datasets flock /tmp/graphopt-bench.lock \
        .venv/bin/python benchmarks/bench_lagnn_distributed.py

Writes ``benchmarks/bench_lagnn_distributed.json`` (atomically) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import resource
import subprocess
import tempfile
import time
import traceback
from datetime import timedelta
from pathlib import Path

import numpy as np
from graphopt.cli._paths import output_path


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _work(rank: int, world: int, args: argparse.Namespace, shard_dir: str | None, like: int = 1) -> dict:
    """One rank (or, with ``shard_dir`` None, the single-process peer on the whole graph, with
    ``like`` times the parts per batch and the epochs, as R = ``like`` ranks take together)."""
    import torch

    from graphopt import Partition
    from graphopt.augment import LAGCN, LAClassifier, NeighborCVAE
    from graphopt.datasets import load
    from graphopt.shards import load_shard

    base = _rss_mb()
    scale = like if shard_dir is None else (1 if args.equal_epochs else world)
    q = args.parts_per_batch * (like if shard_dir is None else 1)
    t, cpu = time.perf_counter(), time.process_time()
    if shard_dir is None:
        g = load(args.dataset)
        part = Partition.metis(g, args.parts, seed=0)
    else:
        shard = load_shard(shard_dir, rank, num_shards=world)
        g, part = shard.graph, shard.partition
    x = g.x
    x_bytes = x.nbytes if isinstance(x, np.ndarray) else x.data.nbytes + x.indices.nbytes + x.indptr.nbytes
    r = {"rank": rank, "nodes": g.num_nodes, "edges": g.num_edges, "parts": part.num_parts,
         "data_mb": (g.indptr.nbytes + g.indices.nbytes + x_bytes) / 2**20,
         "load_s": time.perf_counter() - t, "rss_after_import_mb": base,
         "cvae_epochs": args.cvae_epochs * scale, "epochs": args.epochs * scale, "parts_per_batch": q}
    cvae = NeighborCVAE(hidden_size=args.cvae_hidden, epochs=args.cvae_epochs * scale,
                        max_pairs_per_epoch=args.cvae_pairs, seed=0, progress=False)
    model = LAGCN(g.num_features, 16, g.num_classes)
    clf = LAClassifier(model, cvae, num_samples=args.samples, epochs=args.epochs * scale, lr=args.lr,
                       patience=None, seed=0, progress=False)
    t1, c1 = time.perf_counter(), time.process_time()
    if shard_dir is None:
        cvae.fit(g, part, q)
    else:
        cvae.fit_distributed(shard, parts_per_batch=args.parts_per_batch)
    t2, c2 = time.perf_counter(), time.process_time()
    if shard_dir is None:
        clf.fit(g, part, q)
    else:
        clf.fit_distributed(shard, parts_per_batch=args.parts_per_batch)
    t3, c3 = time.perf_counter(), time.process_time()
    r.update(cvae_s=t2 - t1, cvae_cpu_s=c2 - c1, la_s=t3 - t2, la_cpu_s=c3 - c2, total_cpu_s=c3 - cpu,
             cvae_loss=cvae.history_[-1]["loss"], cvae_pairs=cvae.history_[-1]["pairs"],
             test=clf.score(), val_loss=clf.best_val_loss_, best_epoch=clf.best_epoch_,
             grad_bytes_per_step=4 * sum(p.numel() for p in clf.model_.parameters()),
             cvae_grad_bytes_per_step=4 * sum(p.numel() for p in cvae.net_.parameters()),
             peak_mb=_rss_mb(), torch_threads=torch.get_num_threads())
    r["peak_above_import_mb"] = r["peak_mb"] - base
    return r


def _rank_main(rank, world, store, args, shard_dir, results, like=1):
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    try:
        if shard_dir is not None:
            dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world,
                                    timeout=timedelta(seconds=args.timeout))
        try:
            results.put((rank, "ok", _work(rank, world, args, shard_dir, like)))
        finally:
            if shard_dir is not None:
                dist.destroy_process_group()
    except BaseException:  # noqa: BLE001 - reported to the parent
        results.put((rank, "error", traceback.format_exc()))


def run(world: int, args, shard_dir: str | None, tmp: Path, like: int = 1) -> list[dict]:
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    store = tmp / f"store-{world}-{time.monotonic_ns()}"
    procs = [ctx.Process(target=_rank_main, args=(r, world, str(store), args, shard_dir, results, like),
                         daemon=True)
             for r in range(world)]
    for p in procs:
        p.start()
    out, deadline = {}, time.monotonic() + args.timeout
    try:
        while len(out) < world:
            rank, status, value = results.get(timeout=max(0.1, deadline - time.monotonic()))
            if status != "ok":
                raise RuntimeError(f"rank {rank} of {world} failed:\n{value}")
            out[rank] = value
    except queue.Empty:
        raise RuntimeError(f"{world} ranks did not finish within {args.timeout} s") from None
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    return [out[r] for r in range(world)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="coauthor-physics")
    ap.add_argument("--parts", type=int, default=40)
    ap.add_argument("--parts-per-batch", type=int, default=2)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--cvae-hidden", type=int, default=64)
    ap.add_argument("--cvae-epochs", type=int, default=1)
    ap.add_argument("--cvae-pairs", type=int, default=20000, help="pairs per CVAE epoch, over all ranks")
    ap.add_argument("--equal-epochs", action="store_true",
                    help="R ranks run the same epochs as one process (default: R times the epochs, equal steps)")
    ap.add_argument("--no-peers", action="store_true",
                    help="skip the single-process runs with R x parts per batch and R x epochs")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--out", type=output_path, default=str(Path(__file__).with_suffix(".json")))
    args = ap.parse_args()

    import torch

    from graphopt import Partition
    from graphopt._io import write_atomic
    from graphopt.datasets import load
    from graphopt.shards import write_shards

    torch.set_num_threads(1)
    g = load(args.dataset)
    part = Partition.metis(g, args.parts, seed=0)
    # GRAPHOPT_COMMIT names the code when it runs from an exported tree (git archive), which has no .git
    commit = os.environ.get("GRAPHOPT_COMMIT") or subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip()
    results: dict = {"config": vars(args), "commit": commit, "graph": repr(g), "runs": {}}
    with tempfile.TemporaryDirectory(prefix="lagnn-dist-") as tmp:
        tmp = Path(tmp)
        results["runs"]["single"] = run(1, args, None, tmp)
        print("single process", results["runs"]["single"], flush=True)
        for world in args.ranks:
            shard_dir = tmp / f"shards-{world}"
            write_shards(part, world, shard_dir, dataset=args.dataset)
            results["runs"][str(world)] = run(world, args, str(shard_dir), tmp)
            print(world, "ranks", results["runs"][str(world)], flush=True)
            if world > 1 and not args.no_peers and not args.equal_epochs:
                results["runs"][f"single-like-{world}"] = run(1, args, None, tmp, like=world)
                print("single process like", world, "ranks", results["runs"][f"single-like-{world}"], flush=True)
    write_atomic(args.out, lambda fh: json.dump(results, fh, indent=1), mode="w")

    single = results["runs"]["single"][0]
    print(f"\n{args.dataset}, METIS {args.parts} parts, {args.parts_per_batch} per batch, LA-GCN K={args.samples}, "
          f"{args.epochs} epochs x {'1' if args.equal_epochs else 'R'}, CVAE {args.cvae_pairs} pairs per epoch x "
          f"{args.cvae_epochs} epochs x {'1' if args.equal_epochs else 'R'}; commit {commit}")
    print("| run | parts per batch | epochs (CVAE, LA) | nodes per rank | graph data MB per rank (max) | peak MB per rank (max) | "
          "above imports MB (max) | vs single | CPU s per rank (CVAE + LA, max) | CPU s per epoch per rank | "
          "test acc |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")

    def row(name, rs):
        peak = max(r["peak_mb"] for r in rs)
        above = max(r["peak_above_import_mb"] for r in rs)
        cpu = max(r["cvae_cpu_s"] + r["la_cpu_s"] for r in rs)
        print(f"| {name} | {rs[0]['parts_per_batch']} | {rs[0]['cvae_epochs']}, {rs[0]['epochs']} | {', '.join(str(r['nodes']) for r in rs)} | "
              f"{max(r['data_mb'] for r in rs):.1f} | {peak:.0f} | {above:.0f} | "
              f"{above / single['peak_above_import_mb']:.2f}x | {cpu:.1f} | "
              f"{max(r['la_cpu_s'] for r in rs) / rs[0]['epochs']:.2f} | {100 * rs[0]['test']:.1f} |")

    row("1 process, fit(graph, partition)", [single])
    for world in args.ranks:
        row(f"{world} rank{'s' if world > 1 else ''}, fit_distributed(shard)", results["runs"][str(world)])
        if f"single-like-{world}" in results["runs"]:
            row(f"1 process like {world} ranks", results["runs"][f"single-like-{world}"])
    print(f"bytes all-reduced per step: LA-GCN {single['grad_bytes_per_step']:,}, "
          f"CVAE {single['cvae_grad_bytes_per_step']:,}")
    print("median per-rank CPU s (CVAE + LA):",
          {w: round(float(np.median([r["cvae_cpu_s"] + r["la_cpu_s"] for r in rs])), 1)
           for w, rs in results["runs"].items()})


if __name__ == "__main__":
    main()
