"""Scorers of a fitted distiller, for model selection with scikit-learn.

Every scorer here has the signature ``scorer(estimator, X, y)`` of a
scikit-learn scorer object, so it can be passed as ``scoring=`` to
``GridSearchCV``, ``RandomizedSearchCV``, ``cross_validate`` and
``cross_val_score``, alone or in a dict of several metrics. Unlike
scikit-learn's ``*_score(y_true, y_pred)`` functions, such as
``accuracy_score``, they take a fitted estimator and rows X, because the
attributions they compare have to be computed by the estimator.

The estimator is a fitted ``DiXtillClassifier``, or a Pipeline ending in
one, whose earlier steps transform X before the distiller explains it.
"""

# License: BSD-3-Clause

from numbers import Real

import numpy as np
from sklearn.metrics import accuracy_score
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import check_is_fitted

from ..attributions._teacher import teacher_logits, unwrap
from ._alignment import (
    explanation_divergence,
    feature_attribution_stability,
    fidelity,
    shap_correlation,
    top_k_overlap,
)

# Seed of the noise of fas_score, fixed so that every candidate of a search
# is measured on the same noisy copies of X.
_FAS_SEED = 0


def distiller_and_input(estimator, X):
    """Return the distiller at the end of ``estimator`` and X as it receives it.

    Parameters
    ----------
    estimator : DiXtillClassifier or Pipeline
        Fitted; a Pipeline must end in a DiXtillClassifier.
    X : array-like or DataFrame of shape (n_samples, n_features)

    Returns
    -------
    distiller : DiXtillClassifier
    X_distiller : array-like or DataFrame
        X transformed by the Pipeline's earlier steps, or X itself.
    """
    distiller = final_distiller(estimator)
    estimator = unwrap(estimator)
    if isinstance(estimator, Pipeline) and len(estimator.steps) > 1:
        X = estimator[:-1].transform(X)
    return distiller, X


def final_distiller(estimator):
    """Return the fitted distiller that is ``estimator`` or ends its Pipeline."""
    estimator = unwrap(estimator)
    distiller = estimator
    if isinstance(estimator, Pipeline):
        distiller = unwrap(estimator.steps[-1][1])
    if not (hasattr(distiller, "explain") and hasattr(distiller, "explain_teacher")):
        raise TypeError(
            "The estimator must be a DiXtillClassifier or a Pipeline ending in one, "
            "so that it can explain X with explain and explain_teacher; got "
            f"{_describe(estimator)}."
        )
    check_is_fitted(distiller)
    return distiller


def _describe(estimator):
    if isinstance(estimator, Pipeline):
        return f"a Pipeline ending in {type(estimator.steps[-1][1]).__name__}"
    return f"a {type(estimator).__name__}"


def teacher_class_index(distiller, X):
    """Return, per row, the index in ``classes_`` of the teacher's predicted class."""
    logits = teacher_logits(distiller.teacher_, X, distiller._teacher_classes())
    return np.argmax(logits, axis=1)


def _attributions(distiller, X):
    """Return the teacher's and the student's attributions of X.

    The third value is the teacher's predicted class per row for multiclass
    attributions, which row-level metrics compare, and None otherwise.
    """
    phi_teacher = distiller.explain_teacher(X)
    phi_student = distiller.explain(X)
    predicted_class = None
    if phi_teacher.ndim == 3:
        predicted_class = teacher_class_index(distiller, X)
    return phi_teacher, phi_student, predicted_class


def shap_correlation_score(estimator, X, y=None):
    """Score a distiller by the SHAP correlation of its student with its teacher.

    Unlike scikit-learn's ``*_score(y_true, y_pred)`` functions, this takes a
    fitted estimator: it is a scorer, for ``scoring=`` in model selection.

    Parameters
    ----------
    estimator : DiXtillClassifier or Pipeline ending in one
        Fitted.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Rows on which both models are explained. The teacher's attributions
        of rows seen before are read from the distiller's cache.
    y : array-like of shape (n_samples,), default=None
        Not used, present for the scorer signature.

    Returns
    -------
    score : float
        ``shap_correlation(explain_teacher(X), explain(X))``, between -1 and
        1; higher is better.

    See Also
    --------
    shap_correlation : The metric on two attribution arrays.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skdixtill import DiXtillClassifier
    >>> from skdixtill.metrics import shap_correlation_score
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = DiXtillClassifier(
    ...     RandomForestClassifier(n_estimators=10, random_state=0),
    ...     feature_perturbation="tree_path_dependent",
    ...     n_attribution_samples=200,
    ...     random_state=0,
    ... ).fit(X, y)
    >>> bool(shap_correlation_score(clf, X[:100], y[:100]) > 0.5)
    True
    """
    distiller, X = distiller_and_input(estimator, X)
    return shap_correlation(distiller.explain_teacher(X), distiller.explain(X))


def fas_score(estimator, X, y=None):
    """Score a distiller by the stability (FAS) of its student's attributions.

    Unlike scikit-learn's ``*_score(y_true, y_pred)`` functions, this takes a
    fitted estimator: it is a scorer, for ``scoring=`` in model selection.
    FAS measures the student's stability under noise, not its agreement with
    the teacher.

    Parameters
    ----------
    estimator : DiXtillClassifier or Pipeline ending in one
        Fitted.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Rows at which stability is measured.
    y : array-like of shape (n_samples,), default=None
        Not used, present for the scorer signature.

    Returns
    -------
    score : float
        ``feature_attribution_stability(explain, X)`` with 20 draws of noise
        of 0.01 standard deviations, between 0 and 1; higher is better. The
        noise is drawn with a fixed seed, 0, so that every candidate of a
        search is measured on the same noisy rows.

    See Also
    --------
    feature_attribution_stability : The metric on any explain function.
    """
    distiller, X = distiller_and_input(estimator, X)
    return feature_attribution_stability(distiller.explain, X, random_state=_FAS_SEED)


def top_k_overlap_score(estimator, X, y=None):
    """Score a distiller by the row-level top-3 overlap of student and teacher.

    Unlike scikit-learn's ``*_score(y_true, y_pred)`` functions, this takes a
    fitted estimator: it is a scorer, for ``scoring=`` in model selection.

    Parameters
    ----------
    estimator : DiXtillClassifier or Pipeline ending in one
        Fitted.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Rows on which both models are explained.
    y : array-like of shape (n_samples,), default=None
        Not used, present for the scorer signature.

    Returns
    -------
    score : float
        ``top_k_overlap(explain_teacher(X), explain(X), k=3)``, between 0 and
        1; higher is better. With fewer than 3 features, k is the number of
        features. Multiclass rows compare the attributions of the class the
        teacher predicts.

    See Also
    --------
    top_k_overlap : The metric on two attribution arrays, any k.
    """
    distiller, X = distiller_and_input(estimator, X)
    phi_teacher, phi_student, predicted_class = _attributions(distiller, X)
    k = min(3, phi_teacher.shape[1])
    return top_k_overlap(phi_teacher, phi_student, k=k, predicted_class=predicted_class)


def fidelity_score(estimator, X, y=None):
    """Score a distiller by how often its student predicts the teacher's class.

    Unlike scikit-learn's ``*_score(y_true, y_pred)`` functions, this takes a
    fitted estimator: it is a scorer, for ``scoring=`` in model selection.

    Parameters
    ----------
    estimator : DiXtillClassifier or Pipeline ending in one
        Fitted.
    X : array-like or DataFrame of shape (n_samples, n_features)
    y : array-like of shape (n_samples,), default=None
        Not used, present for the scorer signature.

    Returns
    -------
    score : float
        Share of rows where student and teacher predict the same class,
        between 0 and 1; higher is better.

    See Also
    --------
    fidelity : The metric on two arrays of predicted labels.
    """
    distiller, X = distiller_and_input(estimator, X)
    teacher_predictions = distiller.classes_[teacher_class_index(distiller, X)]
    return fidelity(teacher_predictions, distiller.predict(X))


def neg_explanation_divergence_score(estimator, X, y=None):
    """Score a distiller by the negated divergence of its explanations.

    Unlike scikit-learn's ``*_score(y_true, y_pred)`` functions, this takes a
    fitted estimator: it is a scorer, for ``scoring=`` in model selection.
    The divergence is lower when better, so it is negated, following
    scikit-learn's ``neg_`` convention for scorers.

    Parameters
    ----------
    estimator : DiXtillClassifier or Pipeline ending in one
        Fitted.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Rows on which both models are explained.
    y : array-like of shape (n_samples,), default=None
        Not used, present for the scorer signature.

    Returns
    -------
    score : float
        ``-explanation_divergence(explain_teacher(X), explain(X))``, at most
        0; higher is better. Multiclass rows compare the attributions of the
        class the teacher predicts.

    See Also
    --------
    explanation_divergence : The metric on two attribution arrays.
    """
    distiller, X = distiller_and_input(estimator, X)
    phi_teacher, phi_student, predicted_class = _attributions(distiller, X)
    divergence = explanation_divergence(
        phi_teacher, phi_student, predicted_class=predicted_class
    )
    return -divergence


class _AlignmentScorer:
    """Weighted sum of a distiller's accuracy and SHAP correlation."""

    def __init__(self, accuracy_weight, correlation_weight):
        self.accuracy_weight = accuracy_weight
        self.correlation_weight = correlation_weight

    def __call__(self, estimator, X, y):
        if y is None:
            raise ValueError(
                "The alignment scorer needs the true labels y for its accuracy "
                "term; got y=None."
            )
        accuracy = accuracy_score(y, estimator.predict(X))
        correlation = shap_correlation_score(estimator, X)
        return float(
            self.accuracy_weight * accuracy + self.correlation_weight * correlation
        )

    def __repr__(self):
        return (
            f"make_alignment_scorer(accuracy_weight={self.accuracy_weight}, "
            f"correlation_weight={self.correlation_weight})"
        )


@validate_params(
    {
        "accuracy_weight": [Interval(Real, 0, None, closed="left")],
        "correlation_weight": [Interval(Real, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def make_alignment_scorer(accuracy_weight=0.6, correlation_weight=0.4):
    """Make a scorer that trades a distiller's accuracy against its alignment.

    The returned scorer takes ``(estimator, X, y)``, unlike scikit-learn's
    ``*_score(y_true, y_pred)`` functions, and returns

        accuracy_weight * accuracy(y, predict(X))
        + correlation_weight * shap_correlation_score(estimator, X).

    Parameters
    ----------
    accuracy_weight : float, default=0.6
        Weight of the student's accuracy against the true labels.
    correlation_weight : float, default=0.4
        Weight of the SHAP correlation of student and teacher.

    Returns
    -------
    scorer : callable
        Scorer with the signature ``scorer(estimator, X, y)``; higher is
        better.

    See Also
    --------
    alignment_score : This scorer with the default weights.

    Examples
    --------
    >>> from skdixtill.metrics import make_alignment_scorer
    >>> make_alignment_scorer(accuracy_weight=0.5, correlation_weight=0.5)
    make_alignment_scorer(accuracy_weight=0.5, correlation_weight=0.5)
    """
    if accuracy_weight == 0 and correlation_weight == 0:
        raise ValueError(
            "accuracy_weight and correlation_weight are both 0, so every model "
            "would score 0. Give at least one of them a positive weight."
        )
    return _AlignmentScorer(accuracy_weight, correlation_weight)


alignment_score = make_alignment_scorer()
"""Scorer ``0.6 * accuracy + 0.4 * SHAP correlation`` of a fitted distiller.

Built by ``make_alignment_scorer()`` with its default weights; it takes
``(estimator, X, y)``.
"""
