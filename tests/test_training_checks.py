"""Training-loop checks of Cluster-GCN and LA-GNN (issue 13 items 4, 6 and 7).

Divergence stops training naming the epoch; resuming never starts over silently nor from another
partition; garbage checkpoints and models that do not fit the graph are refused before training;
runs without a terminal log one line per epoch and the total time; ``History`` prints a summary;
one ``resolve_device`` serves both trainers; ``shutdown_distributed`` pairs ``init_distributed``.
Tiny graphs and a few epochs each.
"""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch_geometric.nn import GCNConv

from graphopt import Partition, TrainingDiverged
from graphopt.augment import LAGCN, LAClassifier, LocalAugmentation, NeighborCVAE
from graphopt.cluster_gcn import ClusterGCN, ConvStack, History, fit

from test_augment import sbm_graph
from test_cluster_gcn import _random_graph

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def g():
    return _random_graph(n=60)


@pytest.fixture(scope="module")
def la_graph():
    return sbm_graph(n=60)


def _fit(g, part=None, **kw):
    torch.manual_seed(0)
    kw = {"epochs": 2, "progress": False, **kw}
    return fit(kw.pop("model", None) or ClusterGCN(8, 8, 3, 2), g, part or Partition.random(g, 3, seed=0), **kw)


# ---------------------------------------------------------------- divergence
def test_cluster_gcn_divergence_raises_naming_the_epoch(g, tmp_path):
    # lr=1e3: the first epoch's mean loss is ~1e6 times the first step's (1.2): stop, do not go on
    with pytest.raises(TrainingDiverged, match=r"epoch 1 \(history row epoch=0\).*first step"):
        _fit(g, epochs=4, lr=1e3, checkpoint=tmp_path / "c.pt")
    assert not (tmp_path / "c.pt").exists()  # the diverged epoch is never checkpointed
    assert issubclass(TrainingDiverged, ValueError) and issubclass(TrainingDiverged, FloatingPointError)


def test_la_classifier_divergence_raises(la_graph):
    clf = LAClassifier(LAGCN(la_graph.num_features, 16, 3, num_generated=0), epochs=5, lr=1e3,
                       patience=None, progress=False)
    with pytest.raises(TrainingDiverged, match=r"epoch=1\): the training loss"):
        clf.fit(la_graph)


def test_cvae_nan_loss_raises(la_graph):
    cvae = NeighborCVAE(epochs=3, hidden_size=8, latent_size=2, lr=1e3, loss="mse", progress=False)
    with pytest.raises(TrainingDiverged, match=r"epoch=0\): the CVAE loss is nan"):
        cvae.fit(la_graph)


# ---------------------------------------------------------------- checkpoints
def test_resume_with_a_missing_checkpoint_is_an_error(g, tmp_path):
    missing = tmp_path / "typo.pt"
    with pytest.raises(FileNotFoundError, match="typo.pt"):
        _fit(g, checkpoint=missing, resume=True)
    assert not missing.exists()


def test_resume_with_another_partition_of_the_same_size_is_refused(g, tmp_path):
    path = tmp_path / "c.pt"
    _fit(g, Partition.random(g, 3, seed=0), checkpoint=path)
    other = Partition.random(g, 3, seed=1)
    with pytest.raises(ValueError, match="partition [0-9a-f]{16}, this run's partition is [0-9a-f]{16}"):
        _fit(g, other, epochs=3, checkpoint=path, resume=True)
    assert len(_fit(g, Partition.random(g, 3, seed=0), epochs=3, checkpoint=path, resume=True).epochs) == 3


@pytest.mark.parametrize("content", [b"", b"not a checkpoint\n", os.urandom(300)])
def test_garbage_checkpoint_is_not_a_graphopt_checkpoint(g, tmp_path, content):
    path = tmp_path / "c.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"not a graphopt checkpoint: {path}") as err:
        _fit(g, checkpoint=path, resume=True)
    assert "weights_only=False" not in str(err.value)  # never advise unpickling code
    with pytest.raises(ValueError, match="not a graphopt checkpoint"):
        NeighborCVAE.load(path)


def test_checkpoint_of_another_kind_is_refused(la_graph, g, tmp_path):
    path = tmp_path / "cvae.pt"
    NeighborCVAE(epochs=1, hidden_size=8, latent_size=2, progress=False).fit(la_graph).save(path)
    with pytest.raises(ValueError, match="not a graphopt checkpoint.*'model'"):
        _fit(g, checkpoint=path, resume=True)


# ---------------------------------------------------------------- models that do not fit the graph
def test_label_beyond_the_models_classes_is_refused_before_training(g, la_graph):
    y = g.y.copy()
    y[0] = 5  # six classes, the model has three outputs
    with pytest.raises(ValueError, match=r"labels up to 5 \(6 classes\).*3 outputs"):
        _fit(g.replace(y=y))
    # a model that declares no out_channels is caught on its first output, before any step
    stack = ConvStack([GCNConv(8, 8), GCNConv(8, 3)])
    del stack.out_channels
    before = [p.detach().clone() for p in stack.parameters()]
    with pytest.raises(ValueError, match=r"6 classes.*ConvStack has 3 outputs"):
        _fit(g.replace(y=y), model=stack)
    assert all(torch.equal(a, b) for a, b in zip(before, stack.parameters()))
    y = la_graph.y.copy()
    y[0] = 7
    with pytest.raises(ValueError, match=r"8 classes.*LAGCN has 3 outputs"):
        LAClassifier(LAGCN(la_graph.num_features, 16, 3, num_generated=0), epochs=1,
                     progress=False).fit(la_graph.replace(y=y))


def test_model_input_width_must_match_the_features(g, la_graph):
    with pytest.raises(ValueError, match="8 features per node but ClusterGCN takes in_channels=5"):
        _fit(g, model=ClusterGCN(5, 8, 3, 2))
    f = la_graph.num_features
    with pytest.raises(ValueError, match=f"{f} features per node but LAGCN takes in_channels={f + 1}"):
        LAClassifier(LAGCN(f + 1, 16, 3, num_generated=0), epochs=1, progress=False).fit(la_graph)
    wrapped = LocalAugmentation(ConvStack([GCNConv(f - 2, 8), GCNConv(8, 3)]), num_generated=1)
    cvae = NeighborCVAE(epochs=1, hidden_size=8, latent_size=2, progress=False).fit(la_graph)
    with pytest.raises(ValueError, match=f"in_channels={f - 2}"):
        LAClassifier(wrapped, cvae, epochs=1, progress=False).fit(la_graph)


# ---------------------------------------------------------------- progress and summaries
def test_epoch_lines_and_total_time_are_logged_without_a_terminal(g, la_graph, caplog):
    # pytest captures stderr, so this runs as a batch job would: no terminal, no bar
    with caplog.at_level(logging.INFO, logger="graphopt"):
        _fit(g, epochs=3, progress=True)
        LAClassifier(LAGCN(la_graph.num_features, 16, 3, num_generated=0), epochs=2,
                     progress=True).fit(la_graph)
    lines = [r.getMessage() for r in caplog.records]
    epochs = [m for m in lines if m.startswith("cluster-gcn epoch")]
    assert len(epochs) == 3 and epochs[-1].startswith("cluster-gcn epoch 3/3: loss ")
    assert "val " in epochs[-1] and epochs[-1].endswith(" s)")
    assert any(m.startswith("cluster-gcn: trained 3 epoch(s) in ") for m in lines)
    assert sum(m.startswith("LA-GNN epoch") for m in lines) == 2
    assert any(m.startswith("LA-GNN: trained 2 epoch(s) in ") for m in lines)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="graphopt"):
        _fit(g, epochs=2, progress=False)
    assert not caplog.records  # progress=False is silent


def test_history_repr_is_a_summary():
    rows = [{"epoch": i, "loss": 1.0 / (i + 1), "val": 0.5, "time": 0.1} for i in range(5000)]
    h = History(rows, best_epoch=4000, best_val=0.8125, final={"test": 0.75})
    text = repr(h)
    assert len(text) < 200, text
    assert "epochs=5000" in text and "best_epoch=4000" in text and "test=0.7500" in text
    assert "loss=0.0002" in text  # the last epoch's loss


# ---------------------------------------------------------------- devices and process groups
def test_one_resolve_device_for_both_trainers():
    import graphopt.augment as augment
    import graphopt.cluster_gcn as cluster_gcn

    assert cluster_gcn.resolve_device is augment.resolve_device
    model = torch.nn.Linear(2, 2)
    assert augment.resolve_device(None, model) == torch.device("cpu")
    with pytest.raises(TypeError, match="device must be a str or torch.device"):
        cluster_gcn.resolve_device(3.5)


def test_shutdown_distributed_leaves_the_group_once(monkeypatch):
    import torch.distributed as dist

    from graphopt.cluster_gcn.distributed import free_port, init_distributed, shutdown_distributed

    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    init_distributed("cpu", timeout=30)
    try:
        assert dist.is_initialized()
    finally:
        shutdown_distributed()
    assert not dist.is_initialized()
    shutdown_distributed()  # a second call (or one without a group) does nothing


def test_training_prints_no_sparse_invariant_warning(tmp_path):
    # torch warns once per process, so a fresh one: Cluster-GCN with loader workers (their CSR
    # batches are rebuilt by torch), LA-GNN on sparse bag-of-words features, full batch and clusters
    script = (
        "import warnings, numpy as np, scipy.sparse as sp, sys, torch\n"
        "warnings.simplefilter('always')\n"
        "sys.path.insert(0, 'tests')\n"
        "from test_augment import sbm_graph\n"
        "from test_cluster_gcn import _random_graph\n"
        "from graphopt import Partition\n"
        "from graphopt.augment import LAGCN, LAClassifier, NeighborCVAE\n"
        "from graphopt.cluster_gcn import ClusterGCN, fit\n"
        "c = _random_graph(n=60)\n"
        "from graphopt.cluster_gcn import ClusterLoader\n"
        "assert len(list(ClusterLoader(Partition.random(c, 4, seed=1), 2, num_workers=1))) == 2\n"
        "fit(ClusterGCN(8, 8, 3), c, Partition.random(c, 4, seed=0), clusters_per_batch=2, epochs=1,\n"
        "    num_workers=1, progress=False)\n"
        "g = sbm_graph(n=60)\n"
        "g = g.replace(x=sp.csr_matrix(g.x))\n"
        "cvae = NeighborCVAE(epochs=1, hidden_size=8, latent_size=2, progress=False).fit(g)\n"
        "LAClassifier(LAGCN(g.num_features, 16, 3), cvae, epochs=2, progress=False).fit(g).score()\n"
        "LAClassifier(LAGCN(g.num_features, 16, 3), cvae, epochs=2, progress=False)"
        ".fit(g, Partition.random(g, 3, seed=0)).score()\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Sparse invariant checks" not in run.stderr, run.stderr


def test_fit_distributed_resume_refuses_a_missing_checkpoint_and_other_shards(g, tmp_path, monkeypatch):
    import torch.distributed as dist

    from graphopt.cluster_gcn.distributed import (fit_distributed, free_port, init_distributed,
                                                  shutdown_distributed)
    from graphopt.shards import load_shard, write_shards

    for seed in (0, 1):  # two partitions of the same size
        write_shards(Partition.random(g, 3, seed=seed), 1, tmp_path / f"shards{seed}")
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(free_port())}.items():
        monkeypatch.setenv(key, value)
    init_distributed("cpu", timeout=30)
    try:
        def run(seed, **kw):
            torch.manual_seed(0)
            return fit_distributed(ClusterGCN(8, 8, 3, 2), load_shard(tmp_path / f"shards{seed}", 0),
                                   epochs=2, progress=False, **kw)

        with pytest.raises(FileNotFoundError, match="typo.pt"):
            run(0, checkpoint=tmp_path / "typo.pt", resume=True)
        run(0, checkpoint=tmp_path / "c.pt")
        with pytest.raises(ValueError, match="made on shards .*, these shards are "):
            run(1, checkpoint=tmp_path / "c.pt", resume=True)
        with pytest.raises(ValueError, match="8 features per node but ClusterGCN takes in_channels=4"):
            fit_distributed(ClusterGCN(4, 8, 3, 2), load_shard(tmp_path / "shards0", 0), progress=False)
    finally:
        shutdown_distributed()
    assert not dist.is_initialized()
