"""Tests for graphopt.convex core: patterns, programs, ADMM vs CVXPY, linear solvers, recovery."""

import warnings

import numpy as np
import pytest
import torch

from graphopt import Graph
from graphopt.convex import (ConvergenceWarning, ConvexReLUProgram, GatedReLUNetwork, TwoLayerReLU,
                             active_neurons, choose_linear_solver, patterns_from_weights,
                             propagate_features, recover_network, sample_patterns, solve_admm,
                             solve_cvxpy)


def _data(n=60, d=4, seed=0, loss="squared", classes=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    teacher = np.maximum(X @ rng.standard_normal((d, 3)), 0) @ rng.standard_normal((3, classes))
    Y = teacher + 0.1 * rng.standard_normal((n, classes))
    if loss != "squared":
        Y = np.where(Y >= np.median(Y, axis=0), 1.0, -1.0)
    return X, Y[:, 0] if classes == 1 else Y


# ---------------------------------------------------------------------------- patterns
def test_sample_patterns_are_distinct_nonzero_and_match_gates():
    X, _ = _data(n=50, d=3)
    pat = sample_patterns(X, 200, seed=1)
    assert pat.requested == 200
    assert 0 < pat.num_patterns < 200  # 200 gates in 3-d must repeat patterns on 50 points
    assert np.array_equal(pat.D, X @ pat.G >= 0)
    assert pat.D.any(axis=0).all()
    assert len({col.tobytes() for col in pat.D.T}) == pat.num_patterns
    again = sample_patterns(X, 200, seed=1)
    assert np.array_equal(again.G, pat.G)
    assert not np.array_equal(sample_patterns(X, 200, seed=2).G, pat.G)


def test_sample_patterns_with_bias_gates_new_data():
    X, _ = _data(n=40, d=3)
    pat = sample_patterns(X, 20, seed=0, bias=True)
    assert pat.G.shape == (4, pat.num_patterns)
    Xn = np.random.default_rng(5).standard_normal((7, 3))
    assert np.array_equal(pat.gate(Xn), Xn @ pat.G[:3] + pat.G[3] >= 0)
    with pytest.raises(ValueError, match="features"):
        pat.gate(np.ones((2, 5)))


def test_patterns_from_weights_of_linear_layer():
    X, _ = _data(n=40, d=3)
    layer = torch.nn.Linear(3, 8)
    pat = patterns_from_weights(X, layer)
    assert pat.bias
    active = (torch.as_tensor(X, dtype=torch.float32) @ layer.weight.T + layer.bias >= 0).numpy()
    for col in pat.D.T:  # every realized pattern is one of the layer's activation patterns
        assert any(np.array_equal(col, a) for a in active.T)


def test_propagate_features_matches_dense_power():
    ei = np.array([[0, 1, 2, 3], [1, 2, 3, 0]])
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    g = Graph.from_edge_index(ei, 4, undirected=True, x=x)
    S = g.normalized_adjacency("sym").toarray().astype(np.float64)
    assert np.allclose(propagate_features(g, 2), S @ S @ x)
    assert np.allclose(propagate_features(g, 0), x)


@pytest.mark.parametrize("bad, match", [
    (dict(X=np.full((5, 2), np.nan)), "NaN"),
    (dict(num_patterns=0), "num_patterns"),
    (dict(num_patterns=10**9), "memory_limit"),
])
def test_sample_patterns_rejects_bad_input(bad, match):
    args = dict(X=np.ones((5, 2)), num_patterns=3) | bad
    with pytest.raises(ValueError, match=match):
        sample_patterns(args["X"], args["num_patterns"])


# ---------------------------------------------------------------------------- programs
def test_program_validates_its_inputs():
    X, y = _data()
    pat = sample_patterns(X, 10)
    with pytest.raises(ValueError, match="beta"):
        ConvexReLUProgram(X, y, pat, beta=0.0)
    with pytest.raises(ValueError, match=r"\{-1, \+1\}"):
        ConvexReLUProgram(X, y, pat, loss="logistic")
    with pytest.raises(ValueError, match="loss"):
        ConvexReLUProgram(X, y, pat, loss="l1")
    with pytest.raises(ValueError, match="NaN"):
        ConvexReLUProgram(X, np.where(np.arange(len(y)) == 3, np.inf, y), pat)
    with pytest.raises(ValueError, match="NaN"):
        ConvexReLUProgram(np.where(X > 2, np.nan, X), y, pat)
    with pytest.raises(ValueError, match="samples"):
        ConvexReLUProgram(X[:30], y[:30], pat)
    with pytest.raises(ValueError, match="robust_eps"):
        ConvexReLUProgram(X, y, pat, robust_eps=-1.0)
    with pytest.raises(TypeError, match="Patterns"):
        ConvexReLUProgram(X, y, pat.D)


def test_forward_on_training_data_equals_forward_on_same_new_data():
    X, y = _data()
    pat = sample_patterns(X, 10, bias=True)
    prog = ConvexReLUProgram(X, y, pat)
    V = torch.randn(pat.num_patterns, 5, 1, dtype=torch.float64)
    W = torch.randn_like(V)
    assert torch.allclose(prog.forward(V, W), prog.forward(V, W, X=X))


# ------------------------------------------------------------------- ADMM vs CVXPY
@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
@pytest.mark.parametrize("gated", [False, True])
def test_admm_matches_cvxpy(loss, gated):
    X, y = _data(n=60, d=4, loss=loss, seed=3)
    pat = sample_patterns(X, 12, seed=0, bias=True)
    prog = ConvexReLUProgram(X, y, pat, loss=loss, beta=0.5, gated=gated)
    ref = solve_cvxpy(prog)
    sol = solve_admm(prog, tol=1e-6, max_iter=3000, progress=False)
    assert abs(sol.objective - ref.objective) <= 1e-4 * abs(ref.objective)
    assert sol.solver_info["cone_violation"] < 1e-4
    assert (sol.W is None) == gated


def test_logistic_admm_is_not_slowed_by_a_large_beta():
    # beta (hence rho, the group-lasso threshold's scale) grows with n and d while the loss and
    # the cone term G^T G grow with n: with the cone penalty tied to rho, the majorized logistic
    # loss weighed 1/(4 rho) against the cones and 500 iterations ended 1.3e-2 above the optimum
    X, y = _data(n=300, d=30, loss="logistic", seed=5)
    pat = sample_patterns(X, 10, seed=0, bias=True)
    Xa = np.hstack([X, np.ones((len(y), 1))])
    beta_max = max(np.linalg.norm(Xa.T @ (pat.D[:, i] * y / 2)) for i in range(pat.num_patterns))
    prog = ConvexReLUProgram(X, y, pat, loss="logistic", beta=0.05 * beta_max)
    ref = solve_cvxpy(prog)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sol = solve_admm(prog, max_iter=500, tol=1e-9, progress=False)
    assert abs(sol.objective - ref.objective) <= 1e-3 * ref.objective
    assert sol.solver_info["cone_violation"] < 1e-3


def test_linear_solvers_give_the_same_iterates():
    X, y = _data(n=50, d=3, seed=4)
    pat = sample_patterns(X, 8, seed=0)
    for gated in (False, True):
        prog = ConvexReLUProgram(X, y, pat, beta=0.3, gated=gated)
        runs = [solve_admm(prog, linear_solver=m, max_iter=200, adapt_rho=False, tol=1e-14,
                           progress=False) for m in ("cholesky", "woodbury", "cg")]
        for other in runs[1:]:
            assert torch.allclose(other.V, runs[0].V, atol=1e-7)
            assert other.objective == pytest.approx(runs[0].objective, rel=1e-8)


def test_linear_solver_choice_follows_problem_shape():
    assert choose_linear_solver(n=10000, d=20, P=50) == "cholesky"  # dP = 1000 << n
    assert choose_linear_solver(n=500, d=100, P=100) == "woodbury"  # n << dP
    assert choose_linear_solver(n=10**6, d=1000, P=100, memory_limit=1e9) == "cg"


def test_warm_start_along_a_beta_path():
    X, y = _data(n=60, d=4, seed=12)
    pat = sample_patterns(X, 12, seed=0)
    first = solve_admm(ConvexReLUProgram(X, y, pat, beta=0.5), tol=1e-6, max_iter=3000,
                       progress=False)
    prog = ConvexReLUProgram(X, y, pat, beta=0.6)
    ref = solve_cvxpy(prog)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm = solve_admm(prog, max_iter=300, warm_start=first, progress=False)
        cold = solve_admm(prog, max_iter=300, progress=False)
    assert abs(warm.objective - ref.objective) < abs(cold.objective - ref.objective)
    assert warm.objective == pytest.approx(ref.objective, rel=1e-3)


def test_one_vs_all_equals_separate_problems():
    X, Y = _data(n=50, d=3, classes=3, seed=5)
    pat = sample_patterns(X, 8, seed=0)
    joint = solve_cvxpy(ConvexReLUProgram(X, Y, pat, beta=0.4))
    parts = [solve_cvxpy(ConvexReLUProgram(X, Y[:, c], pat, beta=0.4)).objective for c in range(3)]
    assert joint.objective == pytest.approx(sum(parts), rel=1e-6)
    admm = solve_admm(ConvexReLUProgram(X, Y, pat, beta=0.4), tol=1e-6, max_iter=3000,
                      progress=False)
    assert admm.V.shape == (pat.num_patterns, 3, 3)
    assert admm.objective == pytest.approx(joint.objective, rel=1e-4)


def test_float32_and_warm_start_resume_the_solve():
    X, y = _data(n=50, d=3, seed=6)
    pat = sample_patterns(X, 8, seed=0)
    prog = ConvexReLUProgram(X, y, pat, beta=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cold = solve_admm(prog, tol=1e-9, max_iter=2000, progress=False)
        f32 = solve_admm(prog, tol=1e-9, max_iter=2000, dtype=torch.float32, progress=False)
        short = solve_admm(prog, max_iter=10, progress=False)
        warm = solve_admm(prog, max_iter=10, warm_start=cold, progress=False)
    assert f32.objective == pytest.approx(cold.objective, rel=1e-4)
    assert warm.objective == pytest.approx(cold.objective, rel=1e-5)
    assert abs(short.objective - cold.objective) > 100 * abs(warm.objective - cold.objective)
    assert {"iteration", "time", "primal_residual", "dual_residual", "rho"} <= set(cold.history[0])
    assert "objective" in cold.history[-1] and "cone_violation" in cold.history[-1]


def test_unconverged_solve_warns_with_progress():
    X, y = _data(seed=7)
    prog = ConvexReLUProgram(X, y, sample_patterns(X, 10), beta=0.1)
    with pytest.warns(ConvergenceWarning, match="stopped after 5 iterations"):
        sol = solve_admm(prog, max_iter=5, progress=False)
    assert not sol.converged and sol.iterations == 5


def test_admm_rejects_bad_settings():
    X, y = _data()
    prog = ConvexReLUProgram(X, y, sample_patterns(X, 10))
    with pytest.raises(ValueError, match="memory_limit"):
        solve_admm(prog, memory_limit=1e3, progress=False)
    with pytest.raises(ValueError, match="linear_solver"):
        solve_admm(prog, linear_solver="lu", progress=False)
    with pytest.raises(ValueError, match="rho"):
        solve_admm(prog, rho=-1.0, progress=False)
    robust = ConvexReLUProgram(X, y, sample_patterns(X, 10), robust_eps=0.1)
    with pytest.raises(NotImplementedError, match="solve_cvxpy"):
        solve_admm(robust, progress=False)


# ---------------------------------------------------------------------------- robust program
@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
def test_robust_program_satisfies_robust_cones_and_bounds_attacked_loss(loss):
    X, y = _data(n=40, d=3, loss=loss, seed=8)
    pat = sample_patterns(X, 8, seed=0, bias=True)
    nominal = solve_cvxpy(ConvexReLUProgram(X, y, pat, loss=loss, beta=0.2))
    prog = ConvexReLUProgram(X, y, pat, loss=loss, beta=0.2, robust_eps=0.1)
    robust = solve_cvxpy(prog)
    assert robust.solver_info["cone_violation"] < 1e-6
    assert robust.objective >= nominal.objective - 1e-6
    # robust cones keep every pattern fixed under the attack, so the worst-case loss bounds the
    # recovered network's loss at any perturbation of radius eps
    net = recover_network(robust, prog, dtype=torch.float64)
    rng = np.random.default_rng(0)
    for _ in range(5):
        Xa = X + 0.1 * rng.choice([-1.0, 1.0], size=X.shape)
        assert net.objective(Xa, y, loss, 0.2) <= robust.objective + 1e-6


# ---------------------------------------------------------------------------- recovery
def test_recovered_network_reproduces_convex_model_and_objective():
    X, y = _data(n=60, d=4, seed=9)
    pat = sample_patterns(X, 15, seed=0, bias=True)
    prog = ConvexReLUProgram(X, y, pat, beta=0.5)
    sol = solve_cvxpy(prog)
    net = recover_network(sol, prog, dtype=torch.float64)
    assert isinstance(net, TwoLayerReLU)
    out = net(torch.as_tensor(X))
    assert torch.allclose(out, prog.forward(sol.V, sol.W), atol=1e-7)
    assert net.objective(X, y, "squared", 0.5) == pytest.approx(sol.objective, rel=1e-7)
    assert net.active_neurons == active_neurons(sol)
    admm = solve_admm(prog, tol=1e-6, max_iter=3000, progress=False)
    net2 = recover_network(admm, prog, dtype=torch.float64)
    assert net2.objective(X, y, "squared", 0.5) == pytest.approx(admm.objective, rel=1e-4)


def test_recover_gated_network():
    X, y = _data(n=60, d=4, seed=10)
    pat = sample_patterns(X, 15, seed=0)
    prog = ConvexReLUProgram(X, y, pat, beta=0.5, gated=True)
    sol = solve_admm(prog, tol=1e-6, max_iter=3000, progress=False)
    net = recover_network(sol, prog, dtype=torch.float64)
    assert isinstance(net, GatedReLUNetwork)
    Xn = np.random.default_rng(1).standard_normal((9, 4))
    assert torch.allclose(net(torch.as_tensor(Xn)), prog.forward(sol.V, None, X=Xn))
    assert net.objective(X, y, "squared", 0.5) == pytest.approx(sol.objective, rel=1e-10)


def test_recover_all_zero_solution():
    X, y = _data(n=30, d=3, seed=11)
    pat = sample_patterns(X, 5)
    prog = ConvexReLUProgram(X, y, pat, beta=1e6)  # beta above beta_max: everything is zero
    sol = solve_admm(prog, progress=False)
    assert active_neurons(sol) == 0
    net = recover_network(sol, prog)
    assert net.active_neurons == 0
    assert torch.count_nonzero(net(torch.ones(2, 3))) == 0


def test_reduce_neurons_keeps_predictions_and_objective_with_at_most_n_plus_1():
    import warnings

    from graphopt.convex.recovery import reduce_neurons

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((12, 3)), rng.standard_normal(12)
    prog = ConvexReLUProgram(X, y, sample_patterns(X, 200, seed=0), beta=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = solve_admm(prog, max_iter=300, progress=False, polish=False)
    red = reduce_neurons(sol, prog)
    before = recover_network(sol, prog, dtype=torch.float64)
    after = recover_network(red, prog, dtype=torch.float64)
    assert before.active_neurons > 13  # the unreduced network is wider than n + 1
    assert after.active_neurons <= 13
    Xt = torch.from_numpy(X)
    torch.testing.assert_close(after(Xt), before(Xt), rtol=0, atol=1e-10)
    assert prog.network_objective(red.V, red.W) == pytest.approx(prog.network_objective(sol.V, sol.W), rel=1e-12)
    # groups are only rescaled (same directions, so the same patterns and cone signs)
    for A, B in ((sol.V, red.V), (sol.W, red.W)):
        a, b = A.norm(dim=1), B.norm(dim=1)
        assert torch.all((b == 0) | (a > 0))
        keep = b > 0
        cos = (A * B).sum(1)[keep] / (a[keep] * b[keep])
        torch.testing.assert_close(cos, torch.ones_like(cos))


def test_refit_neurons_restores_optimal_magnitudes():
    from graphopt.convex import ConvexSolution
    from graphopt.convex.recovery import refit_neurons

    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((12, 3)), rng.standard_normal(12)
    prog = ConvexReLUProgram(X, y, sample_patterns(X, 200, seed=0), beta=1e-2)
    ref = solve_cvxpy(prog)
    optimum = prog.network_objective(ref.V, ref.W)
    scale = torch.from_numpy(rng.uniform(0.5, 1.5, size=(prog.num_patterns, 1, 1)))
    off = ConvexSolution(V=ref.V * scale, W=ref.W * scale.flip(0), objective=0.0, converged=True,
                         iterations=0)
    assert prog.network_objective(off.V, off.W) > 1.5 * optimum
    fixed = refit_neurons(off, prog)
    assert prog.network_objective(fixed.V, fixed.W) == pytest.approx(optimum, rel=1e-6)
    for A, B in ((off.V, fixed.V), (off.W, fixed.W)):  # only magnitudes moved
        keep = B.norm(dim=1) > 0
        cos = (A * B).sum(1)[keep] / (A.norm(dim=1)[keep] * B.norm(dim=1)[keep])
        torch.testing.assert_close(cos, torch.ones_like(cos))


def test_polished_admm_solution_is_group_sparse_and_keeps_the_objective():
    from graphopt.convex.recovery import polish_solution

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((12, 3)), rng.standard_normal(12)
    prog = ConvexReLUProgram(X, y, sample_patterns(X, 200, seed=0), beta=1e-2)
    assert 2 * prog.num_patterns > 13
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        raw = solve_admm(prog, max_iter=300, progress=False, polish=False)
        polished = polish_solution(raw, prog)
        full = solve_admm(prog, max_iter=1500, progress=False)

    def active(sol):
        return int((sol.V.norm(dim=1) > 0).sum() + (sol.W.norm(dim=1) > 0).sum())

    assert active(raw) > 13 >= active(polished)  # at most n + 1 neurons after the polish
    assert polished.objective <= raw.objective + 1e-12
    optimum = solve_cvxpy(prog).objective
    assert active(full) <= 13
    assert full.objective <= full.solver_info["objective_unpolished"] + 1e-12
    assert full.objective == pytest.approx(optimum, rel=1e-3)
    assert prog.network_objective(full.V, full.W) == pytest.approx(optimum, rel=1e-3)


# ------------------------------------------------------- Gram and screening (gated)
def test_pair_product_gram_equals_AtA(monkeypatch):
    from graphopt.convex import admm

    rng = np.random.default_rng(0)
    X = torch.as_tensor(rng.standard_normal((40, 5)))
    D = torch.as_tensor(rng.random((40, 7)) > 0.5, dtype=torch.float64)
    A = (X[:, :, None] * D[:, None, :]).reshape(40, 35)  # columns ordered (feature, pattern)
    monkeypatch.setattr(admm, "_CHUNK_BYTES", 2000)  # several row chunks
    assert torch.allclose(admm._gram(X, D), A.T @ A, atol=1e-12)


def _beta_max(X, Y, pat):
    from graphopt.convex import zero_beta

    return zero_beta(pat.augment(X), Y, pat.D)


@pytest.mark.parametrize("classes", [1, 2])
def test_screened_gated_solve_matches_cvxpy(monkeypatch, classes):
    from graphopt.convex import admm

    X, Y = _data(n=80, d=4, seed=7, classes=classes)
    pat = sample_patterns(X, 16, seed=0, bias=True)
    prog = ConvexReLUProgram(X, Y, pat, beta=0.2 * _beta_max(X, Y, pat), gated=True)
    ref = solve_cvxpy(prog)
    # no FISTA steps: screening starts from the single strongest pattern, so the optimality
    # check has to add every other active pattern over several rounds
    monkeypatch.setattr(admm, "SCREEN_ITERATIONS", 0)
    sol = solve_admm(prog, tol=1e-8, max_iter=5000, progress=False, screen=True)
    assert sol.solver_info["screen_rounds"] > 1
    assert sol.objective == pytest.approx(ref.objective, rel=1e-5)
    assert sol.solver_info["screened_patterns"] < pat.num_patterns
    assert [h["cpu_time"] for h in sol.history] == sorted(h["cpu_time"] for h in sol.history)


def test_screening_is_on_for_strong_beta_only_and_its_state_warm_starts():
    X, y = _data(n=80, d=4, seed=8)
    pat = sample_patterns(X, 16, seed=0)
    bmax = _beta_max(X, y, pat)
    strong = ConvexReLUProgram(X, y, pat, beta=0.3 * bmax, gated=True)
    weak = ConvexReLUProgram(X, y, pat, beta=1e-3 * bmax, gated=True)
    sol = solve_admm(strong, tol=1e-8, max_iter=5000, progress=False)
    assert "screen_rounds" in sol.solver_info
    assert "screen_rounds" not in solve_admm(weak, tol=1e-4, progress=False).solver_info
    plain = solve_admm(strong, tol=1e-8, max_iter=5000, progress=False, screen=False)
    assert sol.objective == pytest.approx(plain.objective, rel=1e-6)
    nearby = ConvexReLUProgram(X, y, pat, beta=0.28 * bmax, gated=True)
    warm = solve_admm(nearby, tol=1e-8, max_iter=5000, warm_start=sol, progress=False)
    cold = solve_admm(nearby, tol=1e-8, max_iter=5000, progress=False, screen=False)
    assert warm.objective == pytest.approx(cold.objective, rel=1e-6)
    assert warm.iterations < cold.iterations
    with pytest.raises(ValueError, match="gated squared-loss"):
        solve_admm(ConvexReLUProgram(X, y, pat, beta=0.3 * bmax), screen=True, progress=False)


def test_float32_gated_auto_keeps_a_float64_woodbury_core_at_small_rho():
    # n < dP makes Woodbury the cheaper u-step, but in float32 its y - A^T z cancellation at
    # ||F||^2 / rho ~ 4e4 held no 1e-3 gap (synthetic, n = 1000); in float64 it is harmless
    X, y = _data(n=40, d=6, seed=9)
    pat = sample_patterns(X, 12, seed=0)
    assert choose_linear_solver(40, 6, pat.num_patterns) == "woodbury"
    bmax = _beta_max(X, y, pat)
    kw = dict(max_iter=20, progress=False, dtype=torch.float32, screen=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weak = solve_admm(ConvexReLUProgram(X, y, pat, beta=1e-5 * bmax, gated=True), **kw)
        strong = solve_admm(ConvexReLUProgram(X, y, pat, beta=0.01 * bmax, gated=True), **kw)
        f64 = solve_admm(ConvexReLUProgram(X, y, pat, beta=1e-5 * bmax, gated=True),
                         **{**kw, "dtype": torch.float64})
    assert [s.solver_info["linear_solver"] for s in (weak, strong, f64)] == ["woodbury"] * 3
    assert [s.solver_info["u_step_dtype"] for s in (weak, strong, f64)] == ["float64", "float32",
                                                                           "float64"]
    # Unpolished objectives after 20 iterations at beta = 1e-5 beta_max: a float32 Woodbury core
    # is ~100x off the float64 solve, the float32 dense Cholesky ~0.3x, the float64 core ~0.2x.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        prog = ConvexReLUProgram(X, y, pat, beta=1e-5 * bmax, gated=True)
        off = {solver: solve_admm(prog, linear_solver=solver, polish=False, **kw).objective
               / solve_admm(prog, polish=False, **{**kw, "dtype": torch.float64}).objective - 1
               for solver in ("auto", "woodbury", "cholesky")}
    assert abs(off["auto"]) < 0.25 and abs(off["woodbury"]) > 10
    assert abs(off["auto"]) < abs(off["cholesky"])


@pytest.mark.parametrize("classes", [1, 3])
def test_beta_max_is_where_the_gated_solution_vanishes(classes):
    from graphopt.convex import zero_beta

    X, y = _data(n=60, d=4, seed=5)
    Y = np.stack([y * (c + 1) + c for c in range(classes)], axis=1) if classes > 1 else y
    pat = sample_patterns(X, 10, seed=1)
    bmax = ConvexReLUProgram(X, Y, pat, gated=True).beta_max()
    Xa, Ym = pat.augment(X), Y.reshape(len(Y), -1)
    # one group per (pattern, output): the regularizer is sum_i sum_c ||v_ic||
    loop = max(np.linalg.norm(Xa.T @ (pat.D[:, [i]] * Ym[:, [c]]))
               for i in range(pat.num_patterns) for c in range(classes))
    assert bmax == pytest.approx(loop, rel=1e-12) == zero_beta(Xa, Y, pat.D)
    kw = dict(tol=1e-10, max_iter=3000, progress=False)
    above = solve_admm(ConvexReLUProgram(X, Y, pat, beta=1.01 * bmax, gated=True), **kw)
    below = solve_admm(ConvexReLUProgram(X, Y, pat, beta=0.9 * bmax, gated=True), **kw)
    assert float(above.V.abs().max()) == 0.0
    assert float(below.V.abs().max()) > 0.0
