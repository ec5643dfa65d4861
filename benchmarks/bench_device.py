"""Cluster-GCN on an accelerator (issue 10): graphopt's pipeline against PyG's own on CUDA.

Measured on Coauthor-Physics when CUDA is present, in one process, runs interleaved:

* graphopt: ``fit(..., device="cuda")`` of the paper's 3-layer ClusterGCN over METIS batches
  (pinned, non-blocking batch copies), fp32 and with ``amp="bf16"``;
* PyG: its own full-batch pipeline (three ``GCNConv`` on the whole graph on the GPU), and, when
  PyG has a METIS backend, its ``ClusterData``/``ClusterLoader`` pipeline.

Reported per run: mean epoch wall time, process CPU time per epoch,
``torch.cuda.max_memory_allocated`` and test accuracy. Without CUDA the script prints that it
skipped, and writes JSON saying so; ``--allow-cpu`` runs the same code on CPU (a smoke check of
the pipeline, not a device measurement).

Run: ``.venv/bin/python benchmarks/bench_device.py`` (writes ``benchmarks/bench_device.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
from graphopt.cli._paths import output_path

HERE = Path(__file__).resolve().parent


def _peak_reset(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)


def _peak_mb(dev: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None


def run_graphopt(g, part, dev, args, amp=None) -> dict:
    from graphopt.cluster_gcn import ClusterGCN, fit

    torch.manual_seed(args.seed)
    model = ClusterGCN(g.num_features, args.hidden, g.num_classes, 3, dropout=0.2)
    _peak_reset(dev)
    c0 = time.process_time()
    hist = fit(model, g, part, clusters_per_batch=args.clusters_per_batch, epochs=args.epochs,
               eval_every=args.epochs, device=dev, amp=amp, seed=args.seed, progress=False)
    return {"pipeline": f"graphopt Cluster-GCN{'' if amp is None else ' ' + amp}",
            "epoch_s": float(np.mean([r["time"] for r in hist.epochs])),
            "cpu_s_per_epoch": (time.process_time() - c0) / args.epochs,
            "max_memory_allocated_mb": _peak_mb(dev), "test": hist.final.get("test")}


def run_pyg_fullbatch(g, dev, args) -> dict:
    from torch_geometric.nn import GCNConv

    ei = torch.from_numpy(np.stack([g._rows(), g.indices])).to(dev)
    x = g.x.toarray() if hasattr(g.x, "toarray") else g.x
    x = torch.from_numpy(np.asarray(x, dtype=np.float32)).to(dev)
    y = torch.from_numpy(g.y).to(dev)
    masks = {k: torch.from_numpy(getattr(g, f"{k}_mask")).to(dev) for k in ("train", "val", "test")}
    torch.manual_seed(args.seed)
    convs = torch.nn.ModuleList([GCNConv(g.num_features, args.hidden), GCNConv(args.hidden, args.hidden),
                                 GCNConv(args.hidden, g.num_classes)]).to(dev)
    opt = torch.optim.Adam(convs.parameters(), lr=0.01)

    def forward(train: bool):
        h = x
        for i, conv in enumerate(convs):
            h = torch.nn.functional.dropout(h, 0.2, train)
            h = conv(h, ei)
            if i < 2:
                h = h.relu()
        return h

    _peak_reset(dev)
    c0, times = time.process_time(), []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(forward(True)[masks["train"]], y[masks["train"]])
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        times.append(time.perf_counter() - t0)
    with torch.no_grad():
        pred = forward(False).argmax(1)
    test = float((pred[masks["test"]] == y[masks["test"]]).float().mean())
    return {"pipeline": "PyG full-batch GCNConv x3", "epoch_s": float(np.mean(times)),
            "cpu_s_per_epoch": (time.process_time() - c0) / args.epochs,
            "max_memory_allocated_mb": _peak_mb(dev), "test": test}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="coauthor-physics")
    ap.add_argument("--parts", type=int, default=32)
    ap.add_argument("--clusters-per-batch", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--allow-cpu", action="store_true", help="run on CPU when CUDA is absent (smoke check)")
    ap.add_argument("--out", type=output_path, default=str(HERE / "bench_device.json"))
    args = ap.parse_args()
    os.environ.setdefault("GRAPHOPT_DATA", str(HERE.parents[1] / "shared" / "datasets"))
    from graphopt import Partition
    from graphopt._io import write_atomic
    from graphopt.datasets import load

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                            text=True).stdout.strip()
    if not torch.cuda.is_available() and not args.allow_cpu:
        msg = "SKIPPED: CUDA is not available on this machine (torch.cuda.is_available() is False); nothing measured"
        print(msg)
        write_atomic(args.out, lambda f: json.dump({"commit": commit, "skipped": True, "reason": msg,
                                                    "config": vars(args)}, f, indent=1), mode="w")
        return
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.set_num_threads(1)
    g = load(args.dataset)
    part = Partition.metis(g, args.parts, seed=args.seed)
    rows = [run_graphopt(g, part, dev, args), run_pyg_fullbatch(g, dev, args)]
    if dev.type == "cuda":
        rows.append(run_graphopt(g, part, dev, args, amp="bf16"))
    print(f"\nCommit {commit}; {args.dataset} on {dev} "
          f"({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'CPU smoke check'}), "
          f"{args.epochs} epochs\n")
    print("| pipeline | epoch (s) | CPU s / epoch | max_memory_allocated (MB) | test acc |")
    print("|---|---|---|---|---|")
    for r in rows:
        mem = "-" if r["max_memory_allocated_mb"] is None else f"{r['max_memory_allocated_mb']:.0f}"
        print(f"| {r['pipeline']} | {r['epoch_s']:.3f} | {r['cpu_s_per_epoch']:.3f} | {mem} | {r['test']:.4f} |")
    write_atomic(args.out, lambda f: json.dump({"commit": commit, "skipped": False, "device": str(dev),
                                                "config": vars(args), "rows": rows}, f, indent=1), mode="w")


if __name__ == "__main__":
    main()
