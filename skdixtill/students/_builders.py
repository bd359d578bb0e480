"""Builders of students and teacher pipelines for tabular data."""

# License: BSD-3-Clause

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    OneHotEncoder,
    OrdinalEncoder,
    SplineTransformer,
    StandardScaler,
)


def categorical_columns(X):
    """Return the columns of X that hold categories rather than numbers.

    Columns of a DataFrame whose dtype is not numeric, or is boolean or
    ``category``, are categorical. A NumPy array of dtype object is entirely
    categorical; any other array is entirely numeric.

    Returns
    -------
    categorical : list
        Column names for a DataFrame, integer indices otherwise.
    numeric : list
        The other columns, in the same form.
    """
    if isinstance(X, pd.DataFrame):
        categorical, numeric = [], []
        for name, dtype in X.dtypes.items():
            is_number = pd.api.types.is_numeric_dtype(dtype)
            if is_number and not pd.api.types.is_bool_dtype(dtype):
                numeric.append(name)
            else:
                categorical.append(name)
        return categorical, numeric
    X = np.asarray(X)
    columns = list(range(X.shape[1]))
    if X.dtype.kind in "OUS":
        return columns, []
    return [], columns


def _one_hot():
    return OneHotEncoder(handle_unknown="ignore", sparse_output=False)


def _columns(categorical, numeric, numeric_steps):
    transformers = []
    if numeric:
        transformers.append(("numeric", numeric_steps, numeric))
    if categorical:
        transformers.append(("categorical", _one_hot(), categorical))
    return ColumnTransformer(
        transformers, remainder="drop", verbose_feature_names_out=False
    )


def make_default_student(X, *, C=1.0, max_iter=1000):
    """Build a logistic regression student suited to the columns of X.

    Numeric columns are imputed with their median and standardised, with an
    indicator column where values were missing at fit. Categorical columns
    are one-hot encoded: missing values are a category of their own, and
    categories unseen at fit are encoded as all zeros.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
        Only the column types are read.
    C : float, default=1.0
        Inverse regularisation strength of the logistic regression.
    max_iter : int, default=1000
        Iterations of the L-BFGS-B optimiser.

    Returns
    -------
    student : Pipeline
        An unfitted Pipeline ending in LogisticRegression.

    Examples
    --------
    >>> import pandas as pd
    >>> from skdixtill import make_default_student
    >>> X = pd.DataFrame({"age": [30, 40], "job": ["a", "b"]})
    >>> make_default_student(X).steps[-1][0]
    'logisticregression'
    """
    categorical, numeric = categorical_columns(X)
    numeric_steps = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            ("scale", StandardScaler()),
        ]
    )
    return Pipeline(
        [
            ("columns", _columns(categorical, numeric, numeric_steps)),
            ("logisticregression", LogisticRegression(C=C, max_iter=max_iter)),
        ]
    )


def make_additive_student(X, *, n_knots=8, degree=3, C=1.0, max_iter=1000):
    """Build an additive student: splines for numbers, one-hot for categories.

    Each numeric column is imputed with its median, standardised and
    expanded into cubic B-splines with knots spread evenly over its range,
    continued linearly beyond it. Each categorical column is one-hot encoded.
    The logistic regression on top makes the model additive in the original
    columns: its log-odds are a sum of one shape function per column, whose
    SHAP values are exact and cheap.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
        Only the column types are read.
    n_knots : int, default=8
        Knots per numeric column, evenly spaced over its training range.
    degree : int, default=3
        Degree of the splines.
    C : float, default=1.0
        Inverse regularisation strength of the logistic regression.
    max_iter : int, default=1000
        Iterations of the L-BFGS-B optimiser.

    Returns
    -------
    student : Pipeline
        An unfitted Pipeline ending in LogisticRegression.
    """
    categorical, numeric = categorical_columns(X)
    numeric_steps = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            ("scale", StandardScaler()),
            (
                "splines",
                SplineTransformer(
                    n_knots=n_knots, degree=degree, extrapolation="linear"
                ),
            ),
        ]
    )
    return Pipeline(
        [
            ("columns", _columns(categorical, numeric, numeric_steps)),
            ("logisticregression", LogisticRegression(C=C, max_iter=max_iter)),
        ]
    )


def make_teacher_pipeline(estimator, X):
    """Wrap a tree ensemble so that it accepts the columns of X.

    Categorical columns are ordinal-encoded, with missing values and categories
    unseen at fit encoded as NaN, which XGBoost, LightGBM and scikit-learn's
    tree ensembles treat as missing. Numeric columns pass through unchanged.

    Parameters
    ----------
    estimator : classifier
        The teacher's final estimator, for example ``XGBClassifier()``.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Only the column types are read.

    Returns
    -------
    teacher : Pipeline
    """
    categorical, numeric = categorical_columns(X)
    transformers = []
    if categorical:
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
        )
        transformers.append(("categorical", encoder, categorical))
    if numeric:
        transformers.append(("numeric", "passthrough", numeric))
    columns = ColumnTransformer(
        transformers, remainder="drop", verbose_feature_names_out=False
    )
    return Pipeline([("columns", columns), ("model", estimator)])
