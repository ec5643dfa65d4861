"""benchmarks/bench_lagnn_repro.py: run as its docstring says, it trains (it does not re-print the
committed JSON); it resumes only with --resume, refusing stored results made with other parameters;
--seeds takes N, a list or a range. Training itself is replaced by a stub: these test the driver."""

import argparse
import json
import shutil
from pathlib import Path

import pytest
from conftest import load_benchmark

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_lagnn_repro.py"


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_lagnn_repro")


@pytest.fixture
def stubbed(bench, monkeypatch):
    """The script with data loading, the CVAE and training replaced; returns the runs trained."""
    trained = []

    def run_one(ds, name, g, cvae, seed, args):
        trained.append((ds, name, seed))
        return {"seed": seed, "test": 0.5 + seed / 100, "val": 0.5, "epochs": args.epochs,
                "best_epoch": 1, "seconds": 0.0}

    monkeypatch.setattr(bench, "load_planetoid", lambda ds: object())
    monkeypatch.setattr(bench, "get_cvae", lambda ds, g, args, results: object())
    monkeypatch.setattr(bench, "run_one", run_one)
    return trained


@pytest.mark.parametrize("text, seeds", [
    ("3", [0, 1, 2]), ("20", list(range(20))), ("0,3,5", [0, 3, 5]), ("3-7", [3, 4, 5, 6, 7]),
    ("0,3-5", [0, 3, 4, 5]), ("7", list(range(7))), ("5-5", [5]),
])
def test_parse_seeds(bench, text, seeds):
    assert bench.parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["", "0", "a", "7-3", "1,1", "-2", "1,,2"])
def test_parse_seeds_rejects(bench, text):
    with pytest.raises(argparse.ArgumentTypeError, match="seeds|seed"):
        bench.parse_seeds(text)


def test_docstring_command_trains_even_with_committed_results(bench, stubbed, tmp_path, capsys):
    # The committed JSON holds every seed the docstring's command asks for; it used to be re-printed.
    out = tmp_path / "repro.json"
    shutil.copy(SCRIPT.with_suffix(".json"), out)
    committed = json.loads(out.read_text())
    assert len(committed["runs"]["cora/gcn"]) >= 2
    results = bench.main(["--seeds", "2", "--datasets", "cora", "--models", "gcn", "la-gcn",
                          "--out", str(out)])
    assert stubbed == [("cora", "gcn", 0), ("cora", "gcn", 1), ("cora", "la-gcn", 0), ("cora", "la-gcn", 1)]
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(results))
    assert set(saved["runs"]) == {"cora/gcn", "cora/la-gcn"}  # the old runs are not mixed in
    assert all(r["commit"] == saved["config"]["cora"]["commit"] for r in saved["runs"]["cora/gcn"])
    assert "| cora | GCN |" in capsys.readouterr().out


def test_resume_skips_done_seeds_and_needs_the_same_parameters(bench, stubbed, tmp_path):
    out = str(tmp_path / "r.json")
    bench.main(["--seeds", "2", "--datasets", "cora", "--models", "gcn", "--epochs", "50", "--out", out])
    stubbed.clear()
    bench.main(["--seeds", "0,2-3", "--datasets", "cora", "--models", "gcn", "--epochs", "50",
                "--out", out, "--resume"])
    assert stubbed == [("cora", "gcn", 2), ("cora", "gcn", 3)]
    assert [r["seed"] for r in json.loads(Path(out).read_text())["runs"]["cora/gcn"]] == [0, 1, 2, 3]

    stubbed.clear()
    with pytest.raises(SystemExit, match="--epochs 50 \\(now 60\\)"):
        bench.main(["--seeds", "5", "--datasets", "cora", "--models", "gcn", "--epochs", "60",
                    "--out", out, "--resume"])
    with pytest.raises(SystemExit, match="--pool 16 \\(now 0\\)"):
        bench.main(["--seeds", "5", "--datasets", "cora", "--models", "gcn", "--epochs", "50",
                    "--pool", "0", "--out", out, "--resume"])
    assert stubbed == []
    # another dataset in the same file has no stored parameters to differ from
    bench.main(["--seeds", "1", "--datasets", "citeseer", "--models", "gcn", "--epochs", "60",
                "--out", out, "--resume"])
    assert stubbed == [("citeseer", "gcn", 0)]


def test_resume_without_results_and_bad_out_are_refused(bench, stubbed, tmp_path, capsys):
    with pytest.raises(SystemExit, match="does not exist"):
        bench.main(["--seeds", "1", "--out", str(tmp_path / "none.json"), "--resume"])
    with pytest.raises(SystemExit):
        bench.main(["--seeds", "1", "--out", str(tmp_path / "typo" / "r.json")])
    assert "typo does not exist" in capsys.readouterr().err
    assert stubbed == [] and list(tmp_path.iterdir()) == []


def test_one_real_short_run(bench, shared_root, tmp_path):
    # the unstubbed driver end to end on the cheapest setting: one GCN seed, 3 epochs
    out = tmp_path / "r.json"
    results = bench.main(["--seeds", "1", "--datasets", "cora", "--models", "gcn", "--epochs", "3",
                          "--out", str(out), "--cache", str(tmp_path / "cache")])
    (row,) = results["runs"]["cora/gcn"]
    assert row["seed"] == 0 and row["epochs"] == 3 and 0 < row["test"] < 1
    assert json.loads(out.read_text())["config"]["cora"]["epochs"] == 3
