"""Cost of LA-GNN on CPU: CVAE pre-training, X̄ generation, and LA training per epoch relative to the backbone.

Everything for one dataset runs side by side in one process, so the ratios compare like with like
on a shared machine; absolute seconds are for orientation. Writes ``benchmarks/bench_lagnn_cost.json``.

    PYTHONPATH=. GRAPHOPT_DATA=/work/shared/datasets python benchmarks/bench_lagnn_cost.py
"""

from __future__ import annotations

import argparse
import json
import copy
import time
from pathlib import Path

import torch

from graphopt.cli._paths import output_path
from graphopt._io import write_atomic
from graphopt.augment import LAGAT, LAGCN, LAClassifier, NeighborCVAE
from graphopt.datasets import load_planetoid


def per_epoch(model, cvae, g, epochs: int, dense_x: bool = False, **kw) -> float:
    """Steady-state seconds per epoch: (fit of 2E epochs - fit of E epochs) / E, so one-off costs
    (the pool's generation, model set-up) cancel. ``dense_x`` feeds bag-of-words X dense."""
    times = []
    for e in (epochs, 2 * epochs):
        m = copy.deepcopy(model)
        if dense_x:
            m.sparse_input = False
        t = time.perf_counter()
        LAClassifier(m, cvae, epochs=e, patience=None, progress=False, **kw).fit(g)
        times.append(time.perf_counter() - t)
    return (times[1] - times[0]) / epochs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["cora", "citeseer"])
    ap.add_argument("--epochs", type=int, default=10, help="E: epochs of the shorter of two timed fits")
    ap.add_argument("--out", type=output_path, default=str(Path(__file__).with_suffix(".json")))
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = {}
    for ds in args.datasets:
        g = load_planetoid(ds)
        t, cpu = time.perf_counter(), time.process_time()
        cvae = NeighborCVAE(seed=0, progress=False).fit(g)
        # CPU seconds beside wall seconds: on a shared machine the wall clock counts other jobs' load
        r = {"cvae_fit_s": time.perf_counter() - t, "cvae_fit_cpu_s": time.process_time() - cpu,
             "pairs": cvae.history_[0]["pairs"]}
        t = time.perf_counter()
        sampler = cvae.sampler(g)
        r["sampler_setup_s"] = time.perf_counter() - t
        t = time.perf_counter()
        sampler.sample(5, 0)
        r["generate_one_xbar_s"] = (time.perf_counter() - t) / 5
        f, c, e = g.num_features, g.num_classes, args.epochs
        plain = dict(num_samples=1, consistency=0.0)
        r["gcn_epoch_s"] = per_epoch(LAGCN(f, 16, c, num_generated=0), None, g, e, **plain)
        r["gcn_epoch_s_dense_x"] = per_epoch(LAGCN(f, 16, c, num_generated=0), None, g, e, True, **plain)
        r["la_gcn_epoch_s_pool16_dense_x"] = per_epoch(LAGCN(f, 16, c, num_generated=1), cvae, g, e, True,
                                                       pool_size=16)
        r["la_gcn_epoch_s_fresh"] = per_epoch(LAGCN(f, 16, c, num_generated=1), cvae, g, e)
        r["la_gcn_epoch_s_pool16"] = per_epoch(LAGCN(f, 16, c, num_generated=1), cvae, g, e, pool_size=16)
        r["gat_epoch_s"] = per_epoch(LAGAT(f, 8, c, num_generated=0), None, g, e, **plain)
        r["la_gat_epoch_s_pool16"] = per_epoch(LAGAT(f, 8, c, num_generated=1), cvae, g, e, pool_size=16)
        results[ds] = r
        print(ds, r, flush=True)
    write_atomic(args.out, lambda fh: json.dump({"config": vars(args), "results": results}, fh, indent=1),
                 mode="w")
    print("| dataset | CVAE pre-training, wall / CPU (s) | one X̄ (s) | GCN epoch (s) | LA-GCN / GCN, fresh X̄ | "
          "LA-GCN / GCN, pool 16 | LA-GAT / GAT, pool 16 | sparse X speed-up: GCN / LA-GCN |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for ds, r in results.items():
        print(f"| {ds} | {r['cvae_fit_s']:.1f} / {r['cvae_fit_cpu_s']:.1f} | {r['generate_one_xbar_s']:.3f} | "
              f"{r['gcn_epoch_s']:.4f} | {r['la_gcn_epoch_s_fresh'] / r['gcn_epoch_s']:.1f}x | "
              f"{r['la_gcn_epoch_s_pool16'] / r['gcn_epoch_s']:.1f}x | "
              f"{r['la_gat_epoch_s_pool16'] / r['gat_epoch_s']:.1f}x | "
              f"{r['gcn_epoch_s_dense_x'] / r['gcn_epoch_s']:.1f}x / "
              f"{r['la_gcn_epoch_s_pool16_dense_x'] / r['la_gcn_epoch_s_pool16']:.1f}x |")


if __name__ == "__main__":
    main()
