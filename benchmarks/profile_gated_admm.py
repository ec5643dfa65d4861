"""Where the gated ADMM's CPU time goes (one thread): setup (Gram of the u-step, its Cholesky or
Woodbury factor) against iterations, and the screened solve's stages, on the synthetic problem of
``bench_convex_speed.py`` (d = 30, 60 gates, seed 0). Prints one line per measurement.

    PYTHONPATH=. OMP_NUM_THREADS=1 flock /tmp/graphopt-bench.lock .venv/bin/python benchmarks/profile_gated_admm.py --n 3000 --beta-frac 0.1
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import torch

from bench_convex_speed import teacher_data
from graphopt.convex import ConvexReLUProgram, sample_patterns, solve_admm, zero_beta
from graphopt.convex import admm


def cpu(f, repeat: int = 3) -> float:
    """Smallest process CPU time of ``repeat`` calls (the first one warms the libraries up)."""
    best = float("inf")
    for _ in range(repeat):
        c = time.process_time()
        f()
        best = min(best, time.process_time() - c)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--beta-frac", type=float, default=0.1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    X, y = teacher_data(args.n, 30, "squared", 0)
    pat = sample_patterns(X, 60, seed=0)
    prog = ConvexReLUProgram(X, y, pat, loss="squared", beta=args.beta_frac * zero_beta(X, y, pat.D),
                             gated=True)
    Xt, D = torch.as_tensor(X), torch.as_tensor(pat.D, dtype=torch.float64)
    n, d, P = args.n, X.shape[1], pat.num_patterns
    A = (Xt[:, :, None] * D[:, None, :]).reshape(n, d * P)
    G = admm._gram(Xt, D)
    G.diagonal().add_(1.0)
    print(f"n={n} dP={d * P} beta={args.beta_frac:g} beta_max")
    print(f"Gram A^T A as one product (before): {cpu(lambda: A.T @ A):.3f} s")
    print(f"Gram from pair products (_gram):    {cpu(lambda: admm._gram(Xt, D)):.3f} s")
    print(f"Cholesky of the dP x dP matrix:     {cpu(lambda: torch.linalg.cholesky(G)):.3f} s")
    print(f"Woodbury n x n product + Cholesky:  "
          f"{cpu(lambda: torch.linalg.cholesky((Xt @ Xt.T) * (D @ D.T) + torch.eye(n))):.3f} s")
    ops = admm._Operators(Xt, D, gated=True)
    Y = torch.as_tensor(prog.Y)
    print(f"FISTA phase ({admm.SCREEN_ITERATIONS} steps):           "
          f"{cpu(lambda: admm._fista(ops, Y, prog.beta, admm.SCREEN_ITERATIONS)):.3f} s")
    for screen in (False, True):
        for dtype in (torch.float64, torch.float32):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                solve_admm(prog, max_iter=10, progress=False, dtype=dtype, screen=screen)
                sol = solve_admm(prog, tol=1e-12, max_iter=100, progress=False, dtype=dtype,
                                 screen=screen, polish=False)
            h = {r["iteration"]: r["cpu_time"] for r in sol.history}
            first, last = min(h), max(h)
            print(f"screen={screen} {str(dtype)[6:]} {sol.solver_info['linear_solver']}: "
                  f"CPU to the end of iteration 1 (setup + 1 step) {h[first]:.3f} s, then "
                  f"{(h[last] - h[first]) / (last - first) * 1e3:.2f} ms per iteration"
                  + (f", {sol.solver_info['screened_patterns']} of {P} patterns kept"
                     if screen else ""))


if __name__ == "__main__":
    main()
