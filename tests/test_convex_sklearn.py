"""The convex estimators as scikit-learn estimators: scikit-learn's own estimator checks, model
selection (GridSearchCV, cross_val_score, Pipeline) and the input errors a new user meets."""

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from graphopt.convex import ConvergenceWarning, ConvexReLUClassifier, ConvexReLURegressor

# small budgets keep scikit-learn's ~55 checks per estimator to seconds; they test the API
# contract (shapes, errors, cloning, pickling, invariances), not the optimum
_FAST = dict(num_patterns=8, max_iter=100, tol=1e-4)
# every check passes with scikit-learn 1.9; a failing one would be listed here with its reason
EXPECTED_FAILED: dict[str, str] = {}


@parametrize_with_checks([ConvexReLUClassifier(**_FAST), ConvexReLURegressor(**_FAST)],
                         expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def _blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.standard_normal((n, 3)) + 3.0 * y[:, None] * np.array([1.0, -1.0, 0.0])
    return X, y


def test_type_predicates_and_tags():
    assert is_classifier(ConvexReLUClassifier()) and not is_regressor(ConvexReLUClassifier())
    assert is_regressor(ConvexReLURegressor()) and not is_classifier(ConvexReLURegressor())
    assert ConvexReLURegressor().__sklearn_tags__().target_tags.multi_output
    assert ConvexReLUClassifier().__sklearn_tags__().input_tags.sparse
    # predict_proba exists only where it is defined (logistic loss)
    assert hasattr(ConvexReLUClassifier(), "predict_proba")
    assert not hasattr(ConvexReLUClassifier(loss="hinge"), "predict_proba")
    assert not hasattr(ConvexReLURegressor(), "decision_function")


def test_grid_search_cross_val_and_pipeline():
    X, y = _blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid = GridSearchCV(ConvexReLUClassifier(**_FAST), {"beta": [1e-3, 1e2]}, cv=3).fit(X, y)
        scores = cross_val_score(ConvexReLUClassifier(**_FAST), X, y, cv=3)
        pipe = make_pipeline(StandardScaler(), ConvexReLUClassifier(**_FAST)).fit(X, y)
    # β = 100 is far above β_max on 80 rows: the zero network scores at chance, so β = 1e-3 wins
    assert grid.best_params_ == {"beta": 1e-3}
    assert grid.best_score_ > 0.85
    assert scores.shape == (3,) and scores.min() > 0.85
    assert pipe.score(X, y) == pytest.approx(np.mean(pipe.predict(X) == y))
    assert pipe.score(X, y) > 0.9


def test_regressor_score_is_r2_and_keeps_target_shape():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((100, 2))
    y = np.maximum(X[:, 0], 0) - X[:, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = ConvexReLURegressor(beta=1e-3, **_FAST).fit(X, y)
        col = ConvexReLURegressor(beta=1e-3, **_FAST).fit(X, y[:, None])
    assert reg.predict(X).shape == (100,) and col.predict(X).shape == (100, 1)
    r2 = 1 - ((y - reg.predict(X)) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert reg.score(X, y) == pytest.approx(r2)
    assert cross_val_score(clone(reg), X, y, cv=3).min() > 0.8


def test_numpy_scalar_hyperparameters_are_accepted():
    X, y = _blobs(60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ConvexReLUClassifier(beta=np.float32(1e-2), num_patterns=np.int64(6), max_iter=np.int32(50),
                                   tol=np.float64(1e-4)).fit(X, y)
    assert clf.score(X, y) > 0.85


@pytest.mark.parametrize("params, match", [
    ({"beta": True}, "beta"), ({"beta": float("nan")}, "beta"), ({"tol": 0.0}, "tol"),
    ({"max_iter": 0}, "max_iter"), ({"max_iter": 2.5}, "max_iter"), ({"time_limit": -1.0}, "time_limit"),
    ({"max_memory": 0}, "max_memory"), ({"rho": -1.0}, "rho"), ({"dtype": "float16"}, "dtype"),
    ({"time_limit": 0}, "time_limit"), ({"verbose": -1}, "verbose"), ({"verbose": "yes"}, "verbose"),
])
def test_bad_hyperparameters_name_the_argument(params, match):
    X, y = _blobs(30)
    with pytest.raises(ValueError, match=match):
        ConvexReLUClassifier(**params).fit(X, y)


def test_bad_inputs_give_clear_errors():
    X, y = _blobs(40)
    with pytest.raises(ValueError, match="Complex data not supported"):
        ConvexReLUClassifier().fit(X + 1j, y)
    with pytest.raises(ValueError, match="requires y to be passed"):
        ConvexReLURegressor().fit(X, None)
    with pytest.raises(ValueError, match="requires y to be passed"):
        ConvexReLUClassifier().fit(X, None)
    with pytest.raises(ValueError, match=r"magnitude .*rescale X"):
        ConvexReLUClassifier().fit(X * 1e200, y)
    with pytest.raises(ValueError, match="Expected 2D array"):
        ConvexReLUClassifier().fit(X[:, 0], y)
    with pytest.raises(ValueError, match="2 is required"):
        ConvexReLUClassifier().fit(X[:1], y[:1])
    with pytest.raises(ValueError, match="single class"):
        ConvexReLUClassifier().fit(X, np.zeros(40))
    with pytest.raises(ValueError, match="1d array"):
        ConvexReLUClassifier().fit(X, np.column_stack([y, 1 - y]))
    with pytest.raises(ValueError, match="NaN"):
        ConvexReLUClassifier().fit(X, np.where(np.arange(40) == 3, np.nan, y))
    with pytest.raises(ValueError, match="could not convert|numeric"):
        ConvexReLUClassifier().fit(np.full((40, 2), "a"), y)


def test_sparse_and_labels_of_any_kind():
    X, y = _blobs(80)
    names = np.array(["cat", "dog"])[y]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = ConvexReLUClassifier(**_FAST).fit(X, names)
        sparse = ConvexReLUClassifier(**_FAST).fit(sp.csr_matrix(X), names)
        negative = ConvexReLUClassifier(**_FAST).fit(X, 2 * y - 7)  # labels -7 and -5
    assert set(dense.predict(X)) <= {"cat", "dog"}
    np.testing.assert_array_equal(dense.predict(X), sparse.predict(sp.csr_matrix(X)))
    np.testing.assert_array_equal(negative.classes_, [-7, -5])
    assert negative.score(X, 2 * y - 7) == pytest.approx(dense.score(X, names))


def test_non_finite_inputs_are_refused_at_fit_and_predict():
    X, y = _blobs(40)
    for bad in (np.nan, np.inf, -np.inf):
        Xb = X.copy()
        Xb[3, 1] = bad
        with pytest.raises(ValueError, match="NaN|infinity"):
            ConvexReLUClassifier().fit(Xb, y)
        with pytest.raises(ValueError, match="NaN|infinity"):
            ConvexReLURegressor().fit(X, np.where(np.arange(40) == 3, bad, 1.0 * y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ConvexReLUClassifier(**_FAST).fit(X, y)
    Xb = X.copy()
    Xb[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(Xb)


def test_extreme_scales_fit_or_name_the_fix():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = np.maximum(X[:, 0], 0) - X[:, 1]
    # targets beyond float64's squaring range are refused before solving
    with pytest.raises(ValueError, match=r"y has entries of magnitude .*rescale y"):
        ConvexReLURegressor(**_FAST).fit(X, y * 1e160)
    # huge targets against beta = 1e-3: a finite network or a refusal naming the fix, never a
    # network predicting inf (whether ADMM overflows at 1e90-1e140 depends on the BLAS's rounding)
    for scale in (1e90, 1e120, 1e140):
        try:
            model = ConvexReLURegressor(**_FAST).fit(X, y * scale)
        except ValueError as exc:
            assert re.search(r"overflowed float64 .*rescale y", str(exc)), exc
        else:
            assert np.isfinite(model.predict(X)).all()
            assert np.isfinite(model.report_["convex_objective"])
    model = ConvexReLURegressor(**_FAST).fit(X, y)
    model.report_["convex_objective"] = float("inf")  # what an overflowed solve leaves
    with pytest.raises(ValueError, match=r"overflowed float64 .*rescale y"):
        model._check_finite(y)
    # tiny features are not "constant": standardized, they fit exactly like the unscaled ones
    labels = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = ConvexReLUClassifier(**_FAST).fit(X, labels)
        tiny = ConvexReLUClassifier(**_FAST).fit(X * 1e-200, labels)
    assert tiny.informative_.all()
    np.testing.assert_array_equal(tiny.predict(X * 1e-200), plain.predict(X))


def test_verbose_prints_progress_lines(capsys):
    X, y = _blobs(60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ConvexReLUClassifier(num_patterns=8, max_iter=40).fit(X, y)
        assert capsys.readouterr().out == ""  # silent by default
        ConvexReLUClassifier(num_patterns=8, max_iter=40, verbose=1).fit(X, y)
        admm = capsys.readouterr().out.splitlines()
        ConvexReLUClassifier(num_patterns=8, max_iter=400, verbose=1).fit(X, y)
        admm_long = capsys.readouterr().out.splitlines()
        ConvexReLUClassifier(num_patterns=8, max_iter=400, verbose=2).fit(X, y)
        admm_all = capsys.readouterr().out.splitlines()
        ConvexReLUClassifier(solver="scp", num_patterns=50, verbose=1).fit(X, y)
        scp = capsys.readouterr().out.splitlines()
    # printed lines, not a terminal-only bar: one per 10 evaluated iterations, then a summary
    assert [line.split(":")[0] for line in admm] == [f"ConvexReLUClassifier admm iter {i}/40" for i in
                                                     (10, 20, 30, 40)] + ["ConvexReLUClassifier fit"]
    assert "objective" in admm[0] and "40 iterations" in admm[-1]
    iters = [int(line.split("iter ")[1].split("/")[0]) for line in admm_long[:-1]]
    assert iters and all(i % 20 == 0 for i in iters) and len(iters) <= 21  # ~every 5% of max_iter
    assert len(admm_all) - 1 >= 2 * len(iters) - 1
    assert scp[0].startswith("ConvexReLUClassifier scp round 1:") and scp[-1].startswith("ConvexReLUClassifier fit: scp")


def test_solvers_refuse_bad_time_limit_and_name_max_memory():
    from graphopt.convex import ConvexReLUProgram, sample_patterns, solve_admm, solve_scp

    X, y = _blobs(40)
    Y = np.where(y == 1, 1.0, -1.0)
    for limit in (-1.0, 0.0):
        with pytest.raises(ValueError, match="time_limit"):
            solve_scp(X, Y, time_limit=limit, progress=False)
        with pytest.raises(ValueError, match="time_limit"):
            solve_admm(ConvexReLUProgram(X, Y, sample_patterns(X, 4, seed=0)), time_limit=limit, progress=False)
    # the estimators' memory errors point at their own parameter, in units that are not 0.00
    with pytest.raises(ValueError, match=r"GiB, over memory_limit=9.\d+e-07 GiB.*max_memory"):
        ConvexReLUClassifier(num_patterns=8, max_memory=1e3).fit(X, y)
