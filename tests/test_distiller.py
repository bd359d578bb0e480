# License: BSD-3-Clause

import pickle
import warnings

import joblib
import numpy as np
import pytest
from lightgbm import LGBMClassifier
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from xgboost import XGBClassifier

from skdixtill import DiXtillClassifier, make_additive_student, make_teacher_pipeline
from skdixtill.attributions._cache import clear_in_process_cache, fingerprint

X_CANCER, Y_CANCER = load_breast_cancer(return_X_y=True)
X_CANCER = StandardScaler().fit_transform(X_CANCER)
# Four columns only: the classes overlap, so an unpenalised fit converges.
X_CANCER_FEW = X_CANCER[:, :4]
X_WINE, Y_WINE = load_wine(return_X_y=True)
X_WINE = StandardScaler().fit_transform(X_WINE)
X_IRIS, Y_IRIS = load_iris(return_X_y=True)
IRIS_NAMES = np.array(["setosa", "versicolor", "virginica"])
TASKS = {"binary": (X_CANCER_FEW, Y_CANCER), "multiclass": (X_WINE, Y_WINE)}


def _forest(**params):
    return RandomForestClassifier(
        n_estimators=10, max_depth=4, random_state=0, **params
    )


def _xgboost(**params):
    return XGBClassifier(
        n_estimators=10, max_depth=3, random_state=0, n_jobs=1, **params
    )


# The shim reproduces LogisticRegression ---------------------------------------


def _weights(n_samples):
    return np.random.RandomState(0).uniform(0.2, 3.0, size=n_samples)


LOGISTIC_SETTINGS = {
    "default": ({}, False),
    "C": ({"C": 0.05}, False),
    "penalty_none": ({"penalty": None}, False),
    "C_inf": ({"C": np.inf}, False),
    "no_intercept": ({"fit_intercept": False}, False),
    "balanced": ({"class_weight": "balanced"}, False),
    "sample_weight": ({}, True),
    "balanced_sample_weight": ({"class_weight": "balanced", "C": 0.3}, True),
}


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize(
    "settings, weighted", list(LOGISTIC_SETTINGS.values()), ids=list(LOGISTIC_SETTINGS)
)
def test_alpha_zero_is_logistic_regression(task, settings, weighted):
    """With alpha=0 the student equals LogisticRegression fit on the same data."""
    X, y = TASKS[task]
    fit_params = {"sample_weight": _weights(len(y))} if weighted else {}
    settings = {"tol": 1e-8, "max_iter": 10_000, **settings}
    with warnings.catch_warnings():
        # penalty=None is deprecated in favour of C=np.inf in scikit-learn 1.8.
        warnings.simplefilter("ignore", FutureWarning)
        reference = LogisticRegression(**settings).fit(X, y, **fit_params)
        distiller = DiXtillClassifier(
            _forest(), LogisticRegression(**settings), alpha=0.0, random_state=0
        ).fit(X, y, **fit_params)
    student = distiller.student_
    # Reference: scikit-learn's own L-BFGS fit of the same objective.
    assert_allclose(student.coef_, reference.coef_, rtol=1e-5, atol=1e-6)
    assert_allclose(student.intercept_, reference.intercept_, rtol=1e-5, atol=1e-6)
    assert_array_equal(distiller.predict(X), reference.predict(X))


def test_alpha_one_follows_teacher():
    """With alpha=1 the student learns the teacher's labels, not the true ones."""
    # The teacher saw flipped labels, so following it means disagreeing with y.
    teacher = FrozenEstimator(_forest().fit(X_CANCER, 1 - Y_CANCER))
    distiller = DiXtillClassifier(teacher, alpha=1.0, random_state=0).fit(
        X_CANCER, Y_CANCER
    )
    agreement = np.mean(distiller.predict(X_CANCER) == teacher.predict(X_CANCER))
    assert agreement > 0.9
    assert distiller.score(X_CANCER, Y_CANCER) < 0.1


def test_alignment_raises_shap_correlation():
    """The alignment term makes the student's SHAP values closer to the teacher's."""
    teacher = FrozenEstimator(_xgboost().fit(X_WINE, Y_WINE))
    correlations = []
    for beta in (0.0, 3.0):
        distiller = DiXtillClassifier(teacher, beta=beta, random_state=0).fit(
            X_WINE, Y_WINE
        )
        phi_teacher = distiller.explain_teacher(X_WINE)
        phi_student = distiller.explain(X_WINE)
        correlations.append(np.corrcoef(phi_teacher.ravel(), phi_student.ravel())[0, 1])
    assert correlations[1] > correlations[0] + 0.05


def test_history_terms_add_up():
    """history_ has one row per iteration, whose terms add up to the loss."""
    alpha, beta = 0.4, 0.7
    distiller = DiXtillClassifier(
        _forest(), LogisticRegression(C=np.inf), alpha=alpha, beta=beta, random_state=0
    ).fit(X_WINE, Y_WINE)
    history = distiller.history_
    assert len(history) == distiller.n_iter_
    last = history[-1]
    # Reference: the DiXtill loss, unpenalised because C is infinite.
    expected = (1 - alpha) * last["ce"] + alpha * (last["kd"] + beta * last["xai"])
    assert_allclose(last["loss"], expected, rtol=1e-10)
    assert history[0]["loss"] > last["loss"]
    assert 0 < last["xai"] < 4


def test_beta_zero_explains_no_teacher():
    """beta=0 is classic distillation and computes no teacher attributions."""
    distiller = DiXtillClassifier(_forest(), beta=0.0, random_state=0).fit(
        X_WINE, Y_WINE
    )
    assert distiller.attribution_stats_["rows_requested"] == 0
    assert all(row["xai"] == 0.0 for row in distiller.history_)


@pytest.mark.parametrize(
    "n_attribution_samples, expected",
    [(50, 50), (0.25, 44), (None, 178), (10_000, 178)],
    ids=["count", "fraction", "all", "more_than_rows"],
)
def test_n_attribution_samples(n_attribution_samples, expected):
    """n_attribution_samples sets how many training rows the teacher explains."""
    distiller = DiXtillClassifier(
        _forest(), n_attribution_samples=n_attribution_samples, random_state=0
    ).fit(X_WINE, Y_WINE)
    assert distiller.attribution_stats_["rows_requested"] == expected


# scikit-learn's tools ----------------------------------------------------------


def _small_distiller(**params):
    params = {
        "teacher": _forest(),
        "student": LogisticRegression(),
        "n_attribution_samples": 100,
        "random_state": 0,
        **params,
    }
    return DiXtillClassifier(**params)


@pytest.mark.parametrize("round_trip", ["pickle", "joblib", "clone"])
def test_round_trip_predictions(tmp_path, round_trip):
    """Pickled, joblib-dumped and cloned-then-refitted distillers predict the same."""
    distiller = _small_distiller().fit(X_WINE, Y_WINE)
    if round_trip == "pickle":
        copy = pickle.loads(pickle.dumps(distiller))
    elif round_trip == "joblib":
        joblib.dump(distiller, tmp_path / "distiller.joblib")
        copy = joblib.load(tmp_path / "distiller.joblib")
    else:
        clear_in_process_cache()
        copy = clone(distiller).fit(X_WINE, Y_WINE)
        assert copy is not distiller
    for method in ("predict", "predict_proba", "decision_function", "explain"):
        assert_array_equal(
            getattr(copy, method)(X_WINE), getattr(distiller, method)(X_WINE)
        )


def test_clone_keeps_params():
    """clone copies every parameter and no fitted state."""
    distiller = _small_distiller(alpha=0.3, beta=0.1, temperature=2.0).fit(
        X_WINE, Y_WINE
    )
    copy = clone(distiller)
    assert copy.get_params()["alpha"] == 0.3
    assert copy.get_params()["temperature"] == 2.0
    assert not hasattr(copy, "student_")


def test_pipeline_and_cross_val_score():
    """The distiller works after a scaler in a Pipeline and in cross_val_score."""
    X, y = load_wine(return_X_y=True)
    pipeline = make_pipeline(StandardScaler(), _small_distiller())
    scores = cross_val_score(pipeline, X, y, cv=KFold(3, shuffle=True, random_state=0))
    assert scores.shape == (3,)
    assert scores.min() > 0.85
    pipeline.fit(X, y)
    assert pipeline.predict(X[:5]).shape == (5,)


def test_grid_search():
    """GridSearchCV tunes alpha and beta and refits the best distiller."""
    search = GridSearchCV(
        _small_distiller(),
        {"alpha": [0.0, 0.5], "beta": [0.0, 0.3]},
        cv=KFold(3, shuffle=True, random_state=0),
    ).fit(X_WINE, Y_WINE)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_estimator_.predict(X_WINE).shape == (len(Y_WINE),)


@pytest.mark.parametrize("task", ["binary", "multiclass"])
@pytest.mark.parametrize("teacher", ["forest", "xgboost"])
def test_string_labels(task, teacher):
    """String labels come back from predict, in the order of classes_."""
    X, y = TASKS[task]
    names = np.array(["low", "mid", "high"])[y]
    model = _forest() if teacher == "forest" else _xgboost()
    distiller = DiXtillClassifier(model, random_state=0).fit(X, names)
    assert_array_equal(distiller.classes_, np.unique(names))
    predicted = distiller.predict(X)
    assert set(predicted) <= set(names)
    assert np.mean(predicted == names) > 0.85
    proba = distiller.predict_proba(X)
    assert_array_equal(distiller.classes_[proba.argmax(axis=1)], predicted)


def test_sample_weight_ones_equals_none():
    """sample_weight of all ones gives the student fitted without weights."""
    X, y = TASKS["multiclass"]
    # Not a random forest: scikit-learn 1.9 draws a forest's bootstrap samples
    # differently when sample_weight is given, even all ones.
    teacher = DecisionTreeClassifier(max_depth=4, random_state=0)
    unweighted = _small_distiller(teacher=teacher).fit(X, y)
    clear_in_process_cache()
    weighted = _small_distiller(teacher=teacher).fit(
        X, y, sample_weight=np.ones(len(y))
    )
    assert_array_equal(weighted.student_.coef_, unweighted.student_.coef_)
    assert_array_equal(weighted.student_.intercept_, unweighted.student_.intercept_)


def test_sample_weight_matters():
    """Unequal sample weights change the student."""
    X, y = TASKS["multiclass"]
    unweighted = _small_distiller().fit(X, y)
    weighted = _small_distiller().fit(X, y, sample_weight=_weights(len(y)))
    assert np.abs(weighted.student_.coef_ - unweighted.student_.coef_).max() > 1e-3


@pytest.mark.parametrize(
    "feature_perturbation", ["interventional", "tree_path_dependent"]
)
def test_same_random_state_same_student(feature_perturbation):
    """The same random_state gives the same student, and another one differs."""
    params = dict(
        feature_perturbation=feature_perturbation,
        n_attribution_samples=40,
        n_background_samples=20,
    )
    coefs = []
    for random_state in (0, 0, 1):
        clear_in_process_cache()
        distiller = _small_distiller(random_state=random_state, **params)
        coefs.append(distiller.fit(X_WINE, Y_WINE).student_.coef_)
    assert_array_equal(coefs[0], coefs[1])
    assert np.abs(coefs[0] - coefs[2]).max() > 1e-6


# A frozen teacher ----------------------------------------------------------------


def _frozen_iris_teacher():
    """Return a frozen forest whose classes_ are not in sorted order.

    It is fitted on every third row only, so a refit on all rows would
    change it.
    """
    forest = _forest().fit(X_IRIS[::3], IRIS_NAMES[Y_IRIS[::3]])
    # The probability columns now name the classes in another order.
    forest.classes_ = np.array(["virginica", "setosa", "versicolor"], dtype=object)
    return FrozenEstimator(forest)


def test_frozen_teacher_class_order():
    """A frozen teacher's own class order is followed, and the teacher is not refit."""
    teacher = _frozen_iris_teacher()
    before = fingerprint(teacher.estimator)
    y = IRIS_NAMES[Y_IRIS]
    distiller = DiXtillClassifier(teacher, alpha=1.0, random_state=0).fit(X_IRIS, y)

    assert distiller.teacher_ is teacher
    assert fingerprint(teacher.estimator) == before
    assert_array_equal(distiller.classes_, ["setosa", "versicolor", "virginica"])
    # Reference: the teacher's own predictions, which use its class order.
    agreement = np.mean(distiller.predict(X_IRIS) == teacher.predict(X_IRIS))
    assert agreement > 0.9
    proba = distiller.predict_proba(X_IRIS)
    positions = [list(teacher.classes_).index(c) for c in distiller.classes_]
    teacher_proba = teacher.predict_proba(X_IRIS)[:, positions]
    assert np.corrcoef(proba.ravel(), teacher_proba.ravel())[0, 1] > 0.9


def test_frozen_teacher_in_clone_and_grid_search():
    """Clones and grid-search candidates share the frozen teacher and never refit it."""
    teacher = _frozen_iris_teacher()
    before = fingerprint(teacher.estimator)
    y = IRIS_NAMES[Y_IRIS]
    distiller = DiXtillClassifier(teacher, random_state=0)
    assert clone(distiller).teacher is teacher
    search = GridSearchCV(
        distiller, {"beta": [0.1, 0.5]}, cv=KFold(3, shuffle=True, random_state=0)
    ).fit(X_IRIS, y)
    assert search.best_estimator_.teacher_ is teacher
    assert fingerprint(teacher.estimator) == before


def test_frozen_booster_untouched():
    """A frozen XGBoost teacher's booster is the same bytes after fit and search."""
    model = _xgboost().fit(X_CANCER[:100], Y_CANCER[:100])
    booster = bytes(model.get_booster().save_raw())
    teacher = FrozenEstimator(model)
    GridSearchCV(
        DiXtillClassifier(teacher, random_state=0), {"alpha": [0.2, 0.8]}, cv=3
    ).fit(X_CANCER, Y_CANCER)
    assert bytes(model.get_booster().save_raw()) == booster


def test_teacher_cloned_when_not_frozen():
    """A teacher that is not frozen is cloned, and the original stays unfitted."""
    teacher = _forest()
    distiller = DiXtillClassifier(teacher, random_state=0).fit(X_WINE, Y_WINE)
    assert distiller.teacher_ is not teacher
    assert not hasattr(teacher, "estimators_")
    assert hasattr(distiller.teacher_, "estimators_")


# DataFrames ---------------------------------------------------------------------


@pytest.mark.parametrize("student", ["default", "additive"])
@pytest.mark.parametrize("teacher", ["xgboost", "lightgbm"])
def test_dataframe_with_missing_and_unseen(adult, student, teacher):
    """String, category and missing values, and unseen categories, are handled."""
    X, y, X_test, y_test = adult
    # The test rows hold categories never seen in the training rows.
    for column in ("native-country", "occupation"):
        unseen = set(X_test[column].dropna()) - set(X[column].dropna())
        assert unseen or column == "occupation"
    assert X.isna().any().any()
    assert X_test.isna().any().any()

    final = (
        _xgboost()
        if teacher == "xgboost"
        else LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1, random_state=0)
    )
    student_model = None if student == "default" else make_additive_student(X)
    distiller = DiXtillClassifier(
        make_teacher_pipeline(final, X),
        student_model,
        n_attribution_samples=200,
        random_state=0,
    ).fit(X, y)

    assert_array_equal(distiller.feature_names_in_, X.columns)
    assert distiller.n_features_in_ == X.shape[1]
    assert distiller.score(X_test, y_test) > 0.75
    phi = distiller.explain(X_test)
    assert phi.shape == X_test.shape
    assert np.isfinite(phi).all()
    assert distiller.explain_teacher(X_test.iloc[:20]).shape == (20, X.shape[1])


# Progress and warnings ---------------------------------------------------------------


def test_convergence_warning():
    """Reaching the student's max_iter warns with ConvergenceWarning."""
    distiller = _small_distiller(student=LogisticRegression(max_iter=2))
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        distiller.fit(X_WINE, Y_WINE)
    assert distiller.n_iter_ == 2


def test_verbose_zero_prints_nothing(capfd):
    """verbose=0 prints nothing, from Python or from compiled code."""
    _small_distiller(feature_perturbation="interventional").fit(X_WINE, Y_WINE)
    captured = capfd.readouterr()
    assert captured.out == ""
    assert captured.err == ""


@pytest.mark.parametrize("verbose", [1, 2])
def test_verbose_prints_loss_table(capsys, verbose):
    """verbose=1 and 2 print a table of the loss terms ce, kd and xai."""
    distiller = _small_distiller(verbose=verbose).fit(X_WINE, Y_WINE)
    lines = capsys.readouterr().out.strip().splitlines()
    table = [line for line in lines if line.split() and line.split()[0].isdigit()]
    header = next(line for line in lines if "iter" in line.split())
    assert header.split() == ["iter", "loss", "ce", "kd", "xai"]
    if verbose == 2:
        assert len(table) == distiller.n_iter_
    else:
        # One row every 10 iterations, and the last one unless already shown.
        n_iter = distiller.n_iter_
        expected = len(range(1, n_iter + 1, 10)) + (n_iter % 10 != 1)
        assert len(table) == expected
    last = [float(value) for value in table[-1].split()]
    terms = distiller.history_[-1]
    assert_allclose(
        last[1:], [terms[k] for k in ("loss", "ce", "kd", "xai")], atol=1e-5
    )


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "decision_function", "explain"]
)
def test_unfitted_raises_not_fitted(method):
    """Every prediction method of an unfitted distiller raises NotFittedError."""
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        getattr(DiXtillClassifier(_forest()), method)(X_WINE)


def test_decision_function_binary():
    """A binary decision_function is the log-odds of classes_[1]."""
    distiller = _small_distiller().fit(X_CANCER_FEW, Y_CANCER)
    scores = distiller.decision_function(X_CANCER_FEW)
    proba = distiller.predict_proba(X_CANCER_FEW)
    # Reference: log-odds computed from predict_proba.
    assert_allclose(scores, np.log(proba[:, 1] / proba[:, 0]), rtol=1e-8)
    assert_allclose(
        np.exp(distiller.predict_log_proba(X_CANCER_FEW)), proba, rtol=1e-10
    )


def test_pipeline_decision_tree_teacher():
    """A teacher Pipeline with a scaler and a tree is explained per input column."""
    teacher = make_pipeline(StandardScaler(), DecisionTreeClassifier(max_depth=3))
    distiller = DiXtillClassifier(teacher, random_state=0).fit(X_WINE, Y_WINE)
    assert distiller.explain_teacher(X_WINE[:4]).shape == (4, 13, 3)
    assert distiller.teacher_output_space_ == "probability"


def test_unscaled_columns_still_converge():
    """A plain LogisticRegression student on unscaled columns learns with beta > 0.

    Started from zero weights with the alignment term on, L-BFGS-B stalled on
    these columns and predicted a single class.
    """
    X, y = load_breast_cancer(return_X_y=True)
    X = X[:, :6]
    scores = {}
    for beta in (0.0, 0.3):
        distiller = DiXtillClassifier(
            XGBClassifier(n_estimators=30, max_depth=3, random_state=0),
            LogisticRegression(max_iter=1000),
            beta=beta,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            distiller.fit(X, y)
        scores[beta] = distiller.score(X, y)
    # Reference: the classic-KD student (beta=0) on the same columns.
    assert scores[0.3] > scores[0.0] - 0.03
    assert scores[0.3] > 0.85


def test_nullable_columns_are_accepted():
    """Columns of pandas' nullable dtypes with pd.NA fit and predict."""
    import pandas as pd

    rng = np.random.RandomState(0)
    n = 200
    X = pd.DataFrame(
        {
            "amount": pd.array(rng.randint(0, 100, n), dtype="Int64"),
            "kind": pd.array(rng.choice(["a", "b", "c"], n), dtype="string[python]"),
            "flag": pd.array(rng.rand(n) > 0.5, dtype="boolean"),
        }
    )
    y = (X["amount"].to_numpy(dtype=float) > 50).astype(int)
    X.loc[::7, "amount"] = pd.NA
    X.loc[::5, "kind"] = pd.NA
    X.loc[::3, "flag"] = pd.NA
    distiller = DiXtillClassifier(
        make_teacher_pipeline(RandomForestClassifier(10, random_state=0), X),
        random_state=0,
    ).fit(X, y)
    assert distiller.explain(X).shape == (n, 3)
    assert distiller.score(X, y) > 0.7


def test_inconsistent_length_rejected():
    """X and y of different lengths are rejected before the teacher is fitted."""
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        _small_distiller().fit(X_WINE, Y_WINE[:-3])


def test_unfitted_frozen_teacher_rejected():
    """A FrozenEstimator around an unfitted teacher raises NotFittedError."""
    from sklearn.exceptions import NotFittedError

    distiller = _small_distiller(teacher=FrozenEstimator(RandomForestClassifier()))
    with pytest.raises(NotFittedError, match="frozen teacher RandomForestClassifier"):
        distiller.fit(X_WINE, Y_WINE)
