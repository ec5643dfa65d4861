"""CLI: graphopt info / partition / demo, and their one-line errors with exit status 2."""

import re
import urllib.request

import numpy as np
import pytest

from graphopt import Partition
from graphopt.cli import main
from graphopt.cli._demo import run_demo


def _fields(out: str) -> dict[str, str]:
    # rows are "label  value", the label padded with at least two spaces
    return dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in out.splitlines()
                if "  " in line.strip())


def test_info_graph_and_feature_datasets(shared_root, capsys):
    assert main(["info", "cora", "--root", str(shared_root)]) == 0
    f = _fields(capsys.readouterr().out)
    assert (f["nodes"], f["edges"], f["features"], f["classes"]) == ("2708", "5278", "1433", "7")
    assert (f["train"], f["val"], f["test"]) == ("140", "500", "1000")
    assert main(["info", "a9a", "--split", "test", "--root", str(shared_root)]) == 0
    f = _fields(capsys.readouterr().out)
    assert (f["instances"], f["features"]) == ("16281", "123")


def test_partition_reports_cut_and_saves(shared_root, tmp_path, capsys, cora):
    out = tmp_path / "p.npz"
    assert main(["partition", "cora", "--parts", "10", "--seed", "0", "--root", str(shared_root),
                 "-o", str(out)]) == 0
    f = _fields(capsys.readouterr().out)
    expected = Partition.metis(cora, 10, seed=0)
    assert int(f["edge cut"]) == expected.edge_cut() and f["method"] == "metis"
    np.testing.assert_array_equal(Partition.load(out, cora).assignment, expected.assignment)
    assert main(["partition", "cora", "-k", "10", "--method", "random", "--root", str(shared_root)]) == 0
    assert int(_fields(capsys.readouterr().out)["edge cut"]) > 3 * expected.edge_cut()


@pytest.mark.parametrize("argv, match", [
    (["info", "nope"], "unknown dataset 'nope'"),
    (["partition", "a9a", "-k", "2"], "holds feature vectors, not a graph"),
    (["partition", "cora", "-k", "99999"], "exceeds the number of nodes"),
])
def test_errors_are_one_line_with_status_2(shared_root, capsys, argv, match):
    assert main(argv + ["--root", str(shared_root)]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_file_is_a_clean_error_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert main(["info", "cora", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "could not download" in err and err.count("\n") == 1
    assert not list(tmp_path.rglob("*"))  # no file and no empty planetoid/ folder


def test_bad_parts_argument_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["partition", "cora", "--parts", "0"])
    assert e.value.code == 2 and "positive integer" in capsys.readouterr().err


def test_demo_shows_the_four_capabilities(capsys, monkeypatch):
    ctx = run_demo(seed=0)
    out = capsys.readouterr().out
    assert "[1]" in out and "[7]" in out and "METIS cuts" in out
    results = [line for line in out.splitlines() if line.startswith("  => ")]
    assert [r.split()[1] for r in results] == ["Cluster-GCN", "LA-GCN", "convex", "DADAO"]
    assert ctx["quotient"].num_nodes == 10
    metis, random = ctx["partitions"]["csbm", "metis"], ctx["partitions"]["csbm", "random"]
    assert metis.edge_cut() < random.edge_cut()
    assert min(ctx["cluster_gcn"].values()) > 0.8          # 5 classes: chance is 0.2
    assert min(ctx["lagnn"].values()) > 0.4                # 4 classes, 20 labels each: chance 0.25
    assert min(ctx["convex"].values()) > 0.4
    assert ctx["gossip"]["first-order optimal"] < ctx["gossip"]["uniform"]

    # the command runs the same steps and ends with its total time
    import graphopt.cli._demo as demo

    monkeypatch.setattr(demo, "STEPS", demo.STEPS[:3])
    assert main(["demo", "--seed", "1"]) == 0
    out, err = capsys.readouterr()
    assert "[3]" in out and "[4]" not in out and err.splitlines()[-1].startswith("total time:")


def test_info_reads_a_graphsage_folder(tmp_path, capsys):
    from graphopt.datasets import communication_graph, save_graphsage

    g = communication_graph("grid", 12)
    save_graphsage(g.replace(y=np.arange(12) % 3), tmp_path, "toy")
    assert main(["info", str(tmp_path)]) == 0
    f = _fields(capsys.readouterr().out)
    assert (f["nodes"], f["edges"], f["classes"], f["train"]) == ("12", "17", "3", "12")
    assert main(["partition", str(tmp_path / "toy"), "-k", "3"]) == 0
