# License: BSD-3-Clause

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_validate

from skdixtill import DiXtillClassifier
from skdixtill.attributions import _cache
from skdixtill.attributions._cache import (
    AttributionCache,
    cache_location,
    clear_in_process_cache,
    fingerprint,
    row_hashes,
)

X_CANCER, Y_CANCER = load_breast_cancer(return_X_y=True)
X_CANCER = (X_CANCER[:200, :8] - X_CANCER[:200, :8].mean(0)) / X_CANCER[:200, :8].std(0)
Y_CANCER = Y_CANCER[:200]
N_SAMPLES = len(Y_CANCER)
FROZEN_TEACHER = FrozenEstimator(
    RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(
        X_CANCER, Y_CANCER
    )
)


def _distiller(**params):
    params = {
        "teacher": FROZEN_TEACHER,
        "student": LogisticRegression(),
        "random_state": 0,
        **params,
    }
    return DiXtillClassifier(**params)


# Row hashes and keys --------------------------------------------------------


def test_row_hashes_depend_on_values_only():
    """Equal rows hash equally, whatever their index or container."""
    frame = pd.DataFrame(X_CANCER[:5])
    hashes = row_hashes(X_CANCER[:5])
    assert hashes.dtype == np.uint64
    assert_array_equal(row_hashes(frame), hashes)
    assert_array_equal(row_hashes(frame.set_index(frame.index + 100)), hashes)
    assert_array_equal(row_hashes(X_CANCER[[4, 0]]), hashes[[4, 0]])
    assert len(np.unique(row_hashes(X_CANCER))) == len(np.unique(X_CANCER, axis=0))


def test_row_hashes_mixed_frame():
    """Rows of a frame with strings and missing values hash by their values."""
    frame = pd.DataFrame({"job": ["a", None, "a"], "age": [30.0, np.nan, 30.0]})
    hashes = row_hashes(frame)
    assert hashes[0] == hashes[2]
    assert hashes[0] != hashes[1]


def test_fingerprint_stable():
    """A fitted forest and each unpickled copy of it give the same fingerprint."""
    # Tree nodes are a structured array with uninitialised padding bytes, so
    # a hash of the raw bytes differs from one unpickled copy to the next.
    pickled = pickle.dumps(FROZEN_TEACHER)
    copies = [pickle.loads(pickled) for _ in range(3)]
    expected = fingerprint(1, FROZEN_TEACHER)
    assert [fingerprint(1, copy) for copy in copies] == [expected] * 3
    assert fingerprint(2, FROZEN_TEACHER) != expected
    refitted = clone(FROZEN_TEACHER.estimator).set_params(max_depth=3)
    assert fingerprint(1, refitted.fit(X_CANCER, Y_CANCER)) != expected


@pytest.mark.parametrize(
    "memory, expected",
    [
        (None, None),
        ("cache-dir", "cache-dir"),
        (Path("cache-dir"), "cache-dir"),
        (joblib.Memory("cache-dir", verbose=0), "cache-dir"),
        (joblib.Memory(None), None),
    ],
    ids=["none", "str", "path", "memory", "memory_without_location"],
)
def test_cache_location(memory, expected):
    """cache_location returns the folder of a memory argument."""
    assert cache_location(memory) == expected


# AttributionCache ------------------------------------------------------------


def test_cache_put_get():
    """Stored rows come back in the order of the requested hashes."""
    cache = AttributionCache("key")
    hashes = np.array([11, 22, 33], dtype=np.uint64)
    values = np.arange(3 * 4 * 1, dtype=float).reshape(3, 4, 1)
    cache.put(hashes, values)
    found, cached = cache.get(np.array([33, 44, 11], dtype=np.uint64))
    assert_array_equal(found, [True, False, True])
    assert_array_equal(np.stack(cached), values[[2, 0]])


def test_cache_on_disk(tmp_path):
    """Rows written by one cache are read by another one from the same folder."""
    hashes = np.array([1, 2], dtype=np.uint64)
    values = np.ones((2, 3, 1))
    AttributionCache("key", str(tmp_path)).put(hashes, values)
    folder = tmp_path / "skdixtill-attributions" / "key"
    assert len(list(folder.glob("chunk-*.npz"))) == 1
    assert not list(folder.glob("*.tmp.npz"))

    clear_in_process_cache()
    # A chunk still being written is ignored by readers.
    np.savez(folder / "chunk-partial.tmp.npz", hashes=np.array([3], dtype=np.uint64))
    found, cached = AttributionCache("key", str(tmp_path)).get(
        np.array([2, 3], dtype=np.uint64)
    )
    assert_array_equal(found, [True, False])
    assert_array_equal(cached[0], values[1])


def test_cache_keeps_recent_keys():
    """The in-process cache drops the least recently used keys."""
    for i in range(_cache._MAX_KEYS_IN_PROCESS + 1):
        AttributionCache(f"key-{i}").put(
            np.array([i], dtype=np.uint64), np.ones((1, 2, 1))
        )
    assert "key-0" not in _cache._IN_PROCESS
    assert f"key-{_cache._MAX_KEYS_IN_PROCESS}" in _cache._IN_PROCESS
    assert len(_cache._IN_PROCESS) == _cache._MAX_KEYS_IN_PROCESS


# The distiller and its cache ---------------------------------------------------


def test_repeated_fit_explains_no_row_twice():
    """A second fit on the same rows reads every attribution from the cache."""
    first = _distiller().fit(X_CANCER, Y_CANCER)
    second = _distiller(alpha=0.8).fit(X_CANCER, Y_CANCER)
    assert first.attribution_stats_["rows_explained"] == N_SAMPLES
    assert second.attribution_stats_["rows_requested"] == N_SAMPLES
    assert second.attribution_stats_["rows_explained"] == 0
    assert second.attribution_stats_["seconds"] == 0.0


def test_cached_attributions_equal_fresh_ones():
    """Attributions read from the cache equal freshly computed ones."""
    distiller = _distiller().fit(X_CANCER, Y_CANCER)
    cached = distiller.explain_teacher(X_CANCER[:20])
    assert distiller.attribution_stats_["rows_explained"] == N_SAMPLES
    clear_in_process_cache()
    fresh = distiller.explain_teacher(X_CANCER[:20])
    assert distiller.attribution_stats_["rows_explained"] == N_SAMPLES + 20
    assert_array_equal(cached, fresh)


def test_cross_validation_explains_each_row_once():
    """Across CV folds with a frozen teacher, every row is explained once."""
    cv = KFold(n_splits=4, shuffle=True, random_state=0)
    result = cross_validate(
        _distiller(), X_CANCER, Y_CANCER, cv=cv, return_estimator=True
    )
    stats = [estimator.attribution_stats_ for estimator in result["estimator"]]
    assert [s["rows_requested"] for s in stats] == [N_SAMPLES * 3 // 4] * 4
    assert sum(s["rows_explained"] for s in stats) == N_SAMPLES


def test_grid_search_explains_each_row_once():
    """A grid search over alpha and beta explains each row once in all its fits."""
    search = GridSearchCV(
        _distiller(),
        {"alpha": [0.3, 0.7], "beta": [0.2, 0.4]},
        cv=KFold(n_splits=3, shuffle=True, random_state=0),
    )
    explained = []
    original_put = AttributionCache.put

    def counting_put(self, hashes, values):
        explained.extend(int(h) for h in hashes)
        original_put(self, hashes, values)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AttributionCache, "put", counting_put)
        search.fit(X_CANCER, Y_CANCER)
    assert len(explained) == len(set(explained))
    assert len(explained) == N_SAMPLES
    assert search.best_estimator_.attribution_stats_["rows_explained"] == 0


def test_interventional_background_changes_key():
    """Interventional attributions are cached per background, so CV folds differ."""
    cv = KFold(n_splits=2, shuffle=True, random_state=0)
    distiller = _distiller(
        feature_perturbation="interventional", n_background_samples=20
    )
    result = cross_validate(distiller, X_CANCER, Y_CANCER, cv=cv, return_estimator=True)
    explained = [e.attribution_stats_["rows_explained"] for e in result["estimator"]]
    assert explained == [N_SAMPLES // 2, N_SAMPLES // 2]


@pytest.mark.parametrize("as_memory", [False, True], ids=["str", "joblib_memory"])
def test_memory_folder_shared_by_fits(tmp_path, as_memory):
    """Two fits sharing a memory folder explain each row once between them."""
    memory = joblib.Memory(tmp_path, verbose=0) if as_memory else str(tmp_path)
    first = _distiller(memory=memory).fit(X_CANCER, Y_CANCER)
    clear_in_process_cache()
    second = _distiller(memory=memory).fit(X_CANCER, Y_CANCER)
    assert first.attribution_stats_["rows_explained"] == N_SAMPLES
    assert second.attribution_stats_["rows_explained"] == 0
    chunks = list((tmp_path / "skdixtill-attributions").glob("*/chunk-*.npz"))
    assert len(chunks) == 1
    assert not list(tmp_path.rglob("*.tmp.npz"))
    assert_array_equal(first.student_.coef_, second.student_.coef_)


def test_memory_folder_shared_with_subprocess(tmp_path):
    """Another Python process reads the attributions written to the folder."""
    teacher_path = tmp_path / "teacher.joblib"
    joblib.dump(FROZEN_TEACHER, teacher_path)
    memory = tmp_path / "memory"
    script = textwrap.dedent(
        f"""
        import json
        import joblib
        import numpy as np
        from sklearn.linear_model import LogisticRegression
        from skdixtill import DiXtillClassifier

        data = np.load({str(tmp_path / "data.npz")!r})
        teacher = joblib.load({str(teacher_path)!r})
        distiller = DiXtillClassifier(
            teacher, LogisticRegression(), random_state=0, memory={str(memory)!r}
        ).fit(data["X"], data["y"])
        print(json.dumps(distiller.attribution_stats_))
        """
    )
    np.savez(tmp_path / "data.npz", X=X_CANCER, y=Y_CANCER)

    parent = DiXtillClassifier(
        joblib.load(teacher_path),
        LogisticRegression(),
        random_state=0,
        memory=str(memory),
    ).fit(X_CANCER, Y_CANCER)
    assert parent.attribution_stats_["rows_explained"] == N_SAMPLES

    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    stats = json.loads(completed.stdout.strip().splitlines()[-1])
    assert stats["rows_requested"] == N_SAMPLES
    assert stats["rows_explained"] == 0
