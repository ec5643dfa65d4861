"""Optimality: ADMM's objective against the CVXPY (Clarabel) optimum of the same sampled program.

For the squared, logistic and hinge losses, exact (cone-constrained) and gated programs, on a
synthetic teacher-network task small enough for CVXPY. Prints a markdown table and writes
``bench_convex_optimality.json`` beside this script.

    PYTHONPATH=. python benchmarks/bench_convex_optimality.py [--n 500 --d 10 --patterns 40]
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path

import torch

from graphopt.convex import ConvexReLUProgram, sample_patterns, solve_admm, solve_cvxpy, zero_beta

from bench_convex_speed import teacher_data, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--d", type=int, default=10)
    parser.add_argument("--patterns", type=int, default=40)
    parser.add_argument("--beta-frac", type=float, default=0.05)
    parser.add_argument("--tol", type=float, default=1e-7)
    parser.add_argument("--max-iter", type=int, default=30000)
    parser.add_argument("--time-limit", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    rows = []
    for loss in ("squared", "logistic", "hinge"):
        X, y = teacher_data(args.n, args.d, loss, seed=args.seed)
        pat = sample_patterns(X, args.patterns, seed=args.seed)
        beta = args.beta_frac * zero_beta(X, y, pat.D)
        for gated in (False, True):
            prog = ConvexReLUProgram(X, y, pat, loss=loss, beta=beta, gated=gated)
            ref = solve_cvxpy(prog)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sol = solve_admm(prog, tol=args.tol, max_iter=args.max_iter,
                                 time_limit=args.time_limit, progress=False)
            gap = (sol.objective - ref.objective) / abs(ref.objective)
            rows.append({
                "loss": loss, "program": "gated" if gated else "exact", "n": args.n,
                "d": args.d, "patterns": pat.num_patterns, "beta": beta,
                "cvxpy_objective": ref.objective, "cvxpy_solver": ref.solver_info["solver"],
                "cvxpy_time": ref.solver_info["solve_time"], "admm_objective": sol.objective,
                "relative_gap": gap, "admm_cone_violation": sol.solver_info["cone_violation"],
                "admm_iterations": sol.iterations, "admm_time": sol.solver_info["solve_time"],
                "admm_converged": sol.converged, "linear_solver": sol.solver_info["linear_solver"],
                "within_1e-4": abs(gap) <= 1e-4})
            print(f"done {loss} {'gated' if gated else 'exact'}: gap {gap:.2e}", flush=True)

    print(f"\nn={args.n}, d={args.d}, {args.patterns} gates requested, beta = "
          f"{args.beta_frac} * max_i ||X^T D_i y||, ADMM tol={args.tol}, seed {args.seed}\n")
    print("| loss | program | P | CVXPY objective | ADMM objective | rel. gap | ADMM cone viol. "
          "| ADMM iters | ADMM s | CVXPY s | within 1e-4 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['loss']} | {r['program']} | {r['patterns']} | {r['cvxpy_objective']:.6f} | "
              f"{r['admm_objective']:.6f} | {r['relative_gap']:+.1e} | "
              f"{r['admm_cone_violation']:.1e} | {r['admm_iterations']} | {r['admm_time']:.1f} | "
              f"{r['cvxpy_time']:.1f} | {'yes' if r['within_1e-4'] else 'NO'} |")
    write_json(Path(__file__).with_suffix(".json"), {
        "args": vars(args), "machine": f"{platform.machine()} {platform.processor()}, "
        "2 shared CPU cores", "torch_threads": 1, "rows": rows, "date": time.ctime()})


if __name__ == "__main__":
    main()
