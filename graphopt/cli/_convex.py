"""Run code of ``graphopt convex-relu`` (parser: ``convex.py``): fit, score and print."""

from __future__ import annotations

import argparse
import json
import re
import sys

import numpy as np

from . import CLIError, set_threads

__all__ = ["run"]


def _load(args: argparse.Namespace):
    name = args.dataset.lower()
    match = re.fullmatch(r"mnist-(\d)v(\d)", name)
    if match:
        from graphopt.convex.data import mnist_pair
        t = mnist_pair((int(match[1]), int(match[2])), seed=args.seed, root=args.root)
        return t.X_train, t.y_train, t.X_test, t.y_test, (0.0, 1.0)
    if name == "a9a":
        from graphopt.convex.data import a9a
        t = a9a(args.root)
        return t.X_train, t.y_train, t.X_test, t.y_test, None
    if name == "cora":
        from graphopt.convex.patterns import propagate_features
        from graphopt.datasets import load_planetoid
        g = load_planetoid("cora", args.root)
        X = propagate_features(g, args.hops)
        return X[g.train_mask], g.y[g.train_mask], X[g.test_mask], g.y[g.test_mask], None
    raise CLIError(f"unknown --dataset {args.dataset!r}; choose mnist-2v8 (or mnist-AvB), a9a or cora")


def run(args: argparse.Namespace) -> int:
    from graphopt.convex.attacks import robust_accuracy
    from graphopt.convex.estimators import ConvexReLUClassifier, beta_max

    set_threads(args.threads)
    X, y, Xt, yt, clip = _load(args)
    # pixels share one scale and ε is in pixel units; S^k X rows are smoothed bag-of-words whose
    # rare words standardizing would blow up
    standardize = args.dataset.lower() == "a9a" if args.standardize == "auto" else args.standardize == "yes"
    est = ConvexReLUClassifier(loss=args.loss, beta=1.0, num_patterns=args.patterns, solver=args.solver,
                               gated=args.gated, robust_eps=args.robust_eps, standardize=standardize,
                               max_iter=args.max_iter, tol=args.tol, time_limit=args.time_limit,
                               device=args.device, dtype=args.dtype, seed=args.seed, progress=True,
                               # off a terminal the bar is silent: progress lines instead, unless
                               # stdout carries --json
                               verbose=0 if args.json or sys.stderr.isatty() else 1)
    bmax = beta_max(est, X, y)
    est.set_params(beta=args.beta if args.beta is not None else 1e-2 * bmax)
    est.fit(X, y)
    result = {"dataset": args.dataset, "n_train": int(len(y)), "n_test": int(len(yt)),
              "beta": est.beta, "beta_max": bmax, **est.report_, "fit_time_s": est.fit_time_,
              "train_accuracy": est.score(X, y), "test_accuracy": est.score(Xt, yt)}
    if args.attack_eps:
        if est.classes_.size != 2:
            raise CLIError("--attack-eps needs a binary task (mnist-AvB or a9a)")
        yt_pm = np.where(yt == est.classes_[1], 1.0, -1.0)
        result["robust_test_accuracy"] = {
            str(e): robust_accuracy(est.network_, Xt, yt_pm, e, clip=clip, seed=args.seed)
            for e in args.attack_eps}
    if args.save:
        import torch

        from .._io import write_atomic

        state = est.network_.state_dict()
        write_atomic(args.save, lambda f: torch.save(state, f))
        result["saved"] = args.save
    if args.json:
        print(json.dumps(result, indent=2, default=float))
    else:
        for k, v in result.items():
            print(f"{k:>22}: {v:.6g}" if isinstance(v, float) else f"{k:>22}: {v}")
    return 0
