"""Benchmark: distil XGBoost into MLP students on UCI Adult.

Fits the teacher (XGBoost, 500 trees of depth 6) once on the official
training split, then trains the same MLP student with classic knowledge
distillation (``beta=0``) and with SHAP alignment, estimated by KernelSHAP
and by expected gradients. For each it prints the test accuracy, the SHAP
correlation (Pearson, flattened, and the mean per row) and the top-3 overlap
with the teacher on ``--n-eval`` test rows, and the fit time.

It then measures:

- how far ``explain()`` (512 sampled coalitions) is from the exact SHAP
  values (all 16,384 coalitions of the 14 columns) of the KD student;
- the training-time overhead of each mechanism over classic KD on a row
  sample: SHAP and gradient alignment of an MLP student (gradient alignment
  with an MLP teacher), attention alignment of a feature-token transformer
  with a deeper one as teacher.

Run from the repository root:

    .venv/bin/python benchmarks/neural_students.py --data-home DIR

where DIR contains adult.csv.gz (or omit --data-home to fetch Adult from OpenML).

Timings depend on the machine and on its load; torch runs on ``--threads``
threads.
"""

# License: BSD-3-Clause

import argparse
import json
import os
import time

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator
from xgboost import XGBClassifier

from skdixtill import DiXtillClassifier, make_teacher_pipeline
from skdixtill.datasets import load_adult
from skdixtill.metrics import (
    feature_attribution_stability,
    shap_correlation,
    top_k_overlap,
)
from skdixtill.neural import (
    FeatureTokenTransformer,
    KernelShap,
    ShapAlignment,
    make_mlp_student,
)
from skdixtill.neural._alignment import module_output


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-home", default=None, help="folder holding adult.csv.gz")
    parser.add_argument("--n-eval", type=int, default=1000, help="test rows explained")
    parser.add_argument(
        "--epochs", type=int, default=10, help="epochs of every student"
    )
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    parser.add_argument("--hidden", default="128,64", help="hidden units of the MLP")
    parser.add_argument(
        "--beta", type=float, default=0.3, help="weight of the XAI term"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument(
        "--n-fas", type=int, default=20, help="test rows for the students' FAS"
    )
    parser.add_argument(
        "--overhead-rows",
        type=int,
        default=8000,
        help="training rows of the overhead runs",
    )
    parser.add_argument(
        "--overhead-epochs", type=int, default=3, help="epochs of the overhead runs"
    )
    parser.add_argument("--output", default="benchmarks/results/neural_students.json")
    return parser.parse_args()


def fit_timed(model, X, y):
    start = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - start


def mlp_student(X, args, **params):
    hidden = tuple(int(units) for units in args.hidden.split(","))
    settings = dict(hidden=hidden, max_epochs=args.epochs, batch_size=256, lr=args.lr)
    settings.update(params)
    return make_mlp_student(X, **settings)


def alignment_metrics(distiller, X_eval, n_fas):
    phi_teacher = distiller.explain_teacher(X_eval)
    start = time.perf_counter()
    phi_student = distiller.explain(X_eval)
    explain_seconds = time.perf_counter() - start
    # Each row's KernelSHAP values cost tens of milliseconds, and FAS explains
    # every row 20 times, so it is measured on the first n_fas rows.
    fas = feature_attribution_stability(
        distiller.explain, X_eval.iloc[:n_fas], random_state=0
    )
    return {
        "fas": fas,
        "shap_correlation": shap_correlation(phi_teacher, phi_student),
        "shap_correlation_per_row": shap_correlation(
            phi_teacher, phi_student, per_row=True
        ),
        "top3_overlap": top_k_overlap(phi_teacher, phi_student, k=3),
        "explain_seconds": explain_seconds,
    }


def students(frozen, X_train, y_train, X_test, y_test, X_eval, args):
    settings = dict(
        feature_perturbation="interventional",
        n_attribution_samples=2000,
        random_state=0,
    )
    configurations = {
        "classic KD": dict(beta=0.0),
        "SHAP, KernelSHAP": dict(beta=args.beta, xai=ShapAlignment("kernel")),
        "SHAP, expected gradients": dict(
            beta=args.beta, xai=ShapAlignment("expected_gradients")
        ),
    }
    results = {}
    for name, configuration in configurations.items():
        distiller = DiXtillClassifier(
            frozen, mlp_student(X_train, args), **configuration, **settings
        )
        seconds = fit_timed(distiller, X_train, y_train)
        teacher_seconds = distiller.attribution_stats_["seconds"]
        results[name] = {
            "accuracy": distiller.score(X_test, y_test),
            "fit_seconds": seconds,
            "teacher_attribution_seconds": teacher_seconds,
            "training_seconds": seconds - teacher_seconds,
            **alignment_metrics(distiller, X_eval, args.n_fas),
        }
        if name == "classic KD":
            results[name]["explain_error"] = explain_error(distiller, X_eval)
        print(f"{name}: {results[name]}", flush=True)
    return results


def explain_error(distiller, X_eval, n_rows=20, n_background=30):
    """Return the relative RMS error of explain()'s estimate against exact values."""
    module = distiller.student_.named_steps["net"].module_.eval()
    Z = distiller.student_[:-1].transform(X_eval.iloc[:n_rows])
    Z = torch.as_tensor(Z, dtype=torch.float32)
    background = torch.as_tensor(
        distiller._student_background[:n_background], dtype=torch.float32
    )
    players = distiller._student_groups_matrix.T
    output = module_output(module)
    exact = KernelShap(players, max_exact_players=len(players))
    sampled = KernelShap(players, n_coalitions=512, random_state=0)
    phi_exact = exact.attributions_no_grad(output, Z, background).numpy()
    phi_sampled = sampled.attributions_no_grad(output, Z, background).numpy()
    error = np.sqrt(np.mean((phi_sampled - phi_exact) ** 2))
    return float(error / np.sqrt(np.mean(phi_exact**2)))


def transformer_net(n_layers, n_heads, d_model, max_epochs, lr):
    from skorch import NeuralNetClassifier

    return NeuralNetClassifier(
        FeatureTokenTransformer,
        module__n_layers=n_layers,
        module__n_heads=n_heads,
        module__d_model=d_model,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=lr,
        max_epochs=max_epochs,
        batch_size=256,
        iterator_train__shuffle=True,
        train_split=None,
        verbose=0,
    )


def overheads(frozen, X_train, y_train, args):
    """Return the training seconds of each mechanism and of classic KD on a sample."""
    rng = np.random.RandomState(0)
    rows = np.sort(rng.choice(len(X_train), args.overhead_rows, replace=False))
    X, y = X_train.iloc[rows].reset_index(drop=True), y_train[rows]
    epochs = args.overhead_epochs
    settings = dict(n_attribution_samples=2000, random_state=0)

    def training_seconds(teacher, student, **params):
        distiller = DiXtillClassifier(teacher, student, **settings, **params)
        seconds = fit_timed(distiller, X, y)
        return seconds - distiller.attribution_stats_["seconds"]

    results = {}
    shap_teacher = frozen
    results["SHAP, KernelSHAP"] = (
        training_seconds(
            shap_teacher, mlp_student(X, args, max_epochs=epochs), beta=0.0
        ),
        training_seconds(
            shap_teacher,
            mlp_student(X, args, max_epochs=epochs),
            beta=args.beta,
            xai=ShapAlignment("kernel"),
        ),
    )
    results["SHAP, expected gradients"] = (
        results["SHAP, KernelSHAP"][0],
        training_seconds(
            shap_teacher,
            mlp_student(X, args, max_epochs=epochs),
            beta=args.beta,
            xai=ShapAlignment("expected_gradients"),
        ),
    )

    # An MLP teacher on the same preprocessing as the student.
    mlp_teacher = mlp_student(X, args, hidden=(256, 128), max_epochs=5)
    mlp_teacher.named_steps["net"].set_params(
        module__n_features=mlp_teacher[:-1].fit_transform(X).shape[1],
        module__n_classes=2,
    )
    mlp_teacher.fit(X, y)
    results["gradient"] = (
        training_seconds(
            FrozenEstimator(mlp_teacher),
            mlp_student(X, args, max_epochs=epochs),
            beta=0.0,
        ),
        training_seconds(
            FrozenEstimator(mlp_teacher),
            mlp_student(X, args, max_epochs=epochs),
            beta=args.beta,
            xai="gradient",
        ),
    )

    # Feature-token transformers over the student's columns: 4 layers of 4
    # heads as teacher, 2 layers of 2 heads as student.
    columns = mlp_student(X, args)[:-1]
    attention_teacher = make_attention_pipeline(
        columns, transformer_net(4, 4, 32, 3, args.lr)
    )
    attention_teacher.named_steps["net"].set_params(
        module__n_features=columns.fit_transform(X).shape[1], module__n_classes=2
    )
    attention_teacher.fit(X, y)

    def attention_student():
        return make_attention_pipeline(
            columns, transformer_net(2, 2, 16, epochs, args.lr)
        )

    results["attention"] = (
        training_seconds(
            FrozenEstimator(attention_teacher), attention_student(), beta=0.0
        ),
        training_seconds(
            FrozenEstimator(attention_teacher),
            attention_student(),
            beta=args.beta,
            xai="attention",
        ),
    )
    for name, (classic, aligned) in results.items():
        print(
            f"{name}: classic KD {classic:.1f} s, aligned {aligned:.1f} s", flush=True
        )
    return {
        name: {"classic_kd_seconds": classic, "aligned_seconds": aligned}
        for name, (classic, aligned) in results.items()
    }


def make_attention_pipeline(columns, net):
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    return Pipeline([("columns", clone(columns)), ("net", net)])


def print_table(teacher_accuracy, teacher_seconds, results, overhead):
    print()
    header = (
        f"{'model':<32} {'accuracy':>8} {'rho':>6} {'rho/row':>7} {'top-3':>6} "
        f"{'FAS':>6} {'fit s':>7} {'train s':>7}"
    )
    print(header)
    print("-" * len(header))
    print(
        f"{'teacher (XGBoost)':<32} {100 * teacher_accuracy:>8.2f} {'':>6} {'':>7} "
        f"{'':>6} {'':>6} {teacher_seconds:>7.1f} {'':>7}"
    )
    for name, row in results.items():
        print(
            f"{'MLP, ' + name:<32} {100 * row['accuracy']:>8.2f} "
            f"{row['shap_correlation']:>6.3f} {row['shap_correlation_per_row']:>7.3f} "
            f"{row['top3_overlap']:>6.3f} {row['fas']:>6.3f} "
            f"{row['fit_seconds']:>7.1f} "
            f"{row['training_seconds']:>7.1f}"
        )
    print()
    print(f"{'mechanism':<32} {'KD s':>7} {'aligned s':>9} {'overhead':>8}")
    for name, row in overhead.items():
        ratio = row["aligned_seconds"] / row["classic_kd_seconds"]
        print(
            f"{name:<32} {row['classic_kd_seconds']:>7.1f} "
            f"{row['aligned_seconds']:>9.1f} {ratio:>7.1f}x"
        )


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
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
    teacher_accuracy = teacher.score(X_test, y_test)
    frozen = FrozenEstimator(teacher)
    print(f"teacher: accuracy {teacher_accuracy:.4f}, fit {teacher_seconds:.1f} s")

    rng = np.random.RandomState(0)
    eval_rows = np.sort(rng.choice(len(X_test), args.n_eval, replace=False))
    X_eval = X_test.iloc[eval_rows]

    results = students(frozen, X_train, y_train, X_test, y_test, X_eval, args)
    overhead = overheads(frozen, X_train, y_train, args)
    print_table(teacher_accuracy, teacher_seconds, results, overhead)

    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as file:
        json.dump(
            {
                "settings": vars(args),
                "teacher": {
                    "accuracy": teacher_accuracy,
                    "fit_seconds": teacher_seconds,
                },
                "students": results,
                "overhead": overhead,
            },
            file,
            indent=2,
        )
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
