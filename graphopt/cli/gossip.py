"""``graphopt gossip rates`` and ``graphopt gossip run``: edge-rate designs and convergence runs
of DADAO (Nabli & Oyallon, ICML 2023) and its baselines on a named communication graph."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import CLIError
from ..datasets import COMMUNICATION_GRAPHS, communication_graph
from ..gossip.problems import (DistributedProblem, libsvm_problem, synthetic_least_squares,
                               synthetic_logistic)
from ..gossip.rates import RATE_DESIGNS, compare_rate_designs
from ..gossip.report import save_convergence_plot, save_histories_csv
from ..gossip.runner import METHODS, make_method

__all__ = ["register"]

_PROBLEMS = ("least_squares", "logistic", "a9a", "w8a")
_RATED = ("dadao", "continuized", "msda", "randomized_gossip")


def _graph(args: argparse.Namespace):
    return communication_graph(args.graph, args.n, seed=args.seed)


def _rates(args: argparse.Namespace) -> int:
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


def _run(args: argparse.Namespace) -> int:
    methods = [m.strip() for m in args.method.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise CLIError(f"--method: unknown {unknown or methods}; choose from "
                       f"{', '.join(METHODS)}")
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
    out = Path(args.out)
    plot = save_convergence_plot(histories, out / "convergence.png")
    table = save_histories_csv(histories, out / "convergence.csv")
    print(f"wrote {plot} and {table}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("gossip", help="decentralized optimization: DADAO and baselines")
    sub = p.add_subparsers(dest="gossip_command", metavar="{rates,run}", required=True)

    def graph_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--graph", default="barbell", choices=sorted(COMMUNICATION_GRAPHS),
                       help="communication topology (default barbell)")
        q.add_argument("--n", type=int, default=16, help="number of workers (default 16)")
        q.add_argument("--seed", type=int, default=0, help="seed for random graphs and runs")

    r = sub.add_parser("rates", help="chi1, chi2 and total rate of edge-rate designs")
    graph_args(r)
    r.add_argument("--designs", default="uniform,max_lambda2,sdp",
                   help=f"comma-separated subset of {', '.join(RATE_DESIGNS)}")
    r.set_defaults(func=_rates)

    q = sub.add_parser("run", help="run methods; write convergence.png and convergence.csv")
    graph_args(q)
    q.add_argument("--method", default="dadao",
                   help=f"comma-separated methods among {', '.join(METHODS)}")
    q.add_argument("--problem", default="least_squares", choices=_PROBLEMS)
    q.add_argument("--rates", default="uniform", choices=("uniform", "sdp", "weights"),
                   help="edge rates of DADAO / Continuized / MSDA / randomized gossip")
    q.add_argument("--dim", type=int, default=10, help="features of synthetic problems")
    q.add_argument("--samples", type=int, default=50, help="samples per worker")
    q.add_argument("--heterogeneity", type=float, default=1.0)
    q.add_argument("--reg", type=float, default=0.1, help="l2 regularization (logistic)")
    q.add_argument("--max-grads", type=int, default=None)
    q.add_argument("--max-comms", type=int, default=None)
    q.add_argument("--max-wall", type=float, default=60.0, help="seconds per method")
    q.add_argument("--tol", type=float, default=1e-8, help="target relative error")
    q.add_argument("--out", required=True, help="output folder")
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    q.set_defaults(func=_run)
