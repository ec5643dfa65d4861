"""Decentralized training on real processes: 8 workers over torch.distributed (gloo, loopback).

Four measurements, each with short runs (one process per worker, spawned by
``graphopt.gossip.runtime.train``; every worker single-threaded):

1. **Simulator agreement** (DADAO, a9a split over 8 workers on a cycle, uniform rates): the error
   of a real run after ``k`` events against the simulator's after the same ``k`` events, at a few
   checkpoints; median ratio over 3 seeds (goal: within 2x).
2. **Designed rates, for real** (8-node barbell, DADAO on a9a): communications (edge
   activations) until relative error 1e-4 with SDP and with uniform rates; the measured ratio
   against the predicted one (the ratio of total rates); median over 3 seeds.
3. **Stragglers** (DADAO vs all-reduce gradient descent on a9a, 8-node barbell with SDP rates):
   each gradient costs ``GRAD_TIME`` seconds of emulated compute (a sleep) times the worker's
   speed factor; wall time to relative error 1e-4 with all workers nominal and with worker 3
   five times slower.
4. **MNIST** (MLP 784-64-10, 8,000 training rows split over 8 workers, 2,000 test rows): mean
   test accuracy of the workers against wall time for gossip SGD on a ring (uniform rates), on
   an SDP-designed topology (random geometric graph, SDP rates) and for all-reduce SGD.

Time unit: 0.05 s per unit of the Poisson clocks (each worker has one gradient event per unit and
about 1-6 exchanges), so that on a 2-core machine the per-event compute and the loopback
messages (about 1 ms a round trip) leave each worker mostly idle and on schedule.

    flock /tmp/graphopt-bench.lock .venv/bin/python benchmarks/bench_gossip_runtime.py [--quick]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import platform
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from graphopt._io import write_atomic
from graphopt.datasets import communication_graph
from graphopt.gossip.dadao import DADAO
from graphopt.gossip.problems import libsvm_problem, mnist_task
from graphopt.gossip.rates import sdp_rates, uniform_rates
from graphopt.gossip.report import save_runtime_plot
from graphopt.gossip.runtime import train

torch.set_num_threads(1)
OUT = Path(__file__).with_suffix(".json")
FIG = Path(__file__).with_suffix(".png")
ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
UNIT = 0.05
GRAD_TIME = 0.005


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def real_run(task, graph, tmp: Path, **kw):
    cpu0, t0 = children_cpu(), time.perf_counter()
    res = train(task, graph, out=tmp / f"run{time.perf_counter_ns()}", progress=False,
                time_unit=kw.pop("time_unit", UNIT), **kw)
    return res, time.perf_counter() - t0, children_cpu() - cpu0


def agreement(problem, tmp: Path, seeds, horizon_units: float) -> dict:
    graph = communication_graph("cycle", 8)
    rates = uniform_rates(graph)
    out = []
    for seed in seeds:
        res, wall, cpu = real_run(problem, graph, tmp, method="dadao", rates=rates, seed=seed,
                                  time_limit=horizon_units * UNIT, checkpoint_every=10)
        skipped = sum(w["skipped"] for w in res.workers)
        checks = []
        for r in res.rows[1:]:
            if r["time"] not in (40.0, 80.0, 120.0):
                continue
            k = r["grads"] + r["comms"]
            h = DADAO(rates=rates, seed=seed).fit(problem, graph, max_events=k,
                                                  record_every=10**9, progress=False).history_
            checks.append(dict(time=r["time"], events=k, real=r["relative_error"],
                               sim=float(h.relative_error[-1]),
                               ratio=r["relative_error"] / float(h.relative_error[-1])))
        out.append(dict(seed=seed, wall=wall, cpu=cpu, skipped=skipped, checks=checks))
    by_time = {}
    for run in out:
        for c in run["checks"]:
            by_time.setdefault(c["time"], []).append(c)
    summary = [dict(time=t, events=float(np.median([c["events"] for c in cs])),
                    real=float(np.median([c["real"] for c in cs])),
                    sim=float(np.median([c["sim"] for c in cs])),
                    median_ratio=float(np.median([c["ratio"] for c in cs])),
                    ratios=[c["ratio"] for c in cs]) for t, cs in sorted(by_time.items())]
    return dict(runs=out, summary=summary)


def designed_rates(problem, tmp: Path, seeds, time_limit: float) -> dict:
    graph = communication_graph("barbell", 8)
    designs = dict(uniform=uniform_rates(graph), sdp=sdp_rates(graph))
    runs = []
    for seed in seeds:
        for name, rates in designs.items():
            res, wall, cpu = real_run(problem, graph, tmp, method="dadao", rates=rates,
                                      seed=seed, time_limit=time_limit, checkpoint_every=2)
            runs.append(dict(design=name, seed=seed, wall=wall, cpu=cpu,
                             comms=res.first_below(1e-4, "comms"),
                             wall_to_target=res.first_below(1e-4, "wall"),
                             final=res.rows[-1]["relative_error"],
                             skipped=sum(w["skipped"] for w in res.workers)))
    med = {d: float(np.median([r["comms"] for r in runs if r["design"] == d])) for d in designs}
    return dict(runs=runs, median_comms=med, measured_ratio=med["uniform"] / med["sdp"],
                predicted_ratio=float(designs["uniform"].sum() / designs["sdp"].sum()),
                total_rates={d: float(r.sum()) for d, r in designs.items()})


def stragglers(problem, tmp: Path, time_limit: float, unit: float) -> dict:
    graph = communication_graph("barbell", 8)
    rates = sdp_rates(graph)
    rows, results = [], {}
    for label, speed in (("nominal", None), ("worker 3 5x slower", [1, 1, 1, 5, 1, 1, 1, 1])):
        for method in ("dadao", "allreduce"):
            res, wall, cpu = real_run(problem, graph, tmp, method=method, rates=rates, seed=0,
                                      speed=speed, grad_time=GRAD_TIME, time_unit=unit,
                                      time_limit=time_limit, checkpoint_every=2)
            results[label, method] = res
            rows.append(dict(case=label, method=method, wall=wall, cpu=cpu,
                             wall_to_target=res.first_below(1e-4, "wall"),
                             final=res.rows[-1]["relative_error"],
                             grads=res.rows[-1]["grads"],
                             skipped=sum(w["skipped"] for w in res.workers),
                             straggler_grads=res.workers[3]["grads"]))
    ratios = {}
    for label in ("nominal", "worker 3 5x slower"):
        a = next(r for r in rows if r["case"] == label and r["method"] == "dadao")
        s = next(r for r in rows if r["case"] == label and r["method"] == "allreduce")
        ratios[label] = a["wall_to_target"] / s["wall_to_target"]
    return dict(rows=rows, async_over_allreduce=ratios), results


def mnist(tmp: Path, time_limit: float) -> tuple[dict, list]:
    task = mnist_task(8, root=str(ROOT), seed=0)
    ring = communication_graph("cycle", 8)
    rgg = communication_graph("random_geometric", 8, seed=0)
    cases = [("gossip-sgd, ring, uniform rates", ring, "gossip-sgd", uniform_rates(ring)),
             ("gossip-sgd, random geometric, SDP rates", rgg, "gossip-sgd", sdp_rates(rgg)),
             ("all-reduce SGD", ring, "allreduce", uniform_rates(ring))]
    rows, results = [], []
    for label, graph, method, rates in cases:
        res, wall, cpu = real_run(task, graph, tmp, method=method, rates=rates, seed=0,
                                  lr=0.1, time_limit=time_limit, checkpoint_every=20)
        results.append((label, res))
        curve = [(round(r["wall"], 2), round(r["accuracy"], 4)) for r in res.rows]
        rows.append(dict(case=label, wall=wall, cpu=cpu, final_accuracy=res.rows[-1]["accuracy"],
                         wall_to_85=res.first_above(0.85, "wall"),
                         grads=res.rows[-1]["grads"], comms=res.rows[-1]["comms"],
                         bytes=res.rows[-1]["bytes"], edges=int((rates > 0).sum()),
                         total_rate=float(rates.sum()), curve=curve))
    return dict(rows=rows), results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one seed, short runs (smoke test)")
    ap.add_argument("--only", default="agreement,rates,stragglers,mnist")
    args = ap.parse_args()
    parts = set(args.only.split(","))
    seeds = [0] if args.quick else [0, 1, 2]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=Path(__file__).parent).stdout.strip()
    results: dict = dict(machine=f"{platform.processor() or platform.machine()}, "
                                 f"{os.cpu_count()} cores (shared), 1 thread per worker",
                         commit=commit, time_unit=UNIT, grad_time=GRAD_TIME)
    problem = libsvm_problem("a9a", 8, max_samples=4000, reg=0.1, seed=0, root=str(ROOT))
    results["problem"] = dict(name="a9a, 4000 rows, 8 workers", mu=problem.mu, L=problem.L)
    tmp = Path(tempfile.mkdtemp(prefix="bench_gossip_runtime_"))
    figs = []
    try:
        if "agreement" in parts:
            results["agreement"] = agreement(problem, tmp, seeds, 60 if args.quick else 125)
        if "rates" in parts:
            results["rates"] = designed_rates(problem, tmp, seeds, 5 if args.quick else 11)
        if "stragglers" in parts:
            results["stragglers"], sres = stragglers(problem, tmp, 4 if args.quick else 10,
                                                     UNIT)
            figs.append(([sres[k] for k in sres], [f"{m} ({c})" for c, m in sres],
                         "8 workers on the barbell (SDP rates), a9a: DADAO vs all-reduce GD, "
                         f"{GRAD_TIME * 1e3:.0f} ms per gradient"))
        if "mnist" in parts:
            results["mnist"], mres = mnist(tmp, 6 if args.quick else 20)
            figs.append(([r for _, r in mres], [label for label, _ in mres],
                         "MNIST MLP over 8 processes: gossip SGD vs all-reduce SGD"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(results)
    write_atomic(OUT, lambda f: json.dump(results, f, indent=1, default=float), mode="w")
    for k, (res, labels, title) in enumerate(figs):
        path = FIG if k == 0 else FIG.with_name(FIG.stem + "_mnist.png")
        save_runtime_plot(res, path, title=title, labels=labels)


def report(r: dict) -> None:
    print(f"## Decentralized training on real processes ({r['machine']}, commit {r['commit']}, "
          f"time unit {r['time_unit']} s)\n")
    if "agreement" in r:
        print("### Simulator agreement (DADAO, a9a, cycle of 8, uniform rates)\n")
        print("| time (units) | events k | real rel. error | simulator rel. error | "
              "median ratio | ratios (seeds) |")
        print("|---:|---:|---:|---:|---:|---|")
        for s in r["agreement"]["summary"]:
            print(f"| {s['time']:.0f} | {s['events']:.0f} | {s['real']:.3e} | {s['sim']:.3e} | "
                  f"{s['median_ratio']:.2f} | {', '.join(f'{x:.2f}' for x in s['ratios'])} |")
        print()
    if "rates" in r:
        d = r["rates"]
        print("### Designed rates on the 8-node barbell (DADAO, a9a): communications to 1e-4\n")
        print("| design | total rate | median comms | runs (comms, wall to target s) |")
        print("|---|---:|---:|---|")
        for name in ("uniform", "sdp"):
            runs = [x for x in d["runs"] if x["design"] == name]
            print(f"| {name} | {d['total_rates'][name]:.2f} | {d['median_comms'][name]:.0f} | "
                  + ", ".join(f"{x['comms']:.0f} ({x['wall_to_target']:.1f})" for x in runs)
                  + " |")
        print(f"\nmeasured saving {d['measured_ratio']:.2f}x, predicted "
              f"{d['predicted_ratio']:.2f}x\n")
    if "stragglers" in r:
        print("### Stragglers (a9a, barbell of 8, SDP rates; 5 ms emulated compute per gradient)\n")
        print("| case | method | wall to 1e-4 (s) | final rel. error | gradients | "
              "straggler's gradients | skipped | run wall (s) | workers' CPU (s) |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for x in r["stragglers"]["rows"]:
            print(f"| {x['case']} | {x['method']} | {x['wall_to_target']:.2f} | "
                  f"{x['final']:.2e} | {x['grads']} | {x['straggler_grads']} | {x['skipped']} | "
                  f"{x['wall']:.1f} | {x['cpu']:.1f} |")
        print("\nasynchronous / all-reduce wall time to target: " + ", ".join(
            f"{k}: {v:.2f}" for k, v in r["stragglers"]["async_over_allreduce"].items()) + "\n")
    if "mnist" in r:
        print("### MNIST (MLP, 8 workers): mean test accuracy of the workers\n")
        print("| run | edges | total rate | final accuracy | wall to 85% (s) | gradients | "
              "communications | MB sent | workers' CPU (s) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for x in r["mnist"]["rows"]:
            print(f"| {x['case']} | {x['edges']} | {x['total_rate']:.1f} | "
                  f"{x['final_accuracy']:.4f} | {x['wall_to_85']:.1f} | {x['grads']} | "
                  f"{x['comms']} | {x['bytes'] / 1e6:.0f} | {x['cpu']:.1f} |")
        print()


if __name__ == "__main__":
    main()
