"""Benchmark: distil XGBoost into logistic and additive students on UCI Adult.

Fits the teacher once on the official training split, then, for each student
kind, the student alone, classic knowledge distillation (beta=0) and DiXtill,
and prints their test metrics. Fit times are measured twice for DiXtill: with
the teacher's attributions computed in the fit (empty cache), and with them
read from the cache.

Run from the repository root:

    .venv/bin/python benchmarks/adult_distill.py --data-home DIR

where DIR contains adult.csv.gz (or omit --data-home to fetch Adult from OpenML).
"""

# License: BSD-3-Clause

import argparse
import json
import os
import time

import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import accuracy_score, f1_score
from xgboost import XGBClassifier

from skdixtill import DiXtillClassifier, make_additive_student, make_teacher_pipeline
from skdixtill.attributions._cache import clear_in_process_cache
from skdixtill.datasets import load_adult
from skdixtill.metrics import (
    feature_attribution_stability,
    shap_correlation,
    top_k_overlap,
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-home", default=None, help="folder holding adult.csv.gz")
    parser.add_argument("--n-eval", type=int, default=2000, help="test rows explained")
    parser.add_argument("--n-fas", type=int, default=100, help="test rows for FAS")
    parser.add_argument(
        "--feature-perturbation",
        default="tree_path_dependent",
        choices=["tree_path_dependent", "interventional"],
    )
    parser.add_argument("--n-attribution-samples", type=int, default=1000)
    parser.add_argument("--output", default="benchmarks/results/adult_distill.json")
    return parser.parse_args()


def fit_timed(model, X, y):
    start = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - start


def main():
    args = parse_args()
    data = load_adult(args.data_home)
    X_train, X_test = data.X_train, data.X_test
    y_train = (data.y_train == data.positive_class).astype(int)
    y_test = (data.y_test == data.positive_class).astype(int)

    teacher = make_teacher_pipeline(
        XGBClassifier(
            n_estimators=500, max_depth=6, learning_rate=0.05, random_state=0
        ),
        X_train,
    )
    teacher_seconds = fit_timed(teacher, X_train, y_train)
    frozen = FrozenEstimator(teacher)
    teacher_predictions = teacher.predict(X_test)

    rng = np.random.RandomState(0)
    eval_rows = np.sort(rng.choice(len(X_test), args.n_eval, replace=False))
    fas_rows = np.sort(rng.choice(len(X_test), args.n_fas, replace=False))
    X_eval, X_fas = X_test.iloc[eval_rows], X_test.iloc[fas_rows]

    settings = dict(
        feature_perturbation=args.feature_perturbation,
        n_attribution_samples=args.n_attribution_samples,
        random_state=0,
    )
    reference = DiXtillClassifier(frozen, beta=0.0, **settings).fit(X_train, y_train)
    teacher_phi = reference.explain_teacher(X_eval)
    teacher_fas = feature_attribution_stability(
        reference.explain_teacher, X_fas, random_state=0
    )

    rows = [
        {
            "student": "-",
            "model": "teacher",
            "accuracy": accuracy_score(y_test, teacher_predictions),
            "f1": f1_score(y_test, teacher_predictions, average="weighted"),
            "fidelity": 1.0,
            "shap_correlation": None,
            "top3_overlap": None,
            "fas": teacher_fas,
            "fit_seconds": teacher_seconds,
        }
    ]
    for kind in ("logistic", "additive"):
        for name, alpha, beta in (
            ("student_alone", 0.0, 0.0),
            ("kd", 0.5, 0.0),
            ("dixtill", 0.5, 0.3),
        ):
            student = make_additive_student(X_train) if kind == "additive" else None
            model = DiXtillClassifier(
                frozen, student, alpha=alpha, beta=beta, **settings
            )
            # An empty cache, so that DiXtill's fit includes the teacher's attributions.
            clear_in_process_cache()
            seconds = fit_timed(model, X_train, y_train)
            cached_seconds = fit_timed(model, X_train, y_train)
            predictions = model.predict(X_test)
            phi = model.explain(X_eval)
            rows.append(
                {
                    "student": kind,
                    "model": name,
                    "accuracy": accuracy_score(y_test, predictions),
                    "f1": f1_score(y_test, predictions, average="weighted"),
                    "fidelity": float(np.mean(predictions == teacher_predictions)),
                    "shap_correlation": shap_correlation(teacher_phi, phi),
                    "top3_overlap": top_k_overlap(teacher_phi, phi, k=3),
                    "fas": feature_attribution_stability(
                        model.explain, X_fas, random_state=0
                    ),
                    "fit_seconds": seconds,
                    "fit_seconds_cached": cached_seconds,
                    "teacher_attribution_seconds": model.attribution_stats_["seconds"],
                }
            )
            print(format_row(rows[-1]), flush=True)

    print()
    print(
        f"Adult, official split; teacher TreeSHAP {args.feature_perturbation}, "
        f"{args.n_attribution_samples} attributed training rows"
    )
    print(format_header())
    for row in rows:
        print(format_row(row))
    for kind in ("logistic", "additive"):
        kd = next(r for r in rows if r["student"] == kind and r["model"] == "kd")
        dx = next(r for r in rows if r["student"] == kind and r["model"] == "dixtill")
        ratio = dx["fit_seconds"] / kd["fit_seconds"]
        print(
            f"{kind}: DiXtill / KD fit time {ratio:.2f}x "
            f"(attributions in the fit), "
            f"{dx['fit_seconds_cached'] / kd['fit_seconds_cached']:.2f}x (cached)"
        )
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as file:
        json.dump(rows, file, indent=2)


def format_header():
    return (
        f"{'student':>9} {'model':>14} {'acc %':>7} {'F1':>6} {'fidel.':>7} "
        f"{'rho':>6} {'top-3':>6} {'FAS':>6} {'fit s':>6} {'cached':>7}"
    )


def format_row(row):
    def number(key, template):
        value = row.get(key)
        return "-" if value is None else template.format(value)

    return (
        f"{row['student']:>9} {row['model']:>14} {100 * row['accuracy']:>7.2f} "
        f"{row['f1']:>6.3f} {row['fidelity']:>7.3f} "
        f"{number('shap_correlation', '{:.3f}'):>6} "
        f"{number('top3_overlap', '{:.3f}'):>6} {number('fas', '{:.3f}'):>6} "
        f"{row['fit_seconds']:>6.1f} {number('fit_seconds_cached', '{:.1f}'):>7}"
    )


if __name__ == "__main__":
    main()
