"""Cluster-GCN vs full-batch GCN at scale: epoch time, peak memory, FLOP/s and batching share.

Usage: ``PYTHONPATH=. python benchmarks/bench_cluster_gcn_scale.py [--sizes 100000 1000000 2400000]``.

Generated graphs of Amazon2M's shape (average degree 50, so ~6e7 edges at 2.4e6 nodes; 100
features, 47 classes), numbered part by part into parts of ~163 nodes (Amazon2M's 15000 parts at
2.4e6 nodes); a batch is 10 parts (the paper's Amazon2M setting). The planted parts are used as the
partition: METIS itself is not timed here. 80% of each node's edges stay in its part.

Every measurement runs in a fresh subprocess that loads the saved graph and trains one epoch, so
its peak RSS (``ru_maxrss``) is that of one configuration. Full-batch GCN is the same 3-layer model
on the whole graph's normalized adjacency, in a process capped by ``RLIMIT_AS`` (``--cap-gb``).
The achieved FLOP/s counts sparse (2·nnz·width) and dense (2·n·in·out) products, forward and
backward, per CPU-second of the epoch (the machine is shared, so wall time overstates the work),
and is compared with a plain dense ``torch.matmul`` per CPU-second in the same process.
Writes ``benchmarks/bench_cluster_gcn_scale.json``.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from graphopt._io import write_atomic

HIDDEN, LAYERS, FEATURES, CLASSES, PART_SIZE, Q, DEGREE = 128, 3, 100, 47, 163, 10, 50


def generate(n: int, path: Path, seed: int = 0) -> None:
    """Planted-partition graph, saved as CSR + features + labels (memory stays near the output)."""
    rng = np.random.default_rng(seed)
    half = n * DEGREE // 2
    src = rng.integers(0, n, half, dtype=np.int64)
    intra = rng.random(half) < 0.8
    part_start = (src // PART_SIZE) * PART_SIZE
    size = np.minimum(PART_SIZE, n - part_start)
    # Never a self-loop: an offset in [1, size) within the part, or in [1, n) across the graph.
    offset = 1 + rng.integers(0, 1 << 30, half) % np.maximum(size - 1, 1)
    dst = np.where(intra, part_start + (src - part_start + offset) % size,
                   (src + 1 + rng.integers(0, n - 1, half)) % n)
    del intra, part_start, size
    rows = np.concatenate([src, dst])
    cols = np.concatenate([dst, src])
    del src, dst
    order = np.argsort(rows, kind="stable")
    indices = cols[order]
    del cols, order
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    del rows
    y = (np.arange(n) // PART_SIZE * 7 + rng.integers(0, 3, n)) % CLASSES
    x = rng.standard_normal((n, FEATURES), dtype=np.float32)
    x[np.arange(n), y % FEATURES] += 2.0
    np.savez(path, indptr=indptr, indices=indices, x=x, y=y)


def flops_per_epoch(batches: list[tuple[int, int]]) -> float:
    """Forward + backward FLOPs of the 3-layer Cluster-GCN over (nodes, adjacency nnz) batches."""
    dims = [FEATURES] + [HIDDEN] * (LAYERS - 1) + [CLASSES]
    total = 0.0
    for n_b, nnz in batches:
        for layer in range(LAYERS):
            sparse = 2.0 * nnz * dims[layer]
            dense = 2.0 * n_b * 2 * dims[layer] * dims[layer + 1]
            # forward; weight gradient; input gradients except into the (constant) features
            total += sparse + dense + dense + (0 if layer == 0 else sparse + dense)
    return total


def child(mode: str, path: str, cap_gb: float) -> dict:
    if cap_gb:
        cap = int(cap_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    import torch

    torch.set_num_threads(1)
    from graphopt import Graph, Partition
    from graphopt.cluster_gcn import ClusterGCN, ClusterLoader, fit
    from graphopt.graph import normalize_csr
    from graphopt.cluster_gcn.loader import torch_csr

    d = np.load(path)
    n = d["indptr"].size - 1
    g = Graph(d["indptr"], d["indices"], x=d["x"], y=d["y"], train_mask=np.ones(n, bool))
    del d
    rss_loaded = _rss_mb()
    # Reset the kernel's RSS high-water mark so VmHWM below covers training only, not loading.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    torch.manual_seed(0)
    model = ClusterGCN(FEATURES, HIDDEN, CLASSES, LAYERS, dropout=0.2)
    out = {"mode": mode, "nodes": n, "entries": int(g.indices.size), "rss_loaded_mb": rss_loaded}
    try:
        if mode == "cluster":
            part = Partition.from_assignment(g, np.arange(n) // PART_SIZE)
            hist = fit(model, g, part, clusters_per_batch=Q, epochs=1, eval_every=None, progress=False)
            row = hist.epochs[0]
            loader = ClusterLoader(part, Q)
            sizes = [(len(b), 0) for b in loader.batches(0)]
            # nnz of each batch's normalized adjacency, from the same deal as the timed epoch
            sizes = [(int(loader._bounds[ps + 1].sum() - loader._bounds[ps].sum()),
                      loader.batch(ps).adj.values().numel()) for ps in loader.batches(0)]
            out.update(epoch_s=row["time"], cpu_s=row["cpu_time"], batch_s=row["batch_time"],
                       batches=len(sizes), flops=flops_per_epoch(sizes))
        else:
            t0 = time.perf_counter()
            ptr, idx, val = normalize_csr(g.indptr, g.indices, None, "rw")
            adj = torch_csr(ptr, idx, val, n)
            x = torch.from_numpy(g.x)
            y = torch.from_numpy(g.y)
            opt = torch.optim.Adam(model.parameters(), lr=0.01)
            prep = time.perf_counter() - t0
            t0, c0 = time.perf_counter(), time.process_time()
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x, adj), y)
            loss.backward()
            opt.step()
            out.update(epoch_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0, prep_s=prep,
                       batch_s=0.0,
                       flops=flops_per_epoch([(n, int(val.size))]))
        out["status"] = "ok"
    except (MemoryError, RuntimeError) as e:
        out.update(status="did not fit", error=str(e).splitlines()[0][:200])
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["train_peak_mb"] = _vm_hwm_mb()
    # The machine is shared: the dense-matmul reference is taken in the same process, right after.
    out["matmul_gflops_child"] = matmul_gflops()
    return out


def matmul_gflops() -> float:
    import torch

    torch.set_num_threads(1)
    a, b = torch.randn(1630 * 2, 256), torch.randn(256, 128)
    a @ b
    best = 0.0
    for _ in range(5):  # per CPU-second and best of 5: the machine is shared with other jobs
        c0 = time.process_time()
        for _ in range(10):
            a @ b
        best = max(best, 10 * 2.0 * a.shape[0] * 256 * 128 / (time.process_time() - c0) / 1e9)
    return best


def _gb(mb: float | None) -> str:
    return "-" if mb is None else f"{mb / 1024:.2f}"


def _vm_hwm_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM")) / 1024


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_child(mode: str, path: Path, cap_gb: float) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--data", str(path), "--cap-gb", str(cap_gb)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["killed"])[-1]
        return {"mode": mode, "status": "did not fit", "error": tail[:200], "returncode": proc.returncode}
    return json.loads(lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 2_400_000])
    ap.add_argument("--cap-gb", type=float, default=8.0, help="address-space cap of the full-batch process")
    ap.add_argument("--tmp", default=tempfile.gettempdir())
    ap.add_argument("--modes", nargs="+", default=["cluster", "full"], choices=["cluster", "full"])
    ap.add_argument("--child")
    ap.add_argument("--data")
    ap.add_argument("--table", action="store_true", help="only print the table of the stored JSON")
    args = ap.parse_args()
    if args.table:
        print_table(json.loads(Path(__file__).with_suffix(".json").read_text())["results"])
        return
    if args.child:
        print(json.dumps(child(args.child, args.data, args.cap_gb if args.child == "full" else 0)))
        return
    out_path = Path(__file__).with_suffix(".json")
    results: list[dict] = []
    peak = matmul_gflops()
    for n in args.sizes:
        path = Path(args.tmp) / f"graphopt_cgcn_scale_{n}.npz"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r});"
                        f"from bench_cluster_gcn_scale import generate; from pathlib import Path;"
                        f"generate({n}, Path({str(path)!r}))"], check=True)
        gen_s = time.perf_counter() - t0
        for mode in args.modes:
            r = run_child(mode, path, args.cap_gb)
            r.update(nodes_requested=n, generate_s=gen_s, matmul_gflops=peak)
            print(json.dumps(r), flush=True)
            results.append(r)
        path.unlink()
        # Re-read before writing: runs of other sizes may have finished meanwhile in another process.
        stored = json.loads(out_path.read_text())["results"] if out_path.exists() else []
        done = {(r["nodes_requested"], r["mode"]) for r in results}
        results = [r for r in stored if (r.get("nodes_requested"), r["mode"]) not in done] + results
        result = {"hidden": HIDDEN, "layers": LAYERS, "features": FEATURES, "classes": CLASSES,
                  "part_size": PART_SIZE, "clusters_per_batch": Q, "avg_degree": DEGREE,
                  "full_batch_cap_gb": args.cap_gb, "results": results}
        write_atomic(out_path, lambda f: json.dump(result, f, indent=1), mode="w")
    print_table(results)


def print_table(results: list[dict]) -> None:
    print("| nodes | edges (undirected) | method | epoch (s) | peak RSS (GB) | RSS after load (GB) "
          "| peak RSS while training (GB) | batching share | GFLOP per CPU-s: epoch / dense matmul |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in sorted(results, key=lambda r: (r["nodes_requested"], r["mode"])):
        name = "Cluster-GCN" if r["mode"] == "cluster" else "full-batch GCN"
        edges = f"{r['entries'] // 2:,}" if "entries" in r else "-"
        if r["status"] != "ok":
            cap = f"{r.get('error', '')}"
            print(f"| {r['nodes_requested']:,} | {edges} | {name} | did not fit ({cap}) | "
                  f"{r.get('peak_mb', 0) / 1024:.2f} | - | {_gb(r.get('train_peak_mb'))} | - | - |")
            continue
        gf = r["flops"] / r.get("cpu_s", r["epoch_s"]) / 1e9
        share = r["batch_s"] / r["epoch_s"]
        ref = r.get("matmul_gflops_child", r["matmul_gflops"])
        print(f"| {r['nodes']:,} | {edges} | {name} | {r['epoch_s']:.1f} | {r['peak_mb'] / 1024:.2f} | "
              f"{r['rss_loaded_mb'] / 1024:.2f} | {_gb(r.get('train_peak_mb'))} | {share:.1%} | "
              f"{gf:.1f} / {ref:.1f} ({gf / ref:.0%}) |")


if __name__ == "__main__":
    main()
