"""Data-parallel Cluster-GCN (issue 10): 1 process vs 2 and 4 gloo ranks on loopback, one thread each.

For each seed and each world size R in ``--ranks``:

* R = 1 is plain single-process :func:`graphopt.cluster_gcn.fit` through the CLI (loads the whole
  dataset, METIS, trains q parts per batch);
* R > 1 is ``graphopt cluster-gcn --nproc R --shards DIR`` on shards written beforehand by
  ``graphopt partition --shards R`` (each rank loads only its shard), q/R parts per rank and step,
  so a step's global batch and the steps per epoch match the single process.

Reported per run: test accuracy of the best-validation weights, per-rank peak RSS (``ru_maxrss``,
shard load included) and its ratio to the single process's, the same after subtracting the
import floor (a process that imports torch and graphopt and stops), nodes per second of training
per rank and bytes all-reduced per step (counted by a DDP communication hook). Inference: exact
distributed inference (halo rows fetched by all-to-all) against single-process ``predict``, time
and peak RSS, each in fresh processes with an untrained model.

The machine has 2 cores: 4 ranks share them, so wall time is not a scaling figure; memory and
per-rank work are.

Run (a few minutes per seed):
    flock /tmp/graphopt-bench.lock .venv/bin/python benchmarks/bench_distributed.py --seeds 0
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from graphopt.cli._paths import output_path

HERE = Path(__file__).resolve().parent
PY = sys.executable


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run([PY, "-m", "graphopt", *args], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"graphopt {' '.join(args)} failed:\n{res.stderr[-3000:]}")
    return res


def _floor_mb() -> float:
    code = ("import resource, torch, graphopt.cluster_gcn, graphopt.shards, torch.distributed;"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    return float(subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True).stdout)


def train_runs(args: argparse.Namespace, tmp: Path) -> list[dict]:
    rows = []
    common = ["--dataset", args.dataset, "--parts", str(args.parts), "--layers", str(args.layers),
              "--hidden", str(args.hidden), "--epochs", str(args.epochs), "--dropout", str(args.dropout),
              "--weight-decay", str(args.weight_decay), "--eval-every", str(args.eval_every),
              "--threads", "1", "--quiet"]
    for seed in args.seeds:
        for r in args.ranks:
            out = tmp / f"run-{seed}-{r}.json"
            q = args.clusters_per_batch // r
            extra = ["--seed", str(seed), "--clusters-per-batch", str(q), "--json", str(out)]
            t0 = time.perf_counter()
            if r == 1:
                _cli("cluster-gcn", *common, *extra)
            else:
                shards = tmp / f"shards-{seed}-{r}"
                _cli("partition", args.dataset, "--parts", str(args.parts), "--seed", str(seed),
                     "--shards", str(r), "-o", str(shards))
                _cli("cluster-gcn", *common, *extra, "--nproc", str(r), "--shards", str(shards))
            wall = time.perf_counter() - t0
            res = json.loads(out.read_text())
            rows.append({"seed": seed, "world_size": r, "q_per_rank": q, "test": res["test"],
                         "val": res["final"].get("val"), "best_epoch": res["best_epoch"],
                         "wall_s": wall, "ranks": res["ranks"],
                         "allreduce_bytes_per_step": res["epochs"][-1].get("allreduce_bytes"),
                         "epoch_s": float(np.mean([e["time"] for e in res["epochs"]])),
                         "epoch_cpu_s": float(np.mean([e["cpu_time"] for e in res["epochs"]]))})
            print(f"seed {seed} R={r}: test {res['test']:.4f}, peak "
                  f"{max(x['peak_mb'] for x in res['ranks']):.0f} MB, {wall:.0f}s", flush=True)
    return rows


def _infer_worker(shard_dir: str, out: str, layers: int, hidden: int) -> None:
    import resource

    import torch
    import torch.distributed as dist

    from graphopt.cluster_gcn import ClusterGCN
    from graphopt.cluster_gcn.distributed import predict_distributed
    from graphopt.shards import load_shard

    rank = dist.get_rank()
    shard = load_shard(shard_dir, rank)
    torch.manual_seed(0)
    model = ClusterGCN(shard.manifest["num_features"], hidden, shard.manifest["num_classes"], layers)
    dist.barrier()
    t0 = time.perf_counter()
    logits = predict_distributed(model, shard)
    seconds = time.perf_counter() - t0
    n_halo = sum(int(c) for c in shard.recv_counts)
    del logits
    Path(f"{out}-{rank}.json").write_text(json.dumps(
        {"rank": rank, "seconds": seconds, "nodes": shard.num_nodes, "halo": n_halo,
         "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _single_predict(dataset: str, layers: int, hidden: int) -> dict:
    import resource

    import torch

    from graphopt.cluster_gcn import ClusterGCN, predict
    from graphopt.datasets import load

    g = load(dataset)
    torch.manual_seed(0)
    model = ClusterGCN(g.num_features, hidden, g.num_classes, layers)
    t0 = time.perf_counter()
    predict(model, g)
    return {"seconds": time.perf_counter() - t0,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def infer_runs(args: argparse.Namespace, tmp: Path) -> list[dict]:
    rows = []
    for r in args.ranks:
        if r == 1:
            code = (f"import sys, json, torch; torch.set_num_threads(1); sys.path.insert(0, {str(HERE)!r});"
                    f"import bench_distributed as b; print(json.dumps(b._single_predict("
                    f"{args.dataset!r}, {args.layers}, {args.hidden})))")
            res = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True)
            rows.append({"world_size": 1, **json.loads(res.stdout.strip().splitlines()[-1])})
            continue
        shards = tmp / f"shards-{args.seeds[0]}-{r}"
        if not shards.is_dir():
            _cli("partition", args.dataset, "--parts", str(args.parts), "--shards", str(r), "-o", str(shards))
        code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import bench_distributed as b;"
                f"from graphopt.cluster_gcn.distributed import run_local;"
                f"run_local(b._infer_worker, {r}, ({str(shards)!r}, {str(tmp / f'infer-{r}')!r}, "
                f"{args.layers}, {args.hidden}), timeout=900)")
        subprocess.run([PY, "-c", code], check=True, capture_output=True, text=True)
        per = [json.loads((tmp / f"infer-{r}-{k}.json").read_text()) for k in range(r)]
        rows.append({"world_size": r, "seconds": max(p["seconds"] for p in per),
                     "peak_mb": max(p["peak_mb"] for p in per), "ranks": per})
    return rows


def _csbm_single(path: str, epochs: int, q: int, layers: int, hidden: int) -> dict:
    """One process: load the saved graph and partition, train (no evaluation), report peak RSS."""
    import resource

    import torch

    from graphopt import Graph, Partition
    from graphopt.cluster_gcn import ClusterGCN, fit

    with np.load(path) as f:
        a = {k: f[k] for k in f.files}
    g = Graph(a["indptr"], a["indices"], x=a["x"], y=a["y"], train_mask=a["train_mask"],
              val_mask=a["val_mask"], test_mask=a["test_mask"], validate=False)
    part = Partition.from_assignment(g, a["assignment"], int(a["num_parts"]))
    del a
    torch.manual_seed(0)
    model = ClusterGCN(g.num_features, hidden, g.num_classes, layers)
    hist = fit(model, g, part, clusters_per_batch=q, epochs=epochs, eval_every=None, progress=False)
    return {"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "epoch_s": hist.epochs[-1]["time"], "nodes": g.num_nodes}


def _csbm_worker(shard_dir: str, out: str, epochs: int, q: int, layers: int, hidden: int) -> None:
    import resource

    import torch
    import torch.distributed as dist

    from graphopt.cluster_gcn import ClusterGCN
    from graphopt.cluster_gcn.distributed import fit_distributed
    from graphopt.shards import load_shard

    rank = dist.get_rank()
    shard = load_shard(shard_dir, rank)
    torch.manual_seed(0)
    model = ClusterGCN(shard.manifest["num_features"], hidden, shard.manifest["num_classes"], layers)
    hist = fit_distributed(model, shard, clusters_per_batch=q, epochs=epochs, eval_every=None,
                           progress=False)
    Path(f"{out}-{rank}.json").write_text(json.dumps(
        {"rank": rank, "nodes": shard.num_nodes, "halo": int(shard.halo.size),
         "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
         "epoch_s": hist.epochs[-1]["time"], "allreduce_bytes": hist.epochs[-1]["allreduce_bytes"]}))


def csbm_run(args: argparse.Namespace, tmp: Path) -> dict:
    """A generated CSBM graph with METIS parts: training peak of one process vs each of 2 ranks."""
    from graphopt import Partition
    from graphopt.datasets import contextual_sbm
    from graphopt.shards import write_shards

    t0 = time.perf_counter()
    g = contextual_sbm(args.csbm, 10, args.csbm_degree, args.csbm_features, seed=0)
    part = Partition.metis(g, args.csbm_parts, seed=0)
    prep = time.perf_counter() - t0
    path = tmp / "csbm.npz"
    np.savez(path, indptr=g.indptr, indices=g.indices, x=g.x, y=g.y, train_mask=g.train_mask,
             val_mask=g.val_mask, test_mask=g.test_mask, assignment=part.assignment,
             num_parts=part.num_parts)
    write_shards(part, 2, tmp / "csbm-shards", dataset="csbm")
    edges, nodes = g.num_edges, g.num_nodes
    del g, part
    q = args.csbm_q
    code = (f"import sys, json, torch; torch.set_num_threads(1); sys.path.insert(0, {str(HERE)!r});"
            f"import bench_distributed as b; print(json.dumps(b._csbm_single({str(path)!r}, "
            f"{args.csbm_epochs}, {q}, {args.layers}, {args.hidden})))")
    res = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True)
    single = json.loads(res.stdout.strip().splitlines()[-1])
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import bench_distributed as b;"
            f"from graphopt.cluster_gcn.distributed import run_local;"
            f"run_local(b._csbm_worker, 2, ({str(tmp / 'csbm-shards')!r}, {str(tmp / 'csbm')!r}, "
            f"{args.csbm_epochs}, {q // 2}, {args.layers}, {args.hidden}), timeout=3000)")
    subprocess.run([PY, "-c", code], check=True, capture_output=True, text=True)
    ranks = [json.loads((tmp / f"csbm-{k}.json").read_text()) for k in range(2)]
    return {"nodes": nodes, "edges": edges, "parts": args.csbm_parts, "prepare_s": prep,
            "single": single, "ranks": ranks,
            "peak_ratio": max(r["peak_mb"] for r in ranks) / single["peak_mb"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="coauthor-physics")
    ap.add_argument("--parts", type=int, default=32)
    ap.add_argument("--clusters-per-batch", type=int, default=4, help="q of the single process")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--eval-every", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--skip-inference", action="store_true")
    ap.add_argument("--skip-physics", action="store_true", help="only the CSBM part")
    ap.add_argument("--csbm", type=int, default=0, metavar="N",
                    help="also a CSBM graph of N nodes with METIS parts: 1 process vs 2 ranks, training peak")
    ap.add_argument("--csbm-degree", type=float, default=10.0)
    ap.add_argument("--csbm-features", type=int, default=32)
    ap.add_argument("--csbm-parts", type=int, default=200)
    ap.add_argument("--csbm-q", type=int, default=10, help="q of the single process (q/2 per rank)")
    ap.add_argument("--csbm-epochs", type=int, default=1)
    ap.add_argument("--out", type=output_path, default=str(HERE / "bench_distributed.json"))
    args = ap.parse_args()
    os.environ.setdefault("GRAPHOPT_DATA", str(HERE.parents[1] / "shared" / "datasets"))
    from graphopt._io import write_atomic

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                            text=True).stdout.strip()
    floor = _floor_mb()
    with tempfile.TemporaryDirectory(prefix="bench-dist-") as tmp:
        train = [] if args.skip_physics else train_runs(args, Path(tmp))
        infer = [] if args.skip_inference or args.skip_physics else infer_runs(args, Path(tmp))
        csbm = csbm_run(args, Path(tmp)) if args.csbm else None
    single = {row["seed"]: row for row in train if row["world_size"] == 1}
    print(f"\nCommit {commit}; {args.dataset}, {args.layers} layers x {args.hidden}, {args.parts} METIS "
          f"parts, single-process q={args.clusters_per_batch} (q/R per rank), {args.epochs} epochs "
          f"(evaluated every {args.eval_every}); "
          f"import floor {floor:.0f} MB\n")
    print("| seed | ranks | test acc | Δ vs 1 proc (pts) | max rank peak (MB) | ratio | ratio above floor "
          "| nodes/s per rank | all-reduced / step (MB) | epoch wall (s) | epoch CPU (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in train:
        base = single.get(row["seed"])
        peak = max(r["peak_mb"] for r in row["ranks"])
        row["max_peak_mb"] = peak
        if base is not None:
            bpeak = max(r["peak_mb"] for r in base["ranks"])
            row["peak_ratio"] = peak / bpeak
            row["peak_ratio_above_floor"] = (peak - floor) / (bpeak - floor)
            row["delta_points"] = 100 * (row["test"] - base["test"])
        nps = np.mean([r.get("nodes_per_s", np.nan) for r in row["ranks"]])
        ar = row["allreduce_bytes_per_step"]
        print(f"| {row['seed']} | {row['world_size']} | {row['test']:.4f} | {row.get('delta_points', 0):+.2f} "
              f"| {peak:.0f} | {row.get('peak_ratio', 1):.2f} | {row.get('peak_ratio_above_floor', 1):.2f} "
              f"| {nps:.0f} | {'-' if ar is None else f'{ar / 2**20:.2f}'} | {row['epoch_s']:.2f} "
              f"| {row['epoch_cpu_s']:.2f} |")
    if infer:
        print("\n| inference | ranks | time (s, slowest rank) | max rank peak (MB) | ratio | halo rows per rank |")
        print("|---|---|---|---|---|---|")
        base = infer[0]
        for row in infer:
            halo = "-" if row["world_size"] == 1 else "/".join(str(r["halo"]) for r in row["ranks"])
            print(f"| exact layer-wise | {row['world_size']} | {row['seconds']:.2f} | {row['peak_mb']:.0f} | "
                  f"{row['peak_mb'] / base['peak_mb']:.2f} | {halo} |")
    if csbm is not None:
        s1 = csbm["single"]
        print(f"\n| CSBM nodes | edges | parts | 1 process peak (MB) | rank peaks (MB) | ratio (max rank / 1 process) "
              f"| ratio above floor | epoch s: 1 proc / ranks |\n|---|---|---|---|---|---|---|---|")
        rp = [r["peak_mb"] for r in csbm["ranks"]]
        print(f"| {csbm['nodes']:,} | {csbm['edges']:,} | {csbm['parts']} | {s1['peak_mb']:.0f} | "
              f"{' / '.join(f'{p:.0f}' for p in rp)} | {csbm['peak_ratio']:.2f} | "
              f"{(max(rp) - floor) / (s1['peak_mb'] - floor):.2f} | {s1['epoch_s']:.1f} / "
              f"{' / '.join(f'{t:.1f}' for t in (r['epoch_s'] for r in csbm['ranks']))} |")
    write_atomic(args.out, lambda f: json.dump({"commit": commit, "config": vars(args), "floor_mb": floor,
                                                "train": train, "inference": infer, "csbm": csbm},
                                               f, indent=1), mode="w")


if __name__ == "__main__":
    main()
