"""Run code of ``graphopt gossip rates | run | train`` (parsers: ``gossip.py``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import CLIError, set_threads
from .._io import check_parent, make_output_dir
from ..datasets import communication_graph
from ..gossip.problems import (DistributedProblem, libsvm_problem, synthetic_least_squares,
                               synthetic_logistic)
from ..gossip.rates import compare_rate_designs
from ..gossip.report import save_convergence_plot, save_histories_csv
from ..gossip.runner import METHODS, make_method

__all__ = ["rates", "run", "train"]

_RATED = ("dadao", "continuized", "msda", "randomized_gossip")


def _graph(args: argparse.Namespace):
    return communication_graph(args.graph, args.n, seed=args.seed)


def rates(args: argparse.Namespace) -> int:
    designs = [d.strip() for d in args.designs.split(",") if d.strip()]
    g = _graph(args)
    rows = compare_rate_designs(g, designs)
    print(f"graph {args.graph}, n = {g.num_nodes}, {g.num_edges} edges; "
          "every design scaled to 2*chi1*chi2 = 1")
    print(f"| {'design':<12} | {'chi1':>9} | {'chi2':>9} | {'total rate':>10} | "
          f"{'saving':>6} | {'edges':>5} | {'time (s)':>8} |")
    print(f"|{'-' * 14}|{'-' * 11}|{'-' * 11}|{'-' * 12}|{'-' * 8}|{'-' * 7}|{'-' * 10}|")
    for r in rows:
        print(f"| {r['design']:<12} | {r['chi1']:>9.4g} | {r['chi2']:>9.4g} | "
              f"{r['total_rate']:>10.4g} | {r['saving']:>5.2f}x | {r['active_edges']:>5} | "
              f"{r['seconds']:>8.3f} |")
    return 0


def _problem(args: argparse.Namespace, n: int) -> DistributedProblem:
    if args.problem == "least_squares":
        return synthetic_least_squares(n, args.dim, args.samples,
                                       heterogeneity=args.heterogeneity, seed=args.seed)
    if args.problem == "logistic":
        return synthetic_logistic(n, args.dim, args.samples, heterogeneity=args.heterogeneity,
                                  reg=args.reg, seed=args.seed)
    return libsvm_problem(args.problem, n, reg=args.reg, max_samples=args.samples * n,
                          seed=args.seed)


def run(args: argparse.Namespace) -> int:
    set_threads(args.threads, torch=False)  # the simulator is NumPy only
    methods = [m.strip() for m in args.method.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise CLIError(f"--method: unknown {unknown or methods}; choose from "
                       f"{', '.join(METHODS)}")
    out = make_output_dir(args.out)
    graph = _graph(args)
    problem = _problem(args, graph.num_nodes)
    print(f"graph {args.graph} (n = {graph.num_nodes}, {graph.num_edges} edges), problem "
          f"{args.problem} (d = {problem.dim}, mu = {problem.mu:.3g}, L = {problem.L:.3g})")
    histories = []
    for name in methods:
        options = {}
        if name in _RATED and args.rates != "weights":
            options["rates"] = args.rates
        if name in ("dadao", "continuized", "randomized_gossip", "dgd", "dpsgd"):
            options["seed"] = args.seed
        h = make_method(name, **options).fit(
            problem, graph, max_grads=args.max_grads, max_comms=args.max_comms, tol=args.tol,
            max_wall=args.max_wall, progress=not args.quiet).history_
        histories.append(h)
        print(f"{name:<20} {h.stop_reason:<10} grads {h.grads[-1]:>9}  comms {h.comms[-1]:>9}  "
              f"relative error {h.relative_error[-1]:.3e}")
    title = (f"{args.graph} graph, n = {graph.num_nodes}, {args.problem} (d = {problem.dim}), "
             f"{args.rates} rates")
    plot = save_convergence_plot(histories, out / "convergence.png", title=title)
    table = save_histories_csv(histories, out / "convergence.csv")
    print(f"wrote {plot} and {table}")
    return 0


def _parse_speed(text: str | None, n: int) -> list[float] | None:
    """``"3:5"`` (worker 3 five times slower), ``"3:5,6:2"``, or ``n`` comma-separated factors."""
    if not text:
        return None
    try:
        if ":" in text:
            speed = [1.0] * n
            for item in text.split(","):
                rank, factor = item.split(":")
                if not 0 <= int(rank) < n:
                    raise CLIError(f"--speed: worker {rank} is not in 0..{n - 1}")
                speed[int(rank)] = float(factor)
            return speed
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise CLIError(f"--speed: expected 'RANK:FACTOR[,...]' or {n} factors, got {text!r}")


def _train_task(args: argparse.Namespace, n: int):
    from ..gossip.problems import mnist_task

    if args.problem == "mnist":
        return mnist_task(n, hidden=args.hidden, train_rows=args.train_rows,
                          batch_size=args.batch_size or 32, seed=args.seed, root=args.root)
    if args.problem == "least_squares":
        return synthetic_least_squares(n, args.dim, args.samples,
                                       heterogeneity=args.heterogeneity, seed=args.seed)
    return libsvm_problem(args.problem, n, reg=args.reg, max_samples=args.samples * n,
                          seed=args.seed, root=args.root)


def train(args: argparse.Namespace) -> int:
    from ..gossip import runtime

    # --json may go inside the --out folder that training creates; anywhere else its folder must exist
    if args.json and Path(args.json).parent.resolve() != Path(args.out).resolve():
        check_parent(args.json)
    if args.n is None:  # torchrun claims abbreviations of --n, so --workers alone is enough
        args.n = args.workers or int(os.environ.get("WORLD_SIZE", 0)) or 16
    if args.workers is not None and args.workers != args.n:
        raise CLIError(f"--workers {args.workers} does not match the graph's --n {args.n}")
    graph = _graph(args)
    task = _train_task(args, graph.num_nodes)
    out = Path(args.out)
    options = dict(method=args.method, rates=args.rates, workers=args.workers, out=out,
                   time_unit=args.time_unit, time_limit=args.time_limit, seed=args.seed,
                   speed=_parse_speed(args.speed, graph.num_nodes), grad_time=args.grad_time,
                   max_lag=args.max_lag, checkpoint_every=args.checkpoint_every,
                   timeout=args.timeout, lr=args.lr, batch_size=args.batch_size)
    title = (f"{args.method} on {args.graph} (n = {graph.num_nodes}), {args.problem}, "
             f"{args.rates} rates, {graph.num_nodes} processes")
    files = dict(csv=str(out / "train.csv"), png=str(out / "train.png"), json_path=args.json,
                 title=title)
    try:
        if runtime.under_torchrun():
            cfg = runtime.prepare(task, graph, **options)
            res = runtime.train_torchrun(task, cfg, **files)
            if res is None:
                return 0
        else:
            print(f"{title}: time unit {args.time_unit} s, time limit {args.time_limit} s",
                  flush=True)
            res = runtime.train(task, graph, progress=not args.quiet, **options, **files)
    except runtime.WorkerFailure as e:
        print(f"graphopt gossip train: {e}", file=sys.stderr)
        print(f"completed checkpoints written to {out}", file=sys.stderr)
        return 1
    last = res.rows[-1]
    metric = (f"relative error {last['relative_error']:.3e}" if res.metric == "error"
              else f"test accuracy {last['accuracy']:.4f}")
    print(f"{res.method}: {metric} after {last['wall']:.1f} s, {last['grads']} gradients, "
          f"{last['comms']} communications, {last['bytes']} bytes")
    print("wrote", ", ".join(res.files.values()))
    return 0
