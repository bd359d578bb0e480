# License: BSD-3-Clause

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    QuantileTransformer,
    SplineTransformer,
    StandardScaler,
)

from skdixtill import make_additive_student, make_default_student, make_teacher_pipeline
from skdixtill._groups import (
    UnsupportedStepError,
    check_feature_groups,
    group_matrix,
    output_groups,
)

NUMERIC = [
    "duration_in_month",
    "credit_amount",
    "age_in_years",
    "present_residence_since",
]
CATEGORICAL = ["status_of_existing_checking_account", "purpose", "job", "telephone"]


@pytest.fixture(scope="module")
def credit(german_credit):
    """German Credit with four numeric and four string columns, some values missing."""
    X, _ = german_credit
    X = X[NUMERIC + CATEGORICAL].copy()
    # Every 9th value of two numeric columns is missing, and one column is
    # missing everywhere, so that imputers drop it and indicators flag it.
    X.loc[::9, "credit_amount"] = np.nan
    X.loc[3::9, "age_in_years"] = np.nan
    X["empty"] = np.nan
    return X


def _dense(Z):
    if hasattr(Z, "toarray"):
        Z = Z.toarray()
    return np.asarray(Z, dtype=float)


def _perturbed(X, column):
    """Return X with one column's values moved to other rows (or filled when empty)."""
    X = X.copy()
    if isinstance(X, pd.DataFrame):
        values = X.iloc[:, column]
        if values.isna().all():
            X.iloc[:, column] = 1.0
        else:
            X.iloc[:, column] = np.roll(values.to_numpy(), 7)
    else:
        X[:, column] = np.roll(X[:, column], 7)
    return X


def _assert_groups_match_columns(transformer, X):
    """Check output_groups against the columns that change when one input changes."""
    output = _dense(transformer.transform(X))
    groups = output_groups(transformer, X.shape[1])
    assert len(groups) == output.shape[1]

    covered = np.zeros(output.shape[1], dtype=bool)
    for column in range(X.shape[1]):
        changed_output = _dense(transformer.transform(_perturbed(X, column)))
        changed = ~np.isclose(output, changed_output, equal_nan=True).all(axis=0)
        # An output column may change only with the input column it is mapped to.
        assert_array_equal(groups[changed], column)
        covered |= changed
    # Columns that are constant over X cannot be checked by perturbation. Every
    # other output column must move with some input column.
    constant = np.all(output == output[0], axis=0)
    assert covered[~constant].all()
    return groups


@pytest.mark.parametrize(
    "transformer",
    [
        StandardScaler(),
        MinMaxScaler(),
        QuantileTransformer(n_quantiles=50),
        FunctionTransformer(),
        SplineTransformer(n_knots=4, include_bias=True),
        SplineTransformer(n_knots=4, include_bias=False),
        SplineTransformer(n_knots=5, degree=2, extrapolation="linear"),
        KBinsDiscretizer(n_bins=4, encode="onehot"),
        KBinsDiscretizer(n_bins=4, encode="onehot-dense"),
        KBinsDiscretizer(n_bins=4, encode="ordinal"),
        make_pipeline(StandardScaler(), SplineTransformer(n_knots=4)),
    ],
    ids=lambda t: type(t).__name__ if not isinstance(t, Pipeline) else "pipeline",
)
@pytest.mark.filterwarnings("ignore:Bins whose width are too small")
def test_numeric_transformers(credit, transformer):
    """Numeric transformers map each output column to the column it comes from."""
    X = credit[["duration_in_month", "present_residence_since"]].to_numpy(float)
    X = np.column_stack([X, credit["duration_in_month"] * 3.0 + 1.0])
    transformer.fit(X)
    groups = _assert_groups_match_columns(transformer, X)
    assert set(groups) == {0, 1, 2}


@pytest.mark.filterwarnings("ignore:Bins whose width are too small")
def test_kbins_removed_bins(credit):
    """KBinsDiscretizer's one-hot columns follow n_bins_ after removing narrow bins."""
    # present_residence_since takes 4 values, so 6 quantile bins collapse.
    X = credit[["present_residence_since", "duration_in_month"]].to_numpy(float)
    transformer = KBinsDiscretizer(n_bins=6, encode="onehot").fit(X)
    assert transformer.n_bins_[0] < 6
    groups = _assert_groups_match_columns(transformer, X)
    assert_array_equal(np.bincount(groups), transformer.n_bins_)


@pytest.mark.parametrize(
    "encoder",
    [
        OneHotEncoder(),
        OneHotEncoder(drop="first"),
        OneHotEncoder(drop="if_binary"),
        OneHotEncoder(min_frequency=40, handle_unknown="infrequent_if_exist"),
        OneHotEncoder(min_frequency=40, drop="first"),
        OneHotEncoder(max_categories=3, handle_unknown="infrequent_if_exist"),
        OneHotEncoder(handle_unknown="ignore"),
        OrdinalEncoder(),
    ],
    ids=[
        "plain",
        "drop_first",
        "drop_if_binary",
        "min_frequency",
        "min_frequency_drop_first",
        "max_categories",
        "handle_unknown",
        "ordinal",
    ],
)
def test_categorical_encoders(credit, encoder):
    """Encoders of string columns map every output column to its input column."""
    X = credit[CATEGORICAL]
    encoder.fit(X)
    groups = _assert_groups_match_columns(encoder, X)
    assert set(groups) == set(range(len(CATEGORICAL)))


def test_one_hot_infrequent_share_column(credit):
    """Infrequent categories of a column share one output column."""
    X = credit[["purpose"]]
    encoder = OneHotEncoder(min_frequency=40).fit(X)
    n_infrequent = len(encoder.infrequent_categories_[0])
    assert n_infrequent > 1
    expected = len(encoder.categories_[0]) - n_infrequent + 1
    assert len(output_groups(encoder, 1)) == expected


@pytest.mark.parametrize(
    "imputer",
    [
        SimpleImputer(add_indicator=True),
        SimpleImputer(strategy="median", add_indicator=True),
        SimpleImputer(add_indicator=True, keep_empty_features=True),
        SimpleImputer(strategy="constant", fill_value=0.0, add_indicator=True),
        SimpleImputer(),
        MissingIndicator(),
        MissingIndicator(features="all"),
    ],
    ids=[
        "mean",
        "median",
        "keep_empty",
        "constant",
        "no_indicator",
        "indicator",
        "all",
    ],
)
@pytest.mark.filterwarnings("ignore:Skipping features without any observed values")
def test_imputers(credit, imputer):
    """Imputers drop all-missing columns and map indicators to their column."""
    X = credit[NUMERIC + ["empty"]].to_numpy(float)
    imputer.fit(X)
    groups = _assert_groups_match_columns(imputer, X)
    empty = X.shape[1] - 1
    indicators = groups[len(groups) - _n_indicators(imputer) :]
    if isinstance(imputer, SimpleImputer):
        # scikit-learn 1.9 drops an all-missing column for every strategy,
        # unless keep_empty_features is set.
        imputed = groups[: len(groups) - _n_indicators(imputer)]
        assert (empty in imputed) == imputer.keep_empty_features
    if _n_indicators(imputer):
        assert empty in indicators
        assert 1 in indicators


def _n_indicators(imputer):
    if isinstance(imputer, MissingIndicator):
        return len(imputer.features_)
    if imputer.indicator_ is None:
        return 0
    return len(imputer.indicator_.features_)


@pytest.mark.filterwarnings("ignore:Skipping features without any observed values")
def test_imputer_strings_all_missing(credit):
    """A most-frequent imputer of strings drops a column that is missing everywhere."""
    X = credit[CATEGORICAL].astype(object)
    X["empty"] = pd.Series([np.nan] * len(X), dtype=object)
    imputer = SimpleImputer(strategy="most_frequent", add_indicator=True).fit(X)
    groups = output_groups(imputer, X.shape[1])
    # Reference: the imputer's own output width, four kept columns and one
    # indicator for the empty column.
    assert len(groups) == imputer.transform(X).shape[1]
    assert_array_equal(groups, [0, 1, 2, 3, 4])


@pytest.mark.filterwarnings("ignore:Skipping features without any observed values")
@pytest.mark.parametrize("remainder", ["drop", "passthrough"])
def test_column_transformer(credit, remainder):
    """A ColumnTransformer maps each block to the input columns it was given."""
    numeric_steps = make_pipeline(
        SimpleImputer(add_indicator=True),
        StandardScaler(),
        SplineTransformer(n_knots=4),
    )
    transformer = ColumnTransformer(
        [
            ("numeric", numeric_steps, ["credit_amount", "age_in_years"]),
            ("categorical", OneHotEncoder(drop="first"), ["purpose", "job"]),
            ("dropped", "drop", ["telephone"]),
        ],
        remainder=remainder,
    )
    X = credit[NUMERIC + ["purpose", "job", "telephone"]]
    transformer.fit(X)
    groups = _assert_groups_match_columns(transformer, X)
    passed_through = {0, 3} <= set(groups)
    assert passed_through == (remainder == "passthrough")
    assert 6 not in groups


@pytest.mark.filterwarnings("ignore:Skipping features without any observed values")
def test_nested_pipelines(credit):
    """Pipelines inside a ColumnTransformer inside a Pipeline compose their maps."""
    inner = ColumnTransformer(
        [
            ("scaled", make_pipeline(SimpleImputer(), StandardScaler()), [1, 0]),
            ("binned", KBinsDiscretizer(n_bins=3), [2]),
        ],
        remainder="passthrough",
    )
    transformer = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True),
        make_pipeline(inner, SplineTransformer(n_knots=3, include_bias=False)),
    )
    X = credit[NUMERIC + ["empty"]].to_numpy(float)
    transformer.fit(X)
    _assert_groups_match_columns(transformer, X)


@pytest.mark.parametrize(
    "builder", [make_default_student, make_additive_student, make_teacher_pipeline]
)
def test_builders(adult, builder):
    """The steps built for a student or a teacher map back to the columns of X."""
    X, y, _, _ = adult
    X = X.iloc[:300]
    if builder is make_teacher_pipeline:
        model = builder(None, X)
        steps = model[:-1].fit(X, y[:300])
    else:
        steps = builder(X)[:-1].fit(X, y[:300])
    groups = _assert_groups_match_columns(steps, X)
    assert set(groups) == set(range(X.shape[1]))


@pytest.mark.parametrize(
    "step",
    [PolynomialFeatures(degree=2), PCA(n_components=2)],
    ids=["polynomial", "pca"],
)
@pytest.mark.parametrize("nested", [False, True])
def test_unsupported_step(credit, step, nested):
    """A step that mixes columns raises an error naming it and feature_groups."""
    X = credit[["duration_in_month", "present_residence_since"]].to_numpy(float)
    transformer = make_pipeline(StandardScaler(), step)
    if nested:
        transformer = ColumnTransformer([("mixed", transformer, [0, 1])])
    transformer.fit(X)
    with pytest.raises(
        UnsupportedStepError, match=f"{type(step).__name__}.*feature_groups"
    ):
        output_groups(transformer, 2)


def test_group_matrix():
    """group_matrix has a single 1 per output column, in its group's column."""
    matrix = group_matrix(np.array([0, 0, 2, 1, 2]), 3)
    expected = [[1, 0, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1]]
    assert_array_equal(matrix, expected)


def test_check_feature_groups_names():
    """Column names in feature_groups are turned into input column indices."""
    groups = check_feature_groups(
        ["b", "a", "b"], 3, np.array(["a", "b"]), 2, "student"
    )
    assert_array_equal(groups, [1, 0, 1])


@pytest.mark.parametrize(
    "groups, names, message",
    [
        ([0, 1], None, r"one entry per column .* 3 here; got shape \(2,\)"),
        ([[0, 1, 1]], None, r"one entry per column"),
        (["a", "b", "b"], None, "names columns, but X has no column names"),
        (["a", "z", "b"], np.array(["a", "b"]), r"not in X: \['z'\]"),
        ([0, 1, 2], None, r"integer indices in \[0, 1\]; got \[0, 1, 2\]"),
        ([0, -1, 1], None, r"integer indices in \[0, 1\]"),
        ([0.0, 1.0, 1.0], None, "column names or integer indices"),
    ],
    ids=[
        "length",
        "2d",
        "names_without_names",
        "unknown_name",
        "too_large",
        "negative",
        "float",
    ],
)
def test_check_feature_groups_errors(groups, names, message):
    """Invalid feature_groups raise an error naming the model and the problem."""
    with pytest.raises(ValueError, match=r"feature_groups\['student'\].*" + message):
        check_feature_groups(groups, 3, names, 2, "student")
