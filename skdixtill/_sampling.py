"""Row selection shared by the distiller, the report and the command line."""

# License: BSD-3-Clause

import numpy as np
import pandas as pd


def take_rows(X, rows):
    """Return the rows of X at positions ``rows``, keeping a DataFrame a DataFrame.

    Sparse matrices and lists are returned as dense NumPy arrays.
    """
    if isinstance(X, pd.DataFrame):
        return X.iloc[rows]
    if hasattr(X, "toarray"):
        X = X.toarray()
    return np.asarray(X)[rows]


def sample_rows(n_samples, max_rows, rng):
    """Return sorted positions of at most ``max_rows`` rows drawn without replacement.

    All rows are returned when ``max_rows`` is None or not smaller than
    ``n_samples``.
    """
    if max_rows is None or max_rows >= n_samples:
        return np.arange(n_samples)
    return np.sort(rng.choice(n_samples, max_rows, replace=False))
