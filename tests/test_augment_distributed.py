"""Data-parallel LA-GNN over torch.distributed (gloo, loopback): the CVAE and LAClassifier on shards (issue 10 item 5).

Each test starts two ranks with :func:`graphopt.cluster_gcn.distributed.run_local` (spawned
processes, gloo on 127.0.0.1, a free port, one thread each). Every wait is bounded: collectives
time out and ``run_local`` stops ranks still running after its deadline, so a hang fails the test
instead of stalling the suite. Ranks hand their results back through files in the test's temp folder.
"""

import pytest
import torch

from graphopt import Partition
from graphopt.augment import LAGCN, LAClassifier, NeighborCVAE
from graphopt.cluster_gcn.distributed import run_local

WORLD = 2


def _report(out_dir, fn, *args):
    """Rank body: run ``fn(rank, world, *args)`` and save its result as ``rank-R.pt``."""
    import torch.distributed as dist

    rank, world = dist.get_rank(), dist.get_world_size()
    torch.save(fn(rank, world, *args), f"{out_dir}/rank-{rank}.pt")


def run_ranks(tmp_path, fn, *args, world=WORLD, timeout=240):
    """``fn(rank, world, *args)`` on ``world`` local ranks; their results in rank order."""
    out = tmp_path / f"out-{fn.__name__}"
    out.mkdir()
    run_local(_report, world, (str(out), fn, *args), timeout=timeout)
    return [torch.load(out / f"rank-{r}.pt", weights_only=True) for r in range(world)]


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
            "cvae_weights": [p.detach().clone() for p in cvae.net_.parameters()],
            "clf_weights": [p.detach().clone() for p in clf.model_.parameters()],
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
            "cvae_weights": [p.detach().clone() for p in cvae.net_.parameters()], "mismatch": mismatch}


# ---------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def cora_shards(cora, tmp_path_factory):
    from graphopt.shards import write_shards

    out = tmp_path_factory.mktemp("la_shards")
    write_shards(Partition.metis(cora, 16, seed=0), WORLD, out, dataset="cora")
    return out


def test_la_trains_data_parallel_on_cora_shards(cora, cora_shards, tmp_path):
    a, b = run_ranks(tmp_path, _cora_la, str(cora_shards), 60)
    assert a["nodes"] + b["nodes"] == cora.num_nodes and min(a["nodes"], b["nodes"]) > 0
    assert a["own_predictions"] == a["nodes"]  # each rank predicts its own nodes only
    # DDP: the CVAE and the classifier end with the same weights on both ranks
    for key in ("cvae_weights", "clf_weights"):
        for p, q in zip(a[key], b[key]):
            torch.testing.assert_close(p, q)
    assert a["cvae_losses"] == b["cvae_losses"] and a["cvae_losses"][-1] < a["cvae_losses"][0]
    # selection decided on statistics over both ranks: the same history and the same score everywhere
    assert a["history"] == b["history"] and a["test"] == b["test"]
    assert a["test"] >= 0.75, a["test"]


def test_uneven_ranks_take_equal_steps_and_a_mismatch_is_an_error(tmp_path):
    a, b = run_ranks(tmp_path, _uneven, 240, 40)
    for p, q in zip(a["cvae_weights"], b["cvae_weights"]):
        torch.testing.assert_close(p, q)
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


def test_cli_lagnn_nproc_runs_ranks_on_shards(shared_root, capfd):
    from graphopt.cli import main

    argv = ["lagnn", "--dataset", "cora", "--root", str(shared_root), "--epochs", "3", "--samples", "2",
            "--cvae-epochs", "1", "--cvae-max-pairs", "400", "--quiet", "--device", "cpu"]
    assert main([*argv, "--parts", "8", "--nproc", "2"]) == 0
    out = capfd.readouterr().out  # the ranks' own output (rank 0 prints)
    assert "2 ranks" in out and "LA-GCN on cora: test accuracy" in out
    assert main([*argv, "--parts", "8"]) == 0  # the single-process Cluster-GCN batch path
    assert "LA-GCN on cora" in capfd.readouterr().out
    assert main([*argv, "--nproc", "2"]) == 2  # no parts to share out
    assert main([*argv, "--parts", "2", "--nproc", "3"]) == 2
    assert main([*argv, "--parts", "0"]) == 2
