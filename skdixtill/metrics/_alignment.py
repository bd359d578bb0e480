"""Metrics comparing the attributions of a teacher and a student.

Every function takes plain arrays: attributions of shape ``(n_samples,
n_features)`` for a binary problem, or ``(n_samples, n_features, n_classes)``
for a multiclass one, as returned by ``DiXtillClassifier.explain`` and
``explain_teacher``. The scorers of ``skdixtill.metrics`` wrap them for
model selection.

A metric can be undefined on part of its input: constant attributions, rows
without a ranking of features, rows whose attributions are all zero. It then
returns a finite value set by the rule in its docstring, never NaN, and emits
one ``AlignmentWarning`` per call.
"""

# License: BSD-3-Clause

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import column_or_1d

from ..exceptions import AlignmentWarning
from ..students._builders import categorical_columns


def _check_attributions(phi_teacher, phi_student):
    """Return both attribution sets as float arrays of one valid shape."""
    checked = []
    for name, phi in (("phi_teacher", phi_teacher), ("phi_student", phi_student)):
        phi = check_array(phi, dtype=np.float64, allow_nd=True, input_name=name)
        if phi.ndim > 3:
            raise ValueError(
                f"{name} must have shape (n_samples, n_features) or (n_samples, "
                f"n_features, n_classes); got shape {phi.shape}."
            )
        checked.append(phi)
    phi_teacher, phi_student = checked
    if phi_teacher.shape != phi_student.shape:
        raise ValueError(
            "phi_teacher and phi_student must have the same shape; got "
            f"{phi_teacher.shape} and {phi_student.shape}. Compute both on the "
            "same rows of X with the same estimator."
        )
    return phi_teacher, phi_student


def _warn(message):
    # Frames: _warn, the public metric, validate_params' wrapper, the caller.
    warnings.warn(message, AlignmentWarning, stacklevel=4)


def _pearson_rows(a, b):
    """Return the Pearson correlation of each row of a with the same row of b.

    Returns
    -------
    correlation : ndarray of shape (n_rows,)
        Rows where a or b is constant get 1.0 when the two rows are equal and
        0.0 otherwise.
    n_undefined : int
        Number of such rows.
    """
    a_centered = a - a.mean(axis=1, keepdims=True)
    b_centered = b - b.mean(axis=1, keepdims=True)
    numerator = np.sum(a_centered * b_centered, axis=1)
    denominator = np.sqrt(np.sum(a_centered**2, axis=1) * np.sum(b_centered**2, axis=1))

    # Exact comparisons, because the centred values of a constant row are
    # rounding noise rather than zeros.
    constant = (a == a[:, :1]).all(axis=1) | (b == b[:, :1]).all(axis=1)
    undefined = constant | ~(denominator > 0)
    correlation = np.empty(len(a))
    defined = ~undefined
    correlation[defined] = numerator[defined] / denominator[defined]
    equal = (a[undefined] == b[undefined]).all(axis=1)
    correlation[undefined] = np.where(equal, 1.0, 0.0)
    return np.clip(correlation, -1.0, 1.0), int(undefined.sum())


@validate_params(
    {
        "phi_teacher": ["array-like"],
        "phi_student": ["array-like"],
        "per_row": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def shap_correlation(phi_teacher, phi_student, *, per_row=False):
    """Compute the Pearson correlation of teacher and student attributions.

    Parameters
    ----------
    phi_teacher : array-like of shape (n_samples, n_features) or \
            (n_samples, n_features, n_classes)
        Attributions of the teacher.
    phi_student : array-like of the same shape as ``phi_teacher``
        Attributions of the student on the same rows.
    per_row : bool, default=False
        If False, correlate the two arrays flattened over rows, features and
        classes. If True, correlate each row (its features and classes
        flattened) and return the mean over rows.

    Returns
    -------
    correlation : float
        Between -1 and 1.

    See Also
    --------
    shap_correlation_score : The same metric as a scorer of a fitted
        distiller.
    top_k_overlap : Agreement on the most important features only.

    Notes
    -----
    With ``a`` and ``b`` the flattened attributions of teacher and student,

        rho = sum_i (a_i - mean(a)) (b_i - mean(b))
              / sqrt(sum_i (a_i - mean(a))^2 * sum_i (b_i - mean(b))^2).

    The correlation is invariant to a positive scale of either side, so
    attributions in probability and in log-odds can be compared.

    Pearson's correlation is undefined when either array (or, with
    ``per_row=True``, either row) is constant. The value is then 1.0 when
    the two are equal and 0.0 otherwise, the convention of
    ``sklearn.metrics.r2_score`` with ``force_finite=True``, and one
    ``AlignmentWarning`` gives the number of rows concerned.

    Examples
    --------
    >>> import numpy as np
    >>> from skdixtill.metrics import shap_correlation
    >>> phi_teacher = np.array([[1.0, -2.0, 0.5], [0.2, 0.0, -1.0]])
    >>> round(shap_correlation(phi_teacher, 3 * phi_teacher), 6)
    1.0
    >>> round(shap_correlation(phi_teacher, -phi_teacher, per_row=True), 6)
    -1.0
    """
    phi_teacher, phi_student = _check_attributions(phi_teacher, phi_student)
    n_samples = phi_teacher.shape[0]
    if per_row:
        a = phi_teacher.reshape(n_samples, -1)
        b = phi_student.reshape(n_samples, -1)
    else:
        a = phi_teacher.reshape(1, -1)
        b = phi_student.reshape(1, -1)

    correlation, n_undefined = _pearson_rows(a, b)
    if n_undefined and per_row:
        _warn(
            f"{n_undefined} of {n_samples} rows have constant teacher or student "
            "attributions, where Pearson's correlation is undefined; they count "
            "as 1.0 where the two rows are equal and 0.0 otherwise."
        )
    elif n_undefined:
        _warn(
            "The teacher's or the student's attributions are constant, so "
            "Pearson's correlation is undefined; returning "
            f"{correlation[0]:.1f} (1.0 when the two arrays are equal, 0.0 "
            "otherwise)."
        )
    return float(correlation.mean())


def _rows_of_predicted_class(phi, predicted_class, function):
    """Return per row the attributions of the teacher's predicted class, 2D."""
    if phi.ndim == 2:
        return phi
    n_samples, _, n_classes = phi.shape
    if predicted_class is None:
        raise ValueError(
            f"{function} needs predicted_class for multiclass attributions of "
            f"shape {phi.shape}: the index in 0..{n_classes - 1} of the class "
            "the teacher predicts for each row, in the order of the last axis, "
            "for example np.argmax(teacher.predict_proba(X), axis=1)."
        )
    predicted_class = column_or_1d(predicted_class)
    if len(predicted_class) != n_samples:
        raise ValueError(
            f"predicted_class must have one entry per row of the attributions, "
            f"{n_samples}; got {len(predicted_class)}."
        )
    if predicted_class.dtype.kind not in "iu" or (
        n_samples and (predicted_class.min() < 0 or predicted_class.max() >= n_classes)
    ):
        raise ValueError(
            f"predicted_class must hold integer class indices in [0, "
            f"{n_classes - 1}]; got dtype {predicted_class.dtype} and values "
            f"{np.unique(predicted_class)[:10].tolist()}. Map labels to indices "
            "with np.searchsorted(classes_, labels)."
        )
    return phi[np.arange(n_samples), :, predicted_class]


def _top_k_masks(magnitude, k):
    # A stable sort breaks ties in favour of the column that comes first.
    order = np.argsort(-magnitude, axis=1, kind="stable")[:, :k]
    mask = np.zeros(magnitude.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=1)
    return mask


def _top_k_overlap_rows(magnitude_teacher, magnitude_student, k):
    """Return the overlap of each row and the number of rows without a ranking."""
    n_features = magnitude_teacher.shape[1]
    shared = _top_k_masks(magnitude_teacher, k) & _top_k_masks(magnitude_student, k)
    overlap = shared.sum(axis=1) / k
    if k == n_features:
        return overlap, 0

    # A row whose magnitudes are all equal ranks no feature above another.
    teacher_flat = (magnitude_teacher == magnitude_teacher[:, :1]).all(axis=1)
    student_flat = (magnitude_student == magnitude_student[:, :1]).all(axis=1)
    undefined = teacher_flat | student_flat
    overlap[undefined] = np.where(teacher_flat & student_flat, 1.0, 0.0)[undefined]
    return overlap, int(undefined.sum())


@validate_params(
    {
        "phi_teacher": ["array-like"],
        "phi_student": ["array-like"],
        "k": [Interval(Integral, 1, None, closed="left")],
        "scope": [StrOptions({"row", "global"})],
        "predicted_class": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def top_k_overlap(phi_teacher, phi_student, *, k=3, scope="row", predicted_class=None):
    """Compute the share of the teacher's top-k features among the student's.

    Parameters
    ----------
    phi_teacher : array-like of shape (n_samples, n_features) or \
            (n_samples, n_features, n_classes)
        Attributions of the teacher.
    phi_student : array-like of the same shape as ``phi_teacher``
        Attributions of the student on the same rows.
    k : int, default=3
        Number of most important features compared, at most ``n_features``.
    scope : {"row", "global"}, default="row"
        ``"row"`` compares the features ranked by ``|phi|`` in each row and
        averages over rows. ``"global"`` compares the features ranked by
        their global importance, ``mean |phi|`` over rows (and classes).
    predicted_class : array-like of shape (n_samples,), default=None
        Index of the class the teacher predicts for each row, in the order of
        the last axis of the attributions. Required for multiclass
        attributions with ``scope="row"``; not used otherwise.

    Returns
    -------
    overlap : float
        Between 0 and 1.

    See Also
    --------
    top_k_overlap_score : The row-level metric with k=3 as a scorer of a
        fitted distiller.

    Notes
    -----
    With ``T_k(x)`` and ``S_k(x)`` the k features of largest ``|phi|`` of
    teacher and student on row ``x``,

        overlap = mean_x |T_k(x) & S_k(x)| / k.

    Multiclass rows are ranked on the attributions of the class the teacher
    predicts. Among features of equal ``|phi|``, the one that comes first is
    ranked first.

    A row whose ``|phi|`` are all equal has no top k when ``k <
    n_features``. Such a row counts as 1.0 when both rows are like that, and
    as 0.0 when only one is, and one ``AlignmentWarning`` gives their number.
    The global scope follows the same rule on the importances.

    Examples
    --------
    >>> import numpy as np
    >>> from skdixtill.metrics import top_k_overlap
    >>> phi_teacher = np.array([[4.0, -3.0, 2.0, 0.1], [0.0, 1.0, -5.0, 2.0]])
    >>> phi_student = np.array([[3.0, -2.8, 0.5, 1.0], [0.5, 2.0, -4.0, 1.0]])
    >>> float(top_k_overlap(phi_teacher, phi_student, k=2))
    0.75
    """
    phi_teacher, phi_student = _check_attributions(phi_teacher, phi_student)
    n_samples, n_features = phi_teacher.shape[:2]
    if k > n_features:
        raise ValueError(
            f"k={k} is larger than the number of features, {n_features}. Pass "
            f"k <= {n_features}."
        )

    if scope == "global":
        magnitude_teacher = _global_importance(phi_teacher)[np.newaxis]
        magnitude_student = _global_importance(phi_student)[np.newaxis]
    else:
        magnitude_teacher = np.abs(
            _rows_of_predicted_class(phi_teacher, predicted_class, "top_k_overlap")
        )
        magnitude_student = np.abs(
            _rows_of_predicted_class(phi_student, predicted_class, "top_k_overlap")
        )

    overlap, n_undefined = _top_k_overlap_rows(magnitude_teacher, magnitude_student, k)
    if n_undefined and scope == "global":
        _warn(
            "The teacher's or the student's global importances are all equal, so "
            f"they have no top {k}; returning {overlap[0]:.1f} (1.0 when both are "
            "all equal, 0.0 otherwise)."
        )
    elif n_undefined:
        _warn(
            f"{n_undefined} of {n_samples} rows have teacher or student "
            f"attributions of equal magnitude, so they have no top {k}; they "
            "count as 1.0 where both rows are like that and 0.0 otherwise."
        )
    return float(overlap.mean())


def _global_importance(phi):
    """Return mean |phi| over rows (and classes), shape (n_features,)."""
    magnitude = np.abs(phi)
    if magnitude.ndim == 3:
        return magnitude.mean(axis=(0, 2))
    return magnitude.mean(axis=0)


def _smoothed_distributions(magnitude, smoothing):
    """Return each row's share of total |phi|, smoothed, and the all-zero rows."""
    n_features = magnitude.shape[1]
    totals = magnitude.sum(axis=1, keepdims=True)
    zero = totals[:, 0] == 0
    shares = np.full(magnitude.shape, 1.0 / n_features)
    shares[~zero] = magnitude[~zero] / totals[~zero]
    return (shares + smoothing) / (1.0 + n_features * smoothing), zero


@validate_params(
    {
        "phi_teacher": ["array-like"],
        "phi_student": ["array-like"],
        "predicted_class": ["array-like", None],
        "smoothing": [Interval(Real, 0, None, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def explanation_divergence(
    phi_teacher, phi_student, *, predicted_class=None, smoothing=1e-6
):
    """Compute the mean KL divergence between normalised absolute attributions.

    Lower is better: 0 when the two models share out ``|phi|`` over the
    features in the same proportions.

    Parameters
    ----------
    phi_teacher : array-like of shape (n_samples, n_features) or \
            (n_samples, n_features, n_classes)
        Attributions of the teacher.
    phi_student : array-like of the same shape as ``phi_teacher``
        Attributions of the student on the same rows.
    predicted_class : array-like of shape (n_samples,), default=None
        Index of the class the teacher predicts for each row, in the order of
        the last axis of the attributions. Required for multiclass
        attributions; not used for binary ones.
    smoothing : float, default=1e-6
        Added to each feature's share before renormalising, so that a feature
        the student gives no attribution does not make the divergence
        infinite.

    Returns
    -------
    divergence : float
        Non-negative, in nats.

    See Also
    --------
    neg_explanation_divergence_score : Its negation as a scorer of a fitted
        distiller.

    Notes
    -----
    On each row, with ``n`` features and smoothing ``s``,

        p_j = (|phi_T,j| / sum_l |phi_T,l| + s) / (1 + n s)
        q_j = (|phi_S,j| / sum_l |phi_S,l| + s) / (1 + n s)
        D = sum_j p_j log(p_j / q_j)

    and the result is the mean of ``D`` over rows. Smoothing the shares
    rather than the raw attributions keeps the divergence independent of the
    output space (probability or log-odds) of either model. Multiclass rows
    use the attributions of the class the teacher predicts.

    A row whose attributions are all zero has no shares. It is taken as
    uniform, the limit of the smoothed shares, and one ``AlignmentWarning``
    gives the number of such rows.

    Examples
    --------
    >>> import numpy as np
    >>> from skdixtill.metrics import explanation_divergence
    >>> phi = np.array([[1.0, -2.0, 0.5], [0.2, 0.1, -1.0]])
    >>> float(explanation_divergence(phi, -2 * phi))
    0.0
    """
    phi_teacher, phi_student = _check_attributions(phi_teacher, phi_student)
    magnitude_teacher = np.abs(
        _rows_of_predicted_class(phi_teacher, predicted_class, "explanation_divergence")
    )
    magnitude_student = np.abs(
        _rows_of_predicted_class(phi_student, predicted_class, "explanation_divergence")
    )

    p, zero_teacher = _smoothed_distributions(magnitude_teacher, smoothing)
    q, zero_student = _smoothed_distributions(magnitude_student, smoothing)
    n_zero = int((zero_teacher | zero_student).sum())
    if n_zero:
        _warn(
            f"{n_zero} of {len(p)} rows have teacher or student attributions that "
            "are all zero; their shares are taken as uniform."
        )
    divergence = np.sum(p * (np.log(p) - np.log(q)), axis=1)
    # Rounding can leave -1e-17 where the distributions are equal.
    return float(max(divergence.mean(), 0.0))


@validate_params(
    {
        "teacher_predictions": ["array-like"],
        "student_predictions": ["array-like"],
    },
    prefer_skip_nested_validation=True,
)
def fidelity(teacher_predictions, student_predictions):
    """Compute the share of rows where the student predicts the teacher's class.

    Parameters
    ----------
    teacher_predictions : array-like of shape (n_samples,)
        Class labels predicted by the teacher.
    student_predictions : array-like of shape (n_samples,)
        Class labels predicted by the student on the same rows.

    Returns
    -------
    fidelity : float
        Between 0 and 1.

    See Also
    --------
    fidelity_score : The same metric as a scorer of a fitted distiller.

    Notes
    -----
    ``fidelity = mean_i [teacher(x_i) == student(x_i)]``, the accuracy of the
    student against the teacher's labels, computed by
    ``sklearn.metrics.accuracy_score``, which rejects a mix of label types.

    Examples
    --------
    >>> from skdixtill.metrics import fidelity
    >>> float(fidelity(["a", "b", "b", "a"], ["a", "b", "a", "a"]))
    0.75
    """
    return float(accuracy_score(teacher_predictions, student_predictions))


def _check_X(X):
    if isinstance(X, pd.DataFrame):
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(
                f"X must have at least one row and one column; got shape {X.shape}."
            )
        return X
    return check_array(X, dtype=None, ensure_all_finite="allow-nan", input_name="X")


def _numeric_positions(X, categorical_features):
    """Return the positions of the columns of X that are perturbed."""
    _, numeric = categorical_columns(X)
    names = list(X.columns) if isinstance(X, pd.DataFrame) else None
    n_features = X.shape[1]
    if names is not None:
        positions = [names.index(name) for name in numeric]
    else:
        positions = list(numeric)
    if categorical_features is None:
        return positions

    excluded = _categorical_positions(categorical_features, names, n_features)
    return [position for position in positions if position not in excluded]


def _categorical_positions(categorical_features, names, n_features):
    values = np.asarray(categorical_features)
    if values.ndim != 1:
        raise ValueError(
            "categorical_features must be a 1D list of column names, integer "
            f"indices or a boolean mask; got shape {values.shape}."
        )
    if values.dtype.kind == "b":
        if len(values) != n_features:
            raise ValueError(
                f"A boolean categorical_features must have one entry per column of "
                f"X, {n_features}; got {len(values)}."
            )
        return set(np.flatnonzero(values).tolist())
    if values.dtype.kind in "iu":
        if len(values) and (values.min() < -n_features or values.max() >= n_features):
            raise ValueError(
                f"categorical_features contains indices out of range for X with "
                f"{n_features} columns: {values.tolist()}."
            )
        return set((values % n_features).tolist())
    if names is None:
        raise ValueError(
            "categorical_features names columns, but X has no column names. Pass "
            "integer indices or a boolean mask, or pass X as a DataFrame."
        )
    unknown = [value for value in values.tolist() if value not in names]
    if unknown:
        raise ValueError(
            f"categorical_features names columns that are not in X: {unknown}. "
            f"Columns of X: {names}."
        )
    return {names.index(value) for value in values.tolist()}


def _column_values(X, position):
    if isinstance(X, pd.DataFrame):
        return X.iloc[:, position].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(X[:, position], dtype=np.float64)


def _column_scales(X, positions):
    """Return the standard deviation of each column at ``positions``, NaN ignored."""
    scales = np.zeros(len(positions))
    for i, position in enumerate(positions):
        values = _column_values(X, position)
        values = values[~np.isnan(values)]
        if len(values):
            scales[i] = values.std()
    return scales


def _perturb(X, positions, noise):
    """Return a copy of X with noise added to the columns at ``positions``."""
    if isinstance(X, pd.DataFrame):
        perturbed = X.copy()
        for i, position in enumerate(positions):
            name = X.columns[position]
            perturbed[name] = _column_values(X, position) + noise[:, i]
        return perturbed
    dtype = X.dtype if X.dtype.kind in "fcO" else np.float64
    perturbed = np.array(X, dtype=dtype)
    perturbed[:, positions] = perturbed[:, positions].astype(np.float64) + noise
    return perturbed


def _call_explain(explain, X, n_samples):
    phi = np.asarray(explain(X), dtype=np.float64)
    if phi.ndim not in (2, 3) or phi.shape[0] != n_samples:
        raise ValueError(
            f"explain must return attributions of shape (n_samples, n_features) or "
            f"(n_samples, n_features, n_classes) with n_samples={n_samples}; got "
            f"shape {phi.shape}."
        )
    if not np.isfinite(phi).all():
        raise ValueError("explain returned attributions that contain NaN or infinity.")
    return phi.reshape(n_samples, -1)


@validate_params(
    {
        "explain": [callable],
        "X": ["array-like"],
        "n_draws": [Interval(Integral, 1, None, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="left")],
        "categorical_features": ["array-like", None],
        "random_state": ["random_state"],
    },
    # explain is user code, whose own parameter checks should still run.
    prefer_skip_nested_validation=False,
)
def feature_attribution_stability(
    explain,
    X,
    *,
    n_draws=20,
    epsilon=0.01,
    categorical_features=None,
    random_state=None,
):
    """Compute the Feature Attribution Stability (FAS) of a model's explanations.

    FAS measures how little a model's attributions change under small noise
    on the numeric columns: 1 means unchanged. It measures how stable one
    model's explanations are, not how well they agree with another model's,
    so report it for teacher and student alike.

    Parameters
    ----------
    explain : callable
        Function from rows X to attributions of shape (n_samples, n_features)
        or (n_samples, n_features, n_classes), for example the bound method
        ``clf.explain`` or ``clf.explain_teacher`` of a fitted distiller.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Rows at which stability is measured. DataFrames may hold string
        columns. Each call of ``explain`` receives all rows, ``n_draws + 1``
        calls in total.
    n_draws : int, default=20
        Number of noisy copies of X.
    epsilon : float, default=0.01
        Standard deviation of the noise, as a fraction of each numeric
        column's standard deviation.
    categorical_features : array-like of str, int or bool, default=None
        Columns left unperturbed besides the non-numeric ones: names (for a
        DataFrame), integer indices or a boolean mask. DataFrame columns that
        are not numeric, boolean ones included, and all columns of a NumPy
        array of dtype object are never perturbed.
    random_state : int, RandomState instance or None, default=None
        Draws the noise. Draw ``j`` is
        ``rng.standard_normal((n_samples, n_perturbed))`` scaled per column.

    Returns
    -------
    fas : float
        Between 0 and 1.

    See Also
    --------
    fas_score : FAS of a fitted distiller's student as a scorer.

    Notes
    -----
    With ``delta_j`` Gaussian noise of standard deviation ``epsilon * sd_c``
    on each numeric column ``c`` (``sd_c`` its standard deviation over the
    rows of X, ignoring NaN, with ``ddof=0``; NaN stays NaN), and ``||.||``
    the Euclidean norm over features (and classes),

        FAS(x) = max(0, 1 - mean_j ||phi(x) - phi(x + delta_j)|| / ||phi(x)||)

    and the result is the mean of ``FAS(x)`` over rows. Each row is clipped
    at 0 before the mean, so that a row with attributions near zero, whose
    relative change can be arbitrarily large, weighs no more than any other.

    A row whose attributions are all zero has no relative change. It counts
    as 1.0 when every noisy copy's attributions are zero too and as 0.0
    otherwise, and one ``AlignmentWarning`` gives the number of such rows.
    When X has no column to perturb, the result is 1.0 by construction, and
    an ``AlignmentWarning`` states it.

    Examples
    --------
    >>> import numpy as np
    >>> from skdixtill.metrics import feature_attribution_stability
    >>> weights = np.array([1.0, -2.0])
    >>> X = np.array([[1.0, 2.0], [3.0, 1.0], [2.0, 2.0], [0.0, 1.0]])
    >>> def explain(X):
    ...     return weights * (X - [1.5, 1.5])
    >>> fas = feature_attribution_stability(explain, X, random_state=0)
    >>> bool(0.9 < fas < 1.0)
    True
    """
    X = _check_X(X)
    n_samples = X.shape[0]
    positions = _numeric_positions(X, categorical_features)
    if not positions:
        _warn(
            "X has no numeric column to perturb, so the attributions cannot "
            "change and FAS is 1.0 by construction. Pass numeric columns, or "
            "fewer categorical_features."
        )
    rng = check_random_state(random_state)
    scale = epsilon * _column_scales(X, positions)

    phi = _call_explain(explain, X, n_samples)
    change = np.zeros(n_samples)
    for _ in range(n_draws):
        noise = rng.standard_normal((n_samples, len(positions))) * scale
        phi_noisy = _call_explain(explain, _perturb(X, positions, noise), n_samples)
        change += np.linalg.norm(phi - phi_noisy, axis=1)
    change /= n_draws

    norms = np.linalg.norm(phi, axis=1)
    zero = norms == 0
    relative = np.empty(n_samples)
    relative[~zero] = change[~zero] / norms[~zero]
    relative[zero] = np.where(change[zero] == 0, 0.0, np.inf)
    if zero.any():
        _warn(
            f"{int(zero.sum())} of {n_samples} rows have attributions that are all "
            "zero, so their relative change is undefined; they count as 1.0 where "
            "the noisy copies' attributions are zero too and 0.0 otherwise."
        )
    return float(np.mean(np.clip(1.0 - relative, 0.0, None)))
