"""``graphopt demo``: a tour on embedded graphs that needs no download.

The demo is a list of steps, each a function taking and extending a shared context dict, so
capabilities add their step (train Cluster-GCN on the graphs, run gossip on the quotient graph,
...) by appending to :data:`STEPS`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import networkx as nx
import numpy as np

from ..datasets import contextual_sbm
from ..graph import Graph
from ..partition import Partition

__all__ = ["register", "STEPS", "run_demo"]

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
    _table(["partition", "best epoch", "val acc", "test acc", "train s"], rows)


def step_gossip(ctx: dict[str, Any]) -> None:
    """DADAO on the karate club as a communication graph: uniform vs optimized edge rates."""
    from ..gossip import DADAO, first_order_rates, gossip_spectrum, synthetic_least_squares, uniform_rates

    g = ctx["graphs"]["karate"]
    problem = synthetic_least_squares(g.num_nodes, dim=5, heterogeneity=1.0, seed=ctx["seed"])
    base = None
    rows = []
    for name, rates in (("uniform", uniform_rates(g)), ("first-order optimal", first_order_rates(g))):
        s = gossip_spectrum(g, rates)
        base = base or s.total_rate
        run = DADAO(rates=rates, seed=ctx["seed"]).fit(problem, g, tol=1e-6, max_events=10**6,
                                                        progress=False)
        rows.append([name, f"{s.chi1:.3f}", f"{s.chi2:.3f}", f"{s.total_rate:.2f}",
                     f"{base / s.total_rate:.2f}x", f"{run.history_.first_below(1e-6, 'comms'):.0f}"])
    _table(["edge rates", "chi1", "chi2", "total rate", "saving", "DADAO comms to 1e-6"], rows)


STEPS: list[Step] = [
    ("Graphs: a contextual SBM and Zachary's karate club", step_graphs),
    ("Partitions: METIS vs random", step_partitions),
    ("Quotient graph: the parts as a communication topology", step_quotient),
    ("Cluster-GCN: 2-layer GCN on METIS vs random batches (2 of 10 parts each)", step_cluster_gcn),
    ("Gossip: DADAO on the karate club with uniform vs optimized edge rates", step_gossip),
]


def run_demo(seed: int = 0, steps: list[Step] | None = None) -> dict[str, Any]:
    """Run the steps in order, printing a heading for each; returns the shared context."""
    ctx: dict[str, Any] = {"seed": seed}
    for i, (title, step) in enumerate(STEPS if steps is None else steps, 1):
        print(f"\n[{i}] {title}")
        start = time.perf_counter()
        step(ctx)
        print(f"  ({time.perf_counter() - start:.1f} s)")
    return ctx


def main(args: argparse.Namespace) -> int:
    run_demo(args.seed)
    return 0
