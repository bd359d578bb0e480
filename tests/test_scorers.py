# License: BSD-3-Clause

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.stats import loguniform
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    RandomizedSearchCV,
    cross_val_score,
    cross_validate,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from xgboost import XGBClassifier

from skdixtill import DiXtillClassifier, make_teacher_pipeline
from skdixtill.metrics import (
    alignment_score,
    explanation_divergence,
    fas_score,
    feature_attribution_stability,
    fidelity,
    fidelity_score,
    make_alignment_scorer,
    neg_explanation_divergence_score,
    shap_correlation,
    shap_correlation_score,
    top_k_overlap,
    top_k_overlap_score,
)

X_CANCER, Y_CANCER = load_breast_cancer(return_X_y=True)
TEACHER_CANCER = XGBClassifier(n_estimators=30, max_depth=3, random_state=0).fit(
    X_CANCER, Y_CANCER
)
X_WINE, Y_WINE = load_wine(return_X_y=True)
TEACHER_WINE = RandomForestClassifier(n_estimators=20, random_state=0).fit(
    X_WINE, Y_WINE
)

SCORERS = {
    "shap_correlation": shap_correlation_score,
    "fas": fas_score,
    "top_k_overlap": top_k_overlap_score,
    "fidelity": fidelity_score,
    "neg_explanation_divergence": neg_explanation_divergence_score,
    "alignment": alignment_score,
}


def _distiller(teacher, **params):
    return DiXtillClassifier(
        FrozenEstimator(teacher),
        feature_perturbation="tree_path_dependent",
        n_attribution_samples=150,
        random_state=0,
        **params,
    )


def _expected_scores(distiller, X, y, predicted_class, teacher_labels):
    """Return each scorer's value, computed from the metric functions."""
    phi_teacher = distiller.explain_teacher(X)
    phi_student = distiller.explain(X)
    correlation = shap_correlation(phi_teacher, phi_student)
    return {
        "shap_correlation": correlation,
        "fas": feature_attribution_stability(distiller.explain, X, random_state=0),
        "top_k_overlap": top_k_overlap(
            phi_teacher, phi_student, k=3, predicted_class=predicted_class
        ),
        "fidelity": fidelity(teacher_labels, distiller.predict(X)),
        "neg_explanation_divergence": -explanation_divergence(
            phi_teacher, phi_student, predicted_class=predicted_class
        ),
        "alignment": 0.6 * accuracy_score(y, distiller.predict(X)) + 0.4 * correlation,
    }


@pytest.fixture(scope="module")
def binary_distiller():
    return _distiller(TEACHER_CANCER).fit(X_CANCER[:400], Y_CANCER[:400])


@pytest.fixture(scope="module")
def multiclass_distiller():
    return _distiller(TEACHER_WINE).fit(X_WINE, Y_WINE)


@pytest.mark.parametrize("name", list(SCORERS))
def test_scorers_match_metrics_binary(name, binary_distiller):
    """Each scorer equals its metric computed from the distiller's outputs."""
    X, y = X_CANCER[400:], Y_CANCER[400:]
    # Reference: the teacher's own labels, and the metric functions.
    expected = _expected_scores(binary_distiller, X, y, None, TEACHER_CANCER.predict(X))
    assert_allclose(SCORERS[name](binary_distiller, X, y), expected[name], rtol=1e-12)


@pytest.mark.parametrize("name", list(SCORERS))
def test_scorers_match_metrics_multiclass(name, multiclass_distiller):
    """Multiclass scorers use the class the teacher predicts, by its probabilities."""
    predicted_class = np.argmax(TEACHER_WINE.predict_proba(X_WINE), axis=1)
    expected = _expected_scores(
        multiclass_distiller,
        X_WINE,
        Y_WINE,
        predicted_class,
        TEACHER_WINE.classes_[predicted_class],
    )
    value = SCORERS[name](multiclass_distiller, X_WINE, Y_WINE)
    assert_allclose(value, expected[name], rtol=1e-12)


def test_shap_correlation_of_teacher_with_itself_is_one(binary_distiller):
    """The teacher's attributions correlate at 1 with shap's for the same model."""
    import shap

    X = X_CANCER[400:]
    phi_teacher = binary_distiller.explain_teacher(X)
    # Reference: shap's TreeExplainer on the same XGBoost model, computed apart.
    explainer = shap.TreeExplainer(
        TEACHER_CANCER, feature_perturbation="tree_path_dependent"
    )
    phi_shap = explainer.shap_values(X)
    assert_allclose(shap_correlation(phi_teacher, phi_shap), 1.0, atol=1e-9)
    assert_allclose(
        shap_correlation(phi_teacher, phi_shap, per_row=True), 1.0, atol=1e-9
    )


def test_alignment_scorer_weights(binary_distiller):
    """make_alignment_scorer weighs accuracy and SHAP correlation as given."""
    X, y = X_CANCER[400:], Y_CANCER[400:]
    scorer = make_alignment_scorer(accuracy_weight=0.25, correlation_weight=2.0)
    accuracy = accuracy_score(y, binary_distiller.predict(X))
    correlation = shap_correlation(
        binary_distiller.explain_teacher(X), binary_distiller.explain(X)
    )
    assert_allclose(scorer(binary_distiller, X, y), 0.25 * accuracy + 2.0 * correlation)
    assert repr(scorer) == (
        "make_alignment_scorer(accuracy_weight=0.25, correlation_weight=2.0)"
    )


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"accuracy_weight": -1.0}, InvalidParameterError, "'accuracy_weight'"),
        ({"correlation_weight": "high"}, InvalidParameterError, "'correlation_weight'"),
        ({"accuracy_weight": 0, "correlation_weight": 0}, ValueError, "both 0"),
    ],
)
def test_make_alignment_scorer_errors(kwargs, error, match):
    """Invalid weights raise errors naming the parameter."""
    with pytest.raises(error, match=match):
        make_alignment_scorer(**kwargs)


def test_scorer_errors(binary_distiller):
    """Scorers reject other estimators, unfitted distillers and missing y."""
    model = LogisticRegression()
    with pytest.raises(TypeError, match="got a LogisticRegression"):
        shap_correlation_score(model, X_CANCER)
    pipeline = Pipeline([("scale", StandardScaler()), ("model", model)])
    with pytest.raises(TypeError, match="Pipeline ending in LogisticRegression"):
        fas_score(pipeline, X_CANCER)
    with pytest.raises(NotFittedError):
        fidelity_score(_distiller(TEACHER_CANCER), X_CANCER)
    with pytest.raises(ValueError, match="needs the true labels y"):
        alignment_score(binary_distiller, X_CANCER, None)


# Model selection ------------------------------------------------------------


@pytest.fixture
def deprecations_as_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        yield


CV = KFold(n_splits=3, shuffle=True, random_state=0)


@pytest.mark.parametrize("name", list(SCORERS))
def test_scorer_in_grid_search(name, deprecations_as_errors):
    """GridSearchCV scores each split with the scorer on the held-out fold."""
    X, y = X_CANCER[:300], Y_CANCER[:300]
    search = GridSearchCV(
        _distiller(TEACHER_CANCER),
        {"beta": [0.0, 0.3]},
        scoring=SCORERS[name],
        cv=CV,
        error_score="raise",
    ).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all()
    assert search.best_index_ == np.argmax(scores)

    # Reference: the same fold fitted and scored by hand.
    train, test = next(CV.split(X, y))
    estimator = clone(_distiller(TEACHER_CANCER)).set_params(beta=0.3)
    estimator.fit(X[train], y[train])
    expected = SCORERS[name](estimator, X[test], y[test])
    assert_allclose(search.cv_results_["split0_test_score"][1], expected, rtol=1e-10)


def test_multimetric_grid_search_refit(deprecations_as_errors):
    """A dict of scorers with refit= picks the best candidate by that scorer."""
    X, y = X_CANCER[:300], Y_CANCER[:300]
    scoring = dict(SCORERS, accuracy="accuracy")
    search = GridSearchCV(
        _distiller(TEACHER_CANCER),
        {"beta": [0.0, 0.5], "alpha": [0.5]},
        scoring=scoring,
        refit="shap_correlation",
        cv=CV,
        error_score="raise",
    ).fit(X, y)
    for name in scoring:
        assert np.isfinite(search.cv_results_[f"mean_test_{name}"]).all()
    correlations = search.cv_results_["mean_test_shap_correlation"]
    assert search.best_index_ == np.argmax(correlations)
    assert (
        search.best_estimator_.beta
        == search.cv_results_["param_beta"][search.best_index_]
    )


def test_randomized_search_with_scorers(deprecations_as_errors):
    """RandomizedSearchCV accepts the scorers, alone and in a dict."""
    X, y = X_CANCER[:300], Y_CANCER[:300]
    distributions = {"beta": loguniform(0.01, 1.0), "temperature": [1.0, 3.0]}
    search = RandomizedSearchCV(
        _distiller(TEACHER_CANCER),
        distributions,
        n_iter=2,
        scoring={"alignment": alignment_score, "fidelity": fidelity_score},
        refit="alignment",
        cv=CV,
        random_state=0,
        error_score="raise",
    ).fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_alignment"]).all()
    assert 0.0 <= search.score(X, y) <= 1.0


def test_cross_validate_and_cross_val_score(deprecations_as_errors):
    """cross_validate with a dict and cross_val_score give the same fold scores."""
    X, y = X_CANCER[:300], Y_CANCER[:300]
    results = cross_validate(
        _distiller(TEACHER_CANCER),
        X,
        y,
        scoring=SCORERS,
        cv=CV,
        error_score="raise",
    )
    scores = cross_val_score(
        _distiller(TEACHER_CANCER),
        X,
        y,
        scoring=top_k_overlap_score,
        cv=CV,
        error_score="raise",
    )
    for name in SCORERS:
        assert np.isfinite(results[f"test_{name}"]).all()
    # Reference: both runs fit the same folds with the same random_state.
    assert_allclose(scores, results["test_top_k_overlap"], rtol=1e-12)


def test_scorers_on_pipeline(deprecations_as_errors):
    """A Pipeline ending in the distiller is scored on X transformed by its steps."""
    X, y = X_CANCER[:300], Y_CANCER[:300]
    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "dixtill",
                DiXtillClassifier(
                    XGBClassifier(n_estimators=20, max_depth=2, random_state=0),
                    feature_perturbation="tree_path_dependent",
                    n_attribution_samples=150,
                    random_state=0,
                ),
            ),
        ]
    ).fit(X, y)
    X_test, y_test = X_CANCER[300:], Y_CANCER[300:]
    distiller = pipeline[-1]
    Z = pipeline[0].transform(X_test)
    teacher_labels = distiller.teacher_.predict(Z)
    expected = _expected_scores(distiller, Z, y_test, None, teacher_labels)
    for name, scorer in SCORERS.items():
        assert_allclose(scorer(pipeline, X_test, y_test), expected[name], rtol=1e-12)

    search = GridSearchCV(
        pipeline,
        {"dixtill__beta": [0.0, 0.3]},
        scoring=shap_correlation_score,
        cv=CV,
        error_score="raise",
    ).fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


# Adult --------------------------------------------------------------------


# The folder of the real datasets, found as tests/conftest.py finds it.
DATA = Path(
    os.environ.get(
        "SKDIXTILL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
    )
)


@pytest.fixture(scope="module")
def adult_4000():
    """Return 4000 rows of Adult's training split as (X, y), y 1 for >50K."""
    frame = pd.read_csv(DATA / "adult.csv.gz", na_values=["?"], skipinitialspace=True)
    train = frame[frame["split"] == "train"].sample(n=4000, random_state=0)
    X = train.drop(columns=["income", "split"])
    y = (train["income"] == ">50K").astype(int)
    return X, y.to_numpy()


def test_alignment_ranks_beta_above_classic_distillation(adult_4000):
    """On Adult, beta=0.3 scores a higher SHAP correlation than beta=0."""
    X, y = adult_4000
    X_train, y_train, X_test = X.iloc[:3000], y[:3000], X.iloc[3000:]
    teacher = make_teacher_pipeline(XGBClassifier(n_estimators=100, max_depth=4), X)
    teacher = FrozenEstimator(teacher.fit(X_train, y_train))
    scores = {}
    for beta in (0.0, 0.3):
        distiller = DiXtillClassifier(
            teacher, beta=beta, n_attribution_samples=1000, random_state=0
        ).fit(X_train, y_train)
        scores[beta] = shap_correlation_score(distiller, X_test)
    # Measured here: about 0.66 for beta=0 and 0.72 for beta=0.3.
    assert scores[0.3] > scores[0.0] + 0.02

    search = GridSearchCV(
        DiXtillClassifier(teacher, n_attribution_samples=1000, random_state=0),
        {"beta": [0.0, 0.3]},
        scoring={"shap_correlation": shap_correlation_score, "accuracy": "accuracy"},
        refit="shap_correlation",
        cv=KFold(n_splits=2, shuffle=True, random_state=0),
        error_score="raise",
    ).fit(X_train, y_train)
    assert search.best_params_ == {"beta": 0.3}
