"""Cluster-GCN epoch cost against PyG's own pipeline, interleaved in one process (issue 12, goal 1).

Usage::

    GRAPHOPT_DATA=/work/shared/datasets PYTHONPATH=. python benchmarks/bench_cluster_gcn_speed.py \\
        [--datasets coauthor-cs coauthor-physics] [--epochs 6] [--sparse-peer] [--json PATH]
    ... bench_cluster_gcn_speed.py --epochs 10 --accuracy-seeds 3   # accuracy over seeds instead

Same configuration on both sides: 50 METIS parts, 5 parts per batch, 3 layers x 256, dropout 0.2,
diagonal enhancement lambda = 1 (``(D+I)^-1 (A+I) + diag``, eq. 11), Adam lr 0.01, one torch thread.

* **graphopt**: :class:`graphopt.cluster_gcn.ClusterGCN` trained by :func:`graphopt.cluster_gcn.fit`
  (one ``fit`` call per epoch, resuming from its own checkpoint, so Adam's state carries over; the
  epoch times are the ones ``fit`` records).
* **PyG**: ``torch_geometric.loader.ClusterData`` / ``ClusterLoader`` and three ``ClusterGCNConv``
  (``diag_lambda=1``) with LayerNorm + ReLU between them and dropout on every conv's input, dense
  features, ``edge_index`` batches (PyG's default path; no torch-sparse, no pyg-lib). ``ClusterData``
  computes its partition with pyg-lib or torch-sparse, neither of which is installed: its ``_metis``
  is overridden to return the partition graphopt computed with pymetis, so both train on the same
  50 parts. PyG is evaluated on the full graph given as a ``torch.sparse`` adjacency (the same
  convolution; an ``edge_index`` forward would hold ``edges x features`` messages, 34 GB on Physics).

Epochs alternate graphopt / PyG in one process; each reports process CPU time and wall time, and
the share of the epoch's wall time spent building batches. Test accuracy is taken after the same
number of epochs on the full graph. Peak memory is measured in fresh subprocesses (one per library
and dataset): the resident-set high-water mark (``VmHWM``) over training (2 epochs) and, after
resetting it (``/proc/self/clear_refs``), over one full-graph evaluation; both include the loaded
data and imports. Writes ``benchmarks/bench_cluster_gcn_speed.json`` (atomically).

``--accuracy-seeds K`` compares test accuracy instead, over K model seeds on the same partition;
PyG's model is then trained through its ``torch.sparse`` path (the same function as its
``edge_index`` path, at less than half the cost). Writes ``bench_cluster_gcn_speed_accuracy.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from graphopt.cli._paths import output_path

PARTS, Q, HIDDEN, LAYERS, DROPOUT, LAM, LR = 50, 5, 256, 3, 0.2, 1.0, 0.01
DEFAULT_JSON = Path(__file__).with_suffix(".json")


def setup(name: str, seed: int):
    import torch

    torch.set_num_threads(1)
    from graphopt import Partition
    from graphopt.datasets import load_npz

    g = load_npz(name)
    part = Partition.metis(g, PARTS, seed=seed)
    return g, part


# ----------------------------------------------------------------------------- PyG side
def pyg_pipeline(g, part, seed: int):
    """PyG's ClusterData/ClusterLoader on graphopt's pymetis partition, and its ClusterGCNConv model."""
    import torch
    from torch import nn
    from torch.nn import functional as F
    from torch_geometric.data import Data
    from torch_geometric.loader import ClusterData, ClusterLoader
    from torch_geometric.nn import ClusterGCNConv

    assignment = torch.from_numpy(part.assignment.astype(np.int64))

    class PymetisClusterData(ClusterData):
        # PyG calls pyg-lib or torch-sparse METIS here; neither is installed, so pymetis's answer
        # (the partition graphopt trains on) is injected.
        def _metis(self, edge_index, num_nodes):
            if num_nodes != assignment.numel() or self.num_parts != PARTS:
                raise ValueError("the injected partition is for another graph")
            return assignment.clone()

    n = g.num_nodes
    rows = np.repeat(np.arange(n), np.diff(g.indptr))
    edge_index = torch.from_numpy(np.stack([rows, g.indices]).astype(np.int64))
    data = Data(x=torch.from_numpy(g.x.toarray()), edge_index=edge_index,
                y=torch.from_numpy(g.y.astype(np.int64)), num_nodes=n,
                train_mask=torch.from_numpy(g.train_mask), test_mask=torch.from_numpy(g.test_mask))
    cluster_data = PymetisClusterData(data, num_parts=PARTS, log=False)
    loader = ClusterLoader(cluster_data, batch_size=Q, shuffle=True, num_workers=0)

    class Net(nn.Module):
        def __init__(self, f: int, c: int) -> None:
            super().__init__()
            dims = [f] + [HIDDEN] * (LAYERS - 1) + [c]
            self.convs = nn.ModuleList(ClusterGCNConv(dims[i], dims[i + 1], diag_lambda=LAM)
                                       for i in range(LAYERS))
            self.norms = nn.ModuleList(nn.LayerNorm(HIDDEN) for _ in range(LAYERS - 1))

        def forward(self, x, edge_index):
            for i, conv in enumerate(self.convs):
                x = conv(F.dropout(x, DROPOUT, self.training), edge_index)
                if i < LAYERS - 1:
                    x = torch.relu(self.norms[i](x))
            return x

    torch.manual_seed(seed)
    model = Net(g.num_features, g.num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    return data, loader, model, opt


def pyg_epoch(loader, model, opt, sparse_adj: bool = False) -> dict:
    """One PyG epoch; ``sparse_adj`` feeds each batch as a ``torch.sparse`` CSR adjacency (PyG's
    ``spmm`` path) instead of ``edge_index`` messages, its conversion counted as batching."""
    import torch
    from torch.nn import functional as F
    from torch_geometric.utils import to_torch_csr_tensor

    model.train()
    t0, c0, batch_time = time.perf_counter(), time.process_time(), 0.0
    it = iter(loader)
    while True:
        tb = time.perf_counter()
        batch = next(it, None)
        if batch is not None:
            edges = (to_torch_csr_tensor(batch.edge_index, size=(batch.num_nodes, batch.num_nodes))
                     if sparse_adj else batch.edge_index)
        batch_time += time.perf_counter() - tb
        if batch is None:
            break
        if not batch.train_mask.any():
            continue
        opt.zero_grad()
        out = model(batch.x, edges)
        F.cross_entropy(out[batch.train_mask], batch.y[batch.train_mask]).backward()
        opt.step()
    return {"cpu_s": time.process_time() - c0, "wall_s": time.perf_counter() - t0, "batch_s": batch_time}


def pyg_test_accuracy(data, model) -> float:
    import torch

    n = data.num_nodes
    adj = torch.sparse_coo_tensor(data.edge_index, torch.ones(data.edge_index.size(1)), (n, n))
    adj = adj.coalesce().to_sparse_csr()
    model.eval()
    with torch.no_grad():
        out = model(data.x, adj)
    m = data.test_mask
    return float((out[m].argmax(1) == data.y[m]).float().mean())


# ----------------------------------------------------------------------------- graphopt side
def graphopt_model(g, seed: int):
    import torch
    from graphopt.cluster_gcn import ClusterGCN

    torch.manual_seed(seed)
    return ClusterGCN(g.num_features, HIDDEN, g.num_classes, LAYERS, dropout=DROPOUT)


def graphopt_epoch(model, g, part, epoch: int, checkpoint: Path, seed: int) -> dict:
    from graphopt.cluster_gcn import fit

    hist = fit(model, g, part, clusters_per_batch=Q, epochs=epoch + 1, lr=LR,
               normalization="diag_enhanced", diag_lambda=LAM, eval_every=None, seed=seed,
               checkpoint=checkpoint, resume=epoch > 0, progress=False)
    row = hist.epochs[-1]
    return {"cpu_s": row["cpu_time"], "wall_s": row["time"], "batch_s": row["batch_time"]}


def graphopt_test_accuracy(model, g) -> float:
    from graphopt.cluster_gcn import evaluate

    return evaluate(model, g, normalization="diag_enhanced", diag_lambda=LAM)["test"]


# ----------------------------------------------------------------------------- memory (subprocess)
def _vm_hwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _reset_hwm() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def memory_child(lib: str, name: str, seed: int) -> dict:
    g, part = setup(name, seed)
    if lib == "pyg":
        data, loader, model, opt = pyg_pipeline(g, part, seed)
        _reset_hwm()
        loaded = _vm_hwm_mb()
        for _ in range(2):
            pyg_epoch(loader, model, opt)
        train = _vm_hwm_mb()
        _reset_hwm()
        pyg_test_accuracy(data, model)
    else:
        model = graphopt_model(g, seed)
        _reset_hwm()
        loaded = _vm_hwm_mb()
        with tempfile.TemporaryDirectory() as tmp:
            for epoch in range(2):
                graphopt_epoch(model, g, part, epoch, Path(tmp) / "ckpt.pt", seed)
        train = _vm_hwm_mb()
        _reset_hwm()
        graphopt_test_accuracy(model, g)
    return {"loaded_mb": loaded, "train_peak_mb": train, "eval_peak_mb": _vm_hwm_mb()}


def memory(lib: str, name: str, seed: int) -> dict:
    cmd = [sys.executable, __file__, "--memory-child", lib, "--datasets", name, "--seed", str(seed)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"memory child {lib}/{name} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- driver
def run_dataset(name: str, epochs: int, seed: int, with_memory: bool, sparse_peer: bool) -> dict:
    g, part = setup(name, seed)
    data, loader, pyg_model, pyg_opt = pyg_pipeline(g, part, seed)
    libs = ["graphopt", "pyg"]
    if sparse_peer:
        _, sp_loader, sp_model, sp_opt = pyg_pipeline(g, part, seed)
        libs.append("pyg_sparse_adj")
    model = graphopt_model(g, seed)
    rows: dict[str, list[dict]] = {lib: [] for lib in libs}
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "ckpt.pt"
        for epoch in range(epochs):
            # Rotate which library goes first, so none always runs on a warmer cache.
            order = libs[epoch % len(libs):] + libs[:epoch % len(libs)]
            for lib in order:
                if lib == "graphopt":
                    rows[lib].append(graphopt_epoch(model, g, part, epoch, ckpt, seed))
                elif lib == "pyg":
                    rows[lib].append(pyg_epoch(loader, pyg_model, pyg_opt))
                else:
                    rows[lib].append(pyg_epoch(sp_loader, sp_model, sp_opt, sparse_adj=True))
            print(f"[{name}] epoch {epoch}: " + ", ".join(f"{lib} {rows[lib][-1]['cpu_s']:.2f} CPU-s"
                                                          for lib in libs), file=sys.stderr, flush=True)
    acc = {"graphopt": graphopt_test_accuracy(model, g), "pyg": pyg_test_accuracy(data, pyg_model)}
    if sparse_peer:
        acc["pyg_sparse_adj"] = pyg_test_accuracy(data, sp_model)
        del sp_loader, sp_model, sp_opt
    result = {"dataset": name, "nodes": g.num_nodes, "features": g.num_features,
              "feature_density": g.x.nnz / (g.num_nodes * g.num_features), "epochs": epochs,
              "seed": seed, "per_epoch": rows, "test_acc": acc}
    # The first epoch carries one-off costs on both sides (allocator growth, lazy imports): the
    # summary is over the remaining epochs.
    for lib, eps in rows.items():
        steady = eps[1:] if len(eps) > 1 else eps
        result[lib] = {k: float(np.median([e[k] for e in steady])) for k in ("cpu_s", "wall_s", "batch_s")}
        result[lib]["batch_share"] = float(np.sum([e["batch_s"] for e in steady])
                                           / np.sum([e["wall_s"] for e in steady]))
    result["cpu_ratio"] = result["graphopt"]["cpu_s"] / result["pyg"]["cpu_s"]
    result["wall_ratio"] = result["graphopt"]["wall_s"] / result["pyg"]["wall_s"]
    if sparse_peer:
        result["cpu_ratio_sparse_adj"] = result["graphopt"]["cpu_s"] / result["pyg_sparse_adj"]["cpu_s"]
    del data, loader, pyg_model, pyg_opt, model
    if with_memory:
        for lib in ("graphopt", "pyg"):
            result[lib]["memory"] = memory(lib, name, seed)
    return result


def accuracy_dataset(name: str, seeds: int, epochs: int) -> dict:
    """Test accuracy over ``seeds`` initializations (same partition): graphopt, and PyG's model
    trained through its torch.sparse path (the same function as its edge_index path, at half the cost)."""
    g, part = setup(name, 0)
    acc: dict[str, list[float]] = {"graphopt": [], "pyg": []}
    for seed in range(seeds):
        model = graphopt_model(g, seed)
        with tempfile.TemporaryDirectory() as tmp:
            for epoch in range(epochs):
                graphopt_epoch(model, g, part, epoch, Path(tmp) / "ckpt.pt", seed)
        acc["graphopt"].append(graphopt_test_accuracy(model, g))
        data, loader, pyg_model, opt = pyg_pipeline(g, part, seed)
        for _ in range(epochs):
            pyg_epoch(loader, pyg_model, opt, sparse_adj=True)
        acc["pyg"].append(pyg_test_accuracy(data, pyg_model))
        print(f"[{name}] seed {seed}: graphopt {acc['graphopt'][-1]:.4f}, PyG {acc['pyg'][-1]:.4f}",
              file=sys.stderr, flush=True)
    return {"dataset": name, "seeds": seeds, "epochs": epochs, "test_acc": acc,
            "mean": {k: float(np.mean(v)) for k, v in acc.items()},
            "std": {k: float(np.std(v)) for k, v in acc.items()}}


def accuracy_table(results: list[dict]) -> str:
    lines = ["| dataset | epochs | seeds | graphopt test acc (%) | PyG test acc (%) | graphopt - PyG |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        m, s = r["mean"], r["std"]
        lines.append(f"| {r['dataset']} | {r['epochs']} | {r['seeds']} | {100 * m['graphopt']:.2f} ± "
                     f"{100 * s['graphopt']:.2f} | {100 * m['pyg']:.2f} ± {100 * s['pyg']:.2f} | "
                     f"{100 * (m['graphopt'] - m['pyg']):+.2f} |")
    return "\n".join(lines)


def table(results: list[dict]) -> str:
    lines = ["| dataset | graphopt CPU s/epoch | PyG CPU s/epoch | CPU ratio | graphopt wall s | PyG wall s "
             "| test acc graphopt / PyG (%) | batching share graphopt / PyG | graphopt train / eval peak (MB) "
             "| eval / train | PyG train / eval peak (MB) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        go, pg = r["graphopt"], r["pyg"]
        gm, pm = go.get("memory"), pg.get("memory")
        gmem = f"{gm['train_peak_mb']:.0f} / {gm['eval_peak_mb']:.0f}" if gm else "-"
        ratio = f"{gm['eval_peak_mb'] / gm['train_peak_mb']:.2f}" if gm else "-"
        pmem = f"{pm['train_peak_mb']:.0f} / {pm['eval_peak_mb']:.0f}" if pm else "-"
        lines.append(
            f"| {r['dataset']} | {go['cpu_s']:.3f} | {pg['cpu_s']:.3f} | **{r['cpu_ratio']:.3f}** | "
            f"{go['wall_s']:.3f} | {pg['wall_s']:.3f} | {100 * r['test_acc']['graphopt']:.1f} / "
            f"{100 * r['test_acc']['pyg']:.1f} | {100 * go['batch_share']:.1f}% / {100 * pg['batch_share']:.1f}% "
            f"| {gmem} | {ratio} | {pmem} |")
    extra = [r for r in results if "pyg_sparse_adj" in r]
    if extra:
        lines += ["", "Second peer, PyG with each batch as a `torch.sparse` CSR adjacency (same model, `spmm` path):", "",
                  "| dataset | graphopt CPU s/epoch | PyG sparse-adj CPU s/epoch | CPU ratio | PyG sparse-adj wall s "
                  "| test acc PyG sparse-adj (%) | batching share |", "|---|---:|---:|---:|---:|---:|---:|"]
        for r in extra:
            ps = r["pyg_sparse_adj"]
            lines.append(f"| {r['dataset']} | {r['graphopt']['cpu_s']:.3f} | {ps['cpu_s']:.3f} | "
                         f"**{r['cpu_ratio_sparse_adj']:.3f}** | {ps['wall_s']:.3f} | "
                         f"{100 * r['test_acc']['pyg_sparse_adj']:.1f} | {100 * ps['batch_share']:.1f}% |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["coauthor-cs", "coauthor-physics"])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--sparse-peer", action="store_true",
                    help="also time PyG fed torch.sparse CSR adjacencies (a faster PyG configuration)")
    ap.add_argument("--accuracy-seeds", type=int, default=0,
                    help="instead of timing, compare test accuracy over this many seeds "
                         "(writes bench_cluster_gcn_speed_accuracy.json unless --json is given)")
    ap.add_argument("--json", type=lambda text: Path(output_path(text)), default=None)
    ap.add_argument("--memory-child", choices=["graphopt", "pyg"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.datasets[0], args.seed)))
        return

    import subprocess as _sp

    from graphopt._io import write_atomic

    commit = _sp.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                     cwd=Path(__file__).parent).stdout.strip()
    command = " ".join(["python", "benchmarks/bench_cluster_gcn_speed.py"] + sys.argv[1:])
    if args.accuracy_seeds:
        results = [accuracy_dataset(name, args.accuracy_seeds, args.epochs) for name in args.datasets]
        path = args.json or DEFAULT_JSON.with_name(DEFAULT_JSON.stem + "_accuracy.json")
        out = {"command": command, "commit": commit, "torch_threads": 1, "results": results}
        write_atomic(path, lambda f: f.write(json.dumps(out, indent=1)), mode="w")
        print(accuracy_table(results))
        return
    results = [run_dataset(name, args.epochs, args.seed, not args.no_memory, args.sparse_peer)
               for name in args.datasets]
    out = {"command": command, "commit": commit, "torch_threads": 1, "results": results}
    write_atomic(args.json or DEFAULT_JSON, lambda f: f.write(json.dumps(out, indent=1)), mode="w")
    print(table(results))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # torch flags every sparse CSR tensor as beta, and PyG every non-CSR adjacency.
    warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
    main()
