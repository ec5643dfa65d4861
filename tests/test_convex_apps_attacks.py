"""PGD attack, nonconvex baselines, SCP solver and benchmark tasks of graphopt.convex."""

import numpy as np
import pytest
import torch

from graphopt.convex.attacks import pgd_attack, predict_labels, robust_accuracy
from graphopt.convex.baselines import train_nonconvex
from graphopt.convex.scp import scp_sample_size, solve_scp


def _linear_model(w, b=0.0):
    m = torch.nn.Linear(len(w), 1).double()
    with torch.no_grad():
        m.weight.copy_(torch.tensor([w], dtype=torch.float64))
        m.bias.fill_(b)
    return m


def _blobs(n=200, d=5, seed=0):
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    X = rng.standard_normal((n, d)) + 1.5 * y[:, None] * np.eye(d)[0]
    return X, y


def test_pgd_on_linear_model_reaches_the_worst_case():
    # for a linear score w·x the worst ℓ∞ perturbation is -eps·y·sign(w): margin drops by eps‖w‖₁
    w = [1.0, -2.0, 0.5]
    model = _linear_model(w)
    X = np.random.default_rng(0).standard_normal((50, 3))
    y = np.where(X @ np.array(w) >= 0, 1.0, -1.0)
    eps = 0.1
    Xa = pgd_attack(model, X, y, eps, steps=10).numpy()
    assert np.abs(Xa - X).max() <= eps + 1e-12
    expected = X - eps * y[:, None] * np.sign(w)[None]
    np.testing.assert_allclose(Xa, expected, atol=1e-12)


def test_pgd_respects_clip_and_zero_eps():
    model = _linear_model([1.0, 1.0])
    X = np.full((4, 2), 0.02)
    y = np.ones(4)
    Xa = pgd_attack(model, X, y, 0.1, clip=(0.0, 1.0)).numpy()
    assert Xa.min() >= 0.0
    np.testing.assert_array_equal(pgd_attack(model, X, y, 0.0).numpy(), X)
    with pytest.raises(ValueError, match="eps"):
        pgd_attack(model, X, y, -0.1)
    with pytest.raises(ValueError, match="rows"):
        pgd_attack(model, X, y[:3], 0.1)


def test_robust_accuracy_decreases_with_eps_and_matches_clean_at_zero():
    X, y = _blobs()
    model = _linear_model([1.0, 0, 0, 0, 0])
    clean = float((predict_labels(model, X).numpy() == y).mean())
    accs = [robust_accuracy(model, X, y, e, steps=5) for e in (0.0, 0.5, 1.0, 2.0)]
    assert accs[0] == clean
    assert all(a >= b for a, b in zip(accs, accs[1:]))
    assert accs[-1] < accs[0]


def test_pgd_multiclass_uses_cross_entropy():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3).double()
    X = np.random.default_rng(1).standard_normal((30, 4))
    y = predict_labels(model, X).numpy()
    assert robust_accuracy(model, X, y, 0.0) == 1.0
    assert robust_accuracy(model, X, y, 3.0, steps=10) < 0.5


def test_adam_and_adversarial_training_learn_and_adversarial_is_more_robust():
    X, y = _blobs(200, 5, seed=1)
    Xt, yt = _blobs(200, 5, seed=2)
    robust = {}
    for eps in (0.0, 0.6):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1)).double()
        hist = train_nonconvex(model, X, y, beta=1e-3, epochs=10, lr=1e-2, batch_size=50,
                               adversarial_eps=eps, pgd_steps=3, eval_set=(Xt, yt), seed=0, progress=False)
        assert [h["epoch"] for h in hist] == list(range(1, 11))
        assert hist[-1]["test_accuracy"] > 0.8
        robust[eps] = robust_accuracy(model, Xt, yt, 0.6, steps=10)
    assert robust[0.6] > robust[0.0]


def test_train_nonconvex_is_deterministic_and_validates():
    X, y = _blobs(60, 3)
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        m = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1)).double()
        outs.append(train_nonconvex(m, X, y, epochs=3, seed=5, progress=False)[-1]["objective"])
    assert outs[0] == outs[1]
    with pytest.raises(ValueError, match="loss"):
        train_nonconvex(m, X, y, loss="l1", progress=False)
    with pytest.raises(ValueError, match="beta"):
        train_nonconvex(m, X, y, beta=-1.0, progress=False)


def test_scp_solution_is_a_network_and_certificate_improves():
    X, y = _blobs(150, 4, seed=3)
    X = np.hstack([X, np.ones((150, 1))])
    sol = solve_scp(X, y, num_samples=60, beta=0.5, loss="logistic", max_rounds=4,
                    violation_tol=0.0, seed=0, progress=False)
    rates = [h["violation_rate"] for h in sol.history]
    objs = [h["objective"] for h in sol.history]
    assert objs[-1] <= objs[0] + 1e-9  # more directions can only lower the sampled optimum
    assert rates[-1] <= rates[0]
    W1, W2 = sol.network_weights()
    Xt = torch.as_tensor(X)
    f_net = torch.relu(Xt @ W1.T) @ W2.T
    f_prog = torch.relu(Xt @ sol.U) @ sol.coef
    torch.testing.assert_close(f_net, f_prog)
    # balanced weights: weight decay equals the group-lasso term
    wd = 0.5 * (W1.pow(2).sum() + W2.pow(2).sum())
    torch.testing.assert_close(wd, sol.coef.norm(dim=1).sum())
    assert ((f_net.reshape(-1) >= 0) == (torch.as_tensor(y) > 0)).double().mean() > 0.85


def test_scp_optimality_on_sampled_program_matches_cvxpy():
    cp = pytest.importorskip("cvxpy")
    X, y = _blobs(40, 3, seed=4)
    sol = solve_scp(X, y, num_samples=20, beta=0.3, loss="squared", max_rounds=1, tol=1e-12,
                    max_iter=20000, seed=1, progress=False)
    A = np.maximum(X @ sol.U.numpy(), 0)
    mu = cp.Variable(A.shape[1])
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ mu - y) + 0.3 * cp.norm1(mu)))
    prob.solve()
    assert sol.objective == pytest.approx(prob.value, rel=1e-5)


def test_scp_validation_and_sample_size():
    X, y = _blobs(20, 2)
    with pytest.raises(ValueError, match="hinge"):
        solve_scp(X, y, loss="hinge", progress=False)
    with pytest.raises(ValueError, match="beta"):
        solve_scp(X, y, beta=0.0, progress=False)
    assert scp_sample_size(100, 0.1, 1e-3) == int(np.ceil(20 * (np.log(1e3) + 100)))


def test_mnist_pair_and_a9a(shared_root):
    from graphopt.convex.data import a9a, mnist_pair

    t = mnist_pair((2, 8), seed=0, root=shared_root)
    assert set(np.unique(t.y_train)) == {-1.0, 1.0}
    assert 1900 < len(t.y_train) + len(t.y_test) < 2100  # 1032 twos + 974 eights
    assert t.X_train.min() >= 0 and t.X_train.max() <= 1 and t.X_train.shape[1] == 784
    t2 = mnist_pair((2, 8), seed=0, root=shared_root)
    np.testing.assert_array_equal(t.X_test, t2.X_test)
    with pytest.raises(ValueError, match="digits"):
        mnist_pair((3, 3), root=shared_root)
    a = a9a(shared_root)
    assert a.X_train.shape == (32561, 123) and a.X_test.shape == (16281, 123)
    assert int((a.y_train < 0).sum()) == 24720
