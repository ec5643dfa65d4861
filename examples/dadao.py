"""DADAO (Nabli & Oyallon, ICML 2023) against its baselines on a barbell network.

Builds a heterogeneous least-squares problem split over 16 workers, designs the edge rates
(uniform at DADAO's threshold 2*chi1*chi2 = 1, and the SDP that minimizes the total rate),
runs DADAO with both and the baselines, and saves error vs gradients / communications.

    PYTHONPATH=. python examples/dadao.py [--out dadao_out]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from graphopt.datasets import communication_graph
from graphopt.gossip.dadao import DADAO
from graphopt.gossip.problems import synthetic_least_squares
from graphopt.gossip.rates import sdp_rates, uniform_rates
from graphopt.gossip.report import save_convergence_plot, save_histories_csv
from graphopt.gossip.runner import make_method
from graphopt.gossip.spectral import chi1, chi2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="dadao_out")
    args = ap.parse_args()
    Path(args.out).mkdir(exist_ok=True)  # the folder asked for, not its parents: a typo fails here

    graph = communication_graph("barbell", 16)
    problem = synthetic_least_squares(16, dim=10, samples_per_worker=50, heterogeneity=1.0)
    print(f"mu = {problem.mu:.3g}, L = {problem.L:.3g}, kappa = {problem.condition_number:.1f}")

    histories = []
    for label, rates in (("uniform", uniform_rates(graph)), ("sdp", sdp_rates(graph))):
        print(f"{label:>7} rates: total {rates.sum():7.2f}, "
              f"2*chi1*chi2 = {2 * chi1(graph, rates) * chi2(graph, rates):.3f}")
        run = DADAO(rates=rates, seed=0).fit(problem, graph, tol=1e-8, max_time=1e5)
        run.history_.method = f"dadao ({label} rates)"
        histories.append(run.history_)
    for name in ("continuized", "msda", "adom+mc", "dgd"):
        histories.append(make_method(name).fit(problem, graph, tol=1e-8,
                                               max_grads=200_000).history_)

    print(f"{'method':<22} {'gradients':>10} {'communications':>15}   (to relative error 1e-6)")
    for h in histories:
        grads, comms = h.first_below(1e-6, "grads"), h.first_below(1e-6, "comms")
        if grads != grads:  # nan: DGD's constant step stalls at a bias above the target
            print(f"{h.method:<22} {'not reached':>10} {'':>15}   "
                  f"(stalled at {h.relative_error[-1]:.1e})")
        else:
            print(f"{h.method:<22} {grads:>10.0f} {comms:>15.0f}")
    print("wrote", save_convergence_plot(histories, f"{args.out}/convergence.png"),
          save_histories_csv(histories, f"{args.out}/convergence.csv"))


if __name__ == "__main__":
    main()
