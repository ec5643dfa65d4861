"""Robust test accuracy under PGD of convex adversarially trained two-layer ReLU networks.

Bai, Gautam & Sojoudi (arXiv 2201.01965) Sec. 4-5: the convex robust program (robust cones
``(2D_i - I) X v_i >= eps ||v_i||_1`` and the hinge loss's worst-case margin), solved here by CVXPY,
against networks of the same width trained by Adam, plainly and with PGD adversarial training
(Madry et al.) at the same training radius, and the standard convex program. Task: MNIST 2 vs 8
from the official test images, 4x4 average-pooled to 7x7 so the robust program (n x d worst-case
terms) fits CVXPY; pixels in [0, 1], attacks clipped to that range. PGD: 40 steps of 2.5 eps / 40,
one random start. The Adam networks have the convex robust network's width.

    PYTHONPATH=. GRAPHOPT_DATA=/work/shared/datasets nice python benchmarks/bench_convex_robust.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from graphopt.convex.attacks import robust_accuracy
from graphopt.convex.baselines import train_nonconvex
from graphopt.convex.data import mnist_pair
from graphopt.convex.estimators import ConvexReLUClassifier
from graphopt.convex.recovery import TwoLayerReLU

from bench_convex_speed import write_json


def _downsample(X: np.ndarray) -> np.ndarray:
    return X.reshape(-1, 7, 4, 7, 4).mean(axis=(2, 4)).reshape(len(X), -1)


def run_seed(seed, *, n_train, patterns, beta, train_eps, attack_eps, epochs):
    t = mnist_pair((2, 8), seed=seed)
    X, y = _downsample(t.X_train)[:n_train], t.y_train[:n_train]
    Xt, yt = _downsample(t.X_test), t.y_test
    attack = lambda net, e: robust_accuracy(net, Xt, yt, e, steps=40, clip=(0.0, 1.0), seed=seed)
    rows = []
    common = dict(loss="hinge", num_patterns=patterns, beta=beta, standardize=False, seed=seed, solver="cvxpy")
    convex = ConvexReLUClassifier(**common).fit(X, y)
    rows.append({"method": "convex (standard)", "train_eps": 0.0, "width": convex.report_["active_neurons"],
                 "time": convex.fit_time_, **{f"acc@{e}": attack(convex.network_, e) for e in attack_eps}})
    for eps in train_eps:
        rob = ConvexReLUClassifier(**common, robust_eps=eps).fit(X, y)
        width = max(1, rob.report_["active_neurons"])
        rows.append({"method": "convex robust", "train_eps": eps, "width": width, "time": rob.fit_time_,
                     "cone_violation": rob.report_["cone_violation"],
                     **{f"acc@{e}": attack(rob.network_, e) for e in attack_eps}})
        for adv in (0.0, eps):
            if adv == 0.0 and any(r["method"] == "Adam" and r["width"] == width for r in rows):
                continue
            torch.manual_seed(seed)
            net = TwoLayerReLU(X.shape[1], width, 1).double()
            hist = train_nonconvex(net, X, y, loss="hinge", beta=beta, epochs=epochs, lr=1e-3, batch_size=32,
                                   adversarial_eps=adv, pgd_steps=10, clip=(0.0, 1.0), seed=seed, progress=False)
            rows.append({"method": "Adam + PGD training" if adv else "Adam", "train_eps": adv, "width": width,
                         "time": hist[-1]["time"], **{f"acc@{e}": attack(net, e) for e in attack_eps}})
    for r in rows:
        r["seed"] = seed
    return rows


def _table(rows, attack_eps):
    head = "| method | train eps | width | " + " | ".join(f"PGD eps={e}" for e in attack_eps) + " | train time (s) |"
    lines = [head, "|---|---:|---:|" + "---:|" * len(attack_eps) + "---:|"]
    keys = list(dict.fromkeys((r["method"], r["train_eps"]) for r in rows))
    for m, te in keys:
        rs = [r for r in rows if r["method"] == m and r["train_eps"] == te]
        cells = []
        for e in attack_eps:
            v = [r[f"acc@{e}"] for r in rs]
            cells.append(f"{np.mean(v):.3f} ± {np.std(v):.3f}")
        widths = sorted({r["width"] for r in rs})
        lines.append(f"| {m} | {te} | {'/'.join(map(str, widths))} | " + " | ".join(cells)
                     + f" | {np.mean([r['time'] for r in rs]):.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--n-train", type=int, default=400)
    ap.add_argument("--patterns", type=int, default=12)
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    attack_eps = [0.0, 0.05, 0.1, 0.15, 0.2]
    train_eps = [0.05, 0.1]
    seeds = [0] if args.quick else list(range(args.seeds))
    rows = []
    for seed in seeds:
        rows += run_seed(seed, n_train=150 if args.quick else args.n_train, patterns=args.patterns,
                         beta=args.beta, train_eps=train_eps, attack_eps=attack_eps,
                         epochs=10 if args.quick else args.epochs)
        print(f"seed {seed} done", flush=True)
    md = _table(rows, attack_eps)
    print(md)
    write_json(Path(__file__).with_suffix(".json"), {
        "machine": "2-core CPU shared with other jobs; torch 1 thread", "args": vars(args), "rows": rows,
        "markdown": md})


if __name__ == "__main__":
    main()
