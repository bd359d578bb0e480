# License: BSD-3-Clause

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.decomposition import PCA
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils._param_validation import InvalidParameterError

from skdixtill import DiXtillClassifier
from skdixtill._groups import UnsupportedStepError
from skdixtill._validation import (
    check_teacher,
    check_X,
    fit_params_with_weights,
    logistic_settings,
    split_student,
)

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
FRAME = pd.DataFrame(X_IRIS, columns=["sepal_l", "sepal_w", "petal_l", "petal_w"])
X_NAN = X_IRIS.copy()
X_NAN[5, 2] = np.nan
X_INF = X_IRIS.copy()
X_INF[7, 1] = np.inf
FRAME_INF = FRAME.assign(petal_w=FRAME["petal_w"].replace(0.2, np.inf))
TWO_CLASS_TEACHER = DecisionTreeClassifier(max_depth=2, random_state=0).fit(
    X_IRIS[Y_IRIS < 2], Y_IRIS[Y_IRIS < 2]
)


def _tree():
    return DecisionTreeClassifier(max_depth=2, random_state=0)


# Each case: distiller parameters, fit data (X, y, fit parameters), the X
# passed to predict after a successful fit (None for errors raised by fit),
# the expected exception and the pattern its message must match.
BAD_INPUTS = {
    "nan_without_imputer": (
        dict(student=LogisticRegression()),
        (X_NAN, Y_IRIS, {}),
        None,
        ValueError,
        "X contains NaN, which the student's steps leave in place.*SimpleImputer",
    ),
    "inf_array": (
        dict(),
        (X_INF, Y_IRIS, {}),
        None,
        ValueError,
        "Input X contains infinity",
    ),
    "inf_frame": (
        dict(),
        (FRAME_INF, Y_IRIS, {}),
        None,
        ValueError,
        r"Input X contains infinity in the columns \['petal_w'\]",
    ),
    "inf_at_predict": (
        dict(),
        (X_IRIS, Y_IRIS, {}),
        X_INF,
        ValueError,
        "Input X contains infinity",
    ),
    "feature_count_at_predict": (
        dict(),
        (X_IRIS, Y_IRIS, {}),
        X_IRIS[:, :3],
        ValueError,
        "X has 3 features, but DiXtillClassifier is expecting 4 features",
    ),
    "feature_names_at_predict": (
        dict(),
        (FRAME, Y_IRIS, {}),
        FRAME.rename(columns={"petal_w": "petal_width"}),
        ValueError,
        "(?s)feature names should match.*petal_width",
    ),
    "feature_order_at_predict": (
        dict(),
        (FRAME, Y_IRIS, {}),
        FRAME[["sepal_w", "sepal_l", "petal_l", "petal_w"]],
        ValueError,
        "Feature names must be in the same order",
    ),
    "one_class": (
        dict(),
        (X_IRIS[:50], Y_IRIS[:50], {}),
        None,
        ValueError,
        r"y has only one class, \[0\]",
    ),
    "continuous_y": (
        dict(),
        (X_IRIS, X_IRIS[:, 0], {}),
        None,
        ValueError,
        "Unknown label type",
    ),
    "labels_unseen_by_frozen_teacher": (
        dict(teacher=FrozenEstimator(TWO_CLASS_TEACHER)),
        (X_IRIS, Y_IRIS, {}),
        None,
        ValueError,
        r"y contains labels the frozen teacher never saw: \[2\]",
    ),
    "teacher_without_proba": (
        dict(teacher=LinearRegression()),
        (X_IRIS, Y_IRIS, {}),
        None,
        TypeError,
        "teacher must have predict_proba or decision_function.*LinearRegression",
    ),
    "teacher_missing": (
        dict(teacher=None),
        (X_IRIS, Y_IRIS, {}),
        None,
        ValueError,
        "teacher is required",
    ),
    "teacher_without_sample_weight": (
        dict(teacher=KNeighborsClassifier()),
        (X_IRIS, Y_IRIS, {"sample_weight": np.ones(150)}),
        None,
        ValueError,
        "sample_weight was passed, but the teacher KNeighborsClassifier",
    ),
    "unknown_xai": (
        dict(xai="lime"),
        (X_IRIS, Y_IRIS, {}),
        None,
        InvalidParameterError,
        "The 'xai' parameter of DiXtillClassifier must be.*Got 'lime'",
    ),
    "xai_gradient_without_neural_student": (
        dict(xai="gradient"),
        (X_IRIS, Y_IRIS, {}),
        None,
        ValueError,
        "xai='gradient' needs .*student",
    ),
    "alpha_out_of_range": (
        dict(alpha=1.5),
        (X_IRIS, Y_IRIS, {}),
        None,
        InvalidParameterError,
        "The 'alpha' parameter .* range",
    ),
    "svc_student": (
        dict(student=SVC()),
        (X_IRIS, Y_IRIS, {}),
        None,
        TypeError,
        "student must be a LogisticRegression .*got a SVC",
    ),
    "pipeline_ending_in_svc": (
        dict(student=make_pipeline(StandardScaler(), SVC())),
        (X_IRIS, Y_IRIS, {}),
        None,
        TypeError,
        "student must be a LogisticRegression .*Pipeline ending in SVC",
    ),
    "student_l1_ratio": (
        dict(student=LogisticRegression(l1_ratio=1.0)),
        (X_IRIS, Y_IRIS, {}),
        None,
        ValueError,
        "student LogisticRegression .* l1_ratio=1.0",
    ),
    "student_l1_penalty": (
        dict(student=LogisticRegression(penalty="l1")),
        (X_IRIS, Y_IRIS, {}),
        None,
        ValueError,
        "student LogisticRegression .* penalty='l1'",
    ),
    "student_liblinear": (
        dict(student=LogisticRegression(solver="liblinear")),
        (X_IRIS, Y_IRIS, {}),
        None,
        ValueError,
        "student LogisticRegression .* solver='liblinear'",
    ),
    "student_warm_start": (
        dict(student=LogisticRegression(warm_start=True)),
        (X_IRIS, Y_IRIS, {}),
        None,
        ValueError,
        "student LogisticRegression .* warm_start=True",
    ),
    "student_class_weight_labels": (
        dict(student=LogisticRegression(class_weight={0: 1.0, 7: 2.0})),
        (X_IRIS, Y_IRIS, {}),
        None,
        ValueError,
        r"student's class_weight names labels not in y: \[7\]",
    ),
    "student_polynomial": (
        dict(student=make_pipeline(PolynomialFeatures(), LogisticRegression())),
        (X_IRIS, Y_IRIS, {}),
        None,
        UnsupportedStepError,
        "PolynomialFeatures .*Pass feature_groups",
    ),
    "teacher_pca": (
        dict(teacher=make_pipeline(PCA(n_components=2), _tree())),
        (X_IRIS, Y_IRIS, {}),
        None,
        UnsupportedStepError,
        "PCA .*Pass feature_groups",
    ),
    "feature_groups_length": (
        dict(
            student=make_pipeline(PolynomialFeatures(), LogisticRegression()),
            feature_groups={"student": [0, 1, 2, 3]},
        ),
        (X_IRIS, Y_IRIS, {}),
        None,
        ValueError,
        r"feature_groups\['student'\] must have one entry per column .* 15 here",
    ),
    "feature_groups_unknown_name": (
        dict(feature_groups={"teacher": ["sepal_l", "sepal_w", "petal_l", "petal"]}),
        (FRAME, Y_IRIS, {}),
        None,
        ValueError,
        r"feature_groups\['teacher'\] names columns that are not in X: \['petal'\]",
    ),
}


@pytest.mark.parametrize(
    "params, fit_data, X_predict, error, message",
    list(BAD_INPUTS.values()),
    ids=list(BAD_INPUTS),
)
def test_bad_input(params, fit_data, X_predict, error, message):
    """Each bad input raises its own error, with a message naming the input."""
    params = {"teacher": _tree(), "random_state": 0, **params}
    distiller = DiXtillClassifier(**params)
    X, y, fit_params = fit_data
    if X_predict is None:
        with pytest.raises(error, match=message):
            distiller.fit(X, y, **fit_params)
        return
    distiller.fit(X, y, **fit_params)
    with pytest.raises(error, match=message):
        distiller.predict(X_predict)
    with pytest.raises(error, match=message):
        distiller.explain(X_predict)


def test_feature_groups_accept_mixing_step():
    """feature_groups lets a column-mixing student step through."""
    # PolynomialFeatures(degree=2) on 4 columns gives 1, x0..x3, then the 10
    # products. Each is attributed to the first column it involves.
    groups = [0, 0, 1, 2, 3, 0, 0, 0, 0, 1, 1, 1, 2, 2, 3]
    distiller = DiXtillClassifier(
        _tree(),
        make_pipeline(PolynomialFeatures(), StandardScaler(), LogisticRegression()),
        feature_groups={"student": groups},
        random_state=0,
    ).fit(X_IRIS, Y_IRIS)
    assert distiller.explain(X_IRIS[:5]).shape == (5, 4, 3)


def test_check_X_keeps_frame_and_nan():
    """check_X returns a DataFrame as it is and lets NaN through."""
    assert check_X(FRAME) is FRAME
    checked = check_X(X_NAN.tolist())
    assert isinstance(checked, np.ndarray)
    assert np.isnan(checked[5, 2])


@pytest.mark.parametrize(
    "X, message",
    [
        (FRAME.iloc[:0], r"at least one row and one column; got shape \(0, 4\)"),
        (FRAME[[]], r"at least one row and one column; got shape \(150, 0\)"),
        (np.empty((0, 4)), "Found array with 0 sample"),
    ],
    ids=["frame_no_rows", "frame_no_columns", "array_no_rows"],
)
def test_check_X_empty(X, message):
    """check_X rejects inputs without rows or columns."""
    with pytest.raises(ValueError, match=message):
        check_X(X)


def test_check_X_ignores_bool_and_string_columns():
    """Only numeric columns are searched for infinity."""
    frame = pd.DataFrame({"flag": [True, False], "name": ["inf", "a"], "x": [1.0, 2.0]})
    assert check_X(frame) is frame


def test_check_teacher_frozen_without_proba():
    """A frozen teacher without probabilities is named by its inner class."""
    frozen = FrozenEstimator(LinearRegression().fit(X_IRIS, Y_IRIS))
    with pytest.raises(TypeError, match="got LinearRegression"):
        check_teacher(frozen)


@pytest.mark.parametrize(
    "estimator, expected",
    [
        (_tree(), "sample_weight"),
        (
            make_pipeline(StandardScaler(), _tree()),
            "decisiontreeclassifier__sample_weight",
        ),
        (
            FrozenEstimator(make_pipeline(StandardScaler(), _tree())),
            "decisiontreeclassifier__sample_weight",
        ),
    ],
    ids=["estimator", "pipeline", "frozen_pipeline"],
)
def test_fit_params_with_weights(estimator, expected):
    """Sample weights are routed to the final step of a pipeline."""
    weights = np.ones(3)
    assert fit_params_with_weights(estimator, None, "teacher") == {}
    params = fit_params_with_weights(estimator, weights, "teacher")
    assert list(params) == [expected]
    assert params[expected] is weights


def test_split_student():
    """split_student returns the preprocessing steps and the final estimator."""
    final = LogisticRegression()
    assert split_student(final) == (None, final)
    preprocessor, found = split_student(make_pipeline(StandardScaler(), final))
    assert found is final
    assert isinstance(preprocessor[0], StandardScaler)
    assert split_student(make_pipeline(final)) == (None, final)


@pytest.mark.parametrize(
    "model, expected_C",
    [
        (LogisticRegression(C=0.3), 0.3),
        (LogisticRegression(penalty=None), np.inf),
        (LogisticRegression(C=np.inf), np.inf),
        (LogisticRegression(penalty="l2", C=2.0), 2.0),
        (LogisticRegression(l1_ratio=0.0, C=4.0), 4.0),
    ],
    ids=["C", "penalty_none", "C_inf", "l2", "l1_ratio_zero"],
)
def test_logistic_settings(model, expected_C):
    """logistic_settings returns C, infinite for an unpenalised student."""
    assert logistic_settings(model) == expected_C


def test_logistic_settings_lists_every_problem():
    """All unsupported settings are reported in one error."""
    model = LogisticRegression(
        penalty="elasticnet", solver="liblinear", warm_start=True
    )
    with pytest.raises(
        ValueError, match="penalty='elasticnet'.*solver='liblinear'.*warm_start=True"
    ):
        logistic_settings(model)
