"""The CPU kernels behind LA-GNN's speed (``graphopt._ops``), each beside what it replaced, in one process.

Rows (one torch thread, median of ``--repeat`` timings after a warm-up):
- dropout on a Cora-sized dense matrix (2708 x 1433): ``F.dropout``, the previous ``x * keep * scale``
  with 15-bit draws, and ``graphopt._ops.dropout``;
- ``linear(dropout(x))`` forward + backward on a CiteSeer-sized dense X̄ (3327 x 3703 -> 8): whole vs
  ``dropout_linear`` in 2 MB row blocks;
- ``A h`` forward + backward on Cora's normalized adjacency, h 2708 x 64: torch's CSR product with its
  own backward vs ``sparse_propagation``;
- a 64-layer GCNII stack (width 64, Cora) forward + backward: PyG ``GCN2Conv`` vs ``GCNIILayer``;
- one Adam step over the CVAE's parameters (CiteSeer sizes, ~4M): default vs fused.
Writes ``benchmarks/bench_ops.json``.

    PYTHONPATH=. GRAPHOPT_DATA=/work/shared/datasets python benchmarks/bench_ops.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch_geometric.nn import GCN2Conv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from graphopt.cli._paths import output_path
from graphopt._io import write_atomic
from graphopt._ops import adam, dropout, dropout_linear, sparse_propagation
from graphopt.augment import GCNIILayer
from graphopt.datasets import load_planetoid


def timed(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def old_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    keep = torch.empty(x.shape, dtype=torch.int16).random_() >= round(p * 32768)
    return x * keep * (1.0 / (1.0 - p))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--out", type=output_path, default=str(Path(__file__).with_suffix(".json")))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    r = args.repeat
    rows = []

    x = torch.rand(2708, 1433)
    rows.append(("dropout 0.5, 2708 x 1433", {"F.dropout": timed(lambda: F.dropout(x, 0.5), r),
                                               "x * keep * scale (before)": timed(lambda: old_dropout(x, 0.5), r),
                                               "_ops.dropout": timed(lambda: dropout(x, 0.5), r)}))

    xbar = torch.rand(3327, 3703)
    lin = torch.nn.Linear(3703, 8)

    def step(f):
        lin.zero_grad()
        f().sum().backward()
    rows.append(("linear(dropout(X̄)) fwd+bwd, 3327 x 3703 -> 8",
                 {"whole": timed(lambda: step(lambda: lin(dropout(xbar, 0.5))), r),
                  "dropout_linear (2 MB blocks)": timed(lambda: step(lambda: dropout_linear(xbar, lin, 0.5)), r)}))

    g = load_planetoid("cora")
    n = g.num_nodes
    ei, ew = gcn_norm(torch.from_numpy(g.edge_index()), None, n, add_self_loops=True)
    csr = torch.sparse_coo_tensor(ei.flip(0), ew, (n, n)).coalesce().to_sparse_csr()
    prop = sparse_propagation(ei, ew, n)
    h = torch.randn(n, 64, requires_grad=True)
    rows.append(("A h fwd+bwd, Cora, h 2708 x 64",
                 {"torch CSR product": timed(lambda: torch.sparse.mm(csr, h).sum().backward(), r),
                  "sparse_propagation": timed(lambda: prop(h).sum().backward(), r)}))

    pyg = torch.nn.ModuleList(GCN2Conv(64, 0.1, 0.5, layer=i + 1, normalize=False) for i in range(64))
    ours = torch.nn.ModuleList(GCNIILayer(64, 0.1, 0.5, layer=i + 1) for i in range(64))
    h0 = torch.randn(n, 64)

    def stack(layers, call):
        z = h0.requires_grad_(True)
        out = z
        for layer in layers:
            out = torch.relu(call(layer, out))
        out.sum().backward()
    rows.append(("64 GCNII layers fwd+bwd, Cora, width 64",
                 {"PyG GCN2Conv": timed(lambda: stack(pyg, lambda m, z: m(z, h0, ei, ew)), max(3, r // 4)),
                  "GCNIILayer": timed(lambda: stack(ours, lambda m, z: m(z, h0, prop)), max(3, r // 4))}))

    params = [torch.nn.Parameter(torch.randn(256, 2 * 3703)), torch.nn.Parameter(torch.randn(3703, 256)),
              torch.nn.Parameter(torch.randn(256, 3703))]
    for p in params:
        p.grad = torch.randn_like(p)
    plain, fused = torch.optim.Adam(params, lr=0.01), adam(params, lr=0.01)
    rows.append(("Adam step, CVAE parameters (CiteSeer, 3.8M)",
                 {"torch.optim.Adam": timed(plain.step, r), "_ops.adam (fused)": timed(fused.step, r)}))

    print("| operation | before (ms) | graphopt._ops (ms) | speed-up |\n|---|---|---|---:|")
    for name, t in rows:
        *before, (new_name, new) = t.items()
        cells = ", ".join(f"{k} {v:.2f}" for k, v in before)
        print(f"| {name} | {cells} | {new_name} {new:.2f} | {before[-1][1] / new:.1f}x |")
    write_atomic(args.out, lambda f: json.dump({"config": vars(args), "torch": torch.__version__,
                                                "ms": dict(rows)}, f, indent=1), mode="w")


if __name__ == "__main__":
    main()
