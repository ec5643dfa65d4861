"""Rates benchmark (issue 6): DADAO edge-rate designs and their solve times.

Part 1: total rate on DADAO's threshold (2 χ1 χ2 = 1) of uniform, max-λ2, SDP-optimal and
first-order rates on n = 16 complete/star/cycle/path/4x4 grid/barbell and on random geometric
graphs (n = 20-40, fixed seeds); the SDP optimum's own 2 χ1 χ2 before any rescaling.
Part 2: first-order method on larger random geometric graphs, each run capped in time.
Part 3: the SDP on random geometric graphs past n = 40, in a child process killed after
``--sdp-timeout`` seconds, with the first-order method on the same graph.
Part 4: time of one full spectrum (λ2, λ_max, all resistances), dense against sparse path.

    PYTHONPATH=. python benchmarks/bench_gossip_rates.py            # parts 1-2 (about 20 min, 1 core)
    PYTHONPATH=. python benchmarks/bench_gossip_rates.py --quick    # n = 16 graphs only
    PYTHONPATH=. python benchmarks/bench_gossip_rates.py --parts sdp_limit --sdp-sizes 50

Prints markdown tables and updates benchmarks/bench_gossip_rates.json (only the parts run).
"""

from __future__ import annotations

import os

# One BLAS thread: the machine is shared, and threaded BLAS slows down under contention.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import cvxpy  # noqa: E402,F401  (imported up front so that no SDP timing includes it)
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402

from graphopt.cli._paths import output_path
from graphopt._io import write_atomic  # noqa: E402
from graphopt.graph import Graph  # noqa: E402
from graphopt.gossip import (first_order_rates, gossip_spectrum, max_lambda2_rates,  # noqa: E402
                             scale_to_threshold, sdp_rates, uniform_rates)

# Savings (uniform total / SDP total) quoted in issue 6 from a plain cvxpy formulation.
ISSUE_SAVING = {"complete": "1.0", "star": "1.0", "cycle": "1.0", "path": "1.0", "grid": "1.05",
                "barbell": "3.8", "rgg": "1.3-3.3"}


def random_geometric(n: int, seed: int) -> tuple[Graph, float]:
    """Unit-square random geometric graph; the radius starts at the connectivity scale
    sqrt(2 ln n / (π n)) and grows by 5% until the graph is connected (deterministic)."""
    radius = float(np.sqrt(2 * np.log(n) / (np.pi * n)))
    while True:
        h = nx.random_geometric_graph(n, radius, seed=seed)
        if nx.is_connected(h):
            return Graph.from_networkx(h, weight=None, node_attrs=False), radius
        radius *= 1.05


def small_graphs(quick: bool) -> list[tuple[str, str, Graph]]:
    def g(h: nx.Graph) -> Graph:
        return Graph.from_networkx(nx.convert_node_labels_to_integers(h), weight=None)

    out = [("complete", "complete n=16", g(nx.complete_graph(16))),
           ("star", "star n=16", g(nx.star_graph(15))),
           ("cycle", "cycle n=16", g(nx.cycle_graph(16))),
           ("path", "path n=16", g(nx.path_graph(16))),
           ("grid", "grid 4x4", g(nx.grid_2d_graph(4, 4))),
           ("barbell", "barbell 8+8", g(nx.barbell_graph(8, 0)))]
    if not quick:
        for n, seeds in ((20, (0, 1, 2)), (30, (0, 1)), (40, (0,))):
            for seed in seeds:
                graph, radius = random_geometric(n, seed)
                out.append(("rgg", f"RGG n={n} seed={seed} r={radius:.3f}", graph))
    return out


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def design_row(kind: str, label: str, graph: Graph) -> dict:
    uniform = uniform_rates(graph)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        lam2, t_lam2 = timed(max_lambda2_rates, graph)
        raw, t_sdp = timed(sdp_rates, graph, rescale=False)
    raw_spec = gossip_spectrum(graph, raw)
    sdp = scale_to_threshold(graph, raw)
    (fo, hist), t_fo = timed(first_order_rates, graph, progress=False, return_history=True)
    for r in (uniform, lam2, sdp, fo):
        assert abs(gossip_spectrum(graph, r).threshold_ratio - 1.0) < 1e-6
    return {"graph": label, "kind": kind, "n": graph.num_nodes, "edges": graph.num_edges,
            "uniform": float(uniform.sum()), "max_lambda2": float(lam2.sum()),
            "sdp": float(sdp.sum()), "first_order": float(fo.sum()),
            "sdp_raw_threshold_ratio": raw_spec.threshold_ratio,
            "sdp_active_edges": int(np.count_nonzero(raw)),
            "saving_sdp": float(uniform.sum() / sdp.sum()),
            "saving_max_lambda2": float(uniform.sum() / lam2.sum()),
            "first_order_over_sdp": float(fo.sum() / sdp.sum()),
            "seconds_max_lambda2": t_lam2, "seconds_sdp": t_sdp, "seconds_first_order": t_fo,
            "first_order_iterations": len(hist), "issue_saving": ISSUE_SAVING[kind],
            "solver_warnings": [str(w.message) for w in caught]}


def scaling_row(n: int, seed: int, time_limit: float) -> dict:
    graph, radius = random_geometric(n, seed)
    uniform, t_uniform = timed(uniform_rates, graph)
    (fo, hist), t_fo = timed(first_order_rates, graph, progress=False, return_history=True,
                             time_limit=time_limit)
    ratio = gossip_spectrum(graph, fo).threshold_ratio
    return {"graph": f"RGG n={n} seed={seed} r={radius:.3f}", "n": n, "edges": graph.num_edges,
            "uniform": float(uniform.sum()), "first_order": float(fo.sum()),
            "saving_first_order": float(uniform.sum() / fo.sum()), "threshold_ratio": ratio,
            "seconds_uniform": t_uniform, "seconds_first_order": t_fo,
            "iterations": len(hist), "hit_time_limit": t_fo >= time_limit,
            "total_after_10_iterations": hist[min(9, len(hist) - 1)].total if hist else None}


def _sdp_child(n: int, seed: int, conn, memory_cap_gb: float) -> None:
    # Interior-point SDP solvers grow fast in memory past n = 40 (one uncapped n = 50 run was
    # OOM-killed at 15.8 GB): cap the address space so the child fails alone and cleanly.
    cap = int(memory_cap_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    graph, _ = random_geometric(n, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rates, seconds = timed(sdp_rates, graph)
    conn.send((float(rates.sum()), seconds))


def sdp_limit_row(n: int, seed: int, timeout: float, memory_cap_gb: float) -> dict:
    graph, radius = random_geometric(n, seed)
    parent, child = mp.Pipe(duplex=False)
    proc = mp.get_context("fork").Process(target=_sdp_child,
                                          args=(n, seed, child, memory_cap_gb))
    start = time.perf_counter()
    proc.start()
    child.close()  # so that a dead child shows as EOF instead of a silent wait
    sdp_total = sdp_seconds = None
    outcome = "timed out"
    if parent.poll(timeout):
        try:
            sdp_total, sdp_seconds = parent.recv()
            outcome = "solved"
        except EOFError:
            outcome = "failed"
    if outcome == "timed out":
        proc.terminate()
    proc.join()
    if outcome == "failed":
        outcome = f"failed (exit code {proc.exitcode}, {memory_cap_gb:g} GB cap)"
    if sdp_seconds is None:
        sdp_seconds = time.perf_counter() - start
    fo, t_fo = timed(first_order_rates, graph, progress=False)
    return {"graph": f"RGG n={n} seed={seed} r={radius:.3f}", "n": n, "edges": graph.num_edges,
            "uniform": float(uniform_rates(graph).sum()), "sdp": sdp_total,
            "sdp_seconds": sdp_seconds, "sdp_outcome": outcome,
            "first_order": float(fo.sum()), "first_order_seconds": t_fo}


def update_json(path: Path, payload: dict) -> None:
    if path.exists():
        payload = json.loads(path.read_text()) | payload
    write_atomic(path, lambda f: json.dump(payload, f, indent=1), mode="w")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 16 graphs only, no other part")
    parser.add_argument("--parts", nargs="*", default=["designs", "scaling"],
                        choices=["designs", "scaling", "sdp_limit", "spectrum", "certified"])
    parser.add_argument("--certified-sizes", type=int, nargs="*", default=[2000, 10000])
    parser.add_argument("--certified-limits", type=float, nargs="*", default=[60.0, 600.0],
                        help="time_limit (wall s) of first_order_rates per certified size")
    parser.add_argument("--certified-smoothing-too", action="store_true",
                        help="also run polished sizes without the polish, side by side")
    parser.add_argument("--spectrum-sizes", type=int, nargs="*", default=[300, 1000])
    parser.add_argument("--sdp-sizes", type=int, nargs="*", default=[50])
    parser.add_argument("--sdp-timeout", type=float, default=600.0)
    parser.add_argument("--sdp-memory-gb", type=float, default=4.0)
    parser.add_argument("--scaling-sizes", type=int, nargs="*", default=[100, 300, 1000, 2000])
    parser.add_argument("--time-limit", type=float, default=300.0,
                        help="cap (s) on each first-order run of the scaling part")
    parser.add_argument("--out", type=lambda text: Path(output_path(text)),
                        default=Path(__file__).with_suffix(".json"))
    args = parser.parse_args()

    parts = ["designs"] if args.quick else args.parts
    payload: dict = {"machine": f"{platform.processor() or platform.machine()}, "
                                f"{os.cpu_count()} cores (shared), 1 BLAS thread"}
    # The JSON is updated after every part, so an interrupted run keeps what it measured.
    if "designs" in parts:
        update_json(args.out, payload | {"designs": designs_part(args.quick)})
    if "scaling" in parts:
        update_json(args.out, payload | {"scaling": scaling_part(args.scaling_sizes, args.time_limit),
                                         "scaling_time_limit_s": args.time_limit})
    if "sdp_limit" in parts:
        update_json(args.out, payload | {"sdp_limit": sdp_limit_part(
            args.sdp_sizes, args.sdp_timeout, args.sdp_memory_gb)})
    if "certified" in parts:
        update_json(args.out, payload | {"certified": certified_part(
            args.certified_sizes, args.certified_limits, args.certified_smoothing_too)})
    if "spectrum" in parts:
        update_json(args.out, payload | {"spectrum": spectrum_part(args.spectrum_sizes)})


def designs_part(quick: bool) -> list[dict]:
    rows = []
    print("| graph | n | edges | uniform | max-λ2 | SDP | first-order | saving SDP (issue) "
          "| saving max-λ2 | FO/SDP | SDP raw 2χ1χ2 | SDP s | FO s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for kind, label, graph in small_graphs(quick):
        r = design_row(kind, label, graph)
        rows.append(r)
        print(f"| {r['graph']} | {r['n']} | {r['edges']} | {r['uniform']:.2f} | "
              f"{r['max_lambda2']:.2f} | {r['sdp']:.2f} | {r['first_order']:.2f} | "
              f"{r['saving_sdp']:.2f}x ({r['issue_saving']}x) | {r['saving_max_lambda2']:.2f}x | "
              f"{r['first_order_over_sdp']:.4f} | {r['sdp_raw_threshold_ratio']:.6f} | "
              f"{r['seconds_sdp']:.1f} | {r['seconds_first_order']:.1f} |", flush=True)
    return rows


def scaling_part(sizes: list[int], time_limit: float) -> list[dict]:
    rows = []
    print("\n| graph | n | edges | uniform | first-order | saving | 2χ1χ2 | iterations "
          "| total after 10 it. | FO s | hit cap |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        r = scaling_row(n, 0, time_limit)
        rows.append(r)
        print(f"| {r['graph']} | {n} | {r['edges']} | {r['uniform']:.1f} | "
              f"{r['first_order']:.1f} | {r['saving_first_order']:.2f}x | "
              f"{r['threshold_ratio']:.6f} | {r['iterations']} | "
              f"{r['total_after_10_iterations']:.1f} | {r['seconds_first_order']:.0f} | {'yes' if r['hit_time_limit'] else 'no'} |",
              flush=True)
    return rows


def sdp_limit_part(sizes: list[int], timeout: float, memory_cap_gb: float) -> list[dict]:
    rows = []
    print("\n| graph | n | edges | uniform | SDP | SDP s | first-order | FO s |")
    print("|---|---|---|---|---|---|---|---|")
    for n in sizes:
        r = sdp_limit_row(n, 0, timeout, memory_cap_gb)
        rows.append(r)
        sdp = f"{r['sdp']:.2f}" if r["sdp"] is not None else r["sdp_outcome"]
        print(f"| {r['graph']} | {n} | {r['edges']} | {r['uniform']:.2f} | {sdp} | "
              f"{r['sdp_seconds']:.0f} | {r['first_order']:.2f} | {r['first_order_seconds']:.1f} |",
              flush=True)
    return rows


def spectrum_part(sizes: list[int]) -> list[dict]:
    rows = []
    print("\n| graph | n | edges | dense s | sparse s | sparse / dense | max rel. diff of R_e |")
    print("|---|---|---|---|---|---|---|")
    for n in sizes:
        graph, radius = random_geometric(n, 0)
        dense, t_dense = timed(gossip_spectrum, graph, method="dense")
        sparse, t_sparse = timed(gossip_spectrum, graph, method="sparse")
        diff = float(np.max(np.abs(sparse.resistances / dense.resistances - 1)))
        rows.append({"graph": f"RGG n={n} seed=0 r={radius:.3f}", "n": n,
                     "edges": graph.num_edges, "dense_seconds": t_dense,
                     "sparse_seconds": t_sparse, "max_rel_diff_resistance": diff})
        print(f"| {rows[-1]['graph']} | {n} | {graph.num_edges} | {t_dense:.2f} | {t_sparse:.2f} | "
              f"{t_sparse / t_dense:.1f}x | {diff:.1e} |", flush=True)
    return rows


def certified_part(sizes: list[int], limits: list[float], smoothing_too: bool) -> list[dict]:
    """first_order_rates on communication_graph("random_geometric", n) (issue 12 goal 2):
    CPU and wall time, certified relative gap, total against uniform rates. Graphs the default
    polishes (interior-point Newton steps, at most _NEWTON_MAX_EDGES edges) also get a row
    without the polish (smoothing and certificate LP only) when ``smoothing_too``."""
    from graphopt.datasets.generators import communication_graph
    from graphopt.gossip.rates import _NEWTON_MAX_EDGES
    from graphopt.gossip.rates import first_order_rates as certified_rates

    rows = []
    print("\n| graph | n | edges | polish | time limit s | CPU s | wall s | wall / limit | "
          "evaluations | stopped by | total | lower bound | certified rel. gap | uniform / total |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    runs = []
    for n, limit in zip(sizes, limits):
        runs.append((n, limit, None))
        if smoothing_too and communication_graph("random_geometric", n, seed=0).num_edges \
                <= _NEWTON_MAX_EDGES:
            runs.append((n, limit, False))
    for n, limit, polish in runs:
        graph = communication_graph("random_geometric", n, seed=0)
        polished = graph.num_edges <= _NEWTON_MAX_EDGES if polish is None else polish
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # reported in the row instead
            rates, cert = certified_rates(graph, progress=False, time_limit=limit,
                                          return_certificate=True, polish=polish)
        uniform = float(uniform_rates(graph).sum())
        rows.append({"graph": f"communication_graph random_geometric n={n} seed=0", "n": n,
                     "edges": graph.num_edges, "polish": polished, "time_limit_s": limit,
                     "cpu_seconds": cert.cpu_seconds, "wall_seconds": cert.seconds,
                     "evaluations": cert.evaluations, "stopped_by": cert.stopped_by,
                     "total": cert.total, "lower_bound": cert.lower_bound,
                     "relative_gap": cert.relative_gap, "uniform": uniform,
                     "saving": uniform / cert.total})
        r = rows[-1]
        print(f"| {r['graph']} | {n} | {r['edges']} | {'yes' if polished else 'no'} | "
              f"{limit:g} | {r['cpu_seconds']:.1f} | "
              f"{r['wall_seconds']:.1f} | {r['wall_seconds'] / limit:.3f} | {r['evaluations']} | "
              f"{r['stopped_by']} | "
              f"{r['total']:.1f} | {r['lower_bound']:.1f} | {r['relative_gap']:.3g} | "
              f"{r['saving']:.2f}x |", flush=True)
    return rows


if __name__ == "__main__":
    main()
