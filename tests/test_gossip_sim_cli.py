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


def test_gossip_run_plot_says_what_it_shows(tmp_path, monkeypatch):
    """The PNG of ``gossip run`` is titled with the graph, n, problem and rates, its y-axis
    defines the error, and an axis spanning decades is logarithmic (issue 13, item 9)."""
    from graphopt.gossip import report

    figures = []
    plot = report.plot_convergence

    def keep(*args, **kwargs):
        figures.append(plot(*args, **kwargs))
        return figures[-1]

    monkeypatch.setattr(report, "plot_convergence", keep)
    monkeypatch.setattr(report, "_save", lambda fig, path: path)  # keep the figure open
    assert main(["gossip", "run", "--method", "dadao,dgd", "--graph", "cycle", "--n", "8",
                 "--problem", "logistic", "--rates", "sdp", "--dim", "3", "--samples", "10",
                 "--max-grads", "20000", "--tol", "1e-6", "--out", str(tmp_path),
                 "--quiet"]) == 0
    (fig,) = figures
    title = fig._suptitle.get_text()
    for part in ("cycle", "n = 8", "logistic", "sdp rates"):
        assert part in title
    grads_ax, comms_ax = fig.axes
    assert grads_ax.get_ylabel() == report.ERROR_LABEL
    assert r"\|x_i - x^*\|^2" in grads_ax.get_ylabel()
    assert "gradients" in grads_ax.get_xlabel() and "communications" in comms_ax.get_xlabel()
    assert grads_ax.get_yscale() == "log"
    # dgd's synchronous rounds need far more communications than DADAO's edge events.
    comms = [c for line in comms_ax.get_lines() for c in line.get_xdata() if c > 0]
    assert max(comms) > 100 * min(comms) and comms_ax.get_xscale() == "log"


def test_plot_convergence_log_axes_follow_the_range():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from graphopt.gossip.report import ABS_ERROR_LABEL, plot_convergence
    from graphopt.gossip.simulator import History

    narrow = History("a", time=[0, 1, 2], grads=[0, 10, 20], comms=[0, 50, 90],
                     error=[1.0, 0.5, 0.1])
    wide = History("b", time=[0, 1, 2], grads=[0, 10, 20], comms=[0, 50, 90_000],
                   error=[1.0, 0.5, 0.1])
    fig = plot_convergence([narrow], relative=False)
    assert [ax.get_xscale() for ax in fig.axes] == ["linear", "linear"]
    assert fig.axes[0].get_ylabel() == ABS_ERROR_LABEL and fig._suptitle is None
    fig2 = plot_convergence([narrow, wide], title="t")
    assert [ax.get_xscale() for ax in fig2.axes] == ["linear", "log"]
    assert fig2._suptitle.get_text() == "t"
    fig3 = plot_convergence([wide], log_comms=False, log_grads=True)
    assert [ax.get_xscale() for ax in fig3.axes] == ["log", "linear"]
    for f in (fig, fig2, fig3):
        plt.close(f)
