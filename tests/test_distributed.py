"""Shards and data-parallel Cluster-GCN over torch.distributed (gloo on loopback)."""

import json
import shutil

import numpy as np
import pytest
import scipy.sparse as sp

from graphopt import Partition
from graphopt.graph import normalize_csr
from graphopt.shards import assign_parts, load_shard, write_shards


def _dense(x):
    return x.toarray() if sp.issparse(x) else np.asarray(x)


@pytest.fixture(scope="module")
def cora_shards(cora, tmp_path_factory):
    part = Partition.metis(cora, 8, seed=0)
    out = tmp_path_factory.mktemp("shards")
    write_shards(part, 2, out, dataset="cora")
    return cora, part, out


def test_shard_round_trip_and_content(cora_shards):
    g, part, out = cora_shards
    manifest = json.loads((out / "manifest.json").read_text())
    ranks = np.asarray(manifest["part_rank"])
    seen = []
    for r in range(2):
        s = load_shard(out, r, num_shards=2, dataset="cora", graph_hash=g.content_hash(), num_parts=8)
        # Only its own parts' nodes, part by part, with their data.
        assert np.array_equal(np.sort(s.parts), np.flatnonzero(ranks == r))
        assert np.array_equal(np.sort(s.nodes), part.nodes_of(s.parts))
        assert np.array_equal(_dense(s.graph.x), _dense(g.x[s.nodes]))
        assert np.array_equal(s.graph.y, g.y[s.nodes])
        for key in ("train_mask", "val_mask", "test_mask"):
            assert np.array_equal(getattr(s.graph, key), getattr(g, key)[s.nodes])
        # The induced subgraph, and the halo = exactly the out-of-shard neighbours.
        sub = g.subgraph(s.nodes).to_scipy()
        assert (abs(s.graph.to_scipy() - sub)).nnz == 0
        own = set(s.nodes.tolist())
        neigh = set(g.indices[np.concatenate([np.arange(g.indptr[v], g.indptr[v + 1]) for v in s.nodes])].tolist())
        assert set(s.halo.tolist()) == neigh - own
        assert np.all(ranks[part.assignment[s.halo]] != r)
        # The local partition's parts are the global ones.
        assert np.array_equal(part.assignment[s.nodes], s.parts[s.partition.assignment])
        seen.append(s.nodes)
    assert np.array_equal(np.sort(np.concatenate(seen)), np.arange(g.num_nodes))


@pytest.mark.parametrize("kind", ["rw", "sym", "diag_enhanced"])
def test_shard_adjacency_rows_equal_full_graph_rows(cora_shards, kind):
    g, _, out = cora_shards
    p, i, v = normalize_csr(g.indptr, g.indices, g.weights, kind, 0.5)
    a = sp.csr_matrix((v, i, p), shape=(g.num_nodes,) * 2)
    for r in range(2):
        s = load_shard(out, r)
        ref = a[s.nodes][:, np.concatenate([s.nodes, s.halo])]
        assert abs(s.adjacency_rows(kind, 0.5) - ref).max() < 1e-6


def test_quotient_grouping_is_balanced_and_total(cora):
    part = Partition.metis(cora, 16, seed=0)
    ranks = assign_parts(part, 4)
    assert set(ranks.tolist()) == {0, 1, 2, 3}
    load = np.bincount(ranks, weights=part.part_sizes(), minlength=4)
    assert load.max() / load.mean() < 1.3
    with pytest.raises(ValueError, match="num_shards"):
        assign_parts(part, 17)


def test_foreign_or_broken_shards_are_refused(cora_shards, citeseer, tmp_path):
    g, part, out = cora_shards
    with pytest.raises(ValueError, match="dataset"):
        load_shard(out, 0, dataset="citeseer")
    with pytest.raises(ValueError, match="num_shards"):
        load_shard(out, 0, num_shards=4)
    with pytest.raises(ValueError, match="rank"):
        load_shard(out, 2)
    # Another partition of the same graph: its shard file swapped in is refused by checksum,
    # and even with the manifest's checksum forged, by the file's own header.
    other = tmp_path / "other"
    write_shards(Partition.random(g, 8, seed=1), 2, other, dataset="cora")
    mixed = tmp_path / "mixed"
    shutil.copytree(out, mixed)
    name = "shard-00000-of-00002.npz"
    shutil.copy(other / name, mixed / name)
    with pytest.raises(ValueError, match="checksum"):
        load_shard(mixed, 0)
    m = json.loads((mixed / "manifest.json").read_text())
    m["shards"][0]["sha256"] = json.loads((other / "manifest.json").read_text())["shards"][0]["sha256"]
    (mixed / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match="partition_hash"):
        load_shard(mixed, 0)
    # A truncated (half-written) file, and a folder whose manifest was never written.
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    data = (broken / name).read_bytes()
    (broken / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="checksum"):
        load_shard(broken, 0)
    (broken / "manifest.json").unlink()
    with pytest.raises(FileNotFoundError, match="manifest"):
        load_shard(broken, 1)
