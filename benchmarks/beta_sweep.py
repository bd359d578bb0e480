"""Benchmark: sweep the alignment weight beta on UCI Adult.

Fits an XGBoost teacher (500 trees, depth 6) once on the official training
split and freezes it. Then, for a logistic student (``student=None``) and an
additive one (``make_additive_student``) and for beta in 0, 0.1, ..., 0.5
with alpha=0.5, fits a distiller and measures on the official test split:
accuracy, fidelity, SHAP correlation, top-3 overlap and the student's FAS,
the attribution metrics on a sample of test rows. The teacher's FAS is
measured once, on fewer rows, because its attributions cost most.

Prints a table and writes it, with a plot, under benchmarks/results/.
Run from the repository root:

    .venv/bin/python benchmarks/beta_sweep.py --data-home DIR

where DIR contains adult.csv.gz (or omit --data-home to fetch Adult from OpenML).
"""

# License: BSD-3-Clause

import argparse
import os
import time

import numpy as np
import pandas as pd
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import accuracy_score
from xgboost import XGBClassifier

from skdixtill import DiXtillClassifier, make_additive_student, make_teacher_pipeline
from skdixtill.datasets import load_adult
from skdixtill.metrics import (
    feature_attribution_stability,
    fidelity,
    shap_correlation,
    top_k_overlap,
)

BETAS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
STUDENTS = {"logistic": None, "additive": make_additive_student}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-home", default=None, help="folder containing adult.csv.gz"
    )
    parser.add_argument(
        "--n-eval", type=int, default=2000, help="test rows explained (default 2000)"
    )
    parser.add_argument(
        "--n-teacher-fas",
        type=int,
        default=200,
        help="test rows on which the teacher's FAS is measured (default 200)",
    )
    parser.add_argument(
        "--feature-perturbation",
        default="tree_path_dependent",
        choices=["tree_path_dependent", "interventional"],
        help="TreeSHAP mode of the teacher (default: the distiller's default)",
    )
    parser.add_argument("--output-dir", default="benchmarks/results")
    return parser.parse_args()


def main():
    args = parse_args()
    data = load_adult(args.data_home)
    X_train, X_test = data.X_train, data.X_test
    y_train = np.asarray(data.y_train == data.positive_class, dtype=int)
    y_test = np.asarray(data.y_test == data.positive_class, dtype=int)

    start = time.perf_counter()
    teacher = make_teacher_pipeline(
        XGBClassifier(
            n_estimators=500, max_depth=6, learning_rate=0.05, random_state=0
        ),
        X_train,
    ).fit(X_train, y_train)
    print(f"Teacher fitted in {time.perf_counter() - start:.1f} s")
    teacher_predictions = teacher.predict(X_test)

    rng = np.random.RandomState(0)
    eval_rows = np.sort(rng.choice(len(X_test), args.n_eval, replace=False))
    X_eval = X_test.iloc[eval_rows]

    rows = []
    distiller = None
    for student_name, build_student in STUDENTS.items():
        for beta in BETAS:
            student = None if build_student is None else build_student(X_train)
            distiller = DiXtillClassifier(
                FrozenEstimator(teacher),
                student,
                alpha=0.5,
                beta=beta,
                feature_perturbation=args.feature_perturbation,
                random_state=0,
            )
            start = time.perf_counter()
            distiller.fit(X_train, y_train)
            fit_seconds = time.perf_counter() - start
            rows.append(
                evaluate(distiller, X_test, y_test, X_eval, teacher_predictions)
                | {"student": student_name, "beta": beta, "fit_s": fit_seconds}
            )
            print(format_row(rows[-1]), flush=True)

    teacher_row = evaluate_teacher(
        distiller, teacher, X_test, y_test, X_eval, args.n_teacher_fas
    )
    table = pd.DataFrame(rows + [teacher_row])
    columns = ["student", "beta", "accuracy", "fidelity", "shap_correlation"]
    columns += ["top_3_overlap", "fas", "fit_s"]
    table = table[columns]
    print()
    print(table.to_string(index=False, float_format=lambda value: f"{value:.3f}"))

    os.makedirs(args.output_dir, exist_ok=True)
    csv_path = os.path.join(args.output_dir, "beta_sweep.csv")
    table.to_csv(csv_path, index=False)
    png_path = os.path.join(args.output_dir, "beta_sweep.png")
    plot(table, png_path)
    print(f"\nWrote {csv_path} and {png_path}")


def evaluate(distiller, X_test, y_test, X_eval, teacher_predictions):
    """Return the test metrics of one fitted distiller's student."""
    phi_teacher = distiller.explain_teacher(X_eval)
    phi_student = distiller.explain(X_eval)
    predictions = distiller.predict(X_test)
    return {
        "accuracy": accuracy_score(y_test, predictions),
        "fidelity": fidelity(teacher_predictions, predictions),
        "shap_correlation": shap_correlation(phi_teacher, phi_student),
        "top_3_overlap": top_k_overlap(phi_teacher, phi_student, k=3),
        "fas": feature_attribution_stability(distiller.explain, X_eval, random_state=0),
    }


def evaluate_teacher(distiller, teacher, X_test, y_test, X_eval, n_rows):
    """Return the teacher's accuracy and FAS, on the first n_rows of X_eval."""
    start = time.perf_counter()
    fas = feature_attribution_stability(
        distiller.explain_teacher, X_eval.iloc[:n_rows], random_state=0
    )
    print(f"Teacher FAS on {n_rows} rows in {time.perf_counter() - start:.1f} s")
    return {
        "student": "(teacher)",
        "beta": np.nan,
        "accuracy": accuracy_score(y_test, teacher.predict(X_test)),
        "fidelity": 1.0,
        "shap_correlation": 1.0,
        "top_3_overlap": 1.0,
        "fas": fas,
        "fit_s": np.nan,
    }


def format_row(row):
    return (
        f"{row['student']:>9} beta={row['beta']:.1f}: accuracy {row['accuracy']:.4f}, "
        f"SHAP correlation {row['shap_correlation']:.3f}, top-3 overlap "
        f"{row['top_3_overlap']:.3f}, FAS {row['fas']:.3f}, fit {row['fit_s']:.1f} s"
    )


def plot(table, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    metrics = [
        ("accuracy", "test accuracy"),
        ("shap_correlation", "SHAP correlation with the teacher"),
        ("top_3_overlap", "top-3 overlap with the teacher"),
    ]
    students = table[table["student"] != "(teacher)"]
    for ax, (column, label) in zip(axes, metrics, strict=True):
        for name, rows in students.groupby("student"):
            ax.plot(rows["beta"], rows[column], marker="o", label=name)
        ax.set_xlabel("beta (alpha = 0.5)")
        ax.set_ylabel(label)
    teacher_accuracy = table.loc[table["student"] == "(teacher)", "accuracy"].iloc[0]
    axes[0].axhline(teacher_accuracy, color="gray", linestyle="--", label="teacher")
    axes[0].legend()
    figure.suptitle("Adult, official split: XGBoost (500 trees) distilled")
    figure.tight_layout()
    figure.savefig(path, dpi=150)
    plt.close(figure)


if __name__ == "__main__":
    main()
