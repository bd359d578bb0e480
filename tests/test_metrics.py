# License: BSD-3-Clause

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.stats import entropy
from sklearn.datasets import load_breast_cancer
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import InvalidParameterError
from xgboost import XGBClassifier

from skdixtill import DiXtillClassifier, make_teacher_pipeline
from skdixtill.exceptions import AlignmentWarning
from skdixtill.metrics import (
    explanation_divergence,
    feature_attribution_stability,
    fidelity,
    shap_correlation,
    top_k_overlap,
)

RNG = np.random.RandomState(0)
PHI_BINARY = (RNG.standard_normal((30, 6)), RNG.standard_normal((30, 6)))
PHI_MULTICLASS = (RNG.standard_normal((30, 5, 3)), RNG.standard_normal((30, 5, 3)))
PREDICTED_CLASS = RNG.randint(0, 3, size=30)


def _alignment_warnings(record):
    return [w for w in record if issubclass(w.category, AlignmentWarning)]


def _reference_top_k(magnitude, k):
    """Return each row's top-k set by a Python sort, ties to the first column."""
    return [
        set(sorted(range(len(row)), key=lambda j: (-row[j], j))[:k])
        for row in magnitude
    ]


def _reference_overlap(magnitude_teacher, magnitude_student, k):
    teacher_sets = _reference_top_k(magnitude_teacher, k)
    student_sets = _reference_top_k(magnitude_student, k)
    return np.mean(
        [len(t & s) / k for t, s in zip(teacher_sets, student_sets, strict=True)]
    )


# shap_correlation ---------------------------------------------------------


@pytest.mark.parametrize("phi", [PHI_BINARY, PHI_MULTICLASS], ids=["binary", "multi"])
def test_shap_correlation_flattened(phi):
    """The flattened correlation equals np.corrcoef of the raveled arrays."""
    phi_teacher, phi_student = phi
    with warnings.catch_warnings():
        warnings.simplefilter("error", AlignmentWarning)
        value = shap_correlation(phi_teacher, phi_student)
    # Reference: NumPy's Pearson correlation.
    expected = np.corrcoef(phi_teacher.ravel(), phi_student.ravel())[0, 1]
    assert_allclose(value, expected, rtol=1e-12)


@pytest.mark.parametrize("phi", [PHI_BINARY, PHI_MULTICLASS], ids=["binary", "multi"])
def test_shap_correlation_per_row(phi):
    """The per-row correlation is the mean of np.corrcoef on each row."""
    phi_teacher, phi_student = phi
    value = shap_correlation(phi_teacher, phi_student, per_row=True)
    # Reference: NumPy's Pearson correlation, one row at a time.
    expected = np.mean(
        [
            np.corrcoef(t.ravel(), s.ravel())[0, 1]
            for t, s in zip(phi_teacher, phi_student, strict=True)
        ]
    )
    assert_allclose(value, expected, rtol=1e-12)


@pytest.mark.parametrize("per_row", [False, True])
def test_shap_correlation_scale_and_sign(per_row):
    """A positive scale gives 1 and a negation gives -1."""
    phi = PHI_MULTICLASS[0]
    # Reference: Pearson's correlation is invariant to positive scaling.
    assert_allclose(shap_correlation(phi, 7.5 * phi, per_row=per_row), 1.0, atol=1e-12)
    assert_allclose(shap_correlation(phi, -phi, per_row=per_row), -1.0, atol=1e-12)


def test_shap_correlation_constant_arrays():
    """Constant attributions give 1.0 when equal, 0.0 otherwise, with one warning."""
    constant = np.full((4, 3), 0.5)
    varying = np.arange(12.0).reshape(4, 3)
    cases = [(constant, constant.copy(), 1.0), (constant, varying, 0.0)]
    for phi_teacher, phi_student, expected in cases:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            value = shap_correlation(phi_teacher, phi_student)
        assert value == expected
        assert len(_alignment_warnings(record)) == 1


def test_shap_correlation_constant_rows():
    """Constant rows count as 1.0 or 0.0 and one warning gives their number."""
    phi_teacher = np.array([[1.0, 2.0, 4.0], [3.0, 3.0, 3.0], [0.0, 0.0, 0.0]])
    phi_student = np.array([[1.0, 3.0, 2.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        value = shap_correlation(phi_teacher, phi_student, per_row=True)
    # Reference: NumPy on the defined row; 0.0 (row 2 differs), 1.0 (row 3 equal).
    expected = np.mean([np.corrcoef(phi_teacher[0], phi_student[0])[0, 1], 0.0, 1.0])
    assert_allclose(value, expected, rtol=1e-12)
    caught = _alignment_warnings(record)
    assert len(caught) == 1
    assert "2 of 3 rows" in str(caught[0].message)
    assert np.isfinite(value)


@pytest.mark.parametrize(
    "phi_teacher, phi_student, match",
    [
        (np.ones((3, 2)), np.ones((3, 3)), "same shape"),
        (np.ones(3), np.ones(3), "2D array"),
        (np.ones((2, 2, 2, 2)), np.ones((2, 2, 2, 2)), "n_classes"),
        (np.array([[np.nan, 1.0]]), np.ones((1, 2)), "NaN"),
    ],
)
def test_attribution_shape_errors(phi_teacher, phi_student, match):
    """Invalid attribution arrays raise a ValueError naming the problem."""
    with pytest.raises(ValueError, match=match):
        shap_correlation(phi_teacher, phi_student)


# top_k_overlap ------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3, 6])
def test_top_k_overlap_binary_rows(k):
    """Row-level overlap equals a Python computation of the top-k sets."""
    phi_teacher, phi_student = PHI_BINARY
    value = top_k_overlap(phi_teacher, phi_student, k=k)
    # Reference: sets of the k largest |phi| built with Python's sorted.
    expected = _reference_overlap(np.abs(phi_teacher), np.abs(phi_student), k)
    assert_allclose(value, expected, rtol=1e-12)


def test_top_k_overlap_multiclass_uses_predicted_class():
    """Multiclass rows are compared on the class the teacher predicts."""
    phi_teacher, phi_student = PHI_MULTICLASS
    value = top_k_overlap(
        phi_teacher, phi_student, k=2, predicted_class=PREDICTED_CLASS
    )
    rows = np.arange(len(PREDICTED_CLASS))
    # Reference: Python top-k sets on the predicted class's attributions.
    expected = _reference_overlap(
        np.abs(phi_teacher[rows, :, PREDICTED_CLASS]),
        np.abs(phi_student[rows, :, PREDICTED_CLASS]),
        2,
    )
    assert_allclose(value, expected, rtol=1e-12)


@pytest.mark.parametrize("phi", [PHI_BINARY, PHI_MULTICLASS], ids=["binary", "multi"])
def test_top_k_overlap_global(phi):
    """Global overlap compares the top-k of mean |phi| over rows and classes."""
    phi_teacher, phi_student = phi
    value = top_k_overlap(phi_teacher, phi_student, k=2, scope="global")
    axes = (0, 2) if phi_teacher.ndim == 3 else 0
    importance_teacher = np.abs(phi_teacher).mean(axis=axes)
    importance_student = np.abs(phi_student).mean(axis=axes)
    # Reference: the two largest importances found with np.argsort.
    expected = (
        len(
            set(np.argsort(-importance_teacher)[:2])
            & set(np.argsort(-importance_student)[:2])
        )
        / 2
    )
    assert_allclose(value, expected, rtol=1e-12)


def test_top_k_overlap_ties_go_to_first_column():
    """Among equal |phi| the column that comes first is ranked first."""
    phi_teacher = np.array([[2.0, 1.0, 1.0, 0.0]])
    phi_student = np.array([[2.0, 0.0, 1.0, 1.0]])
    # Teacher top 2 is {0, 1} and student top 2 is {0, 2}: one shared feature.
    assert top_k_overlap(phi_teacher, phi_student, k=2) == 0.5


def test_top_k_overlap_flat_rows():
    """Rows of equal |phi| count as 1.0 when both are flat, else 0.0, one warning."""
    phi_teacher = np.array([[3.0, 2.0, 1.0], [0.0, 0.0, 0.0], [1.0, -1.0, 1.0]])
    phi_student = np.array([[3.0, 1.0, 2.0], [0.0, 1.0, 2.0], [0.0, 0.0, 0.0]])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        value = top_k_overlap(phi_teacher, phi_student, k=2)
    # Row 1: {0, 1} vs {0, 2} -> 0.5; row 2: teacher flat -> 0.0; row 3: both
    # flat (|phi| all 1 and all 0) -> 1.0.
    assert_allclose(value, (0.5 + 0.0 + 1.0) / 3, rtol=1e-12)
    caught = _alignment_warnings(record)
    assert len(caught) == 1
    assert "2 of 3 rows" in str(caught[0].message)


def test_top_k_overlap_all_features():
    """With k = n_features every row overlaps fully, flat or not, without warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", AlignmentWarning)
        value = top_k_overlap(np.zeros((2, 3)), np.ones((2, 3)), k=3)
    assert value == 1.0


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"k": 7}, ValueError, "k=7 is larger than the number of features, 6"),
        ({"k": 0}, InvalidParameterError, "'k' parameter"),
        ({"scope": "rows"}, InvalidParameterError, "'scope' parameter"),
    ],
)
def test_top_k_overlap_parameter_errors(kwargs, error, match):
    """Invalid k and scope raise errors naming the parameter."""
    with pytest.raises(error, match=match):
        top_k_overlap(*PHI_BINARY, **kwargs)


@pytest.mark.parametrize(
    "predicted_class, match",
    [
        (None, "needs predicted_class"),
        (np.zeros(5, dtype=int), "one entry per row"),
        (np.full(30, 3), r"integer class indices in \[0, 2\]"),
        (np.full(30, 0.5), "integer class indices"),
    ],
)
def test_predicted_class_errors(predicted_class, match):
    """Multiclass row metrics reject a missing or invalid predicted_class."""
    with pytest.raises(ValueError, match=match):
        top_k_overlap(*PHI_MULTICLASS, predicted_class=predicted_class)
    with pytest.raises(ValueError, match=match):
        explanation_divergence(*PHI_MULTICLASS, predicted_class=predicted_class)


# explanation_divergence ---------------------------------------------------


def _reference_divergence(magnitude_teacher, magnitude_student, smoothing):
    n_features = magnitude_teacher.shape[1]
    values = []
    for t, s in zip(magnitude_teacher, magnitude_student, strict=True):
        p = (t / t.sum() + smoothing) / (1 + n_features * smoothing)
        q = (s / s.sum() + smoothing) / (1 + n_features * smoothing)
        # Reference: scipy.stats.entropy(p, q) is KL(p || q) in nats.
        values.append(entropy(p, q))
    return np.mean(values)


@pytest.mark.parametrize("smoothing", [1e-6, 0.1])
def test_explanation_divergence_binary(smoothing):
    """The divergence equals scipy's KL of the smoothed shares, row by row."""
    phi_teacher, phi_student = PHI_BINARY
    value = explanation_divergence(phi_teacher, phi_student, smoothing=smoothing)
    expected = _reference_divergence(
        np.abs(phi_teacher), np.abs(phi_student), smoothing
    )
    assert_allclose(value, expected, rtol=1e-10)
    assert value > 0


def test_explanation_divergence_multiclass():
    """Multiclass rows use the attributions of the teacher's predicted class."""
    phi_teacher, phi_student = PHI_MULTICLASS
    value = explanation_divergence(
        phi_teacher, phi_student, predicted_class=PREDICTED_CLASS
    )
    rows = np.arange(len(PREDICTED_CLASS))
    expected = _reference_divergence(
        np.abs(phi_teacher[rows, :, PREDICTED_CLASS]),
        np.abs(phi_student[rows, :, PREDICTED_CLASS]),
        1e-6,
    )
    assert_allclose(value, expected, rtol=1e-10)


def test_explanation_divergence_same_proportions_is_zero():
    """Attributions in the same |phi| proportions have zero divergence."""
    phi = PHI_BINARY[0]
    assert_allclose(explanation_divergence(phi, -3.0 * phi), 0.0, atol=1e-12)


def test_explanation_divergence_zero_rows():
    """An all-zero row is taken as uniform shares, with one warning."""
    phi_teacher = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0]])
    phi_student = np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 2.0]])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        value = explanation_divergence(phi_teacher, phi_student, smoothing=1e-3)
    uniform = np.ones((1, 3))
    # Reference: the same rows with the zero row replaced by uniform shares.
    expected = _reference_divergence(
        np.vstack([phi_teacher[:1], uniform]), phi_student, 1e-3
    )
    assert_allclose(value, expected, rtol=1e-10)
    assert np.isfinite(value)
    assert len(_alignment_warnings(record)) == 1


def test_explanation_divergence_rejects_zero_smoothing():
    """smoothing=0 is rejected, as it makes zero attributions infinite."""
    with pytest.raises(InvalidParameterError, match="'smoothing' parameter"):
        explanation_divergence(*PHI_BINARY, smoothing=0.0)


# Grouped (one-hot) columns ------------------------------------------------


def test_metrics_on_one_hot_groups():
    """Metrics of attributions summed over one-hot groups match NumPy."""
    # Six expanded columns: a numeric one and two one-hot encoded columns.
    groups = np.array([0, 1, 1, 1, 2, 2])
    expanded_teacher = RNG.standard_normal((20, 6))
    expanded_student = RNG.standard_normal((20, 6))
    matrix = np.eye(3)[groups]
    phi_teacher = expanded_teacher @ matrix
    phi_student = expanded_student @ matrix
    # Reference: the groups summed with np.add.reduceat, then NumPy metrics.
    starts = [0, 1, 4]
    summed_teacher = np.add.reduceat(expanded_teacher, starts, axis=1)
    summed_student = np.add.reduceat(expanded_student, starts, axis=1)
    assert_allclose(
        shap_correlation(phi_teacher, phi_student),
        np.corrcoef(summed_teacher.ravel(), summed_student.ravel())[0, 1],
        rtol=1e-12,
    )
    assert_allclose(
        top_k_overlap(phi_teacher, phi_student, k=1),
        _reference_overlap(np.abs(summed_teacher), np.abs(summed_student), 1),
        rtol=1e-12,
    )
    assert_allclose(
        explanation_divergence(phi_teacher, phi_student),
        _reference_divergence(np.abs(summed_teacher), np.abs(summed_student), 1e-6),
        rtol=1e-10,
    )


# fidelity -----------------------------------------------------------------


def test_fidelity_matches_agreement_share():
    """Fidelity is the share of equal labels."""
    teacher = RNG.randint(0, 3, size=50)
    student = np.where(RNG.uniform(size=50) < 0.3, (teacher + 1) % 3, teacher)
    # Reference: the mean of the element-wise comparison.
    assert_allclose(fidelity(teacher, student), np.mean(teacher == student), rtol=1e-12)
    assert fidelity(["a", "b"], ["a", "b"]) == 1.0


def test_fidelity_rejects_different_lengths():
    """Label arrays of different lengths raise a ValueError."""
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        fidelity([0, 1, 1], [0, 1])


# feature_attribution_stability --------------------------------------------


def _linear_explain(weights, mean):
    def explain(X):
        values = X.to_numpy(dtype=float) if isinstance(X, pd.DataFrame) else X
        return weights * (np.asarray(values, dtype=float) - mean)

    return explain


def _reference_fas(phi, delta_phi_draws):
    """FAS from attributions and their changes under each draw of noise."""
    norms = np.linalg.norm(phi, axis=1)
    change = np.mean([np.linalg.norm(d, axis=1) for d in delta_phi_draws], axis=0)
    return np.mean(np.clip(1.0 - change / norms, 0.0, None))


@pytest.mark.parametrize("epsilon", [0.01, 0.5])
def test_fas_of_linear_model(epsilon):
    """FAS of phi = w (x - mean) matches w * delta from the same noise draws."""
    X = RNG.standard_normal((40, 3)) * [1.0, 5.0, 0.1] + [0.0, 2.0, -1.0]
    weights = np.array([0.5, -2.0, 3.0])
    mean = X.mean(axis=0)
    value = feature_attribution_stability(
        _linear_explain(weights, mean), X, n_draws=7, epsilon=epsilon, random_state=3
    )
    # Reference: phi(x + delta) - phi(x) = w * delta for a linear model, with
    # the noise drawn as the docstring states (ddof=0 standard deviations).
    rng = np.random.RandomState(3)
    scale = epsilon * X.std(axis=0)
    deltas = [weights * rng.standard_normal(X.shape) * scale for _ in range(7)]
    expected = _reference_fas(weights * (X - mean), deltas)
    assert_allclose(value, expected, rtol=1e-10)
    assert 0.0 < value < 1.0


def test_fas_leaves_categorical_columns_unperturbed():
    """String columns and listed categorical_features receive no noise."""
    X = pd.DataFrame(
        {
            "age": RNG.uniform(20, 60, size=25),
            "city": RNG.choice(["a", "b"], size=25),
            "code": RNG.randint(0, 4, size=25),
            "income": RNG.uniform(1, 9, size=25),
        }
    )
    seen = []

    def explain(frame):
        seen.append(frame)
        numbers = frame[["age", "code", "income"]].to_numpy(dtype=float)
        return numbers - numbers.mean(axis=0) + 1.0

    value = feature_attribution_stability(
        explain, X, n_draws=3, categorical_features=["code"], random_state=0
    )
    for frame in seen[1:]:
        pd.testing.assert_series_equal(frame["city"], X["city"])
        pd.testing.assert_series_equal(frame["code"], X["code"])
        assert not np.allclose(frame["age"], X["age"])
    # Reference: only age and income move; the explain above subtracts the
    # column mean of its own input, so recompute it on the perturbed frames.
    phi = explain(X)
    rng = np.random.RandomState(0)
    scale = 0.01 * X[["age", "income"]].to_numpy().std(axis=0)
    deltas = []
    for _ in range(3):
        noisy = X.copy()
        noisy[["age", "income"]] += rng.standard_normal((25, 2)) * scale
        deltas.append(explain(noisy) - phi)
    assert_allclose(value, _reference_fas(phi, deltas), rtol=1e-10)


@pytest.mark.parametrize(
    "categorical_features", [[1], np.array([False, True, False]), [-2]]
)
def test_fas_categorical_features_forms(categorical_features):
    """Indices, boolean masks and negative indices select the same column."""
    X = RNG.standard_normal((10, 3))
    seen = []

    def explain(X_rows):
        seen.append(np.array(X_rows))
        return np.asarray(X_rows) + 5.0

    feature_attribution_stability(
        explain, X, n_draws=2, categorical_features=categorical_features
    )
    for rows in seen[1:]:
        assert_allclose(rows[:, 1], X[:, 1], rtol=0)
        assert not np.allclose(rows[:, 0], X[:, 0])


def test_fas_of_default_student_with_one_hot_column():
    """FAS of a distilled one-hot student matches a computation from its weights."""
    X_all, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X_all.iloc[:, :4].copy()
    X["size"] = np.where(X_all["worst area"] > 900, "large", "small")
    teacher = make_teacher_pipeline(XGBClassifier(n_estimators=20, max_depth=2), X)
    clf = DiXtillClassifier(
        FrozenEstimator(teacher.fit(X, y)),
        feature_perturbation="tree_path_dependent",
        n_attribution_samples=100,
        random_state=0,
    ).fit(X, y)

    X_rows = X.iloc[:60]
    value = feature_attribution_stability(
        clf.explain, X_rows, n_draws=5, random_state=1
    )

    # Reference: the default student standardises the four numeric columns and
    # one-hot encodes "size" into the last two columns. The change of phi_j
    # under noise delta_j is w_j * delta_j / scale_j; "size" does not move.
    columns = clf.student_.named_steps["columns"]
    coef = clf.student_[-1].coef_[0]
    Z_train = columns.transform(X)
    Z = columns.transform(X_rows)
    scale = columns.named_transformers_["numeric"].named_steps["scale"].scale_
    phi_numeric = coef[:4] * (Z[:, :4] - Z_train[:, :4].mean(axis=0))
    phi_size = (Z[:, 4:] - Z_train[:, 4:].mean(axis=0)) @ coef[4:]
    phi = np.column_stack([phi_numeric, phi_size])
    assert_allclose(clf.explain(X_rows), phi, atol=1e-10)

    rng = np.random.RandomState(1)
    noise_scale = 0.01 * X_rows.iloc[:, :4].to_numpy().std(axis=0)
    deltas = []
    for _ in range(5):
        noise = rng.standard_normal((60, 4)) * noise_scale
        deltas.append(np.column_stack([coef[:4] * noise / scale, np.zeros(60)]))
    assert_allclose(value, _reference_fas(phi, deltas), rtol=1e-8)


def test_fas_zero_rows_and_no_numeric_columns():
    """All-zero rows and X without numeric columns give finite values and warnings."""

    def explain(X):
        phi = np.asarray(X, dtype=float).copy()
        phi[0] = 0.0
        return phi

    X = RNG.standard_normal((5, 2)) + 3.0
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        value = feature_attribution_stability(explain, X, n_draws=2, random_state=0)
    # Row 0 stays zero under noise, so it counts as 1.0; the others are near 1.
    assert 0.99 < value <= 1.0
    assert len(_alignment_warnings(record)) == 1

    strings = pd.DataFrame({"a": ["x", "y", "x"]})
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        value = feature_attribution_stability(
            lambda X: np.ones((len(X), 1)), strings, n_draws=2
        )
    assert value == 1.0
    caught = _alignment_warnings(record)
    assert len(caught) == 1
    assert "no numeric column" in str(caught[0].message)


def test_fas_zero_row_that_moves_counts_as_zero():
    """A row with zero attributions that change under noise counts as 0.0."""
    center = np.array([2.0, 3.0])
    X = np.vstack([center, center + 1.0])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        value = feature_attribution_stability(
            lambda X: X - center, X, n_draws=3, random_state=0
        )
    # Row 0 sits at the centre, so phi = 0 there but its noisy copies move.
    # Row 1 has phi = (1, 1) and noise of 0.01 * 0.5 per column, so its FAS is
    # about 1 - 0.005.
    assert 0.49 < value < 0.5
    assert len(_alignment_warnings(record)) == 1


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"categorical_features": ["nope"]}, ValueError, "not in X"),
        ({"categorical_features": [5]}, ValueError, "out of range"),
        ({"categorical_features": [True]}, ValueError, "one entry per column"),
        ({"n_draws": 0}, InvalidParameterError, "'n_draws' parameter"),
        ({"epsilon": -1.0}, InvalidParameterError, "'epsilon' parameter"),
    ],
)
def test_fas_parameter_errors(kwargs, error, match):
    """Invalid FAS parameters raise errors naming them."""
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0]})
    with pytest.raises(error, match=match):
        feature_attribution_stability(lambda X: np.ones((len(X), 2)), X, **kwargs)


def test_fas_rejects_explain_of_wrong_shape_and_estimators():
    """explain must be a callable returning one row of attributions per row."""
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match="n_samples=4; got shape"):
        feature_attribution_stability(lambda X: np.ones((3, 2)), X)
    with pytest.raises(InvalidParameterError, match="'explain' parameter"):
        feature_attribution_stability(LogisticRegression(), X)
