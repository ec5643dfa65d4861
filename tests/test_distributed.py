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


# ---------------------------------------------------------------- multi-process (gloo, loopback)
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402


def _predict_worker(shard_dir, out_dir):
    import torch.distributed as dist

    from graphopt.cluster_gcn import ClusterGCN
    from graphopt.cluster_gcn.distributed import predict_distributed

    rank = dist.get_rank()
    shard = load_shard(shard_dir, rank)
    for kind in ("rw", "sym"):
        torch.manual_seed(0)
        model = ClusterGCN(shard.manifest["num_features"], 16, shard.manifest["num_classes"], 3)
        logits = predict_distributed(model, shard, normalization=kind, chunk_size=500)
        np.save(f"{out_dir}/{kind}-{rank}.npy", logits.numpy())
    np.save(f"{out_dir}/nodes-{rank}.npy", shard.nodes)


def test_distributed_predict_equals_single_process_predict(cora_shards, tmp_path):
    from graphopt.cluster_gcn import ClusterGCN, predict
    from graphopt.cluster_gcn.distributed import run_local

    g, _, out = cora_shards
    run_local(_predict_worker, 2, (str(out), str(tmp_path)), timeout=120)
    for kind in ("rw", "sym"):
        torch.manual_seed(0)
        ref = predict(ClusterGCN(g.num_features, 16, g.num_classes, 3), g, normalization=kind).numpy()
        for r in range(2):
            got = np.load(tmp_path / f"{kind}-{r}.npy")
            nodes = np.load(tmp_path / f"nodes-{r}.npy")
            np.testing.assert_allclose(got, ref[nodes], atol=1e-5, rtol=1e-5)


def _resume_worker(shard_dir, ckpt_dir):
    import torch.distributed as dist

    from graphopt.cluster_gcn import ClusterGCN
    from graphopt.cluster_gcn.distributed import fit_distributed

    rank = dist.get_rank()
    shard = load_shard(shard_dir, rank)

    def run(epochs, resume, path):
        torch.manual_seed(0)
        model = ClusterGCN(shard.manifest["num_features"], 16, shard.manifest["num_classes"], 2)
        hist = fit_distributed(model, shard, clusters_per_batch=2, epochs=epochs, checkpoint=path,
                               resume=resume, seed=3, progress=False)
        return model, hist

    full, hist_full = run(4, False, None)
    path = f"{ckpt_dir}/ckpt.pt"
    run(2, False, path)
    resumed, hist_res = run(4, True, path)
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), "resumed run differs from the uninterrupted one"
    assert [r["loss"] for r in hist_full.epochs] == pytest.approx([r["loss"] for r in hist_res.epochs])
    assert hist_full.final == hist_res.final
    # A configuration that differs across ranks is refused on every rank.
    model = ClusterGCN(shard.manifest["num_features"], 16, shard.manifest["num_classes"], 2)
    try:
        fit_distributed(model, shard, clusters_per_batch=2, epochs=1, lr=0.01 * (1 + rank), progress=False)
    except ValueError as e:
        assert "differs across ranks" in str(e)
    else:
        raise AssertionError("differing learning rates were not refused")


def test_resume_on_every_rank_and_config_mismatch_refused(cora_shards, tmp_path):
    from graphopt.cluster_gcn.distributed import run_local

    run_local(_resume_worker, 2, (str(cora_shards[2]), str(tmp_path)), timeout=120)
    assert (tmp_path / "ckpt.pt").is_file() and not list(tmp_path.glob(".ckpt.pt.*"))


def _cli(*args):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return [sys.executable, "-m", "graphopt", "cluster-gcn", *args], env


def test_two_ranks_through_the_cli_reach_75_percent_on_cora(shared_root, tmp_path):
    cmd, env = _cli("--dataset", "cora", "--parts", "8", "--clusters-per-batch", "2", "--nproc", "2",
                    "--epochs", "30", "--hidden", "64", "--dropout", "0.5", "--weight-decay", "5e-4",
                    "--quiet", "--json", str(tmp_path / "run.json"))
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr
    out = json.loads((tmp_path / "run.json").read_text())
    assert out["world_size"] == 2 and out["test"] >= 0.75
    assert [r["rank"] for r in out["ranks"]] == [0, 1]
    assert sum(r["nodes"] for r in out["ranks"]) == 2708
    assert all(r["edges"] > 0 and r["peak_mb"] > 0 for r in out["ranks"])


def test_world_size_above_parts_is_refused(shared_root):
    cmd, env = _cli("--dataset", "cora", "--parts", "2", "--nproc", "3", "--quiet")
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "--nproc 3 exceeds --parts 2" in res.stderr


def test_a_killed_rank_ends_the_run_with_an_error(shared_root, tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    cmd, env = _cli("--dataset", "cora", "--parts", "4", "--nproc", "2", "--epochs", "100000",
                    "--hidden", "16", "--quiet", "--checkpoint", str(ckpt), "--dist-timeout", "30")
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    try:
        pids = {}
        while len(pids) < 2:
            line = proc.stderr.readline()
            assert line, "launcher ended before starting its ranks"
            if line.startswith("rank ") and ": pid " in line:
                rank, pid = line.split(": pid ")
                pids[int(rank.split()[1])] = int(pid)
        deadline = time.monotonic() + 120
        while not ckpt.exists():  # training is under way once rank 0 has checkpointed an epoch
            assert time.monotonic() < deadline and proc.poll() is None, "training never started"
            time.sleep(0.1)
        os.kill(pids[1], signal.SIGKILL)
        killed = time.monotonic()
        err = proc.communicate(timeout=60)[1]
        assert time.monotonic() - killed < 30
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "rank 1" in err and "SIGKILL" in err


def test_partition_cli_writes_shards(shared_root, tmp_path, capsys):
    from graphopt.cli import main

    assert main(["partition", "cora", "--parts", "4", "--shards", "2", "-o", str(tmp_path / "s")]) == 0
    assert "wrote 2 shards" in capsys.readouterr().out
    shards = [load_shard(tmp_path / "s", r, dataset="cora", num_parts=4) for r in range(2)]
    assert sum(s.num_nodes for s in shards) == 2708
    assert main(["partition", "cora", "--parts", "4", "--shards", "2"]) == 2
    assert main(["partition", "cora", "--parts", "2", "--shards", "3", "-o", str(tmp_path / "t")]) == 2
    assert "exceeds --parts" in capsys.readouterr().err
