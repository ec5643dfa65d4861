"""Speed: ADMM's time to a 1e-3 relative objective gap against CVXPY's solve time.

The same sampled exact (cone-constrained) squared-loss program at n = 1000, 3000, 10000 (sizes in
increasing order). CVXPY (Clarabel) runs in a child process capped by RLIMIT_AS and a wall-clock
limit, and its result is reported as "did not finish" / "ran out of memory" when it hits them; ADMM
keeps going. Where CVXPY has no optimum there is no gap to measure: the row gives ADMM's final
objective, cone violation and iteration count instead. Also holds the synthetic data helpers used by
``bench_convex_optimality.py``. Prints a markdown table and writes ``bench_convex_speed.json``.

    PYTHONPATH=. python benchmarks/bench_convex_speed.py [--sizes 1000 3000 10000]
"""

from __future__ import annotations

import argparse
import json
import platform
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import warnings

from graphopt.convex import ConvexReLUProgram, sample_patterns, solve_admm


def teacher_data(n: int, d: int, loss: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal inputs labelled by a random width-5 ReLU teacher plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    hidden = np.maximum(X @ rng.standard_normal((d, 5)) / np.sqrt(d), 0.0)
    y = hidden @ rng.standard_normal(5) + 0.1 * rng.standard_normal(n)
    if loss != "squared":
        y = np.where(y >= np.median(y), 1.0, -1.0)
    return X, y


def beta_scale(X: np.ndarray, y: np.ndarray, D: np.ndarray) -> float:
    """``max_i ||X^T D_i y||``: the squared-loss beta above which the gated solution is zero."""
    return float(np.linalg.norm(X.T @ (D * y[:, None]), axis=0).max())


_CHILD = r"""
import json, sys, time, numpy as np
from graphopt.convex import ConvexReLUProgram, Patterns, solve_cvxpy
a = np.load(sys.argv[1])
pat = Patterns(G=a["G"], D=a["D"], bias=bool(a["bias"]), requested=int(a["requested"]))
prog = ConvexReLUProgram(a["X"], a["y"], pat, loss=str(a["loss"]), beta=float(a["beta"]),
                         gated=bool(a["gated"]))
t = time.perf_counter()
sol = solve_cvxpy(prog)
out = {"objective": sol.objective, "time": time.perf_counter() - t,
       "status": sol.solver_info["status"], "solver": sol.solver_info["solver"],
       "cone_violation": sol.solver_info["cone_violation"]}
json.dump(out, open(sys.argv[2], "w"))
"""


def cvxpy_capped(X, y, patterns, loss: str, beta: float, gated: bool, *, time_limit: float,
                 memory_gb: float) -> dict:
    """Solve with CVXPY in a child process under RLIMIT_AS and a wall-clock limit.

    Returns the child's result, or ``{"status": "time limit"|"out of memory"|...}``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        data, result = Path(tmp) / "p.npz", Path(tmp) / "r.json"
        np.savez(data, X=X, y=y, G=patterns.G, D=patterns.D, bias=patterns.bias,
                 requested=patterns.requested, loss=loss, beta=beta, gated=gated)
        limit = int(memory_gb * 2**30)

        def cap() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            os.nice(5)

        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]),
                   OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        start = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-c", _CHILD, str(data), str(result)],
                                  preexec_fn=cap, env=env, capture_output=True, text=True,
                                  timeout=time_limit)
        except subprocess.TimeoutExpired:
            return {"status": f"did not finish in {time_limit:.0f} s", "time": None}
        elapsed = time.perf_counter() - start
        if proc.returncode == 0 and result.exists():
            return json.loads(result.read_text())
        err = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
        if "MemoryError" in proc.stderr or "memory" in err.lower() or proc.returncode < 0:
            return {"status": f"ran out of memory at {memory_gb:g} GB after {elapsed:.0f} s",
                    "time": None, "error": err[:200]}
        return {"status": f"failed ({err[:200]})", "time": None}


def write_json(path: Path, payload: dict) -> None:
    """Write ``payload`` atomically (temp file + rename)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(path)


def time_to_gap(history: list[dict], optimum: float, gap: float) -> tuple[float | None, int | None]:
    """First logged (time, iteration) from which the relative objective gap stays below ``gap``."""
    logged = [h for h in history if "objective" in h]
    for k, h in enumerate(logged):
        if all(abs(g["objective"] - optimum) <= gap * abs(optimum) for g in logged[k:]):
            return h["time"], h["iteration"]
    return None, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10000])
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--patterns", type=int, default=50)
    parser.add_argument("--beta-frac", type=float, default=0.05)
    parser.add_argument("--gap", type=float, default=1e-3)
    parser.add_argument("--cvxpy-time-limit", type=float, default=1200.0)
    parser.add_argument("--cvxpy-memory-gb", type=float, default=6.0)
    parser.add_argument("--admm-time-limit", type=float, default=240.0)
    parser.add_argument("--admm-max-iter", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    out_path = Path(__file__).with_suffix(".json")
    rows = []
    for n in sorted(args.sizes):
        X, y = teacher_data(n, args.d, "squared", seed=args.seed)
        pat = sample_patterns(X, args.patterns, seed=args.seed)
        beta = args.beta_frac * beta_scale(X, y, pat.D)
        ref = cvxpy_capped(X, y, pat, "squared", beta, False, time_limit=args.cvxpy_time_limit,
                           memory_gb=args.cvxpy_memory_gb)
        prog = ConvexReLUProgram(X, y, pat, loss="squared", beta=beta)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol = solve_admm(prog, tol=1e-7, max_iter=args.admm_max_iter,
                             time_limit=args.admm_time_limit,
                             eval_every=5, progress=False)
        optimum = ref.get("objective")
        t_gap, it_gap = (time_to_gap(sol.history, optimum, args.gap) if optimum is not None
                         else (None, None))
        row = {"n": n, "d": args.d, "patterns": pat.num_patterns, "beta": beta,
               "cvxpy_status": ref["status"], "cvxpy_time": ref.get("time"),
               "cvxpy_objective": ref.get("objective"),
               "admm_setup_time": sol.solver_info["setup_time"],
               "admm_time_to_gap": t_gap, "admm_iterations_to_gap": it_gap,
               "admm_final_objective": sol.objective,
               "admm_final_gap": (sol.objective - optimum) / abs(optimum) if optimum else None,
               "admm_final_primal_residual": sol.history[-1]["primal_residual"],
               "admm_final_dual_residual": sol.history[-1]["dual_residual"],
               "admm_total_time": sol.solver_info["solve_time"],
               "admm_iterations": sol.iterations,
               "admm_cone_violation": sol.solver_info["cone_violation"],
               "linear_solver": sol.solver_info["linear_solver"],
               "speedup": (ref["time"] / t_gap) if ref.get("time") and t_gap else None}
        rows.append(row)
        print(json.dumps(row), flush=True)
        write_json(out_path, {"args": vars(args), "rows": rows, "date": time.ctime(),
                              "machine": f"{platform.machine()}, 2 shared CPU cores"})

    print(f"\nexact squared-loss program, d={args.d}, {args.patterns} gates requested, beta = "
          f"{args.beta_frac} * max_i ||X^T D_i y||, seed {args.seed}; CVXPY capped at "
          f"{args.cvxpy_time_limit:.0f} s and {args.cvxpy_memory_gb:g} GB\n")
    print("| n | P | CVXPY (Clarabel) | ADMM to 1e-3 gap | ADMM iters | speedup | ADMM setup "
          "| u-step solver | ADMM final: objective, gap, cone viol. (iters, s) |")
    print("|---:|---:|---|---:|---:|---:|---:|---|---|")
    for r in rows:
        cv = f"{r['cvxpy_time']:.1f} s" if r["cvxpy_time"] else r["cvxpy_status"]
        tg = (f"{r['admm_time_to_gap']:.1f} s" if r["admm_time_to_gap"] else
              "no reference" if r["cvxpy_objective"] is None else "not reached")
        gap = f"{r['admm_final_gap']:+.1e}" if r["admm_final_gap"] is not None else "n/a"
        sp = f"{r['speedup']:.1f}x" if r["speedup"] else "-"
        print(f"| {r['n']} | {r['patterns']} | {cv} | {tg} | {r['admm_iterations_to_gap']} | "
              f"{sp} | {r['admm_setup_time']:.1f} s | {r['linear_solver']} | "
              f"{r['admm_final_objective']:.6g}, {gap}, {r['admm_cone_violation']:.0e} "
              f"({r['admm_iterations']}, {r['admm_total_time']:.0f} s) |")


if __name__ == "__main__":
    main()
