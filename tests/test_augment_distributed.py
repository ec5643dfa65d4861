"""Data-parallel LA-GNN over torch.distributed (gloo, loopback): the CVAE and LAClassifier on shards (issue 10 item 5).

Each test starts two ranks in fresh processes (spawn) that rendezvous through a file store in the
test's temp folder (no port to collide with parallel runs) and talk over 127.0.0.1. Every wait is
bounded: the process group times out after 60 s and the launcher kills ranks still running after
its own deadline, so a hang fails the test instead of stalling the suite.
"""

import multiprocessing as mp
import os
import queue
import time
import traceback
from datetime import timedelta

import numpy as np
import pytest
import torch

from graphopt import Partition
from graphopt.augment import LAGCN, LAClassifier, NeighborCVAE

WORLD = 2


def _rank_main(rank, world, store, fn, args, results):
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback only
    torch.set_num_threads(1)
    import torch.distributed as dist

    try:
        dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world,
                                timeout=timedelta(seconds=60))
        try:
            results.put((rank, "ok", fn(rank, world, *args)))
        finally:
            dist.destroy_process_group()
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put((rank, "error", traceback.format_exc()))


def run_ranks(tmp_path, fn, *args, world=WORLD, timeout=240):
    """Run ``fn(rank, world, *args)`` on ``world`` spawned ranks; their results by rank, or the first error."""
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    store = tmp_path / f"store-{time.monotonic_ns()}"
    procs = [ctx.Process(target=_rank_main, args=(r, world, str(store), fn, args, results), daemon=True)
             for r in range(world)]
    for p in procs:
        p.start()
    out, deadline = {}, time.monotonic() + timeout
    try:
        while len(out) < world:
            try:
                rank, status, value = results.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"ranks {sorted(set(range(world)) - set(out))} did not finish within {timeout} s")
            out[rank] = (status, value)
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()  # only our own children, by handle
    return out


def _values(out):
    errors = [v for s, v in out.values() if s != "ok"]
    assert not errors, errors[0]
    return [out[r][1] for r in sorted(out)]


# ---------------------------------------------------------------- rank programs (module level: spawn pickles them)
def _cora_la(rank, world, shard_dir, epochs):
    from graphopt.shards import load_shard

    shard = load_shard(shard_dir, rank, num_shards=world)
    cvae = NeighborCVAE(epochs=3, hidden_size=64, max_pairs_per_epoch=3000, seed=0,
                        progress=False).fit_distributed(shard, parts_per_batch=2)
    g = shard.graph
    clf = LAClassifier(LAGCN(g.num_features, 16, g.num_classes), cvae, num_samples=2, epochs=epochs, patience=None,
                       seed=0, progress=False).fit_distributed(shard, parts_per_batch=2)
    return {"cvae_losses": [h["loss"] for h in cvae.history_],
            "cvae_weights": [p.detach().numpy().copy() for p in cvae.net_.parameters()],
            "clf_weights": [p.detach().numpy().copy() for p in clf.model_.parameters()],
            "history": clf.history_, "test": clf.score(), "val": clf.score(mask="val_mask"),
            "nodes": g.num_nodes, "own_predictions": clf.predict().shape[0]}


def _uneven(rank, world, n_big, n_small):
    """Ranks with very different amounts of data (pairs and labelled batches): equal steps or a hang."""
    from test_augment import sbm_graph

    g = sbm_graph(n=n_big if rank == 0 else n_small, seed=rank)
    part = Partition.random(g, 8 if rank == 0 else 2, seed=rank)
    cvae = NeighborCVAE(epochs=2, hidden_size=16, latent_size=2, batch_size=16, seed=0,
                        progress=False).fit_distributed(g, part, 1)
    clf = LAClassifier(LAGCN(g.num_features, 16, 3), cvae, num_samples=2, epochs=40, patience=None, seed=0,
                       progress=False).fit_distributed(g, part, 1)
    try:  # then a setting that differs by rank: an error on every rank, not a hang
        NeighborCVAE(epochs=1 + rank, progress=False).fit_distributed(g, part)
        mismatch = "no error"
    except ValueError as e:
        mismatch = str(e)
    return {"cvae_pairs": [h["pairs"] for h in cvae.history_], "test": clf.score(),
            "cvae_weights": [p.detach().numpy().copy() for p in cvae.net_.parameters()], "mismatch": mismatch}


# ---------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def cora_shards(cora, tmp_path_factory):
    from graphopt.shards import write_shards

    out = tmp_path_factory.mktemp("la_shards")
    write_shards(Partition.metis(cora, 16, seed=0), WORLD, out, dataset="cora")
    return out


def test_la_trains_data_parallel_on_cora_shards(cora, cora_shards, tmp_path):
    a, b = _values(run_ranks(tmp_path, _cora_la, str(cora_shards), 60))
    assert a["nodes"] + b["nodes"] == cora.num_nodes and min(a["nodes"], b["nodes"]) > 0
    assert a["own_predictions"] == a["nodes"]  # each rank predicts its own nodes only
    # DDP: the CVAE and the classifier end with the same weights on both ranks
    for key in ("cvae_weights", "clf_weights"):
        for p, q in zip(a[key], b[key]):
            np.testing.assert_allclose(p, q, rtol=1e-6, atol=1e-7)
    assert a["cvae_losses"] == b["cvae_losses"] and a["cvae_losses"][-1] < a["cvae_losses"][0]
    # selection decided on statistics over both ranks: the same history and the same score everywhere
    assert a["history"] == b["history"] and a["test"] == b["test"]
    assert a["test"] >= 0.75, a["test"]


def test_uneven_ranks_take_equal_steps_and_a_mismatch_is_an_error(tmp_path):
    a, b = _values(run_ranks(tmp_path, _uneven, 240, 40))
    for p, q in zip(a["cvae_weights"], b["cvae_weights"]):
        np.testing.assert_allclose(p, q, rtol=1e-6, atol=1e-7)
    assert a["cvae_pairs"] == b["cvae_pairs"]  # pairs over both ranks, reduced
    assert a["test"] == b["test"] and a["test"] > 0.6
    assert "differs across ranks" in a["mismatch"] and "differs across ranks" in b["mismatch"]


def test_fit_distributed_without_a_process_group_says_so():
    from test_augment import sbm_graph

    g = sbm_graph()
    part = Partition.random(g, 2, seed=0)
    with pytest.raises(RuntimeError, match="process group"):
        NeighborCVAE(progress=False).fit_distributed(g, part)
    with pytest.raises(RuntimeError, match="process group"):
        LAClassifier(LAGCN(g.num_features, 16, 3, num_generated=0)).fit_distributed(g, part)
    with pytest.raises(ValueError, match="rank's parts"):
        NeighborCVAE(progress=False).fit_distributed(g)
