"""
Tune the distiller with Optuna
==============================

Optuna searches alpha, beta and temperature for the best cross-validated
value of ``alignment_score``, ``0.6 * accuracy + 0.4 * SHAP correlation``.
As in a grid search, the teacher is fitted once and frozen, and the
attribution cache in ``memory=`` explains each row of the teacher once for
all trials.

Needs Optuna (``pip install skdixtill[tuning]``). Run it from the repository
root, with the folder that contains ``adult.csv.gz`` (without ``--data-home`` the
data is fetched from OpenML)::

    .venv/bin/python examples/tune_optuna.py --data-home DIR --trials 50
"""

# License: BSD-3-Clause

# %%
# Data and a frozen teacher
# -------------------------
import argparse
import tempfile
import time

import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import KFold, cross_val_score
from xgboost import XGBClassifier

from skdixtill import DiXtillClassifier, make_teacher_pipeline
from skdixtill.datasets import load_adult
from skdixtill.metrics import alignment_score

try:
    import optuna
except ImportError as error:
    raise ImportError(
        "This example needs Optuna. Install it with `pip install skdixtill[tuning]`."
    ) from error

parser = argparse.ArgumentParser()
parser.add_argument("--data-home", default=None, help="folder containing adult.csv.gz")
parser.add_argument("--n-rows", type=int, default=4000, help="training rows used")
parser.add_argument("--trials", type=int, default=50, help="Optuna trials (default 50)")
args, _ = parser.parse_known_args()

adult = load_adult(args.data_home)
rows = np.random.RandomState(0).choice(len(adult.X_train), args.n_rows, replace=False)
X = adult.X_train.iloc[rows]
y = np.asarray(adult.y_train[rows] == adult.positive_class, dtype=int)

teacher = make_teacher_pipeline(XGBClassifier(n_estimators=200, max_depth=4), X)
teacher = FrozenEstimator(teacher.fit(X, y))

# %%
# The objective
# -------------
# Each trial fits the distiller on three folds and returns the mean
# alignment score on the held-out folds. Path-dependent TreeSHAP needs no
# background rows, so every fold and trial shares one attribution cache.
cv = KFold(n_splits=3, shuffle=True, random_state=0)
cache_folder = tempfile.TemporaryDirectory()


def objective(trial):
    distiller = DiXtillClassifier(
        teacher,
        alpha=trial.suggest_float("alpha", 0.1, 0.9),
        beta=trial.suggest_float("beta", 0.0, 1.0),
        temperature=trial.suggest_float("temperature", 1.0, 8.0, log=True),
        feature_perturbation="tree_path_dependent",
        memory=cache_folder.name,
        random_state=0,
    )
    scores = cross_val_score(distiller, X, y, scoring=alignment_score, cv=cv)
    return scores.mean()


optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(
    direction="maximize", sampler=optuna.samplers.TPESampler(seed=0)
)
start = time.perf_counter()
study.optimize(objective, n_trials=args.trials)
seconds = time.perf_counter() - start

# %%
# Results
# -------
trials = study.trials_dataframe(attrs=("number", "value", "params"))
print(
    trials.sort_values("value", ascending=False)
    .head(8)
    .to_string(index=False, float_format=lambda value: f"{value:.3f}")
)
print(f"\n{len(study.trials)} trials in {seconds:.0f} s")
print(f"Best: {study.best_params}, alignment {study.best_value:.3f}")

# %%
# The best distiller, refitted on all rows
# ----------------------------------------
best = DiXtillClassifier(
    teacher,
    **study.best_params,
    feature_perturbation="tree_path_dependent",
    memory=cache_folder.name,
    random_state=0,
).fit(X, y)
print(f"refit: {best.attribution_stats_}")
cache_folder.cleanup()
