"""ConvexReLUClassifier / ConvexReLURegressor, the β path, SCP and robust fits, the CLI."""

import json
import warnings

import numpy as np
import pytest
import torch

from graphopt.convex.attacks import pgd_attack
from sklearn.exceptions import NotFittedError

from graphopt.convex.estimators import ConvexReLUClassifier, ConvexReLURegressor, beta_max, beta_path


def _raw_data(n=120, seed=0):
    """Two informative columns on very different scales, a constant and an all-zero column."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(n) * 100 + 50
    b = rng.standard_normal(n) * 0.01
    X = np.column_stack([a, np.full(n, 3.0), b, np.zeros(n)])
    score = np.maximum((a - 50) / 100 + b / 0.01, 0) - 0.5 * np.maximum(-(a - 50) / 100, 0)
    y = np.where(score > 0.3, "yes", "no")
    return X, y, score


def _fast(**kw):
    return {"num_patterns": 12, "max_iter": 3000, "tol": 1e-8, "seed": 0, **kw}


def test_normalize_solve_map_back_predict_end_to_end():
    X, y, _ = _raw_data()
    clf = ConvexReLUClassifier(beta=1e-2, loss="squared", solver="cvxpy", num_patterns=12).fit(X, y)
    assert set(clf.classes_) == {"no", "yes"}
    # the mapped-back network on raw X equals the convex model on the normalized training data
    # whenever the cone constraints hold (recovery identity)
    assert clf.report_["cone_violation"] < 1e-6
    f_convex = clf.program_.forward(clf.solution_.V, clf.solution_.W).numpy()[:, 0]
    np.testing.assert_allclose(clf.decision_function(X), f_convex, atol=1e-6 * (1 + np.abs(f_convex).max()))
    # the dropped columns carry no weight, the informative ones are rescaled, and neurons have biases
    W = clf.network_.hidden.weight.detach().numpy()
    assert np.all(W[:, [1, 3]] == 0) and np.any(W[:, 0] != 0)
    assert clf.network_.hidden.bias is not None
    assert clf.report_["recovered_objective"] == pytest.approx(clf.report_["convex_objective"], rel=1e-5)
    assert clf.score(X, y) > 0.9
    assert clf.predict(X[:5]).dtype == y.dtype


def test_admm_penalties_reach_the_solver():
    X, y, _ = _raw_data(60, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = ConvexReLUClassifier(beta=1e-2, rho=0.05, cone_rho=0.2, **_fast(max_iter=20)).fit(X, y)
    assert clf.solution_.solver_info["rho"] == pytest.approx(0.05)
    assert clf.solution_.solver_info["cone_rho"] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="cone_rho"):
        ConvexReLUClassifier(cone_rho=-1.0, **_fast(max_iter=5)).fit(X, y)


@pytest.mark.parametrize("gated", [False, True])
def test_map_back_is_exact_for_admm_networks(gated):
    # whatever the solve reached, the raw-feature network computes the normalized one exactly
    X, y, _ = _raw_data(80, seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = ConvexReLUClassifier(beta=1e-2, gated=gated, **_fast(max_iter=200, tol=1e-4)).fit(X, y)
    Z = (X[:, clf.informative_] - clf.mean_) / clf.scale_
    with torch.no_grad():
        f_z = clf._network_z(torch.from_numpy(Z)).numpy()[:, 0]
    np.testing.assert_allclose(clf.decision_function(X), f_z, rtol=1e-9, atol=1e-9)
    assert clf.score(X, y) > 0.85


def test_estimator_conventions():
    clf = ConvexReLUClassifier(beta=0.3, num_patterns=7)
    params = clf.get_params()
    assert params["beta"] == 0.3 and params["num_patterns"] == 7 and "solver" in params
    assert ConvexReLUClassifier(**params).get_params() == params
    assert clf.set_params(beta=0.5) is clf and clf.beta == 0.5
    with pytest.raises(ValueError, match="Invalid parameter"):
        clf.set_params(alpha=1.0)
    assert "beta=0.5" in repr(clf)
    X, y, _ = _raw_data(60)
    with pytest.raises(NotFittedError, match="not fitted"):  # scikit-learn's own error
        clf.predict(X)
    assert not [k for k in vars(clf) if k.endswith("_")]  # __init__ stores hyperparameters only
    clf.fit(X, y)
    fitted = {k for k in vars(clf) if k.endswith("_") and not k.startswith("_")}
    assert {"classes_", "network_", "report_", "solution_", "n_features_in_", "history_"} <= fitted
    assert isinstance(clf.network_, torch.nn.Module)
    again = ConvexReLUClassifier(**clf.get_params()).fit(X, y)
    np.testing.assert_array_equal(again.decision_function(X), clf.decision_function(X))
    assert "loss" not in ConvexReLURegressor().get_params()


@pytest.mark.parametrize("bad, match", [
    ({"beta": 0.0}, "beta"), ({"beta": -1.0}, "beta"), ({"loss": "l1"}, "loss"),
    ({"solver": "sgd"}, "solver"), ({"num_patterns": 0}, "num_patterns"),
    ({"robust_eps": -0.1}, "robust_eps"), ({"solver": "scp", "loss": "hinge"}, "hinge"),
])
def test_bad_hyperparameters(bad, match):
    X, y, _ = _raw_data(30)
    with pytest.raises(ValueError, match=match):
        ConvexReLUClassifier(**bad).fit(X, y)


def test_bad_data():
    X, y, score = _raw_data(30)
    Xn = X.copy()
    Xn[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ConvexReLUClassifier().fit(Xn, y)
    Xi = X.copy()
    Xi[0, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        ConvexReLUClassifier().fit(Xi, y)
    with pytest.raises(ValueError, match="single class"):
        ConvexReLUClassifier().fit(X, np.ones(30))
    with pytest.raises(ValueError, match="continuous"):  # scikit-learn's "Unknown label type"
        ConvexReLUClassifier().fit(X, score)
    with pytest.raises(ValueError, match="NaN"):
        ConvexReLURegressor().fit(X, np.where(np.arange(30) == 4, np.nan, score))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        ConvexReLUClassifier().fit(X, y[:-1])
    with pytest.raises(ValueError, match="constant"):
        ConvexReLUClassifier().fit(np.ones((30, 3)), y)
    with pytest.raises(ValueError, match="patterns"):
        ConvexReLUClassifier(num_patterns=10_000, max_memory=1e6).fit(X, y)
    with pytest.raises(ValueError, match="num_patterns"):
        ConvexReLUClassifier(solver="scp", num_patterns=10_000, max_memory=1e5).fit(X, y)
    clf = ConvexReLUClassifier(**_fast(max_iter=50, tol=1e-4)).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :3])


def test_multiclass_one_vs_all_and_probabilities():
    rng = np.random.default_rng(1)
    centers = np.array([[0, 4], [4, 0], [-4, -4]])
    y = rng.integers(0, 3, 150)
    X = centers[y] + rng.standard_normal((150, 2))
    clf = ConvexReLUClassifier(beta=1e-2, **_fast(max_iter=500, tol=1e-5)).fit(X, y)
    assert clf.network_.output.out_features == 3
    assert clf.score(X, y) > 0.95
    P = clf.predict_proba(X)
    np.testing.assert_allclose(P.sum(1), 1.0)
    np.testing.assert_array_equal(clf.classes_[P.argmax(1)], clf.predict(X))
    with pytest.raises(AttributeError, match="predict_proba"):  # hasattr(clf, "predict_proba") is False
        ConvexReLUClassifier(loss="hinge", **_fast(max_iter=20, tol=1e-3)).fit(X, y).predict_proba(X)


def test_regressor_fits_a_relu_target_single_and_multi_output():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((150, 3))
    y = np.maximum(X @ [1.0, -2.0, 0.5] + 0.3, 0) + 0.5 * np.maximum(X[:, 0], 0)
    reg = ConvexReLURegressor(beta=1e-3, **_fast(num_patterns=20, max_iter=1000, tol=1e-6)).fit(X, y)
    assert reg.predict(X).shape == (150,)
    assert reg.score(X, y) > 0.95
    Y2 = np.column_stack([y, -y])
    reg2 = ConvexReLURegressor(beta=1e-3, **_fast(num_patterns=20, max_iter=1000, tol=1e-6)).fit(X, Y2)
    assert reg2.predict(X).shape == (150, 2)
    assert reg2.score(X, Y2) > 0.95


@pytest.mark.parametrize("loss, rel", [("squared", 1e-4), ("hinge", 2e-2), ("logistic", 2e-2)])
def test_admm_and_cvxpy_estimators_agree(loss, rel):
    # the estimator hands both solvers the same program; 3000 ADMM iterations reach 1e-6 on the
    # squared loss but only ~1% on the non-smooth/majorized ones (the solvers' own accuracy is
    # tested and benchmarked with the core)
    X, y, _ = _raw_data(60, seed=3)
    kw = dict(beta=0.05, loss=loss, num_patterns=6, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = ConvexReLUClassifier(**kw, tol=1e-8, max_iter=3000).fit(X, y)
    c = ConvexReLUClassifier(**kw, solver="cvxpy").fit(X, y)
    assert a.report_["convex_objective"] == pytest.approx(c.report_["convex_objective"], rel=rel)
    np.testing.assert_array_equal(a.predict(X), c.predict(X))


def test_beta_max_and_warm_started_path():
    X, y, _ = _raw_data(80, seed=4)
    est = ConvexReLUClassifier(gated=True, **_fast(max_iter=2000, tol=1e-7))
    bmax = beta_max(est, X, y)
    above = ConvexReLUClassifier(**{**est.get_params(), "beta": 1.01 * bmax}).fit(X, y)
    below = ConvexReLUClassifier(**{**est.get_params(), "beta": 0.5 * bmax}).fit(X, y)
    assert above.report_["active_neurons"] == 0
    assert below.report_["active_neurons"] > 0
    path = beta_path(est, X, y, num=4, min_ratio=0.01)
    betas = [r["beta"] for r in path]
    assert betas == sorted(betas, reverse=True) and betas[0] == pytest.approx(bmax)
    # at β_max the network is (numerically) zero: the objective is the loss of f = 0, n·log 2
    assert path[0]["convex_objective"] == pytest.approx(len(y) * np.log(2), rel=1e-3)
    assert path[-1]["active_neurons"] > path[0]["active_neurons"]
    assert path[-1]["train_score"] >= path[0]["train_score"]
    # a path point equals a cold fit at the same β, and the snapshot predicts on its own
    cold = ConvexReLUClassifier(**{**est.get_params(), "beta": betas[-1]}).fit(X, y)
    assert path[-1]["convex_objective"] == pytest.approx(cold.report_["convex_objective"], rel=1e-4)
    np.testing.assert_array_equal(path[-1]["estimator"].predict(X), cold.predict(X))


def test_scp_estimator():
    X, y, _ = _raw_data(100, seed=5)
    clf = ConvexReLUClassifier(solver="scp", beta=0.05, num_patterns=40, seed=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert 0 <= clf.report_["violation_rate"] <= 1
    assert clf.report_["recovered_objective"] == pytest.approx(clf.report_["convex_objective"], rel=1e-6)


def test_robust_fit_certifies_the_attacked_training_loss():
    rng = np.random.default_rng(6)
    y = np.where(rng.random(40) < 0.5, -1.0, 1.0)
    X = np.clip(0.5 + 0.25 * y[:, None] * np.array([1.0, -1.0, 0.0]) + 0.1 * rng.standard_normal((40, 3)), 0, 1)
    eps = 0.05
    rob = ConvexReLUClassifier(loss="hinge", beta=0.1, num_patterns=6, solver="cvxpy", robust_eps=eps,
                               standardize=False).fit(X, y)
    assert rob.report_["cone_violation"] < 1e-5
    # no ℓ∞ perturbation of radius eps can push the training hinge loss above the robust objective
    net = rob.network_
    Xa = pgd_attack(net, X, y, eps, steps=30)
    with torch.no_grad():
        f = net(Xa).reshape(-1).numpy()
        reg = 0.5 * 0.1 * float(net.hidden.weight.pow(2).sum() + net.output.weight.pow(2).sum())
    attacked = np.maximum(1 - y * f, 0).sum() + reg
    assert attacked <= rob.report_["convex_objective"] * (1 + 1e-4) + 1e-6
    std = ConvexReLUClassifier(loss="hinge", beta=0.1, num_patterns=6, solver="cvxpy", standardize=False).fit(X, y)
    assert std.report_["convex_objective"] <= rob.report_["convex_objective"]
    for solver in ("scp", "admm"):
        with pytest.raises(ValueError, match="robust"):
            ConvexReLUClassifier(solver=solver, robust_eps=0.1).fit(X, y)


def test_unconverged_fit_warns_with_progress():
    X, y, _ = _raw_data(60)
    with pytest.warns(Warning, match="iter"):
        ConvexReLUClassifier(max_iter=2, tol=1e-12, num_patterns=5).fit(X, y)


def test_cora_sgc_features(cora):
    from graphopt.convex.patterns import propagate_features

    X = propagate_features(cora, 2)
    tr, te = cora.train_mask, cora.test_mask
    clf = ConvexReLUClassifier(num_patterns=5, max_iter=25, tol=1e-4, standardize=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 25 iterations are a budget, not convergence
        clf.set_params(beta=0.01 * beta_max(clf, X[tr], cora.y[tr])).fit(X[tr], cora.y[tr])
    assert clf.network_.output.out_features == 7
    assert clf.score(X[te], cora.y[te]) > 0.7  # SGC reaches 0.81 on these features


def test_cli_mnist(shared_root, tmp_path, capsys):
    from graphopt.cli import main

    out = tmp_path / "net.pt"
    code = main(["convex-relu", "--dataset", "mnist-2v8", "--root", str(shared_root), "--patterns", "4",
                 "--max-iter", "30", "--tol", "1e-3", "--attack-eps", "0.05", "--save", str(out), "--json"])
    assert code == 0
    res = json.loads(capsys.readouterr().out)
    assert res["test_accuracy"] > 0.8 and "0.05" in res["robust_test_accuracy"]
    state = torch.load(out, weights_only=True)
    assert state["hidden.weight"].shape[1] == 784
    assert main(["convex-relu", "--dataset", "nope"]) == 2
    assert main(["convex-relu", "--dataset", "mnist-2v8", "--root", str(shared_root), "--beta", "-1"]) == 2


def test_fitted_network_has_at_most_n_plus_1_neurons():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((15, 3))
    y = np.maximum(X[:, 0], 0) - X[:, 1] + 0.1 * rng.standard_normal(15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = ConvexReLURegressor(beta=1e-4, num_patterns=200, max_iter=300).fit(X, y)
    assert reg.patterns_.num_patterns > 8  # 2P groups available, far above n + 1 = 16
    assert reg.report_["active_neurons"] <= 16
    assert reg.report_["recovered_objective"] == pytest.approx(
        reg.program_.network_objective(reg.solution_.V, reg.solution_.W), rel=1e-9)
