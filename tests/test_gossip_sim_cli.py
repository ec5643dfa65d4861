"""``graphopt gossip rates`` / ``graphopt gossip run`` and the convergence report files."""

from __future__ import annotations

import csv

import pytest

from graphopt.cli import main


def test_gossip_rates_prints_designs(capsys):
    assert main(["gossip", "rates", "--graph", "barbell", "--n", "8",
                 "--designs", "uniform,max_lambda2"]) == 0
    out = capsys.readouterr().out
    assert "chi1" in out and "uniform" in out and "max_lambda2" in out
    uniform_row = next(line for line in out.splitlines() if line.startswith("| uniform"))
    assert "1.00x" in uniform_row


def test_gossip_run_writes_plot_and_csv(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["gossip", "run", "--method", "dadao,msda,dgd", "--graph", "cycle", "--n", "8",
                 "--dim", "3", "--samples", "10", "--max-grads", "3000", "--tol", "1e-6",
                 "--out", str(out), "--quiet"]) == 0
    assert (out / "convergence.png").read_bytes()[:4] == b"\x89PNG"
    with open(out / "convergence.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["method"] for r in rows} == {"dadao", "msda", "dgd"}
    assert not list(out.glob(".*"))  # no temporary files left behind
    assert "relative error" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--method", "sgd"], "unknown"),
    (["--graph", "cycle", "--n", "2"], "n"),
])
def test_gossip_run_bad_input(tmp_path, capsys, argv, message):
    assert main(["gossip", "run", "--out", str(tmp_path), "--quiet", "--max-grads", "10"]
                + argv) == 2
    assert message in capsys.readouterr().err
