# License: BSD-3-Clause

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy.special import log_softmax, softmax
from sklearn.datasets import load_iris, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from skdixtill._losses import (
    SCALE_EPSILON,
    alignment_loss,
    cross_entropy,
    distillation_loss,
    dixtill_loss,
    scale_normalize,
)
from skdixtill.attributions._linear import linear_attributions


def _logits_of(X, y):
    """Return (student logits, teacher logits, labels, weights) on real data."""
    student = LogisticRegression(C=0.1, max_iter=1000).fit(X, y)
    teacher = RandomForestClassifier(n_estimators=20, max_depth=3, random_state=0)
    teacher.fit(X, y)
    student_logits = student.decision_function(X)
    teacher_logits = np.log(np.clip(teacher.predict_proba(X), 1e-7, 1.0))
    weights = np.random.RandomState(0).uniform(0.2, 3.0, size=len(y))
    return student_logits, teacher_logits, y, weights


X_IRIS, Y_IRIS = load_iris(return_X_y=True)
STUDENT_LOGITS, TEACHER_LOGITS, LABELS, WEIGHTS = _logits_of(X_IRIS, Y_IRIS)

X_WINE, Y_WINE = load_wine(return_X_y=True)
X_WINE = (X_WINE - X_WINE.mean(axis=0)) / X_WINE.std(axis=0)
# Linear attributions of two models on wine, of shape (n, n_features, n_classes).
PHI_A = linear_attributions(
    X_WINE, LogisticRegression(C=0.05).fit(X_WINE, Y_WINE).coef_, 0.0, np.eye(13)
)
PHI_B = linear_attributions(
    X_WINE, LogisticRegression(C=10.0).fit(X_WINE, Y_WINE).coef_, 0.0, np.eye(13)
)
WINE_WEIGHTS = np.random.RandomState(1).uniform(0.2, 3.0, size=len(Y_WINE))


def _t(array):
    return torch.as_tensor(np.asarray(array), dtype=torch.float64)


def _numpy_kd(student, teacher, temperature, weights):
    """Hinton's loss written with scipy: T^2 times the weighted mean KL."""
    p = softmax(teacher / temperature, axis=1)
    kl = np.sum(
        p
        * (
            log_softmax(teacher / temperature, axis=1)
            - log_softmax(student / temperature, axis=1)
        ),
        axis=1,
    )
    return temperature**2 * np.average(kl, weights=weights)


def _numpy_normalize(phi, weights):
    row_mean_square = np.mean(phi**2, axis=tuple(range(1, phi.ndim)))
    return phi / np.sqrt(np.average(row_mean_square, weights=weights) + SCALE_EPSILON)


@pytest.mark.parametrize("temperature", [1.0, 3.0, 10.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_kd_matches_numpy(temperature, weighted):
    """The KD loss equals T^2 * weighted mean KL computed with scipy."""
    weights = WEIGHTS if weighted else np.ones(len(LABELS))
    loss = distillation_loss(
        _t(STUDENT_LOGITS), _t(TEACHER_LOGITS), temperature, _t(weights)
    ).item()
    # Reference: the formula evaluated with scipy.special.
    expected = _numpy_kd(STUDENT_LOGITS, TEACHER_LOGITS, temperature, weights)
    assert_allclose(loss, expected, rtol=1e-12)
    assert loss > 0


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0, 10.0])
def test_kd_zero_for_equal_logits(temperature):
    """The KD loss is zero when the student's logits equal the teacher's."""
    loss = distillation_loss(
        _t(TEACHER_LOGITS), _t(TEACHER_LOGITS), temperature, _t(WEIGHTS)
    ).item()
    assert_allclose(loss, 0.0, atol=1e-12)


def test_kd_shift_invariant():
    """Adding a constant to every logit of a row leaves the KD loss unchanged."""
    shift = np.random.RandomState(0).normal(size=(len(LABELS), 1)) * 5
    base = distillation_loss(_t(STUDENT_LOGITS), _t(TEACHER_LOGITS), 3.0, _t(WEIGHTS))
    shifted = distillation_loss(
        _t(STUDENT_LOGITS + shift), _t(TEACHER_LOGITS - shift), 3.0, _t(WEIGHTS)
    )
    # Reference: softmax is unchanged by a common shift of the logits.
    assert_allclose(shifted.item(), base.item(), rtol=1e-10)


@pytest.mark.parametrize("temperature", [2.0, 5.0])
def test_kd_temperature_squared_factor(temperature):
    """The KD loss is T^2 times the KL divergence of the softened distributions."""
    loss = distillation_loss(
        _t(STUDENT_LOGITS), _t(TEACHER_LOGITS), temperature, _t(WEIGHTS)
    ).item()
    # At temperature T, logits z give the same softmax as logits z / T at
    # temperature 1, so the ratio of the two losses is T^2.
    unit = distillation_loss(
        _t(STUDENT_LOGITS / temperature),
        _t(TEACHER_LOGITS / temperature),
        1.0,
        _t(WEIGHTS),
    ).item()
    assert_allclose(loss / unit, temperature**2, rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_matches_log_loss(weighted):
    """The CE term equals scikit-learn's log_loss on the softmax of the logits."""
    weights = WEIGHTS if weighted else np.ones(len(LABELS))
    loss = cross_entropy(
        _t(STUDENT_LOGITS), torch.as_tensor(LABELS), _t(weights)
    ).item()
    # Reference: sklearn.metrics.log_loss with the same sample weights.
    expected = log_loss(LABELS, softmax(STUDENT_LOGITS, axis=1), sample_weight=weights)
    assert_allclose(loss, expected, rtol=1e-10)


@pytest.mark.parametrize("term", ["ce", "kd"])
def test_weight_two_counts_row_twice(term):
    """A sample weight of 2 gives the loss of the data with that row repeated."""
    weights = np.ones(len(LABELS))
    weights[:10] = 2.0
    repeated = np.r_[np.arange(len(LABELS)), np.arange(10)]
    ones = np.ones(len(repeated))
    if term == "ce":
        weighted = cross_entropy(
            _t(STUDENT_LOGITS), torch.as_tensor(LABELS), _t(weights)
        )
        repeated_loss = cross_entropy(
            _t(STUDENT_LOGITS[repeated]), torch.as_tensor(LABELS[repeated]), _t(ones)
        )
    else:
        weighted = distillation_loss(
            _t(STUDENT_LOGITS), _t(TEACHER_LOGITS), 3.0, _t(weights)
        )
        repeated_loss = distillation_loss(
            _t(STUDENT_LOGITS[repeated]), _t(TEACHER_LOGITS[repeated]), 3.0, _t(ones)
        )
    assert_allclose(weighted.item(), repeated_loss.item(), rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_scale_normalize_unit_rms(weighted):
    """Normalised attributions have a weighted mean square of one."""
    weights = WINE_WEIGHTS if weighted else np.ones(len(Y_WINE))
    normalized = scale_normalize(_t(PHI_A), _t(weights)).numpy()
    row_mean_square = np.mean(normalized**2, axis=(1, 2))
    # Reference: the definition, up to the epsilon inside the root.
    assert_allclose(np.average(row_mean_square, weights=weights), 1.0, rtol=1e-6)
    # One scalar for the whole batch keeps the relative size of features.
    scale = np.sum(normalized * PHI_A) / np.sum(PHI_A**2)
    assert_allclose(normalized, scale * PHI_A, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_alignment_matches_numpy(weighted):
    """The alignment loss equals the weighted mean squared normalised difference."""
    weights = WINE_WEIGHTS if weighted else np.ones(len(Y_WINE))
    teacher = _numpy_normalize(PHI_A, weights)
    loss = alignment_loss(_t(teacher), _t(PHI_B), _t(weights)).item()
    squared = (teacher - _numpy_normalize(PHI_B, weights)) ** 2
    # Reference: the formula evaluated with NumPy.
    expected = np.average(squared.mean(axis=(1, 2)), weights=weights)
    assert_allclose(loss, expected, rtol=1e-10)


@pytest.mark.parametrize("weighted", [False, True])
def test_alignment_is_two_minus_two_c(weighted):
    """For normalised inputs the alignment loss is 2 * (1 - c)."""
    weights = WINE_WEIGHTS if weighted else np.ones(len(Y_WINE))
    teacher = _numpy_normalize(PHI_A, weights)
    student = _numpy_normalize(PHI_B, weights)
    loss = alignment_loss(_t(teacher), _t(PHI_B), _t(weights)).item()
    # c: the weighted uncentred correlation of the flattened attributions.
    products = np.average((teacher * student).mean(axis=(1, 2)), weights=weights)
    squares_teacher = np.average((teacher**2).mean(axis=(1, 2)), weights=weights)
    squares_student = np.average((student**2).mean(axis=(1, 2)), weights=weights)
    c = products / np.sqrt(squares_teacher * squares_student)
    assert 0.0 < loss < 4.0
    assert_allclose(loss, 2 * (1 - c), rtol=1e-6)


def test_alignment_extremes():
    """The alignment loss is 0 for proportional and 4 for opposite attributions."""
    weights = _t(WINE_WEIGHTS)
    teacher = scale_normalize(_t(PHI_A), weights)
    same = alignment_loss(teacher, _t(PHI_A) * 123.0, weights).item()
    opposite = alignment_loss(teacher, _t(PHI_A) * -2.0, weights).item()
    # Reference: 2 * (1 - c) with c = 1 and c = -1. The tolerance covers the
    # epsilon inside the root of the scale.
    assert_allclose(same, 0.0, atol=1e-6)
    assert_allclose(opposite, 4.0, rtol=1e-6)


def test_alignment_gradient_finite_at_zero():
    """At zero student weights the alignment loss has a finite gradient."""
    weights = _t(np.ones(len(Y_WINE)))
    teacher = scale_normalize(_t(PHI_A), weights)
    coef = torch.zeros((3, 13), dtype=torch.float64, requires_grad=True)
    student = linear_attributions(_t(X_WINE), coef, 0.0, _t(np.eye(13)))
    loss = alignment_loss(teacher, student, weights)
    (gradient,) = torch.autograd.grad(loss, coef)
    # Reference: an all-zero student normalises to zero, so the loss is the
    # teacher's mean square, which normalisation made one.
    assert_allclose(loss.item(), 1.0, rtol=1e-6)
    assert torch.isfinite(gradient).all()
    assert gradient.abs().max() > 0


@pytest.mark.parametrize(
    "alpha, beta", [(0.0, 0.3), (0.5, 0.3), (1.0, 0.0), (0.7, 2.0)]
)
def test_dixtill_loss_combination(alpha, beta):
    """The loss is (1 - alpha) * CE + alpha * (KD + beta * XAI)."""
    ce, kd, xai = torch.tensor(0.7), torch.tensor(1.3), torch.tensor(2.9)
    expected = (1 - alpha) * 0.7 + alpha * (1.3 + beta * 2.9)
    assert_allclose(dixtill_loss(ce, kd, xai, alpha, beta).item(), expected, rtol=1e-6)
