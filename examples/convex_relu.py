"""Convex (globally optimal) training of a two-layer ReLU network, end to end.

Bai, Gautam & Sojoudi, "Efficient Global Optimization of Two-layer ReLU Networks" (SIMODS 2023):
fit ConvexReLUClassifier by ADMM on MNIST 2-vs-8, inspect the recovered torch network and the
solver report, walk the β path with warm starts, train a convex adversarially robust network and
attack both with PGD. Uses the shared MNIST files ($GRAPHOPT_DATA); falls back to a synthetic
task when they are absent.

    PYTHONPATH=. python examples/convex_relu.py
"""

import warnings

import numpy as np
import torch

from graphopt.convex import ConvergenceWarning
from graphopt.convex.attacks import robust_accuracy
from graphopt.convex.estimators import ConvexReLUClassifier, beta_max, beta_path


def load_task():
    try:
        from graphopt.convex.data import mnist_pair

        t = mnist_pair((2, 8), seed=0)
        # 4x4 average pooling (7x7 images) keeps the robust program small enough for CVXPY
        down = lambda X: X.reshape(-1, 7, 4, 7, 4).mean(axis=(2, 4)).reshape(len(X), -1)
        return down(t.X_train), t.y_train, down(t.X_test), t.y_test, "MNIST 2 vs 8 (7x7)"
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        X = rng.random((600, 20))
        y = np.where(X[:, :10].sum(1) > X[:, 10:].sum(1), 1.0, -1.0)
        return X[:400], y[:400], X[400:], y[400:], "synthetic"


def main() -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=300 is a budget here, not a failure
    X, y, Xt, yt, name = load_task()
    print(f"task: {name}, train {X.shape}, test {Xt.shape}")

    clf = ConvexReLUClassifier(loss="hinge", num_patterns=30, standardize=False, max_iter=300, tol=1e-4)
    bmax = beta_max(clf, X, y)
    clf.set_params(beta=1e-2 * bmax).fit(X, y)
    print(f"beta_max = {bmax:.4g}; fitted with beta = {clf.beta:.4g} in {clf.fit_time_:.1f} s")
    for k, v in clf.report_.items():
        print(f"  {k}: {v}")
    print(f"  test accuracy: {clf.score(Xt, yt):.4f}")
    print(f"  recovered network: {clf.network_}")

    print("beta path (warm-started):")
    for rec in beta_path(clf, X, y, num=4, min_ratio=1e-2, X_val=Xt, y_val=yt):
        print(f"  beta={rec['beta']:.4g}: {rec['active_neurons']} neurons, "
              f"objective {rec['convex_objective']:.4g}, test acc {rec['val_score']:.4f}")

    eps = 0.1
    robust = ConvexReLUClassifier(loss="hinge", num_patterns=10, beta=clf.beta, robust_eps=eps,
                                  standardize=False, solver="cvxpy").fit(X[:300], y[:300])
    for label, est in (("standard", clf), (f"convex robust (eps={eps})", robust)):
        accs = [robust_accuracy(est.network_, Xt, yt, e, clip=(0, 1)) for e in (0.0, 0.05, 0.1)]
        print(f"  {label}: PGD accuracy at eps 0 / 0.05 / 0.1 = " + " / ".join(f"{a:.3f}" for a in accs))


if __name__ == "__main__":
    main()
