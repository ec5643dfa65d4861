"""GraphSAGE-format datasets (Hamilton, Ying & Leskovec, NeurIPS 2017), e.g. PPI and Reddit.

A dataset ``<prefix>`` is four files: ``<prefix>-G.json`` (networkx node-link JSON whose nodes
carry ``val`` / ``test`` flags), ``<prefix>-id_map.json`` (node id -> row), ``<prefix>-class_map.json``
(node id -> class id, or a multi-hot list) and ``<prefix>-feats.npy`` (optional features, one row
per id_map row). The split is inductive: nodes flagged neither val nor test are training nodes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..graph import Graph
from .._io import write_atomic
from ._files import DatasetCorruptError

__all__ = ["load_graphsage", "save_graphsage"]


def _prefix(prefix_or_dir: str | os.PathLike, name: str | None) -> Path:
    p = Path(prefix_or_dir)
    if name is not None:
        return p / name
    if p.is_dir():
        found = sorted(p.glob("*-G.json"))
        if len(found) != 1:
            raise ValueError(f"{p} holds {len(found)} '*-G.json' files; pass name= to choose one")
        return p / found[0].name[: -len("-G.json")]
    return p


def _read_json(path: Path) -> object:
    if not path.is_file():
        raise FileNotFoundError(f"GraphSAGE file not found: {path}")
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise DatasetCorruptError(f"cannot read {path}: not valid JSON ({e}); the file is "
                                      f"truncated or damaged") from e


def load_graphsage(prefix_or_dir: str | os.PathLike, name: str | None = None) -> Graph:
    """Load ``<dir>/<name>-*`` (or ``<prefix>-*``) as an undirected Graph with inductive split masks.

    Node ``i`` of the Graph is row ``i`` of ``id_map``, so it lines up with ``feats.npy``. Link
    endpoints are read as node ids (networkx >= 2 writes ids; GraphSAGE's own files use ids
    equal to positions, so both readings agree there). ``y`` is int64 class ids, or an
    ``(N, C)`` int64 multi-hot array when the class map holds lists. Nodes without a ``val`` /
    ``test`` key count as training nodes.
    """
    prefix = _prefix(prefix_or_dir, name)
    g_data = _read_json(Path(f"{prefix}-G.json"))
    id_map = _read_json(Path(f"{prefix}-id_map.json"))
    class_map = _read_json(Path(f"{prefix}-class_map.json"))
    if not isinstance(g_data, dict) or "nodes" not in g_data or "links" not in g_data:
        raise ValueError(f"{prefix}-G.json is not networkx node-link JSON (needs 'nodes' and 'links')")
    n = len(id_map)
    rows = np.fromiter(id_map.values(), dtype=np.int64, count=n)
    if n and not np.array_equal(np.sort(rows), np.arange(n)):
        raise ValueError(f"{prefix}-id_map.json must map the nodes onto rows 0..{n - 1}")
    row_of = {str(k): int(v) for k, v in id_map.items()}

    def row(node_id: object, what: str) -> int:
        try:
            return row_of[str(node_id)]
        except KeyError:
            raise ValueError(f"{prefix}: {what} {node_id!r} is not in id_map.json") from None

    val = np.zeros(n, dtype=bool)
    test = np.zeros(n, dtype=bool)
    for node in g_data["nodes"]:
        r = row(node["id"], "node")
        val[r] = bool(node.get("val", False))
        test[r] = bool(node.get("test", False))
    links = g_data["links"]
    src = np.fromiter((row(link["source"], "link source") for link in links), np.int64, len(links))
    dst = np.fromiter((row(link["target"], "link target") for link in links), np.int64, len(links))

    labels = [None] * n
    for k, v in class_map.items():
        labels[row(k, "class_map key")] = v
    if any(v is None for v in labels):
        raise ValueError(f"{prefix}-class_map.json lacks {sum(v is None for v in labels)} nodes")
    y = np.asarray(labels, dtype=np.int64)

    x = None
    feats = Path(f"{prefix}-feats.npy")
    if feats.is_file():
        try:
            x = np.load(feats, allow_pickle=False)
        except (ValueError, EOFError) as e:  # numpy's words for a truncated or foreign file
            raise DatasetCorruptError(f"cannot read {feats}: {e}") from e
        if x.shape[0] != n:
            raise ValueError(f"{feats} has {x.shape[0]} rows but id_map has {n} nodes")
        x = x.astype(np.float32, copy=False)
    directed = bool(g_data.get("directed", False))
    return Graph.from_edge_index(np.stack([src, dst]), n, undirected=not directed, x=x, y=y,
                                 train_mask=~(val | test), val_mask=val, test_mask=test,
                                 name=prefix.name)


def save_graphsage(graph: Graph, directory: str | os.PathLike, prefix: str) -> Path:
    """Write ``graph`` as ``<directory>/<prefix>-{G.json,id_map.json,class_map.json,feats.npy}``.

    Node ids are ``0..N-1``. ``val`` / ``test`` flags come from the masks (training is what
    is neither, as GraphSAGE reads it); ``y`` is required. Every file is written atomically.
    Returns the prefix path to pass to :func:`load_graphsage`.
    """
    graph = Graph.coerce(graph)
    if graph.y is None:
        raise ValueError("graph has no labels y: GraphSAGE format needs a class map")
    n = graph.num_nodes
    out = Path(directory) / prefix
    none = np.zeros(n, dtype=bool)
    val = graph.val_mask if graph.val_mask is not None else none
    test = graph.test_mask if graph.test_mask is not None else none
    undirected = graph.is_undirected()
    e = graph.edges() if undirected else graph.edge_index().T
    g_data = {"directed": not undirected, "multigraph": False, "graph": {"name": prefix},
              "nodes": [{"id": i, "val": bool(v), "test": bool(t)} for i, v, t in
                        zip(range(n), val.tolist(), test.tolist())],
              "links": [{"source": s, "target": t} for s, t in e.tolist()]}
    files = {"G.json": g_data, "id_map.json": {str(i): i for i in range(n)},
             "class_map.json": {str(i): v for i, v in enumerate(graph.y.tolist())}}
    for suffix, obj in files.items():
        write_atomic(f"{out}-{suffix}", lambda f, obj=obj: json.dump(obj, f), mode="w")
    if graph.x is not None:
        x = graph.x.toarray() if sp.issparse(graph.x) else graph.x
        write_atomic(f"{out}-feats.npy", lambda f: np.save(f, np.asarray(x, dtype=np.float32)))
    return out
