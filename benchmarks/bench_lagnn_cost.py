"""Cost of LA-GNN on CPU: CVAE pre-training, X̄ generation, and LA training per epoch relative to the backbone.

Everything for one dataset runs side by side in one process, so the ratios compare like with like
on a shared machine; absolute seconds are for orientation. Writes ``benchmarks/bench_lagnn_cost.json``.

    PYTHONPATH=. GRAPHOPT_DATA=/work/shared/datasets python benchmarks/bench_lagnn_cost.py
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from graphopt.augment import LAGAT, LAGCN, LAClassifier, NeighborCVAE
from graphopt.datasets import load_planetoid


def per_epoch(model, cvae, g, epochs: int, **kw) -> float:
    t = time.perf_counter()
    LAClassifier(model, cvae, epochs=epochs, patience=None, progress=False, **kw).fit(g)
    return (time.perf_counter() - t) / epochs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["cora", "citeseer"])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
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
        r["la_gcn_epoch_s_fresh"] = per_epoch(LAGCN(f, 16, c, num_generated=1), cvae, g, e)
        r["la_gcn_epoch_s_pool16"] = per_epoch(LAGCN(f, 16, c, num_generated=1), cvae, g, e, pool_size=16)
        r["gat_epoch_s"] = per_epoch(LAGAT(f, 8, c, num_generated=0), None, g, e, **plain)
        r["la_gat_epoch_s_pool16"] = per_epoch(LAGAT(f, 8, c, num_generated=1), cvae, g, e, pool_size=16)
        results[ds] = r
        print(ds, r, flush=True)
    fd, tmp = tempfile.mkstemp(dir=Path(args.out).parent, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump({"config": vars(args), "results": results}, fh, indent=1)
    os.replace(tmp, args.out)
    print("| dataset | CVAE pre-training, wall / CPU (s) | one X̄ (s) | GCN epoch (s) | LA-GCN / GCN, fresh X̄ | "
          "LA-GCN / GCN, pool 16 | LA-GAT / GAT, pool 16 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for ds, r in results.items():
        print(f"| {ds} | {r['cvae_fit_s']:.1f} / {r['cvae_fit_cpu_s']:.1f} | {r['generate_one_xbar_s']:.3f} | {r['gcn_epoch_s']:.3f} | "
              f"{r['la_gcn_epoch_s_fresh'] / r['gcn_epoch_s']:.1f}x | {r['la_gcn_epoch_s_pool16'] / r['gcn_epoch_s']:.1f}x | "
              f"{r['la_gat_epoch_s_pool16'] / r['gat_epoch_s']:.1f}x |")


if __name__ == "__main__":
    main()
