"""LA-GNN on an accelerator: CVAE pre-training, X̄ generation, LA-GCN / LA-GCNII epochs and accuracy on CUDA.

Runs only when CUDA is present (otherwise it says it skipped and writes nothing). Per dataset it
times, on the GPU, in one process: the neighbour CVAE's fit (10 epochs over all pairs), one
generated matrix, and a steady-state LA-GCN epoch (K=4 passes, fresh X̄ every pass) in float32
and under bf16 autocast; then full LA-GCN fits (``--seeds``) for test accuracy and
``torch.cuda.max_memory_allocated``. The same CVAE fit and LA-GCN epoch run on the CPU with one
thread in the same process, so the speed-up is a ratio measured side by side. ``--device cpu``
runs the script's GPU half on the CPU (a smoke test of the script, not a measurement).

    GRAPHOPT_DATA=/work/shared/datasets .venv/bin/python benchmarks/bench_lagnn_device.py
    # smoke test without a GPU:
    GRAPHOPT_DATA=/work/shared/datasets .venv/bin/python benchmarks/bench_lagnn_device.py \
        --device cpu --datasets cora --cvae-epochs 1 --epochs 5 --seeds 1 --out /tmp/lagnn_device.json

Writes ``benchmarks/bench_lagnn_device.json`` (atomically) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch

from graphopt.cli._paths import output_path
from graphopt._io import write_atomic
from graphopt.augment import LAGCN, LAGCNII, LAClassifier, NeighborCVAE, resolve_device
from graphopt.datasets import load_planetoid


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device):
    sync(device)
    t, cpu = time.perf_counter(), time.process_time()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t, time.process_time() - cpu


def per_epoch(model, cvae, g, epochs: int, device, **kw) -> float:
    """Steady-state seconds per epoch: (fit of 2E epochs - fit of E epochs) / E (one-off costs cancel)."""
    times = []
    for e in (epochs, 2 * epochs):
        clf = LAClassifier(copy.deepcopy(model), cvae, epochs=e, patience=None, progress=False, device=device, **kw)
        times.append(timed(lambda: clf.fit(g), device)[1])
    return (times[1] - times[0]) / epochs


def run_dataset(name: str, args, dev: torch.device) -> dict:
    g = load_planetoid(name)
    f, c = g.num_features, g.num_classes
    r: dict = {"nodes": g.num_nodes, "features": f}
    cpu = torch.device("cpu")
    for where, d in (("device", dev), ("cpu", cpu)):
        cvae, wall, cpu_s = timed(lambda: NeighborCVAE(epochs=args.cvae_epochs, seed=0, progress=False,
                                                       device=d).fit(g), d)
        r[f"cvae_fit_s_{where}"], r[f"cvae_fit_cpu_s_{where}"] = wall, cpu_s
        r[f"cvae_loss_{where}"] = cvae.history_[-1]["loss"]
        if where == "device":
            gen_dev = cvae
            sampler = cvae.sampler(g)
            sampler.sample(1, 0)
            r["generate_one_xbar_s_device"] = timed(lambda: sampler.sample(5, 1), d)[1] / 5
        else:
            gen_cpu = cvae
        r[f"la_gcn_epoch_s_{where}"] = per_epoch(LAGCN(f, 16, c), gen_dev if where == "device" else gen_cpu,
                                                 g, args.epochs, d)
    r["la_gcn_epoch_s_device_bf16"] = per_epoch(LAGCN(f, 16, c), gen_dev, g, args.epochs, dev, amp="bf16")
    r["la_gcnii_epoch_s_device"] = per_epoch(LAGCNII(f, 64, c, num_layers=64), gen_dev, g, args.epochs, dev)
    accs, peaks = [], []
    for seed in range(args.seeds):
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        clf = LAClassifier(LAGCN(f, 16, c), gen_dev, epochs=args.fit_epochs, patience=100, seed=seed,
                           progress=False, device=dev).fit(g)
        accs.append(clf.score())
        peaks.append(torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else float("nan"))
    r.update(test_acc=accs, test_acc_mean=float(np.mean(accs)), peak_mb=float(np.max(peaks)))
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda or cuda:N (cpu: smoke test only)")
    ap.add_argument("--datasets", nargs="+", default=["cora", "citeseer", "pubmed"])
    ap.add_argument("--cvae-epochs", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=20, help="E: epochs of the shorter of two timed fits")
    ap.add_argument("--fit-epochs", type=int, default=300, help="epochs of each accuracy fit (patience 100)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", type=output_path, default=str(Path(__file__).with_suffix(".json")))
    args = ap.parse_args()
    torch.set_num_threads(1)
    try:
        dev = resolve_device(args.device)
    except ValueError as e:
        print(f"bench_lagnn_device: skipped, no accelerator here ({e})")
        return
    results = {}
    for name in args.datasets:
        results[name] = run_dataset(name, args, dev)
        print(name, results[name], flush=True)
    meta = {"config": vars(args), "device": str(dev), "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None}
    write_atomic(args.out, lambda fh: json.dump({**meta, "results": results}, fh, indent=1), mode="w")
    print(f"\ndevice {dev} ({meta['gpu']}); CPU columns: one thread, same process")
    print("| dataset | CVAE fit device / CPU (s) | speed-up | one X̄ (s) | LA-GCN epoch device / CPU (s) | speed-up | "
          "bf16 / fp32 epoch | LA-GCNII-64 epoch (s) | test acc (seeds) | peak MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['cvae_fit_s_device']:.2f} / {r['cvae_fit_s_cpu']:.2f} | "
              f"{r['cvae_fit_s_cpu'] / r['cvae_fit_s_device']:.1f}x | {r['generate_one_xbar_s_device']:.4f} | "
              f"{r['la_gcn_epoch_s_device']:.4f} / {r['la_gcn_epoch_s_cpu']:.4f} | "
              f"{r['la_gcn_epoch_s_cpu'] / r['la_gcn_epoch_s_device']:.1f}x | "
              f"{r['la_gcn_epoch_s_device_bf16'] / r['la_gcn_epoch_s_device']:.2f} | "
              f"{r['la_gcnii_epoch_s_device']:.4f} | {100 * r['test_acc_mean']:.1f} ({len(r['test_acc'])}) | "
              f"{r['peak_mb']:.0f} |")


if __name__ == "__main__":
    main()
