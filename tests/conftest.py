# License: BSD-3-Clause

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from skdixtill.attributions._cache import clear_in_process_cache

# The real datasets live beside the repository, in ../shared/data, unless
# SKDIXTILL_DATA names another folder. They are read in place, never copied.
DATA = Path(
    os.environ.get(
        "SKDIXTILL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
    )
)


@pytest.fixture(autouse=True)
def _empty_attribution_cache():
    """Start every test with an empty in-process attribution cache.

    The cache is a module-level store shared by all fits in the process, so
    without this a test could pass only because an earlier one explained the
    same rows.
    """
    clear_in_process_cache()
    yield
    clear_in_process_cache()


@pytest.fixture(scope="session", autouse=True)
def _single_thread():
    """Run OpenMP and BLAS on one thread during the tests.

    The models under test are tiny, and on a 2-core runner shared with other
    jobs the OpenMP threads of LightGBM and HistGradientBoosting spin for
    seconds waiting for each other (a 0.02 s fit took 4 to 8 s).
    """
    with threadpool_limits(limits=1):
        yield


def _read(name):
    path = DATA / name
    if not path.exists():
        # Failing rather than skipping: a suite that skips its real-data tests
        # would pass without testing anything.
        pytest.fail(
            f"{path} is missing. Put the datasets in ../shared/data beside the "
            "repository, or set SKDIXTILL_DATA to their folder."
        )
    return pd.read_csv(path)


@pytest.fixture(scope="session")
def adult():
    """Return 800 training and 300 test rows of Adult as (X, y, X_test, y_test).

    ``?`` is read as missing; test labels lose their trailing period. ``fnlwgt``
    is dropped and ``race`` is made a pandas ``category`` column, so the frame
    contains ``str``, ``category`` and integer columns with missing values.
    """
    frame = _read("adult.csv.gz").replace("?", np.nan)
    frame["income"] = frame["income"].str.rstrip(".")
    frame["race"] = frame["race"].astype("category")
    frame = frame.drop(columns=["fnlwgt"])
    train = frame[frame["split"] == "train"].sample(800, random_state=0)
    test = frame[frame["split"] == "test"].sample(300, random_state=0)
    columns = [c for c in frame.columns if c not in ("income", "split")]
    return (
        train[columns].reset_index(drop=True),
        train["income"].to_numpy(),
        test[columns].reset_index(drop=True),
        test["income"].to_numpy(),
    )


@pytest.fixture(scope="session")
def german_credit():
    """Return German Credit as (X, y): string codes, integers, labels 1 and 2."""
    frame = _read("german_credit.csv.gz")
    return frame.drop(columns="class"), frame["class"].to_numpy()


def pytest_configure(config):
    # Importing shap 0.51 with matplotlib 3.11 emits this from shap's own
    # colour maps and is unrelated to skdixtill.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:The set_.* function will be deprecated:PendingDeprecationWarning",
    )


@pytest.fixture(scope="session")
def data_dir():
    """Return the folder of the real datasets, failing when it is missing."""
    if not (DATA / "adult.csv.gz").exists():
        pytest.fail(
            f"{DATA} holds no adult.csv.gz. Put the datasets in ../shared/data "
            "beside the repository, or set SKDIXTILL_DATA to their folder."
        )
    return DATA
