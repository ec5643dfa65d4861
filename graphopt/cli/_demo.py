"""Run code of ``graphopt demo`` (parser: ``demo.py``): a tour on generated and embedded graphs
that needs no download and shows the four capabilities, each ending with a one-line result.

The demo is a list of steps, each a function taking and extending a shared context dict, so
capabilities add their step by appending to :data:`STEPS`. Every model is small and trained
briefly, so the tour takes about 35 s of CPU on one thread (well under two minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import time
import warnings
from typing import Any, Callable

import networkx as nx
import numpy as np

from ..datasets import contextual_sbm
from ..graph import Graph
from ..partition import Partition

__all__ = ["STEPS", "run_demo", "main", "karate_club", "sparse_label_graph"]

Step = tuple[str, Callable[[dict[str, Any]], None]]


def karate_club() -> Graph:
    """Zachary's karate club (34 members, 78 ties) with the two clubs it split into as labels."""
    nxg = nx.karate_club_graph()
    y = np.array([nxg.nodes[v]["club"] != "Mr. Hi" for v in nxg.nodes], dtype=np.int64)
    return Graph.from_networkx(nxg, weight=None).replace(y=y, name="karate")


def _table(header: list[str], rows: list[list[Any]]) -> None:
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for j, r in enumerate(cells):
        print("  " + "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if j == 0:
            print("  " + "  ".join("-" * w for w in widths))


def _result(line: str) -> None:
    print(f"  => {line}")


def step_graphs(ctx: dict[str, Any]) -> None:
    ctx["graphs"] = {
        "csbm": contextual_sbm(5000, 5, 10.0, 32, homophily=0.8, seed=ctx["seed"], name="csbm-5000"),
        "karate": karate_club(),
    }
    rows = []
    for g in ctx["graphs"].values():
        e = g.edges()
        homophily = float(np.mean(g.y[e[:, 0]] == g.y[e[:, 1]]))
        rows.append([g.name, g.num_nodes, g.num_edges, f"{g.degree().mean():.2f}", g.num_features,
                     g.num_classes, f"{homophily:.3f}"])
    _table(["graph", "nodes", "edges", "mean degree", "features", "classes", "edge homophily"], rows)


def step_partitions(ctx: dict[str, Any]) -> None:
    rows = []
    for key, k in (("csbm", 10), ("karate", 2)):
        g = ctx["graphs"][key]
        for method in ("metis", "random"):
            start = time.perf_counter()
            p = (Partition.metis(g, k, seed=ctx["seed"]) if method == "metis"
                 else Partition.random(g, k, seed=ctx["seed"]))
            seconds = time.perf_counter() - start
            rows.append([g.name, method, k, p.edge_cut(), f"{p.edge_cut() / g.num_edges:.3f}",
                         f"{p.balance():.3f}", f"{seconds * 1e3:.1f}"])
            ctx.setdefault("partitions", {})[key, method] = p
    _table(["graph", "method", "parts", "edge cut", "cut fraction", "balance", "ms"], rows)
    csbm = ctx["graphs"]["csbm"].name
    ratio = ctx["partitions"]["csbm", "metis"].edge_cut() / ctx["partitions"]["csbm", "random"].edge_cut()
    print(f"\n  METIS cuts {ratio:.2f}x the edges random partitioning cuts on {csbm}.")


def step_quotient(ctx: dict[str, Any]) -> None:
    p = ctx["partitions"]["csbm", "metis"]
    q = p.quotient_graph()
    _, w = q.edges(return_weights=True)
    ctx["quotient"] = q
    print(f"  {q.num_nodes} workers (one per part), {q.num_edges} links; link weights (cut edges) "
          f"{w.min():.0f}..{w.max():.0f}, total {w.sum():.0f} = the edge cut {p.edge_cut()}")


def step_cluster_gcn(ctx: dict[str, Any]) -> None:
    """The main job: Cluster-GCN on the generated graph, METIS batches against random ones."""
    import torch

    from ..cluster_gcn import ClusterGCN, fit

    g = ctx["graphs"]["csbm"]
    rows = []
    for method in ("metis", "random"):
        torch.manual_seed(ctx["seed"])
        model = ClusterGCN(g.num_features, 64, g.num_classes, num_layers=2, dropout=0.2)
        hist = fit(model, g, ctx["partitions"]["csbm", method], clusters_per_batch=2, epochs=20,
                   seed=ctx["seed"], progress=False)
        rows.append([method, hist.best_epoch + 1, f"{hist.final['val']:.3f}",
                     f"{hist.final['test']:.3f}", f"{sum(e['time'] for e in hist.epochs):.1f}"])
        ctx.setdefault("cluster_gcn", {})[method] = hist.final["test"]
    _table(["partition", "best epoch", "val acc", "test acc", "train s"], rows)
    acc = ctx["cluster_gcn"]
    _result(f"Cluster-GCN test accuracy {acc['metis']:.3f} with METIS batches, "
            f"{acc['random']:.3f} with random ones")


def step_gossip(ctx: dict[str, Any]) -> None:
    """DADAO on the karate club as a communication graph: uniform vs optimized edge rates."""
    from ..gossip import DADAO, first_order_rates, gossip_spectrum, synthetic_least_squares, uniform_rates

    g = ctx["graphs"]["karate"]
    problem = synthetic_least_squares(g.num_nodes, dim=5, heterogeneity=1.0, seed=ctx["seed"])
    base = None
    rows = []
    with warnings.catch_warnings():  # a design stopped short of gap_tol is still certified: say so below
        warnings.simplefilter("ignore", RuntimeWarning)
        optimal, cert = first_order_rates(g, progress=False, return_certificate=True)
    for name, rates in (("uniform", uniform_rates(g)), ("first-order optimal", optimal)):
        s = gossip_spectrum(g, rates)
        base = base or s.total_rate
        run = DADAO(rates=rates, seed=ctx["seed"]).fit(problem, g, tol=1e-6, max_events=10**6,
                                                        progress=False)
        comms = run.history_.first_below(1e-6, "comms")
        rows.append([name, f"{s.chi1:.3f}", f"{s.chi2:.3f}", f"{s.total_rate:.2f}",
                     f"{base / s.total_rate:.2f}x", f"{comms:.0f}"])
        ctx.setdefault("gossip", {})[name] = comms
    _table(["edge rates", "chi1", "chi2", "total rate", "saving", "DADAO comms to 1e-6"], rows)
    slow, fast = ctx["gossip"]["uniform"], ctx["gossip"]["first-order optimal"]
    _result(f"DADAO reaches relative error 1e-6 with {fast:.0f} communications on optimized "
            f"rates, {slow:.0f} on uniform ones ({slow / fast:.2f}x fewer; the design is "
            f"certified within {cert.relative_gap:.1e} of the optimal total rate)")


def sparse_label_graph(seed: int = 0) -> Graph:
    """A contextual SBM in Planetoid's regime: binary bag-of-words-like features, 20 labels per class."""
    g = contextual_sbm(2000, 4, 6.0, 100, homophily=0.7, feature_signal=1.0, seed=seed,
                       train_per_class=20, val_per_class=50, test_frac=None, name="csbm-2000")
    return g.replace(x=(g.x > 1.0).astype(np.float32))  # about 16% of entries are 1


def step_lagnn(ctx: dict[str, Any]) -> None:
    """LA-GCN (a CVAE generates neighbour features as extra inputs) against the plain GCN."""
    from ..augment import LAGCN, LAClassifier, NeighborCVAE

    g = ctx["graphs"]["sparse"] = sparse_label_graph(ctx["seed"])
    start = time.perf_counter()
    cvae = NeighborCVAE(epochs=3, max_pairs_per_epoch=10_000, seed=ctx["seed"], progress=False).fit(g)
    print(f"  CVAE p(x_u | x_v) trained on {g.name}'s edges in {time.perf_counter() - start:.1f} s")
    rows, acc = [], {}
    for name, m in (("GCN", 0), ("LA-GCN", 1)):
        start = time.perf_counter()
        clf = LAClassifier(LAGCN(g.num_features, 16, g.num_classes, num_generated=m), cvae if m else None,
                           num_samples=2 if m else 1, consistency=1.0 if m else 0.0, epochs=150,
                           patience=50, lr=0.05, pool_size=4, seed=ctx["seed"], progress=False).fit(g)
        acc[name] = clf.score()
        rows.append([name, clf.best_epoch_ + 1, f"{clf.score(mask='val_mask'):.3f}", f"{acc[name]:.3f}",
                     f"{time.perf_counter() - start:.1f}"])
    _table(["model", "best epoch", "val acc", "test acc", "train s"], rows)
    ctx["lagnn"] = acc
    _result(f"LA-GCN test accuracy {acc['LA-GCN']:.3f}, plain GCN {acc['GCN']:.3f} "
            f"({int(g.train_mask.sum())} labelled nodes of {g.num_nodes})")


def step_convex(ctx: dict[str, Any]) -> None:
    """A globally optimal two-layer ReLU network on SGC features S^2 X, beside logistic regression."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    from ..convex.estimators import ConvexReLUClassifier, beta_max
    from ..convex.patterns import propagate_features

    g = ctx["graphs"]["sparse"]
    X = propagate_features(g, 2)
    tr, te = g.train_mask, g.test_mask
    start = time.perf_counter()
    clf = ConvexReLUClassifier(num_patterns=20, max_iter=40, seed=ctx["seed"], progress=False)
    clf.set_params(beta=1e-2 * beta_max(clf, X[tr], g.y[tr]))
    with warnings.catch_warnings():  # 40 ADMM iterations: accurate enough here, not converged
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X[tr], g.y[tr])
    seconds = time.perf_counter() - start
    linear = LogisticRegression(max_iter=1000).fit(X[tr], g.y[tr]).score(X[te], g.y[te])
    ctx["convex"] = {"convex": clf.score(X[te], g.y[te]), "logistic": linear}
    print(f"  ADMM, 40 iterations, {seconds:.1f} s; {g.num_classes} classes one-vs-all, "
          f"{int(tr.sum())} training nodes, {X.shape[1]} features")
    _result(f"convex ReLU network test accuracy {ctx['convex']['convex']:.3f} on S^2 X, "
            f"logistic regression {linear:.3f}")


STEPS: list[Step] = [
    ("Graphs: a contextual SBM and Zachary's karate club", step_graphs),
    ("Partitions: METIS vs random", step_partitions),
    ("Quotient graph: the parts as a communication topology", step_quotient),
    ("Cluster-GCN: 2-layer GCN on METIS vs random batches (2 of 10 parts each)", step_cluster_gcn),
    ("Local augmentation: LA-GCN vs GCN with 20 labels per class", step_lagnn),
    ("Convex ReLU: a globally optimal two-layer network on graph features", step_convex),
    ("Gossip: DADAO on the karate club with uniform vs optimized edge rates", step_gossip),
]


def run_demo(seed: int = 0, steps: list[Step] | None = None) -> dict[str, Any]:
    """Run the steps in order, printing a heading for each; returns the shared context."""
    ctx: dict[str, Any] = {"seed": seed}
    for i, (title, step) in enumerate(STEPS if steps is None else steps, 1):
        print(f"\n[{i}] {title}", flush=True)
        start = time.perf_counter()
        step(ctx)
        print(f"  ({time.perf_counter() - start:.1f} s)", flush=True)
    return ctx


def main(args: argparse.Namespace) -> int:
    run_demo(args.seed)
    return 0
