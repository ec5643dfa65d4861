"""Reproduction of LA-GNN (Liu et al., ICML 2022) on the Planetoid public splits of Cora and CiteSeer.

For each dataset one CVAE is pre-trained (seed 0, the reference's defaults) and shared by all runs,
as the reference shares one checkpoint; every (model, seed) pair then trains from scratch with model
selection on validation loss. Prints a markdown table with the paper's numbers beside ours and
writes ``benchmarks/bench_lagnn_repro.json`` (or ``--out``) after every run, so a cut-off run keeps
what it did.

    PYTHONPATH=. GRAPHOPT_DATA=/work/shared/datasets python benchmarks/bench_lagnn_repro.py --seeds 20

trains every (dataset, model) on seeds 0..19 from scratch and overwrites ``--out``. ``--seeds`` takes
``N`` (seeds 0..N-1), a list ``0,3,5`` or a range ``3-7`` (inclusive; items combine: ``0,3-5``).
Only ``--resume`` continues from ``--out`` (and the CVAE saved in ``--cache``): seeds already there
are skipped, and a file made with other ``--epochs`` / ``--patience`` / ``--pool`` is refused.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from graphopt._io import write_atomic
from graphopt.augment import LAGAT, LAGCN, LAGCNII, LAClassifier, NeighborCVAE
from graphopt.cli._paths import output_path
from graphopt.datasets import load_planetoid

PAPER = {("cora", "gcn"): 81.5, ("cora", "la-gcn"): 84.6, ("cora", "gat"): 83.0, ("cora", "la-gat"): 84.7,
         ("cora", "gcnii"): 85.5, ("cora", "la-gcnii"): 85.7, ("citeseer", "gcn"): 70.3,
         ("citeseer", "la-gcn"): 74.7, ("citeseer", "gat"): 72.5, ("citeseer", "la-gat"): 73.7,
         ("citeseer", "gcnii"): 73.4, ("citeseer", "la-gcnii"): 74.1}

# Per-dataset settings from the paper / reference scripts (semi.sh); m = generated matrices.
GCNII = {"cora": dict(num_layers=64, hidden=64, theta=0.5, dropout=0.6, consistency_la=0.0),
         "citeseer": dict(num_layers=32, hidden=256, theta=0.6, dropout=0.7, consistency_la=1.0)}


def make(dataset: str, name: str, g) -> tuple[torch.nn.Module, dict]:
    m = 1 if name.startswith("la-") else 0
    f, c = g.num_features, g.num_classes
    la = dict(num_samples=4, consistency=1.0, temperature=0.5) if m else dict(num_samples=1, consistency=0.0)
    if name.endswith("gcn"):
        return LAGCN(f, 16, c, num_generated=m, dropout=0.5), dict(lr=0.01, weight_decay=5e-4, **la)
    if name.endswith("gat"):
        return (LAGAT(f, 8, c, heads=8, num_generated=m, dropout=0.6),
                dict(lr=0.01 if m else 0.005, weight_decay=5e-4, **la))
    p = GCNII[dataset]
    if m:
        la["consistency"] = p["consistency_la"]
    model = LAGCNII(f, p["hidden"], c, num_layers=p["num_layers"], alpha=0.1, theta=p["theta"],
                    num_generated=m, dropout=p["dropout"])
    return model, dict(lr=0.01, weight_decay=5e-4, **la)


# The settings that change a run's result: resuming across a change would mix two protocols.
PARAMS = ("epochs", "patience", "pool")


def parse_seeds(text: str) -> list[int]:
    """``"N"`` -> 0..N-1; ``"0,3,5"`` -> those; ``"3-7"`` -> 3..7 inclusive; items combine (``"0,3-5"``)."""
    text = text.strip()
    try:
        if text.isdigit():
            seeds = list(range(int(text)))
        else:
            seeds = []
            for item in text.split(","):
                lo, dash, hi = item.strip().partition("-")
                if dash and int(lo) > int(hi):
                    raise ValueError(f"empty range {item.strip()!r}")
                seeds.extend(range(int(lo), int(hi) + 1) if dash else [int(lo)])
    except ValueError as e:
        raise argparse.ArgumentTypeError(
            f"expected N (seeds 0..N-1), a list 0,3,5 or a range 3-7, got {text!r} ({e})") from None
    if not seeds:
        raise argparse.ArgumentTypeError(f"no seeds in {text!r}")
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seed repeated in {text!r}")
    return seeds


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["cora", "citeseer"])
    ap.add_argument("--models", nargs="+", default=["gcn", "la-gcn", "gat", "la-gat", "gcnii", "la-gcnii"])
    ap.add_argument("--seeds", type=parse_seeds, default=parse_seeds("20"),
                    help="N (0..N-1), a list 0,3,5 or a range 3-7")
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--patience", type=int, default=100)
    ap.add_argument("--pool", type=int, default=16, help="pre-generated X̄ per run (0: fresh every pass)")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "graphopt_lagnn"),
                    help="folder for the CVAE checkpoints (reused only with --resume)")
    ap.add_argument("--out", type=output_path, default=str(Path(__file__).with_suffix(".json")))
    ap.add_argument("--resume", action="store_true",
                    help="continue from --out: skip its seeds; refused if its parameters differ")
    return ap


def start_results(args: argparse.Namespace) -> dict[str, Any]:
    """Fresh results, or with ``--resume`` those in ``--out`` once their parameters match ``args``."""
    out = Path(args.out)
    if not args.resume:
        return {"config": {}, "runs": {}}
    if not out.exists():
        raise SystemExit(f"--resume: {out} does not exist; run without --resume to start")
    results = json.loads(out.read_text())
    for ds in args.datasets:
        stored = results.get("config", {}).get(ds)
        if stored is None:
            continue
        diff = {k: (stored.get(k), getattr(args, k)) for k in PARAMS if stored.get(k) != getattr(args, k)}
        if diff:
            raise SystemExit(f"--resume: {out} holds {ds} runs made with "
                             + ", ".join(f"--{k} {a} (now {b})" for k, (a, b) in diff.items())
                             + "; rerun without --resume, or with the stored parameters")
    return results


def pending(results: dict[str, Any], args: argparse.Namespace) -> list[tuple[str, str, int]]:
    """(dataset, model, seed) still to train: every requested one not already in ``results``."""
    todo = []
    for ds in args.datasets:
        for name in args.models:
            have = {d["seed"] for d in results["runs"].get(f"{ds}/{name}", [])}
            todo.extend((ds, name, seed) for seed in args.seeds if seed not in have)
    return todo


def get_cvae(ds: str, g: Any, args: argparse.Namespace, results: dict[str, Any]) -> NeighborCVAE:
    """The dataset's shared CVAE: from ``--cache`` when resuming, else trained now (and cached)."""
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)  # a cache, which the script owns
    ckpt = cache / f"{ds}_cvae.pt"
    if args.resume and ckpt.exists():
        return NeighborCVAE.load(ckpt, progress=False)
    t = time.perf_counter()
    cvae = NeighborCVAE(seed=0, progress=False).fit(g)
    results.setdefault("cvae_seconds", {})[ds] = time.perf_counter() - t
    cvae.save(ckpt)
    return cvae


def run_one(ds: str, name: str, g: Any, cvae: NeighborCVAE | None, seed: int,
            args: argparse.Namespace) -> dict[str, Any]:
    """Train one (model, seed) from scratch; test / val accuracy, epochs, wall seconds."""
    model, kw = make(ds, name, g)
    t = time.perf_counter()
    clf = LAClassifier(model, cvae if name.startswith("la-") else None, epochs=args.epochs,
                       patience=args.patience, pool_size=args.pool or None, seed=seed,
                       progress=False, **kw).fit(g)
    return {"seed": seed, "test": clf.score(), "val": clf.score(mask="val_mask"),
            "epochs": len(clf.history_), "best_epoch": clf.best_epoch_,
            "seconds": time.perf_counter() - t}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    torch.set_num_threads(1)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    results = start_results(args)
    out = Path(args.out)
    todo = pending(results, args)
    print(f"{len(todo)} runs to train" + (f" ({out} resumed)" if args.resume else ""), flush=True)
    for ds in args.datasets:
        runs = [(name, seed) for d, name, seed in todo if d == ds]
        if not runs:
            continue
        results["config"][ds] = {**{k: v for k, v in vars(args).items() if k != "resume"},
                                 "datasets": [ds], "torch": torch.__version__, "commit": commit}
        g = load_planetoid(ds)
        cvae = get_cvae(ds, g, args, results) if any(n.startswith("la-") for n, _ in runs) else None
        for name, seed in runs:
            row = {**run_one(ds, name, g, cvae, seed, args), "commit": commit}
            results["runs"].setdefault(f"{ds}/{name}", []).append(row)
            print(f"{ds}/{name}", row, flush=True)
            write_atomic(out, lambda f: json.dump(results, f, indent=1), mode="w")
    print(table(results))
    return results


def table(results: dict) -> str:
    """Markdown: paper beside ours per (dataset, model), then each LA model against the paper and its backbone."""
    rows = ["| dataset | model | paper (100 runs) | ours: test acc mean ± std | seeds | vs paper | "
            "LA gain over own backbone | epochs run (mean) | s/run |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    acc = {k: 100 * np.array([d["test"] for d in v]) for k, v in results["runs"].items() if v}
    for key, done in results["runs"].items():
        if not done:
            continue
        ds, name = key.split("/")
        a = acc[key]
        spread = f"{a.mean():.1f} ± {a.std():.1f}" if len(a) > 1 else f"{a.mean():.1f} (one run)"
        base = acc.get(f"{ds}/{name[3:]}") if name.startswith("la-") else None
        gain = f"{a.mean() - base.mean():+.1f}" if base is not None else ""
        rows.append(f"| {ds} | {name.upper()} | {PAPER[(ds, name)]:.1f} | {spread} | {len(a)} | "
                    f"{a.mean() - PAPER[(ds, name)]:+.1f} | {gain} | "
                    f"{np.mean([d['epochs'] for d in done]):.0f} | {np.mean([d['seconds'] for d in done]):.0f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
