"""``graphopt gossip rates``, ``graphopt gossip run`` and ``graphopt gossip train``: edge-rate
designs, simulated convergence runs of DADAO (Nabli & Oyallon, ICML 2023) and its baselines on a
named communication graph, and real decentralized training with one process per worker.
"""

from __future__ import annotations

import argparse
import functools

from . import HelpFormatter, add_threads, lazy
from ._paths import output_path

__all__ = ["register", "COMMUNICATION_GRAPHS", "RATE_DESIGNS", "METHODS"]

# The library's names, repeated so that --help imports neither SciPy nor CVXPY (tests/test_cli.py
# checks they agree with graphopt.datasets.COMMUNICATION_GRAPHS, gossip.rates.RATE_DESIGNS and
# gossip.runner.METHODS).
COMMUNICATION_GRAPHS = ("barbell", "complete", "cycle", "erdos_renyi", "grid", "path",
                        "random_geometric", "star")
RATE_DESIGNS = ("uniform", "max_lambda2", "sdp", "first_order", "metropolis", "max_degree", "fmmc")
METHODS = ("dadao", "continuized", "msda", "adom+", "adom+mc", "dgd", "dpsgd", "randomized_gossip",
           "synchronous_gossip")
_PROBLEMS = ("least_squares", "logistic", "a9a", "w8a")


def _parser_class(parent: argparse.ArgumentParser):
    """Nested subcommand parsers with the plain-text, defaults-showing help of the others."""
    return functools.partial(type(parent), formatter_class=HelpFormatter)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("gossip", help="decentralized optimization: DADAO and baselines",
                              description=__doc__, formatter_class=HelpFormatter)
    sub = p.add_subparsers(dest="gossip_command", metavar="{rates,run,train}", required=True,
                           parser_class=_parser_class(p))

    def graph_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--graph", default="barbell", choices=COMMUNICATION_GRAPHS,
                       help="communication topology")
        q.add_argument("--n", type=int, default=16, help="number of workers")
        q.add_argument("--seed", type=int, default=0, help="seed for random graphs and runs")

    r = sub.add_parser("rates", help="chi1, chi2 and total rate of edge-rate designs")
    graph_args(r)
    r.add_argument("--designs", default="uniform,max_lambda2,sdp",
                   help=f"comma-separated subset of {', '.join(RATE_DESIGNS)}")
    r.set_defaults(func=lazy("_gossip:rates"))

    q = sub.add_parser("run", help="run methods; write convergence.png and convergence.csv")
    graph_args(q)
    q.add_argument("--method", default="dadao",
                   help=f"comma-separated methods among {', '.join(METHODS)}")
    q.add_argument("--problem", default="least_squares", choices=_PROBLEMS,
                   help="distributed problem: synthetic, or LIBSVM rows split over the workers")
    q.add_argument("--rates", default="uniform", choices=("uniform", "sdp", "weights"),
                   help="edge rates of DADAO / Continuized / MSDA / randomized gossip")
    q.add_argument("--dim", type=int, default=10, help="features of synthetic problems")
    q.add_argument("--samples", type=int, default=50, help="samples per worker")
    q.add_argument("--heterogeneity", type=float, default=1.0,
                   help="how much the workers' local problems differ (synthetic problems)")
    q.add_argument("--reg", type=float, default=0.1, help="l2 regularization (logistic)")
    q.add_argument("--max-grads", type=int, default=None, help="stop after this many gradients")
    q.add_argument("--max-comms", type=int, default=None, help="stop after this many communications")
    q.add_argument("--max-wall", type=float, default=60.0, help="seconds per method")
    q.add_argument("--tol", type=float, default=1e-8, help="target relative error")
    q.add_argument("--out", required=True, type=output_path, help="output folder")
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    add_threads(q)
    q.set_defaults(func=lazy("_gossip:run"), timed=True)

    t = sub.add_parser("train", help="real decentralized training: one process per worker "
                       "(torch.distributed, gloo); writes train.csv, train.png")
    graph_args(t)
    t.add_argument("--workers", type=int, default=None,
                   help="number of worker processes, each on one thread (must equal --n)")
    t.add_argument("--method", default="dadao", choices=("dadao", "gossip-sgd", "allreduce"),
                   help="asynchronous DADAO or gossip SGD, or synchronous all-reduce")
    t.add_argument("--problem", default="a9a", choices=("a9a", "w8a", "least_squares", "mnist"),
                   help="what the workers train on")
    t.add_argument("--rates", default="uniform", choices=("uniform", "sdp", "first_order"),
                   help="edge rates (designed at DADAO's threshold 2 chi1 chi2 = 1)")
    t.add_argument("--time-unit", type=float, default=0.05,
                   help="seconds of wall clock per unit of the methods' Poisson clocks")
    t.add_argument("--time-limit", type=float, default=10.0, help="seconds of training")
    t.add_argument("--checkpoint-every", type=float, default=2.0,
                   help="time units between snapshots")
    t.add_argument("--speed", default=None,
                   help="straggler slowdowns, e.g. '3:5' (worker 3 five times slower)")
    t.add_argument("--grad-time", type=float, default=0.0,
                   help="emulated compute seconds per gradient (times the worker's --speed)")
    t.add_argument("--max-lag", type=float, default=2.0,
                   help="time units after which a late gradient event is skipped")
    t.add_argument("--timeout", type=float, default=30.0,
                   help="seconds before a silent peer counts as failed")
    t.add_argument("--lr", type=float, default=None,
                   help="gossip-sgd / allreduce step (default: 1/(2L), 0.05 for mnist)")
    t.add_argument("--batch-size", type=int, default=None,
                   help="mini-batch rows (default: the full local gradient; 32 for mnist)")
    t.add_argument("--samples", type=int, default=500, help="rows per worker (a9a, w8a)")
    t.add_argument("--dim", type=int, default=10, help="features (least_squares)")
    t.add_argument("--heterogeneity", type=float, default=1.0,
                   help="how much the workers' local problems differ (least_squares)")
    t.add_argument("--reg", type=float, default=0.1, help="l2 regularization (a9a, w8a)")
    t.add_argument("--hidden", type=int, default=64, help="MLP hidden units (mnist)")
    t.add_argument("--train-rows", type=int, default=8000, help="MNIST training rows")
    t.add_argument("--root", default=None, help="data root (default: graphopt's)")
    t.add_argument("--out", required=True, type=output_path, help="output folder")
    t.add_argument("--json", default=None,
                   help="write a summary with per-worker counts here (may be inside --out)")
    t.add_argument("--quiet", action="store_true", help="no progress lines")
    t.set_defaults(func=lazy("_gossip:train"), n=None, timed=True)
