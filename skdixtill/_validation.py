"""Checks of the distiller's inputs, teacher and student, at the boundary."""

# License: BSD-3-Clause

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array
from sklearn.utils.validation import has_fit_parameter

from .attributions._teacher import unwrap


def check_X(X):
    """Return X as a DataFrame or a 2D array, rejecting infinite values.

    NaN passes through, since imputers in the teacher and the student may
    handle it; the student's transformed columns are checked for NaN later.
    """
    if isinstance(X, pd.DataFrame):
        X = _missing_as_nan(X)
        _check_finite_frame(X)
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(
                f"X must have at least one row and one column; got shape {X.shape}."
            )
        return X
    return check_array(
        X,
        dtype=None,
        ensure_all_finite="allow-nan",
        ensure_min_samples=1,
        input_name="X",
    )


def _missing_as_nan(X):
    """Return X with pandas' nullable columns as float64 or object with NaN.

    scikit-learn's imputers and encoders reject ``pd.NA``, which nullable
    dtypes (``Int64``, ``boolean``, ``string[pyarrow]``) and Parquet files
    produce, so those columns are converted: numbers to float64, the others
    to object, missing values to NaN in both.
    """
    converted = {}
    for name, column in X.items():
        dtype = column.dtype
        if not isinstance(dtype, pd.api.extensions.ExtensionDtype):
            continue
        if getattr(dtype, "na_value", None) is not pd.NA:
            continue
        is_number = pd.api.types.is_numeric_dtype(dtype)
        if is_number and not pd.api.types.is_bool_dtype(dtype):
            converted[name] = column.to_numpy(dtype=float, na_value=np.nan)
        else:
            converted[name] = column.astype(object).where(column.notna(), np.nan)
    if not converted:
        return X
    X = X.copy()
    for name, values in converted.items():
        X[name] = values
    return X


def _check_finite_frame(X):
    infinite = []
    for name, column in X.items():
        if pd.api.types.is_numeric_dtype(
            column.dtype
        ) and not pd.api.types.is_bool_dtype(column.dtype):
            values = column.to_numpy(dtype=float, na_value=np.nan)
            if np.isinf(values).any():
                infinite.append(name)
    if infinite:
        raise ValueError(
            f"Input X contains infinity in the columns {infinite}. Replace "
            "infinite values with finite ones or NaN before fitting or predicting."
        )


def check_teacher(teacher):
    """Reject teachers that give neither probabilities nor decision values."""
    if teacher is None:
        raise ValueError(
            "teacher is required: pass a classifier such as XGBClassifier(), or a "
            "fitted one wrapped in sklearn.frozen.FrozenEstimator."
        )
    if not (hasattr(teacher, "predict_proba") or hasattr(teacher, "decision_function")):
        raise TypeError(
            f"teacher must have predict_proba or decision_function, so that its "
            f"soft targets can be distilled; got {type(unwrap(teacher)).__name__}, "
            "which has neither. Use a probabilistic classifier, or wrap it in "
            "sklearn.calibration.CalibratedClassifierCV."
        )


def fit_params_with_weights(estimator, sample_weight, role):
    """Return the fit parameters that pass ``sample_weight`` to ``estimator``."""
    if sample_weight is None:
        return {}
    target = unwrap(estimator)
    if isinstance(target, Pipeline):
        name, last = target.steps[-1]
        if not has_fit_parameter(unwrap(last), "sample_weight"):
            raise _no_weights_error(unwrap(last), role)
        return {f"{name}__sample_weight": sample_weight}
    if not has_fit_parameter(target, "sample_weight"):
        raise _no_weights_error(target, role)
    return {"sample_weight": sample_weight}


def _no_weights_error(estimator, role):
    return ValueError(
        f"sample_weight was passed, but the {role} {type(estimator).__name__} does "
        "not accept sample_weight in fit. Fit without sample_weight, or use a "
        f"{role} that accepts it."
    )


def split_student(student):
    """Split a student into its preprocessing steps and final LogisticRegression."""
    if isinstance(student, LogisticRegression):
        return None, student
    if isinstance(student, Pipeline) and isinstance(
        student.steps[-1][1], LogisticRegression
    ):
        if len(student.steps) == 1:
            return None, student.steps[-1][1]
        return student[:-1], student.steps[-1][1]
    final = student.steps[-1][1] if isinstance(student, Pipeline) else student
    raise TypeError(
        "student must be a LogisticRegression or a Pipeline of column-wise steps "
        f"ending in one; got a {type(student).__name__} ending in "
        f"{type(final).__name__}. Pass student=None for a default student, or "
        "build one with make_default_student or make_additive_student."
    )


def logistic_settings(model):
    """Return the penalty of a LogisticRegression student, rejecting the others.

    Returns
    -------
    C : float
        ``np.inf`` for an unpenalised student.
    """
    problems = []
    penalty = model.penalty
    C = float(model.C)
    if penalty == "deprecated":
        if model.l1_ratio not in (0, 0.0, None):
            problems.append(
                f"l1_ratio={model.l1_ratio!r} (only an L2 penalty, l1_ratio=0, "
                "is differentiable)"
            )
    elif penalty is None:
        C = np.inf
    elif penalty != "l2":
        problems.append(f"penalty={penalty!r} (use penalty='l2' or None)")
    if model.solver == "liblinear":
        problems.append(
            "solver='liblinear' (it penalises the intercept, a different "
            "objective; use the default 'lbfgs')"
        )
    if model.warm_start:
        problems.append("warm_start=True (every fit starts from zero weights)")
    if problems:
        raise ValueError(
            "The student LogisticRegression has settings the distiller cannot "
            "honour: " + "; ".join(problems) + "."
        )
    return C
