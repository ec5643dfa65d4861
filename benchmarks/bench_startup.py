"""Start-up cost of the command line: process CPU time of ``graphopt --help`` and of every
``graphopt COMMAND --help`` (issue 12, goal 5: each under 2 s of CPU), beside ``python -c "import
torch"`` as the reference for what one heavy import costs, and optionally beside another checkout's
CLI (``--compare DIR``, e.g. the code before the lazy parsers). Two more rows time a fresh
interpreter that imports torch and graphopt._ops and takes one Adam step, with
``torch.optim.Adam`` and with graphopt's ``adam`` (torch's update without the decorators that
import ``torch._dynamo``): their difference is what every training process saves.

Each measurement is a fresh interpreter (OMP_NUM_THREADS=1); its CPU time (user + system) and
wall time come from the child's own rusage (``os.wait4``). Commands are interleaved round by round
so machine load hits all of them alike; the table gives medians over the rounds.

    python benchmarks/bench_startup.py [--rounds 5] [--compare /path/to/other/checkout]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from graphopt.cli._paths import output_path

REPO = Path(__file__).resolve().parents[1]
GOAL_CPU_S = 2.0
COMMANDS = [[], ["cluster-gcn"], ["lagnn"], ["convex-relu"], ["gossip"], ["gossip", "run"],
            ["gossip", "train"], ["gossip", "rates"], ["info"], ["partition"], ["demo"]]


def measure(argv: list[str], cwd: Path) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one child process running ``argv``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(cwd)}
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {err[-500:]}")
    return usage.ru_utime + usage.ru_stime, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--compare", type=Path, default=None,
                    help="another checkout whose 'python -m graphopt ... --help' to time alongside")
    ap.add_argument("--json", type=lambda text: Path(output_path(text)),
                    default=Path(__file__).with_suffix(".json"))
    args = ap.parse_args()

    cases = [("python -c 'import torch'", [sys.executable, "-c", "import torch"], REPO)]
    for name, make in (("torch.optim.Adam", "torch.optim.Adam(m.parameters(), fused=True)"),
                       ("graphopt._ops.adam", "adam(m.parameters())")):
        step = ("import torch; from graphopt._ops import adam; m = torch.nn.Linear(8, 2); "
                f"opt = {make}; m(torch.randn(4, 8)).sum().backward(); opt.step()")
        cases.append((f"import torch + first {name} step", [sys.executable, "-c", step], REPO))
    for cmd in COMMANDS:
        label = " ".join(["graphopt", *cmd, "--help"])
        cases.append((label, [sys.executable, "-m", "graphopt", *cmd, "--help"], REPO))
        if args.compare is not None:
            cases.append((f"{label} [compare]", [sys.executable, "-m", "graphopt", *cmd, "--help"],
                          args.compare.resolve()))
    samples: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in cases}
    for _ in range(args.rounds):
        for label, argv, cwd in cases:
            samples[label].append(measure(argv, cwd))

    torch_cpu = statistics.median(c for c, _ in samples[cases[0][0]])
    rows = []
    for label, _, _ in cases:
        cpu = statistics.median(c for c, _ in samples[label])
        wall = statistics.median(w for _, w in samples[label])
        rows.append({"command": label, "cpu_s": cpu, "wall_s": wall, "cpu_vs_import_torch": cpu / torch_cpu,
                     "meets_goal": label.startswith("graphopt") and "[compare]" not in label
                     and cpu < GOAL_CPU_S})
    print(f"| command | CPU s (median of {args.rounds}) | wall s | CPU / import torch |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| `{r['command']}` | {r['cpu_s']:.3f} | {r['wall_s']:.3f} | {r['cpu_vs_import_torch']:.2f}x |")
    ours = [r for r in rows if r["command"].startswith("graphopt") and "[compare]" not in r["command"]]
    worst = max(ours, key=lambda r: r["cpu_s"])
    print(f"\nslowest --help: {worst['command']} at {worst['cpu_s']:.3f} s CPU "
          f"(goal < {GOAL_CPU_S} s: {'met' if worst['cpu_s'] < GOAL_CPU_S else 'MISSED'})")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    tmp = args.json.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"commit": commit, "rounds": args.rounds, "python": sys.version.split()[0],
                               "compare": str(args.compare) if args.compare else None, "rows": rows},
                              indent=1))
    os.replace(tmp, args.json)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
