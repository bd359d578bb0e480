"""Loader of the UCI Adult (Census Income) data with its official split."""

# License: BSD-3-Clause

import os

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

ADULT_FILE = "adult.csv.gz"
TARGET = "income"
POSITIVE_CLASS = ">50K"
# Rows of the original adult.data; the remaining 16,281 are adult.test.
N_TRAIN_ROWS = 32561


def load_adult(data_home=None, *, download_if_missing=True):
    """Load UCI Adult with its official train/test split.

    The data is read from ``data_home/adult.csv.gz`` when that file exists: the
    14 feature columns, ``income`` and a ``split`` column holding ``train``
    or ``test``, with ``?`` for missing values. Otherwise it is fetched from
    OpenML (dataset ``adult``, version 2), whose 48,842 rows are adult.data
    followed by adult.test; the split is recovered from that order.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding ``adult.csv.gz``, or where scikit-learn caches OpenML
        downloads.
    download_if_missing : bool, default=True
        Fetch from OpenML when there is no local file. With False, a missing
        file raises FileNotFoundError.

    Returns
    -------
    data : Bunch
        ``X_train``, ``X_test`` (DataFrames with NaN for missing values and
        ``str`` columns for categories), ``y_train``, ``y_test`` (``"<=50K"``
        or ``">50K"``, the trailing period of the original test labels
        removed), ``positive_class`` and ``source``.
    """
    path = None if data_home is None else os.path.join(os.fspath(data_home), ADULT_FILE)
    if path is not None and os.path.exists(path):
        frame = pd.read_csv(path, na_values=["?"], skipinitialspace=True)
        source = os.path.abspath(path)
        is_train = _split_column(frame, path)
        frame = frame.drop(columns="split")
    elif download_if_missing:
        try:
            frame, source = _fetch_openml(data_home)
        except OSError as error:
            # urllib's URLError is an OSError: no network, or OpenML is down.
            raise FileNotFoundError(
                f"No {ADULT_FILE} in data_home={data_home!r}, and fetching Adult "
                f"from OpenML failed ({error}). Put {ADULT_FILE} in that folder."
            ) from error
        # NOTE: the order adult.data then adult.test is what OpenML's upload
        # describes; it was not checked against the UCI files here.
        is_train = np.arange(len(frame)) < N_TRAIN_ROWS
    else:
        raise FileNotFoundError(
            f"No {ADULT_FILE} in data_home={data_home!r}. Put the file there, or "
            "pass download_if_missing=True to fetch it from OpenML."
        )

    y = frame.pop(TARGET).astype(str).str.strip().str.rstrip(".")
    return Bunch(
        X_train=frame[is_train].reset_index(drop=True),
        X_test=frame[~is_train].reset_index(drop=True),
        y_train=y[is_train].to_numpy(),
        y_test=y[~is_train].to_numpy(),
        positive_class=POSITIVE_CLASS,
        source=source,
    )


def _split_column(frame, path):
    if "split" not in frame.columns or TARGET not in frame.columns:
        raise ValueError(
            f"{path} must have the columns {TARGET!r} and 'split' (train or "
            f"test); it has {list(frame.columns)}."
        )
    values = set(frame["split"].unique())
    if not values <= {"train", "test"}:
        raise ValueError(
            f"The 'split' column of {path} must hold 'train' or 'test'; got "
            f"{sorted(map(str, values))}."
        )
    return (frame["split"] == "train").to_numpy()


def _fetch_openml(data_home):
    from sklearn.datasets import fetch_openml

    bunch = fetch_openml("adult", version=2, as_frame=True, data_home=data_home)
    frame = bunch.frame.rename(columns={"class": TARGET})
    for name, column in frame.items():
        if isinstance(column.dtype, pd.CategoricalDtype):
            frame[name] = column.astype(object).where(column.notna(), np.nan)
    return frame, "OpenML dataset 'adult', version 2"
