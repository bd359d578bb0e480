"""Map the columns a transformer outputs back to the columns it was given.

Attributions are reported per column the user passed in. When a teacher or a
student expands a column (one-hot encoding, splines, bins, missing-value
indicators), the attributions of the expanded columns are summed, with their
signs, back onto the original column. That sum is a convention recommended by
the authors of ``shap``; it is not the Shapley value of the original column.

Only transformers known to act on each column on its own are mapped. Any other
step raises an error that names it, and users state the mapping of their own
steps through the ``feature_groups`` parameter of the distiller.
"""

# License: BSD-3-Clause

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    Binarizer,
    FunctionTransformer,
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    SplineTransformer,
    StandardScaler,
)

# Transformers whose output column i depends on input column i alone.
_ONE_TO_ONE = (
    Binarizer,
    MaxAbsScaler,
    MinMaxScaler,
    OrdinalEncoder,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)


class UnsupportedStepError(ValueError):
    """Raised when a pipeline step mixes columns, so attributions cannot be mapped."""


def output_groups(transformer, n_features_in):
    """Return, for each output column of a fitted transformer, its input column.

    Parameters
    ----------
    transformer : fitted transformer, Pipeline or ColumnTransformer, or None
        ``None`` and ``"passthrough"`` leave the columns as they are.
    n_features_in : int
        Number of columns the transformer receives.

    Returns
    -------
    groups : ndarray of shape (n_output_columns,), dtype=int
        ``groups[c]`` is the index of the input column that output column ``c``
        was computed from.
    """
    if transformer is None or transformer == "passthrough":
        return np.arange(n_features_in)
    if isinstance(transformer, Pipeline):
        return _pipeline_groups(transformer, n_features_in)
    if isinstance(transformer, ColumnTransformer):
        return _column_transformer_groups(transformer)
    if isinstance(transformer, _ONE_TO_ONE):
        return np.arange(n_features_in)
    if isinstance(transformer, FunctionTransformer) and transformer.func is None:
        return np.arange(n_features_in)
    if isinstance(transformer, OneHotEncoder):
        return _one_hot_groups(transformer)
    if isinstance(transformer, SplineTransformer):
        n_per_column = transformer.n_features_out_ // transformer.n_features_in_
        return np.repeat(np.arange(transformer.n_features_in_), n_per_column)
    if isinstance(transformer, KBinsDiscretizer):
        if transformer.encode == "ordinal":
            return np.arange(n_features_in)
        return np.repeat(np.arange(n_features_in), transformer.n_bins_)
    if isinstance(transformer, SimpleImputer):
        return _imputer_groups(transformer, n_features_in)
    if isinstance(transformer, MissingIndicator):
        return np.asarray(transformer.features_, dtype=int)
    raise UnsupportedStepError(
        f"Cannot map the output columns of {type(transformer).__name__} back to "
        "its input columns, because it is not a known column-wise transformer. "
        "Known ones are scalers, OneHotEncoder, OrdinalEncoder, SplineTransformer, "
        "KBinsDiscretizer, SimpleImputer and a ColumnTransformer or Pipeline of "
        "these. Pass feature_groups to state which input column each output "
        "column comes from."
    )


def _pipeline_groups(pipeline, n_features_in):
    groups = np.arange(n_features_in)
    for _, step in pipeline.steps:
        if step is None or step == "passthrough":
            continue
        step_groups = output_groups(step, len(groups))
        groups = groups[step_groups]
    return groups


def _column_transformer_groups(column_transformer):
    # Output blocks follow the order of output_indices_; each block maps into
    # the input columns its transformer was given.
    input_indices = column_transformer._transformer_to_input_indices
    groups = np.empty(_n_output_columns(column_transformer), dtype=int)
    for name, transformer, _ in column_transformer.transformers_:
        block = column_transformer.output_indices_[name]
        if block.stop == block.start:
            continue
        columns = np.asarray(input_indices[name], dtype=int)
        block_groups = output_groups(transformer, len(columns))
        groups[block] = columns[block_groups]
    return groups


def _n_output_columns(column_transformer):
    stops = [block.stop for block in column_transformer.output_indices_.values()]
    return max(stops, default=0)


def _one_hot_groups(encoder):
    counts = []
    infrequent = getattr(encoder, "infrequent_categories_", None)
    for i, categories in enumerate(encoder.categories_):
        count = len(categories)
        if infrequent is not None and infrequent[i] is not None:
            # Infrequent categories share one output column.
            count -= len(infrequent[i]) - 1
        if encoder.drop_idx_ is not None and encoder.drop_idx_[i] is not None:
            count -= 1
        counts.append(count)
    return np.repeat(np.arange(len(counts)), counts)


def _imputer_groups(imputer, n_features_in):
    # Columns whose statistic is NaN were entirely missing at fit and are
    # dropped unless keep_empty_features is set; indicator columns come last.
    kept = np.arange(n_features_in)
    if not imputer.keep_empty_features:
        statistics = np.asarray(imputer.statistics_)
        if statistics.dtype.kind == "f":
            kept = kept[~np.isnan(statistics)]
        else:
            kept = kept[[s is not None and s == s for s in statistics]]
    if imputer.indicator_ is None:
        return kept
    indicator = np.asarray(imputer.indicator_.features_, dtype=int)
    return np.concatenate([kept, indicator])


def group_matrix(groups, n_features):
    """Return the 0/1 matrix of shape (n_output_columns, n_features) of groups."""
    matrix = np.zeros((len(groups), n_features))
    matrix[np.arange(len(groups)), groups] = 1.0
    return matrix


def check_feature_groups(feature_groups, n_columns, feature_names, n_features, model):
    """Validate a user-given mapping and return it as integer input indices."""
    groups = np.asarray(feature_groups)
    if groups.ndim != 1 or len(groups) != n_columns:
        raise ValueError(
            f"feature_groups[{model!r}] must have one entry per column that the "
            f"{model}'s final estimator receives, {n_columns} here; got shape "
            f"{groups.shape}."
        )
    if groups.dtype.kind in "OUS":
        if feature_names is None:
            raise ValueError(
                f"feature_groups[{model!r}] names columns, but X has no column "
                "names. Pass integer column indices, or fit on a DataFrame."
            )
        lookup = {name: i for i, name in enumerate(feature_names)}
        unknown = sorted({str(g) for g in groups if g not in lookup})
        if unknown:
            raise ValueError(
                f"feature_groups[{model!r}] names columns that are not in X: "
                f"{unknown}. Known columns: {list(feature_names)}."
            )
        return np.array([lookup[g] for g in groups], dtype=int)
    if groups.dtype.kind not in "iu" or groups.min() < 0 or groups.max() >= n_features:
        raise ValueError(
            f"feature_groups[{model!r}] must hold column names or integer indices "
            f"in [0, {n_features - 1}]; got {groups[:10].tolist()}."
        )
    return groups.astype(int)
