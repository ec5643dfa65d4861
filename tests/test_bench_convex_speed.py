"""benchmarks/bench_convex_speed.py: pyscnn's returned neurons are mapped back to our pattern order
before they are scored (pyscnn sorts its deduplicated patterns), so both solvers' weights are scored
on one program."""

import warnings

import numpy as np
import pytest
import torch
from conftest import load_benchmark

from graphopt.convex import ConvexReLUProgram, sample_patterns, solve_admm, zero_beta


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_convex_speed")


def _gated_program(bench, n=120, frac=1e-2):
    X, y = bench.teacher_data(n, 8, "squared", seed=1)
    pat = sample_patterns(X, 20, seed=1)
    beta = frac * zero_beta(X, y, pat.D)
    return ConvexReLUProgram(X, y, pat, loss="squared", beta=beta, gated=True)


def test_pyscnn_weights_are_put_back_in_our_pattern_order(bench):
    prog = _gated_program(bench)
    P, d = prog.num_patterns, prog.num_features
    V = torch.randn(P, d, 1, dtype=torch.float64)
    perm = np.random.default_rng(0).permutation(P)  # pyscnn's neuron j is our pattern perm[j]
    G_theirs = prog.patterns.G[:, perm]
    W_theirs = V[perm].permute(2, 0, 1).numpy()  # pyscnn stores (C, p, d)
    back = bench.pyscnn_to_graphopt(prog, W_theirs, G_theirs)
    assert torch.equal(back, V)
    # a gate whose pattern is not one of ours is refused
    with pytest.raises(RuntimeError):
        bench.pyscnn_to_graphopt(prog, W_theirs, -G_theirs)


def test_pyscnn_rfista_solves_our_gated_program(bench):
    pytest.importorskip("scnn")
    from scnn.metrics import Metrics
    from scnn.models import ConvexGatedReLU
    from scnn.optimize import optimize_model
    from scnn.regularizers import NeuronGL1
    from scnn.solvers import RFISTA

    prog = _gated_program(bench)
    X, y = prog.X, prog.Y
    model = ConvexGatedReLU(prog.patterns.G, c=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted, _ = optimize_model(model, RFISTA(model, tol=1e-12, max_iters=20000), Metrics(),
                                   X, y, regularizer=NeuronGL1(prog.beta / prog.num_samples),
                                   return_convex=True, unitize_data=False, dtype="float64")
        ref = solve_admm(prog, tol=1e-10, max_iter=20000, progress=False)
    V = bench.pyscnn_to_graphopt(prog, fitted.parameters[0], fitted.G)
    # pyscnn's own predictions are our sum_i D_i X v_i of the mapped weights
    np.testing.assert_allclose(prog.forward(V).numpy(), fitted(X), atol=1e-10)
    # and, scored by our gated objective, its solution is ours
    assert abs(prog.objective(V) - ref.objective) <= 1e-6 * ref.objective
