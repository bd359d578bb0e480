"""The main job of the command line: four models, one table, one report."""

# License: BSD-3-Clause

import contextlib
import hashlib
import json
import math
import os
import pickle
import sys
import time

import numpy as np
import pandas as pd

from ._cli import UsageError
from ._sampling import sample_rows, take_rows
from .metrics._alignment import _global_importance

MODEL_NAMES = ("teacher", "student_alone", "kd", "dixtill")
TOP_FEATURES = 10


def log(message):
    """Print a progress line on stderr, so that stdout holds only the report."""
    print(message, file=sys.stderr, flush=True)


# Data -------------------------------------------------------------------


def load_data(args):
    """Return (X_train, X_test, y_train, y_test, dataset name, positive class)."""
    if args.data is None:
        from sklearn.datasets import load_breast_cancer

        frame = load_breast_cancer(as_frame=True).frame
        names = np.array(["malignant", "benign"])
        frame["target"] = names[frame["target"]]
        return _split(frame, "target", args) + ("breast_cancer", "benign")
    if args.data == "adult":
        from .datasets import load_adult

        data = load_adult(args.data_home)
        X_train = _drop(data.X_train, args.drop)
        X_test = _drop(data.X_test, args.drop)
        positive = args.positive_class or data.positive_class
        return X_train, X_test, data.y_train, data.y_test, "adult", positive
    frame = _read_table(args.data)
    if args.target is None:
        raise UsageError(f"--target is required with --data {args.data}.")
    if args.target in args.drop:
        raise UsageError(f"--drop names the target {args.target!r}; keep it.")
    if args.target not in frame.columns:
        raise UsageError(
            f"--target {args.target!r} is not a column of {args.data}; columns: "
            f"{_shorten(frame.columns)}."
        )
    name = os.path.splitext(os.path.basename(args.data))[0]
    return _split(_drop(frame, args.drop), args.target, args) + (
        name,
        args.positive_class,
    )


def _read_table(path):
    if not os.path.isfile(path):
        raise UsageError(f"--data {path} is not a file.")
    if path.endswith((".parquet", ".pq")):
        try:
            return pd.read_parquet(path)
        except ImportError as error:
            raise UsageError(
                "Reading Parquet needs pyarrow: pip install skdixtill[parquet]."
            ) from error
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise UsageError(
            f"--data {path} is not a readable CSV file: {error}"
        ) from error


def _shorten(columns, limit=12):
    """Return the first column names, and how many more there are."""
    names = [str(name) for name in columns]
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"


def _drop(frame, columns):
    unknown = [column for column in columns if column not in frame.columns]
    if unknown:
        raise UsageError(
            f"--drop names columns that are not in the data: {unknown}; columns: "
            f"{_shorten(frame.columns)}."
        )
    return frame.drop(columns=columns)


def _split(frame, target, args):
    from sklearn.model_selection import train_test_split

    y = frame[target].to_numpy()
    X = frame.drop(columns=target)
    if X.shape[1] == 0:
        raise UsageError(
            f"The data has no column besides the target {target!r}; the models "
            "need at least one feature."
        )
    if not 0 < args.test_size < 1:
        raise UsageError(f"--test-size must be between 0 and 1; got {args.test_size}.")
    if len(np.unique(y[pd.notna(y)])) < 2:
        raise UsageError(
            f"The target {target!r} has fewer than two classes; a classifier needs two."
        )
    if pd.isna(y).any():
        raise UsageError(
            f"The target {target!r} has {int(pd.isna(y).sum())} missing values; drop "
            "those rows first."
        )
    return tuple(
        train_test_split(
            X, y, test_size=args.test_size, random_state=args.random_state, stratify=y
        )
    )


def encode_labels(y_train, y_test, positive_class):
    """Encode labels as 0..n_classes-1, the positive class last.

    Teachers such as XGBoost accept only encoded labels, and a binary
    problem's positive class must be ``classes_[1]``.

    Returns
    -------
    y_train, y_test : ndarray of int
    names : ndarray
        The label of each code.
    """
    names = np.unique(np.concatenate([np.asarray(y_train), np.asarray(y_test)]))
    if positive_class is not None:
        matches = [name for name in names if str(name) == str(positive_class)]
        if not matches:
            raise UsageError(
                f"--positive-class {positive_class!r} is not a label of the target; "
                f"labels: {[str(name) for name in names]}."
            )
        names = np.array([name for name in names if name != matches[0]] + matches)
    codes = {name: code for code, name in enumerate(names)}
    encode = np.vectorize(codes.__getitem__, otypes=[int])
    return encode(np.asarray(y_train)), encode(np.asarray(y_test)), names


# Models ------------------------------------------------------------------


def build_teacher(args, X_train):
    """Return an unfitted teacher Pipeline, or a loaded fitted teacher."""
    from .students._builders import make_teacher_pipeline

    random_state = args.random_state
    if args.teacher == "xgboost":
        from xgboost import XGBClassifier

        model = XGBClassifier(
            n_estimators=500, max_depth=6, learning_rate=0.05, random_state=random_state
        )
    elif args.teacher == "lightgbm":
        from lightgbm import LGBMClassifier

        model = LGBMClassifier(
            n_estimators=500, learning_rate=0.05, verbose=-1, random_state=random_state
        )
    elif args.teacher == "random-forest":
        from sklearn.ensemble import RandomForestClassifier

        model = RandomForestClassifier(
            n_estimators=300, min_samples_leaf=5, random_state=random_state, n_jobs=-1
        )
    elif os.path.isfile(args.teacher):
        return _load_teacher(args.teacher), True
    else:
        raise UsageError(
            f"--teacher {args.teacher!r} is neither xgboost, lightgbm, random-forest "
            "nor an existing joblib file."
        )
    return make_teacher_pipeline(model, X_train), False


def _load_teacher(path):
    import joblib

    try:
        teacher = joblib.load(path)
    except Exception as error:
        # joblib raises many kinds of errors on a file that is not its own.
        raise UsageError(
            f"--teacher {path} could not be loaded as a joblib file: {error!r}"
        ) from error
    has_scores = hasattr(teacher, "predict_proba") or hasattr(
        teacher, "decision_function"
    )
    if not (hasattr(teacher, "classes_") and has_scores):
        raise UsageError(
            f"--teacher {path} contains a {type(teacher).__name__}, not a fitted "
            "classifier with predict_proba or decision_function."
        )
    return teacher


def build_student(args, X_train):
    """Return the unfitted student of the chosen kind."""
    from .students._builders import make_additive_student, make_default_student

    if args.student == "additive":
        return make_additive_student(X_train)
    if args.student == "mlp":
        from .neural import make_mlp_student

        # The settings of benchmarks/neural_students.py, measured on Adult.
        return make_mlp_student(
            X_train,
            hidden=(128, 64),
            max_epochs=10,
            lr=3e-3,
        )
    return make_default_student(X_train)


def n_fas_samples(args):
    """Return the rows for attribution stability: chosen, or the default."""
    if args.n_fas_samples is not None:
        return args.n_fas_samples
    return 20 if args.student == "mlp" else 100


def feature_perturbation(args):
    """Return the TreeSHAP mode: the chosen one, or the student kind's default."""
    if args.feature_perturbation is not None:
        return args.feature_perturbation
    return "interventional" if args.student == "mlp" else "tree_path_dependent"


def fit_models(args, teacher, prefit, X_train, y_train):
    """Fit the teacher once (unless prefit), then the three students against it.

    Returns a dict of model name to (fitted model, fit seconds).
    """
    from sklearn.frozen import FrozenEstimator

    from ._distiller import DiXtillClassifier

    # Imported before any fit is timed, so that the first student does not
    # pay for importing torch.
    from .students import _linear  # noqa: F401

    start = time.perf_counter()
    if not prefit:
        log(
            f"Fitting the teacher ({type(teacher[-1]).__name__}) on "
            f"{len(X_train)} rows..."
        )
        teacher = teacher.fit(X_train, y_train)
    models = {"teacher": (teacher, time.perf_counter() - start)}

    settings = {
        "alpha": ("student_alone", 0.0, 0.0),
        "kd": ("kd", args.alpha, 0.0),
        "dixtill": ("dixtill", args.alpha, args.beta),
    }
    for name, alpha, beta in settings.values():
        log(f"Fitting {name.replace('_', ' ')} (alpha={alpha}, beta={beta})...")
        distiller = DiXtillClassifier(
            FrozenEstimator(teacher),
            build_student(args, X_train),
            xai=args.xai,
            alpha=alpha,
            beta=beta,
            temperature=args.temperature,
            feature_perturbation=feature_perturbation(args),
            n_attribution_samples=args.n_attribution_samples,
            random_state=args.random_state,
            verbose=args.verbose,
        )
        start = time.perf_counter()
        distiller.fit(X_train, y_train)
        models[name] = (distiller, time.perf_counter() - start)
    return models


# Metrics -----------------------------------------------------------------


def evaluate(models, X_test, y_test, args):
    """Return one row of metrics per model, and the attributions compared."""
    from .metrics import feature_attribution_stability, shap_correlation, top_k_overlap
    from .metrics._scorers import teacher_class_index

    dixtill = models["dixtill"][0]
    rng = np.random.RandomState(args.random_state)
    eval_rows = sample_rows(len(X_test), args.n_eval_samples, rng)
    fas_rows = sample_rows(len(X_test), n_fas_samples(args), rng)
    X_eval = take_rows(X_test, eval_rows)
    X_fas = take_rows(X_test, fas_rows)

    log(f"Explaining the teacher on {len(eval_rows)} test rows...")
    teacher_phi = dixtill.explain_teacher(X_eval)
    teacher_predictions = dixtill.teacher_.predict(X_test)
    predicted_class = None
    if teacher_phi.ndim == 3:
        predicted_class = teacher_class_index(dixtill, X_eval)

    rows, attributions = [], {"teacher": teacher_phi}
    for name in MODEL_NAMES:
        model, seconds = models[name]
        row = _predictive_metrics(name, model, X_test, y_test, teacher_predictions)
        row["fit_seconds"] = seconds
        if name == "teacher":
            log(
                "Measuring the teacher's attribution stability on "
                f"{len(fas_rows)} rows..."
            )
            row["fas"] = feature_attribution_stability(
                dixtill.explain_teacher, X_fas, random_state=args.random_state
            )
        else:
            phi = model.explain(X_eval)
            attributions[name] = phi
            row["shap_correlation"] = shap_correlation(teacher_phi, phi)
            row["top3_overlap"] = top_k_overlap(
                teacher_phi, phi, k=3, predicted_class=predicted_class
            )
            row["fas"] = feature_attribution_stability(
                model.explain, X_fas, random_state=args.random_state
            )
        rows.append(row)
    return rows, attributions


def _predictive_metrics(name, model, X_test, y_test, teacher_predictions):
    from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

    # The distiller maps a neural student's class indices back to labels;
    # size and latency are those of the deployed model, student_.
    predict_model = model if name == "teacher" else model.student_
    proba = model.predict_proba(X_test)
    classes = model.classes_
    predictions = classes[np.argmax(proba, axis=1)]
    if len(classes) == 2:
        auc = roc_auc_score(y_test, proba[:, 1])
    else:
        auc = roc_auc_score(y_test, proba, multi_class="ovr", labels=classes)
    return {
        "model": name,
        "accuracy": accuracy_score(y_test, predictions),
        "f1": f1_score(y_test, predictions, average="weighted"),
        "f1_macro": f1_score(y_test, predictions, average="macro"),
        "roc_auc": auc,
        "log_loss": log_loss(y_test, proba, labels=classes),
        "fidelity": float(np.mean(predictions == teacher_predictions)),
        "shap_correlation": None,
        "top3_overlap": None,
        "size_bytes": len(pickle.dumps(predict_model)),
        "latency_us": _latency(predict_model, X_test),
    }


def _latency(model, X):
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        model.predict_proba(X)
        best = min(best, time.perf_counter() - start)
    return 1e6 * best / len(X)


# Report ------------------------------------------------------------------


COLUMNS = [
    ("model", "model", "{}"),
    ("accuracy", "acc %", "{:.2%}"),
    ("f1", "F1 w", "{:.3f}"),
    ("f1_macro", "F1 m", "{:.3f}"),
    ("roc_auc", "AUC", "{:.3f}"),
    ("log_loss", "logloss", "{:.3f}"),
    ("fidelity", "fidelity", "{:.3f}"),
    ("shap_correlation", "SHAP rho", "{:.3f}"),
    ("top3_overlap", "top-3", "{:.3f}"),
    ("fas", "FAS", "{:.3f}"),
    ("fit_seconds", "fit s", "{:.1f}"),
    ("size_bytes", "bytes", "{:,}"),
    ("latency_us", "us/row", "{:.2f}"),
]


def format_table(rows):
    """Return the metrics as a fixed-width text table."""
    cells = [[header for _, header, _ in COLUMNS]]
    for row in rows:
        cells.append(
            [
                "-" if row.get(key) is None else template.format(row[key])
                for key, _, template in COLUMNS
            ]
        )
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
        for line in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def format_top_features(attributions, feature_names):
    """Return the teacher's and the DiXtill student's top features side by side."""
    teacher = _global_importance(attributions["teacher"])
    student = _global_importance(attributions["dixtill"])
    teacher_order = np.argsort(-teacher)[:TOP_FEATURES]
    student_order = np.argsort(-student)[:TOP_FEATURES]
    width = max(len(str(name)) for name in feature_names) + 2
    lines = [
        f"rank  {'teacher':<{width}}{'mean|phi|':>10}    "
        f"{'DiXtill student':<{width}}{'mean|phi|':>10}"
    ]
    for rank, (t, s) in enumerate(
        zip(teacher_order, student_order, strict=True), start=1
    ):
        lines.append(
            f"{rank:>4}  {str(feature_names[t]):<{width}}{teacher[t]:>10.4f}    "
            f"{str(feature_names[s]):<{width}}{student[s]:>10.4f}"
        )
    return "\n".join(lines)


def report_dict(args, dataset, rows, models, X_train, y_train, X_test, y_test):
    """Return the JSON report: the table and what is needed to reproduce it."""
    dixtill = models["dixtill"][0]
    return _json_safe(
        {
            "dataset": dataset,
            "rows": rows,
            "settings": {
                "data": args.data,
                "target": args.target,
                "positive_class": args.positive_class,
                "drop": args.drop,
                "teacher": args.teacher,
                "student": args.student,
                "xai": args.xai,
                "alpha": args.alpha,
                "beta": args.beta,
                "temperature": args.temperature,
                "random_state": args.random_state,
                "test_size": None if args.data == "adult" else args.test_size,
            },
            "attributions": {
                "teacher_method": dixtill.teacher_attribution_method_,
                "teacher_output_space": dixtill.teacher_output_space_,
                "student_output_space": dixtill.student_output_space_,
                "feature_perturbation": feature_perturbation(args),
                "n_attribution_samples": min(args.n_attribution_samples, len(X_train)),
                "n_background_samples": dixtill.n_background_samples,
                "n_eval_samples": min(args.n_eval_samples, len(X_test)),
                "n_fas_samples": min(n_fas_samples(args), len(X_test)),
            },
            "data": {
                "n_train": len(X_train),
                "n_test": len(X_test),
                "n_features": X_train.shape[1],
                "sha256": data_hash(X_train, y_train, X_test, y_test),
            },
            "versions": package_versions(),
        }
    )


def data_hash(*arrays):
    """Return a sha256 of the rows and labels, independent of the index."""
    digest = hashlib.sha256()
    for array in arrays:
        frame = (
            array
            if isinstance(array, pd.DataFrame)
            else pd.DataFrame(np.asarray(array))
        )
        hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        digest.update(hashes.tobytes())
    return digest.hexdigest()


def package_versions():
    """Return the versions of the packages that the results depend on."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in (
        "skdixtill",
        "scikit-learn",
        "shap",
        "xgboost",
        "lightgbm",
        "torch",
        "numpy",
        "pandas",
        "scipy",
    ):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    versions["python"] = sys.version.split()[0]
    return versions


def _json_safe(value):
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else float(value)
    return value


def _check_output_folders(args):
    """Reject output paths whose folder is missing, before any model is fitted."""
    for option, path in (("--output", args.output), ("--report", args.report)):
        if path is None:
            continue
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise UsageError(f"{option} {path}: the folder {folder} does not exist.")


def run_distill(args):
    """Run the distill command: fit, evaluate, print, save."""
    import joblib

    _check_output_folders(args)
    X_train, X_test, y_train, y_test, dataset, positive = load_data(args)
    teacher, prefit = build_teacher(args, X_train)
    if prefit:
        if args.positive_class is not None:
            raise UsageError(
                "--positive-class cannot reorder the classes of a fitted teacher, "
                "whose classes_ fix them; leave it out."
            )
        # A fitted teacher already names the classes; y must use its labels.
        label_names = np.asarray(teacher.classes_)
        log(
            f"NOTE: the fitted teacher {args.teacher} is evaluated on a split of "
            "this data; if it was trained on these rows, its scores are optimistic."
        )
    else:
        y_train, y_test, label_names = encode_labels(y_train, y_test, positive)
    log(
        f"Data: {dataset}, {len(X_train)} training rows, {len(X_test)} test rows, "
        f"{X_train.shape[1]} columns, classes {[str(name) for name in label_names]}."
    )

    # The distiller prints its loss tables on stdout; here stdout is the report.
    with contextlib.redirect_stdout(sys.stderr):
        models = fit_models(args, teacher, prefit, X_train, y_train)
        rows, attributions = evaluate(models, X_test, y_test, args)

    dixtill = models["dixtill"][0]
    print(
        f"skdixtill {args.student} student distilled from {args.teacher} on {dataset}"
    )
    print(
        f"teacher attributions: {dixtill.teacher_attribution_method_}, "
        f"{dixtill.teacher_output_space_}; student: {dixtill.student_output_space_}"
    )
    print()
    print(format_table(rows))
    print()
    print(format_top_features(attributions, np.asarray(X_train.columns)))

    joblib.dump(dixtill.student_, args.output)
    print(f"\nDiXtill student saved to {args.output}")
    if args.report:
        report = report_dict(
            args, dataset, rows, models, X_train, y_train, X_test, y_test
        )
        with open(args.report, "w", encoding="utf-8") as file:
            json.dump(report, file, indent=2, allow_nan=False)
        print(f"Report written to {args.report}")
