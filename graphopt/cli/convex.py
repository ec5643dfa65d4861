"""``graphopt convex-relu``: train a globally optimal two-layer ReLU network (Bai, Gautam & Sojoudi 2022).

Datasets: mnist-2v8 (the paper's binary task; any pair of digits as mnist-AvB), a9a (LIBSVM) and
cora (convex node classification on SGC features S^k X).
"""

from __future__ import annotations

import argparse

from . import HelpFormatter, add_threads, lazy
from ._paths import output_path

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "convex-relu", help="convex (globally optimal) training of a two-layer ReLU network",
        description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--dataset", required=True, help="mnist-2v8 (or mnist-AvB), a9a, cora")
    p.add_argument("--root", default=None, help="dataset folder (default: $GRAPHOPT_DATA)")
    p.add_argument("--loss", default="logistic", choices=["logistic", "hinge", "squared"],
                   help="training loss")
    p.add_argument("--beta", type=float, default=None,
                   help="weight decay (default: 1e-2 * beta_max of the sampled program)")
    p.add_argument("--patterns", type=int, default=50, help="sampled activation patterns (or SCP directions)")
    p.add_argument("--solver", default="admm", choices=["admm", "cvxpy", "scp"], help="how the program is solved")
    p.add_argument("--gated", action="store_true", help="gated-ReLU program (no cone constraints)")
    p.add_argument("--robust-eps", type=float, default=0.0,
                   help="ℓ∞ radius for convex adversarial training (with --solver cvxpy)")
    p.add_argument("--hops", type=int, default=2, help="cora: propagation steps k of S^k X")
    p.add_argument("--standardize", choices=["auto", "yes", "no"], default="auto",
                   help="standardize columns (auto: a9a yes; MNIST pixels and Cora's S^k X no)")
    p.add_argument("--max-iter", type=int, default=500, help="solver iterations at most")
    p.add_argument("--tol", type=float, default=1e-4, help="stopping tolerance")
    p.add_argument("--time-limit", type=float, default=None, help="seconds of solver time at most")
    p.add_argument("--device", default=None, help="torch device for ADMM/SCP, e.g. cuda (default: cpu)")
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"], help="solver precision")
    add_threads(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled patterns and data split")
    p.add_argument("--attack-eps", type=float, nargs="*", default=[],
                   help="ℓ∞ radii at which to report PGD robust test accuracy")
    p.add_argument("--save", default=None, type=output_path, help="write the recovered network's state_dict here (.pt)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=lazy("_convex:run"), timed=True)
