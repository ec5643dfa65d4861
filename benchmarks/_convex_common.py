"""Shared helpers of the convex core benchmarks: synthetic data and a memory/time-capped CVXPY run."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


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
