"""Outputs: graphopt never creates parent directories the user did not ask for. A path whose folder
does not exist is a clear error naming that folder, raised before any work (at parse time in the
CLI); a folder named by --out is created itself, but not its parents. Failed downloads leave nothing.
"""

import urllib.request

import pytest
import torch

from graphopt import Partition
from graphopt._io import check_parent, make_output_dir, write_atomic
from graphopt.cli import main
from graphopt.datasets import contextual_sbm


def _tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_write_atomic_refuses_missing_folder(tmp_path):
    dest = tmp_path / "typo" / "deeper" / "out.json"
    with pytest.raises(FileNotFoundError, match=f"directory {tmp_path / 'typo' / 'deeper'} does not exist"):
        write_atomic(dest, lambda f: f.write("{}"), mode="w")
    assert _tree(tmp_path) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        check_parent(tmp_path / "file" / "out.json")
    assert write_atomic(tmp_path / "ok.json", lambda f: f.write("{}"), mode="w").read_text() == "{}"


def test_make_output_dir_creates_the_folder_not_its_parents(tmp_path):
    with pytest.raises(FileNotFoundError, match="typo"):
        make_output_dir(tmp_path / "typo" / "out")
    assert _tree(tmp_path) == []
    assert make_output_dir(tmp_path / "out").is_dir()
    assert make_output_dir(tmp_path / "out").is_dir()  # an existing folder is reused
    (tmp_path / "f").write_text("x")
    with pytest.raises(FileExistsError, match="not a directory"):
        make_output_dir(tmp_path / "f")


@pytest.fixture(scope="module")
def small():
    g = contextual_sbm(200, 3, 8.0, 16, seed=0)
    return g, Partition.metis(g, 4, seed=0)


def test_library_savers_refuse_missing_folders(small, tmp_path):
    from graphopt.cluster_gcn import ClusterGCN, fit
    from graphopt.shards import write_shards

    g, p = small
    with pytest.raises(FileNotFoundError, match="typo"):
        p.save(tmp_path / "typo" / "p.npz")
    with pytest.raises(FileNotFoundError, match="typo"):
        write_shards(p, 2, tmp_path / "typo" / "shards")
    model = ClusterGCN(g.num_features, 8, g.num_classes, num_layers=2)
    before = [t.clone() for t in model.parameters()]
    with pytest.raises(FileNotFoundError, match="checkpoint .*typo"):
        fit(model, g, p, epochs=1, checkpoint=tmp_path / "typo" / "ck.pt", progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # before any epoch
    assert _tree(tmp_path) == []
    # the folder named for the shards itself is created (its parent exists)
    write_shards(p, 2, tmp_path / "shards")
    assert (tmp_path / "shards" / "manifest.json").is_file()


def test_partition_cache_dir_is_created(small, tmp_path):
    g, _ = small
    # a cache, which graphopt owns: created on demand
    Partition.metis(g, 4, seed=0, cache_dir=tmp_path / "cache" / "parts")
    assert len(list((tmp_path / "cache" / "parts").glob("partition-*.npz"))) == 1


def test_gossip_train_refuses_before_starting_workers(tmp_path):
    from graphopt.datasets import communication_graph
    from graphopt.gossip import runtime
    from graphopt.gossip.problems import synthetic_least_squares

    g = communication_graph("cycle", 4)
    task = synthetic_least_squares(4, 3, 10, seed=0)
    started = []
    for kwargs in (dict(out=tmp_path / "typo" / "run"),
                   dict(out=tmp_path / "run", json_path=str(tmp_path / "typo" / "s.json"))):
        with pytest.raises(FileNotFoundError, match="typo"):
            runtime.train(task, g, time_limit=0.5, on_start=started.append, progress=False, **kwargs)
    assert started == [] and _tree(tmp_path) == []


@pytest.mark.parametrize("argv", [
    ["partition", "cora", "-k", "4", "-o", "{bad}/p.npz"],
    ["partition", "cora", "-k", "4", "--shards", "2", "-o", "{bad}/shards"],
    ["cluster-gcn", "--dataset", "cora", "--parts", "4", "--checkpoint", "{bad}/ck.pt"],
    ["cluster-gcn", "--dataset", "cora", "--parts", "4", "--json", "{bad}/h.json"],
    ["lagnn", "--dataset", "cora", "--cvae", "{bad}/cvae.pt"],
    ["convex-relu", "--dataset", "a9a", "--save", "{bad}/net.pt"],
    ["gossip", "run", "--out", "{bad}/run"],
    ["gossip", "train", "--out", "{bad}/run"],
])
def test_cli_checks_output_folders_at_parse_time(argv, tmp_path, capsys):
    # argparse exits while parsing, so no dataset is loaded and nothing is trained
    bad = tmp_path / "no" / "such"
    argv = [a.format(bad=bad, ok=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"directory {bad} does not exist" in err
    assert _tree(tmp_path) == []


def test_cli_gossip_train_json_checked_before_work(tmp_path, capsys, monkeypatch):
    import graphopt.cli._gossip as cli_gossip

    def no_work(*a, **k):
        raise AssertionError("work started before --json was checked")

    monkeypatch.setattr(cli_gossip, "_graph", no_work)
    bad = tmp_path / "no" / "such"
    assert main(["gossip", "train", "--out", str(tmp_path / "run"), "--json", str(bad / "s.json")]) == 2
    assert f"directory {bad} does not exist" in capsys.readouterr().err
    assert _tree(tmp_path) == []


def test_cli_gossip_run_creates_only_the_named_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["gossip", "run", "--graph", "cycle", "--n", "4", "--method", "dgd",
                 "--max-grads", "200", "--quiet", "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"convergence.png", "convergence.csv"}


def test_failed_download_leaves_nothing(tmp_path, monkeypatch):
    from graphopt import datasets as ds

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    root = tmp_path / "root"
    with pytest.raises(ds.DatasetNotFoundError, match="could not download"):
        ds.load("cora", root)
    assert not root.exists()  # neither a file, a temp file nor the folders made for them
    root.mkdir()
    with pytest.raises(ds.DatasetNotFoundError):
        ds.load("a9a", root)
    assert _tree(root) == []
