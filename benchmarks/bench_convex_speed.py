"""Speed: time to a 1e-3 gap on the exact (or gated) convex ReLU program, ADMM vs CVXPY and pyscnn.

The gap is scored on the *network* the returned weights define (``program.network_objective``:
``loss(sum_i (X v_i)_+ - (X w_i)_+) + beta * sum of norms``), so an iterate that breaks the cone
constraints is charged for what its network actually predicts; gap = |network objective - CVXPY
optimum| / optimum, two-sided: an infeasible iterate whose network lands below the sampled optimum
(its neurons then use other patterns) has not solved this program and does not count.
Problems: the exact squared-loss program (with ``--programs gated`` the gated one, whose network
objective is its convex objective ``loss(sum_i D_i X v_i) + beta * sum of norms``) on the sampled
patterns of ``--patterns`` Gaussian gates, synthetic teacher data (d = 30) and a9a
(standardized rows of the official train file, labels +-1 as targets), n = 1000 and 3000,
beta = ``--beta-fracs`` x beta_max (``max_i ||X^T D_i y||``, the gated program's zero threshold).

Peers, all in this process and timed by its process CPU time: CVXPY (Clarabel; compile included);
pyscnn 0.0.10 (Mishkin, Sahiner & Pilanci, ICML 2022; ``pip install pyscnn``, benchmark only)
in this process on the very same gates and data (``unitize_data=False``, float64, lambda =
beta / n since its loss is averaged): its augmented Lagrangian (AL) for the exact program and its
R-FISTA for the gated program (``--programs gated``). pyscnn dedupes the patterns with
``np.unique(axis=1)``, which *sorts* them, so its returned neurons come in another order than ours;
they are mapped back by matching the patterns of its returned gates (``X G > 0``; ours are
``X G >= 0``, the same on data without exact ties, checked) to ours before scoring (without that
map the gated model's ``sum_i D_i X v_i`` differs from pyscnn's own predictions, and the exact
program's cone violation is measured against the wrong patterns; the exact network objective is
order-free). Timing is process CPU time (one torch thread; wall beside it).
ADMM runs in each of ``--dtypes`` (float64 and float32 working precision; the gap is always scored
in float64 on the returned weights). ADMM "to gap" is the first logged iterate after which the gap
stays below 1e-3 (an oracle stop, logged every 10 iterations, where ADMM also checks its residuals;
the unpolished iterates, so the final polish is not credited);
each pyscnn solver runs a ladder of tolerances from scratch and is credited with the cheapest run
whose returned network reaches the gap. Prints a markdown table, writes ``bench_convex_speed.json``.

    flock /tmp/graphopt-bench.lock .venv/bin/python benchmarks/bench_convex_speed.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

# one thread for every peer (numpy/BLAS, Clarabel, torch): set before numpy is imported
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np
import torch

from graphopt.cli._paths import output_path
from graphopt._io import write_atomic
from graphopt.convex import ConvexReLUProgram, sample_patterns, solve_admm, zero_beta


def teacher_data(n: int, d: int, loss: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal inputs labelled by a random width-5 ReLU teacher plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    hidden = np.maximum(X @ rng.standard_normal((d, 5)) / np.sqrt(d), 0.0)
    y = hidden @ rng.standard_normal(5) + 0.1 * rng.standard_normal(n)
    if loss != "squared":
        y = np.where(y >= np.median(y), 1.0, -1.0)
    return X, y


def a9a_rows(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random rows of a9a's training file, non-constant columns standardized, labels +-1."""
    from graphopt.convex.data import a9a

    task = a9a(os.environ.get("GRAPHOPT_DATA"))
    idx = np.random.default_rng(seed).choice(len(task.y_train), n, replace=False)
    X, y = task.X_train[idx], task.y_train[idx]
    X = X[:, X.std(0) > 0]
    return (X - X.mean(0)) / X.std(0), y


def cvxpy_in_process(prog: ConvexReLUProgram) -> dict:
    """Solve with CVXPY (Clarabel) in this process: process CPU time (compile included) and wall."""
    from graphopt.convex import solve_cvxpy

    t, c = time.perf_counter(), time.process_time()
    try:
        sol = solve_cvxpy(prog)
    except (RuntimeError, MemoryError) as err:
        return {"status": f"failed ({str(err)[:200]})", "time": None}
    return {"objective": sol.objective, "time": time.perf_counter() - t,
            "cpu_time": time.process_time() - c, "status": sol.solver_info["status"],
            "solver": sol.solver_info["solver"], "cone_violation": sol.solver_info["cone_violation"]}


def write_json(path: Path, payload: dict) -> None:
    """Write ``payload`` atomically (temp file + rename)."""
    write_atomic(path, lambda f: f.write(json.dumps(payload, indent=2)), mode="w")


def time_to_gap(history: list[dict], optimum: float, gap: float, key: str = "network_objective"
                ) -> tuple[float | None, float | None, int | None]:
    """First logged (CPU time, wall time, iteration) from which ``key`` stays within ``gap``
    (relative, two-sided) of ``optimum``."""
    logged = [h for h in history if key in h]
    for k, h in enumerate(logged):
        if all(abs(g[key] - optimum) <= gap * abs(optimum) for g in logged[k:]):
            return h["cpu_time"], h["time"], h["iteration"]
    return None, None, None


class _OutOfCPU(Exception):
    pass


def _out_of_cpu(signum, frame):
    raise _OutOfCPU


def pyscnn_ladder(prog: ConvexReLUProgram, optimum: float, gap: float, gated: bool,
                  tols: list[float], cap: float) -> dict:
    """Run pyscnn's AL (exact) or R-FISTA (gated) at each tolerance from scratch; the first run
    whose returned network reaches ``gap`` is the result (CPU time), or the last run's gap."""
    from scnn.metrics import Metrics
    from scnn.models import ConvexGatedReLU, ConvexReLU
    from scnn.optimize import optimize_model
    from scnn.regularizers import NeuronGL1
    from scnn.solvers import AL, RFISTA

    X, y, G = prog.X, prog.Y, prog.patterns.G
    if prog.patterns.bias:
        raise ValueError("pyscnn comparison is set up for patterns without a bias")
    lam = prog.beta / prog.num_samples  # pyscnn averages the loss over samples
    out = {"solver": "R-FISTA" if gated else "AL", "runs": []}
    for tol in tols:
        model = ConvexGatedReLU(G, c=1) if gated else ConvexReLU(G, c=1)
        solver = RFISTA(model, tol=tol, max_iters=100000) if gated else AL(
            model, tol=tol, constraint_tol=tol, max_primal_iters=100000, max_dual_iters=100000)
        c0, t0 = time.process_time(), time.perf_counter()
        signal.signal(signal.SIGPROF, _out_of_cpu)
        signal.setitimer(signal.ITIMER_PROF, cap)  # counts this process's CPU time
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fitted, _ = optimize_model(model, solver, Metrics(), X, y, regularizer=NeuronGL1(lam),
                                           return_convex=True, unitize_data=False, dtype="float64")
        except _OutOfCPU:
            cpu = time.process_time() - c0
            out["runs"].append({"tol": tol, "cpu_time": cpu, "time": time.perf_counter() - t0,
                                "gap": None, "status": f"stopped at the {cap:g} s CPU cap"})
            return {**out, **out["runs"][-1], "reached": False}
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        params = [pyscnn_to_graphopt(prog, p, fitted.G) for p in fitted.parameters]
        V, W = params[0], (None if gated else params[1])
        net = prog.network_objective(V, W)
        run = {"tol": tol, "cpu_time": cpu, "time": wall, "gap": (net - optimum) / abs(optimum),
               "cone_violation": prog.cone_violation(V, W)}
        if gated:  # pyscnn's own predictions must be the gated model's sum_i D_i X v_i
            pred = np.asarray(fitted(np.asarray(X)))
            run["prediction_mismatch"] = float(np.abs(pred - prog.forward(V).numpy()).max())
        out["runs"].append(run)
        if abs(run["gap"]) <= gap:
            return {**out, **run, "reached": True}
        cap -= cpu
        if cap <= 0:
            break
    return {**out, **out["runs"][-1], "reached": False}


def pyscnn_to_graphopt(prog: ConvexReLUProgram, weights: np.ndarray, G: np.ndarray
                       ) -> torch.Tensor:
    """pyscnn's (C, p, d) convex weights as ours (P, d, C), neurons in our pattern order.

    pyscnn sorts its deduplicated patterns (``np.unique``), so neuron j of its model carries the
    pattern ``X G[:, j] > 0`` of its returned gates, not our pattern j; match them."""
    D = np.asarray(prog.X) @ np.asarray(G) > 0
    ours = {prog.patterns.D[:, j].tobytes(): j for j in range(prog.num_patterns)}
    try:
        order = [ours[D[:, j].tobytes()] for j in range(D.shape[1])]
    except KeyError as err:
        raise RuntimeError("a pattern of pyscnn's model is not one of ours") from err
    if len(set(order)) != len(order):
        raise RuntimeError("pyscnn's model repeats a pattern")
    out = torch.zeros(prog.num_patterns, prog.num_features, prog.num_outputs, dtype=torch.float64)
    out[order] = torch.as_tensor(np.asarray(weights), dtype=torch.float64).permute(1, 2, 0)
    return out


def bench_one(name: str, X: np.ndarray, y: np.ndarray, frac: float, args, gated: bool
              ) -> list[dict]:
    """One problem: CVXPY once, then ADMM in each of ``args.dtypes`` (one row each)."""
    pat = sample_patterns(X, args.patterns, seed=args.seed)
    beta = frac * zero_beta(X, y, pat.D)
    prog = ConvexReLUProgram(X, y, pat, loss="squared", beta=beta, gated=gated)
    ref = cvxpy_in_process(prog)
    optimum = ref.get("objective")
    row = {"data": name, "n": X.shape[0], "d": X.shape[1], "patterns": pat.num_patterns,
           "program": "gated" if gated else "exact", "beta_frac": frac, "beta": beta,
           "cvxpy_status": ref["status"], "cvxpy_cpu": ref.get("cpu_time"),
           "cvxpy_time": ref.get("time"), "cvxpy_objective": optimum}
    rows = []
    for dtype in args.dtypes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol = solve_admm(prog, tol=1e-9, max_iter=args.admm_max_iter,
                             time_limit=args.admm_time_limit, eval_every=10, progress=False,
                             dtype=getattr(torch, dtype))
        last = sol.history[-1]
        cpu, wall, it = time_to_gap(sol.history, optimum, args.gap) if optimum else (None,) * 3
        rows.append({**row, "admm_dtype": dtype, "admm_cpu_to_gap": cpu, "admm_time_to_gap": wall,
                     "admm_iterations_to_gap": it, "admm_iterations": sol.iterations,
                     "admm_cpu": last["cpu_time"],
                     "admm_final_gap": ((last["network_objective"] - optimum) / abs(optimum)
                                        if optimum else None),
                     "admm_polished_gap": ((prog.network_objective(sol.V, sol.W) - optimum)
                                           / abs(optimum) if optimum else None),
                     "admm_polish_cpu": sol.solver_info["polish_cpu_time"],
                     "admm_cone_violation": sol.solver_info["cone_violation"],
                     "admm_active_neurons": int(sum(int((A.norm(dim=1) > 0).sum())
                                                    for A in (sol.V, sol.W) if A is not None)),
                     "linear_solver": sol.solver_info["linear_solver"],
                     "u_step_dtype": sol.solver_info["u_step_dtype"],
                     # screened solves only: rounds of the optimality check, patterns kept
                     "screen_rounds": sol.solver_info.get("screen_rounds"),
                     "screened_patterns": sol.solver_info.get("screened_patterns")})
    if optimum and not args.no_pyscnn:
        rows[0]["pyscnn"] = pyscnn_ladder(prog, optimum, args.gap, gated, args.pyscnn_tols,
                                          args.pyscnn_cap)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000])
    parser.add_argument("--data", nargs="+", default=["synthetic", "a9a"], choices=["synthetic", "a9a"])
    parser.add_argument("--beta-fracs", type=float, nargs="+", default=[1e-3, 1e-2, 1e-1])
    parser.add_argument("--d", type=int, default=30)
    parser.add_argument("--patterns", type=int, default=60)
    parser.add_argument("--gap", type=float, default=1e-3)
    parser.add_argument("--admm-time-limit", type=float, default=120.0, help="CPU seconds")
    parser.add_argument("--admm-max-iter", type=int, default=4000)
    parser.add_argument("--pyscnn-tols", type=float, nargs="+", default=[1e-4, 1e-6, 1e-8])
    parser.add_argument("--pyscnn-cap", type=float, default=300.0, help="CPU seconds per ladder")
    parser.add_argument("--no-pyscnn", action="store_true")
    parser.add_argument("--programs", nargs="+", default=["exact"], choices=["exact", "gated"],
                        help="exact: ADMM vs CVXPY and pyscnn's AL; gated: vs CVXPY and R-FISTA")
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"],
                        choices=["float64", "float32"], help="ADMM's working precision(s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=lambda text: Path(output_path(text)),
                        default=Path(__file__).with_suffix(".json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    commit = commit or os.environ.get("GRAPHOPT_COMMIT", "unknown")  # run from an exported tree
    for n in sorted(args.sizes):
        for name in args.data:
            X, y = teacher_data(n, args.d, "squared", args.seed) if name == "synthetic" else a9a_rows(n, args.seed)
            for frac, program in [(f, p) for p in args.programs for f in args.beta_fracs]:
                for row in bench_one(name, X, y, frac, args, gated=program == "gated"):
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                write_json(args.out, {"args": {k: str(v) if isinstance(v, Path) else v
                                               for k, v in vars(args).items()},
                                      "rows": rows, "commit": commit, "date": time.ctime(),
                                      "machine": f"{platform.machine()}, 2 shared CPU cores"})
    print(table(rows, args))


def table(rows: list[dict], args) -> str:
    fmt = lambda x, u="s": "-" if x is None else f"{x:.1f} {u}".strip()
    lines = [f"\nsquared loss, {args.patterns} gates requested, one seed ({args.seed}); CPU seconds "
             f"(wall in brackets); gap = network objective vs CVXPY optimum, target {args.gap:g}\n",
             "| data | n | program | beta/beta_max | CVXPY | ADMM dtype | ADMM to gap (iters) | vs CVXPY | pyscnn to gap "
             "| ADMM vs pyscnn | ADMM final gap, cone viol. | active neurons (polished) |",
             "|---|---:|---|---:|---|---|---|---:|---|---:|---|---:|"]
    for r in rows:
        cv = (f"{r['cvxpy_cpu']:.1f} ({r['cvxpy_time']:.1f})" if r["cvxpy_cpu"] else r["cvxpy_status"])
        ad = (f"{r['admm_cpu_to_gap']:.2f} ({r['admm_time_to_gap']:.2f}), {r['admm_iterations_to_gap']}"
              if r["admm_cpu_to_gap"] is not None else "not reached")
        ratio = (f"{r['cvxpy_cpu'] / r['admm_cpu_to_gap']:.1f}x"
                 if r["cvxpy_cpu"] and r["admm_cpu_to_gap"] else "-")
        ps, pr = r.get("pyscnn"), "-"
        if ps is None:
            pt = "-"
        elif ps["reached"]:
            pt = f"{ps['solver']} {ps['cpu_time']:.2f} ({ps['time']:.2f}) tol {ps['tol']:g}"
            pr = f"{ps['cpu_time'] / r['admm_cpu_to_gap']:.1f}x" if r["admm_cpu_to_gap"] else "-"
        else:
            pt = (f"{ps['solver']} not reached: gap {ps['gap']:.1e} after {ps['cpu_time']:.0f} s"
                  if ps["gap"] is not None else f"{ps['solver']} not reached in {ps['cpu_time']:.0f} s CPU")
        fg = ("-" if r["admm_final_gap"] is None
              else f"{r['admm_final_gap']:+.1e} (polished {r['admm_polished_gap']:+.1e})")
        lines.append(f"| {r['data']} | {r['n']} | {r['program']} | {r['beta_frac']:g} | {cv} | {r['admm_dtype']} | {ad} | {ratio} "
                     f"| {pt} | {pr} | {fg}, {r['admm_cone_violation']:.0e} | {r['admm_active_neurons']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
