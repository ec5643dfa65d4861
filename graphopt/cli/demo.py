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


STEPS: list[Step] = [
    ("Graphs: a contextual SBM and Zachary's karate club", step_graphs),
    ("Partitions: METIS vs random", step_partitions),
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


def _demo(args: argparse.Namespace) -> int:
    run_demo(args.seed)
    return 0


def register(sub: Any) -> None:
    demo = sub.add_parser("demo", help="tour of graphopt on embedded graphs (no download)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
