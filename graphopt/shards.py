"""Shards of a partitioned graph, one per rank, for data-parallel Cluster-GCN (Chiang et al., KDD 2019).

The parts of a :class:`~graphopt.partition.Partition` are grouped into R ranks by partitioning its
quotient graph into R groups balanced by node count (METIS, cut edges as weights), so each rank
owns parts that are close to each other and few edges cross ranks. A rank's shard holds the
subgraph induced by its parts (with features, labels, masks and global node ids), the rows of
its nodes' edges that leave the shard (towards the *halo*: out-of-shard neighbours, named by
global id, owner rank and position in the owner's shard) and the send/receive plan that exact
layer-wise inference uses to fetch only halo rows. No rank ever needs the whole graph.

:func:`write_shards` writes one ``.npz`` per rank atomically, then a ``manifest.json`` holding
each file's SHA-256; :func:`load_shard` verifies the checksum and the file's own header before
using it, so a half-written shard, or one from another partition or dataset, is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._io import make_output_dir, write_atomic
from .graph import Graph, Normalization
from .partition import Partition

__all__ = ["Shard", "assign_parts", "write_shards", "load_shard", "read_manifest", "partition_hash"]

FORMAT = 1
MANIFEST = "manifest.json"


def partition_hash(partition: Partition) -> str:
    """SHA-256 of the graph's content hash, the assignment and the number of parts."""
    h = hashlib.sha256(partition.graph.content_hash().encode())
    h.update(np.int64(partition.num_parts).tobytes())
    h.update(np.ascontiguousarray(partition.assignment, dtype=np.int64).tobytes())
    return h.hexdigest()


def assign_parts(partition: Partition, num_shards: int, seed: int = 0) -> np.ndarray:
    """Rank of each part: the quotient graph cut into ``num_shards`` groups balanced by node count.

    Every rank gets at least one part; ``num_shards`` larger than the number of parts is refused.
    """
    if not isinstance(partition, Partition):
        raise TypeError(f"partition must be a graphopt.Partition, got {type(partition).__name__}")
    p = partition.num_parts
    if not isinstance(num_shards, (int, np.integer)) or not 1 <= num_shards <= p:
        raise ValueError(f"num_shards must be an integer in [1, num_parts={p}], got {num_shards!r}")
    if num_shards == 1:
        return np.zeros(p, dtype=np.int64)
    sizes = partition.part_sizes()
    q = partition.quotient_graph()
    if q.num_edges == 0:  # no cut edges: balance sizes greedily
        ranks = np.empty(p, dtype=np.int64)
        load = np.zeros(num_shards)
        for k in np.argsort(-sizes, kind="stable"):
            ranks[k] = int(np.argmin(load))
            load[ranks[k]] += sizes[k]
        return ranks
    ranks = Partition.metis(q, int(num_shards), seed=seed, node_weights=np.maximum(sizes, 1),
                            edge_weights=True).assignment.copy()
    # METIS may leave a group empty on a small quotient graph: hand it the smallest part of the
    # group holding the most parts.
    for r in range(num_shards):
        if not np.any(ranks == r):
            counts = np.bincount(ranks, minlength=num_shards)
            donor = np.flatnonzero(ranks == int(np.argmax(counts)))
            ranks[donor[np.argmin(sizes[donor])]] = r
    return ranks


@dataclass
class Shard:
    """One rank's shard (see the module docstring); ``graph``/``partition`` are of its own nodes."""

    rank: int
    num_shards: int
    manifest: dict[str, Any]
    graph: Graph
    partition: Partition
    parts: np.ndarray
    nodes: np.ndarray
    halo: np.ndarray
    halo_owner: np.ndarray
    halo_index: np.ndarray
    halo_degree: np.ndarray
    boundary: sp.csr_matrix
    send_index: np.ndarray
    send_counts: np.ndarray
    recv_counts: np.ndarray

    @property
    def num_nodes(self) -> int:
        return self.graph.num_nodes

    @property
    def identity(self) -> str:
        """What every rank of one run must agree on: the graph and the partition it was cut from."""
        return f"{self.manifest['graph_hash']}:{self.manifest['partition_hash']}:{self.num_shards}"

    def adjacency_rows(self, kind: Normalization = "rw", diag_lambda: float = 1.0) -> sp.csr_matrix:
        """Normalized full-graph adjacency rows of the shard's nodes, shape ``(n, n + halo)``.

        Columns are the shard's nodes then its halo, so ``rows @ vstack([h_own, h_halo])``
        equals the same rows of the single-process propagation (same formula as
        :func:`graphopt.graph.normalize_csr`; ``"sym"`` uses the halo nodes' stored degrees).
        """
        from .graph import NORMALIZATIONS

        if kind not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {kind!r}")
        g, n = self.graph, self.graph.num_nodes
        inner = sp.csr_matrix((np.ones(g.indices.size) if g.weights is None else g.weights,
                               g.indices, g.indptr), shape=(n, n))
        raw = sp.hstack([inner, self.boundary], format="csr")
        raw.setdiag(0)  # self-loops are replaced by the unit loop, as in normalize_csr
        raw.eliminate_zeros()
        deg = np.asarray(raw.sum(1)).ravel() + 1.0
        if kind == "sym":
            col_deg = np.concatenate([deg, self.halo_degree + 1.0])
            inv_r, inv_c = 1.0 / np.sqrt(deg), 1.0 / np.sqrt(col_deg)
            off = sp.diags(inv_r) @ raw @ sp.diags(inv_c)
        else:
            off = sp.diags(1.0 / deg) @ raw
        on = 1.0 / deg
        if kind == "residual":
            on = on + 1.0
        elif kind == "diag_enhanced":
            on = on * (1.0 + diag_lambda)
        diag = sp.csr_matrix((on, (np.arange(n), np.arange(n))), shape=raw.shape)
        return (off + diag).tocsr().astype(np.float32)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    total = int(lengths.sum())
    return np.arange(total, dtype=np.int64) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)


def write_shards(partition: Partition, num_shards: int, directory: str | os.PathLike, *,
                 seed: int = 0, dataset: str | None = None) -> dict[str, Any]:
    """Write one shard per rank of ``partition`` into ``directory`` and return the manifest.

    The graph must be undirected and carry features ``x``. Shards are written first, each
    atomically, and the manifest last (an older manifest is removed before anything is
    written), so an interrupted run leaves a directory that :func:`load_shard` refuses.
    ``dataset`` is recorded so that a run on another dataset refuses these shards.
    """
    ranks_of_part = assign_parts(partition, num_shards, seed)
    g = partition.graph
    if not g.is_undirected():
        raise ValueError("graph is directed; shards need an undirected graph (graph.to_undirected())")
    if g.x is None:
        raise ValueError("graph has no node features x")
    out = make_output_dir(directory, "shard folder")
    (out / MANIFEST).unlink(missing_ok=True)
    n, r_count = g.num_nodes, int(num_shards)
    node_rank = ranks_of_part[partition.assignment]
    # Nodes of a rank come part by part (as ClusterLoader wants them); local id = position there.
    order = np.argsort(node_rank * partition.num_parts + partition.assignment, kind="stable")
    counts = np.bincount(node_rank, minlength=r_count)
    starts = np.concatenate([[0], np.cumsum(counts)])
    local_id = np.empty(n, dtype=np.int64)
    local_id[order] = np.arange(n) - starts[node_rank[order]]
    rows_all = g._rows()
    loops = rows_all == g.indices
    w_all = np.ones(g.indices.size) if g.weights is None else g.weights
    degree = np.bincount(rows_all[~loops], weights=w_all[~loops], minlength=n)
    del rows_all, loops

    halos = []
    for r in range(r_count):
        nodes = order[starts[r]:starts[r + 1]]
        pos = _ranges(g.indptr[nodes], np.diff(g.indptr)[nodes])
        cols = g.indices[pos]
        outside = cols[node_rank[cols] != r]
        halo = np.unique(outside)
        halo = halo[np.lexsort((local_id[halo], node_rank[halo]))]
        halos.append(halo)

    pid, ghash = partition_hash(partition), g.content_hash()
    entries = []
    for r in range(r_count):
        nodes = order[starts[r]:starts[r + 1]]
        halo = halos[r]
        deg = np.diff(g.indptr)[nodes]
        pos = _ranges(g.indptr[nodes], deg)
        cols = g.indices[pos]
        inside = node_rank[cols] == r
        row_of = np.repeat(np.arange(nodes.size), deg)
        w = None if g.weights is None else g.weights[pos]
        in_ptr = np.concatenate([[0], np.cumsum(np.bincount(row_of[inside], minlength=nodes.size))])
        halo_sorted = np.argsort(halo)
        hpos = halo_sorted[np.searchsorted(halo[halo_sorted], cols[~inside])]
        bnd_ptr = np.concatenate([[0], np.cumsum(np.bincount(row_of[~inside], minlength=nodes.size))])
        send = [halos[s][node_rank[halos[s]] == r] for s in range(r_count)]
        arrays: dict[str, Any] = dict(
            format=np.int64(FORMAT), rank=np.int64(r), num_shards=np.int64(r_count),
            graph_hash=np.str_(ghash), partition_hash=np.str_(pid),
            parts=np.flatnonzero(ranks_of_part == r), nodes=nodes,
            local_assignment=np.searchsorted(np.flatnonzero(ranks_of_part == r),
                                             partition.assignment[nodes]),
            indptr=in_ptr, indices=local_id[cols[inside]],
            halo=halo, halo_owner=node_rank[halo], halo_index=local_id[halo],
            halo_degree=degree[halo], bnd_indptr=bnd_ptr, bnd_indices=hpos,
            send_index=np.concatenate([local_id[s] for s in send]),
            send_counts=np.array([s.size for s in send], dtype=np.int64),
            recv_counts=np.bincount(node_rank[halo], minlength=r_count).astype(np.int64))
        if w is not None:
            arrays.update(weights=w[inside], bnd_weights=w[~inside])
        x = g.x[nodes]
        if sp.issparse(x):
            x = sp.csr_matrix(x)
            arrays.update(x_data=x.data, x_indices=x.indices, x_indptr=x.indptr,
                          x_shape=np.array(x.shape, dtype=np.int64))
        else:
            arrays["x"] = np.ascontiguousarray(x)
        for key in ("y", "train_mask", "val_mask", "test_mask"):
            v = getattr(g, key)
            if v is not None:
                arrays[key] = v[nodes]
        name = f"shard-{r:05d}-of-{r_count:05d}.npz"
        write_atomic(out / name, lambda f: np.savez(f, **arrays))
        entries.append({"rank": r, "file": name, "sha256": _file_sha256(out / name),
                        "nodes": int(nodes.size), "edges": int(in_ptr[-1]), "halo": int(halo.size),
                        "parts": int(arrays["parts"].size)})
        del arrays, x
    manifest = {"format": FORMAT, "dataset": dataset, "graph_name": g.name,
                "graph_hash": ghash, "partition_hash": pid, "partition_params": partition.params,
                "num_parts": partition.num_parts, "num_shards": r_count, "num_nodes": n,
                "num_features": g.num_features, "num_classes": g.num_classes,
                "multilabel": bool(g.is_multilabel), "part_rank": ranks_of_part.tolist(),
                "shards": entries}
    write_atomic(out / MANIFEST, lambda f: json.dump(manifest, f, indent=1), mode="w")
    return manifest


def read_manifest(directory: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a shard directory; a directory without one (never finished) is refused."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: not a shard directory, or its writing never "
                                "finished (make it with write_shards / graphopt partition --shards)")
    with open(path) as f:
        manifest = json.load(f)
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path} has shard format {manifest.get('format')!r}, expected {FORMAT}")
    return manifest


def load_shard(directory: str | os.PathLike, rank: int, *, num_shards: int | None = None,
               dataset: str | None = None, graph_hash: str | None = None,
               num_parts: int | None = None) -> Shard:
    """Read and verify rank ``rank``'s shard, and only it.

    Refused with a ``ValueError``: a file whose SHA-256 differs from the manifest's (half-written,
    replaced, or from another partition), a file whose header names another graph, partition or
    rank, and any of ``num_shards``, ``dataset``, ``graph_hash``, ``num_parts`` that the caller
    gives and the manifest contradicts.
    """
    m = read_manifest(directory)
    for name, want, have in (("num_shards", num_shards, m["num_shards"]),
                             ("dataset", dataset, m["dataset"]),
                             ("graph_hash", graph_hash, m["graph_hash"]),
                             ("num_parts", num_parts, m["num_parts"])):
        if want is not None and want != have:
            raise ValueError(f"shards in {directory} were made with {name}={have!r}, not {want!r}")
    if not isinstance(rank, (int, np.integer)) or not 0 <= rank < m["num_shards"]:
        raise ValueError(f"rank must be an integer in [0, {m['num_shards']}), got {rank!r}")
    entry = m["shards"][rank]
    path = Path(directory) / entry["file"]
    if not path.is_file():
        raise FileNotFoundError(f"shard file {path} is missing")
    digest = _file_sha256(path)
    if digest != entry["sha256"]:
        raise ValueError(f"{path} fails its checksum (sha256 {digest[:12]}..., manifest "
                         f"{entry['sha256'][:12]}...): half-written, altered, or from another partition")
    with np.load(path, allow_pickle=False) as f:
        a = {k: f[k] for k in f.files}
    for key, want in (("graph_hash", m["graph_hash"]), ("partition_hash", m["partition_hash"]),
                      ("rank", rank), ("num_shards", m["num_shards"])):
        got = a[key].item() if a[key].ndim == 0 else a[key]
        if str(got) != str(want):
            raise ValueError(f"{path} holds {key}={got!r} but the manifest says {want!r}")
    if "x" in a:
        x: Any = a["x"]
    else:
        x = sp.csr_matrix((a["x_data"], a["x_indices"], a["x_indptr"]), shape=tuple(a["x_shape"]))
    n = a["nodes"].size
    graph = Graph(a["indptr"], a["indices"], a.get("weights"), x=x, y=a.get("y"),
                  train_mask=a.get("train_mask"), val_mask=a.get("val_mask"),
                  test_mask=a.get("test_mask"), node_map=a["nodes"],
                  name=f"{m.get('graph_name') or 'graph'}[shard {rank}/{m['num_shards']}]")
    part = Partition(graph, a["local_assignment"], int(a["parts"].size),
                     {"method": "shard", "of": m["partition_hash"], "rank": int(rank)})
    bw = a.get("bnd_weights")
    boundary = sp.csr_matrix((np.ones(a["bnd_indices"].size) if bw is None else bw,
                              a["bnd_indices"], a["bnd_indptr"]), shape=(n, a["halo"].size))
    return Shard(rank=int(rank), num_shards=int(m["num_shards"]), manifest=m, graph=graph,
                 partition=part, parts=a["parts"], nodes=a["nodes"], halo=a["halo"],
                 halo_owner=a["halo_owner"], halo_index=a["halo_index"],
                 halo_degree=a["halo_degree"], boundary=boundary, send_index=a["send_index"],
                 send_counts=a["send_counts"], recv_counts=a["recv_counts"])
