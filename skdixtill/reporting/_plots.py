"""Plots of teacher and student attributions, drawn with matplotlib.

matplotlib is an optional dependency, imported inside each function.
"""

# License: BSD-3-Clause

import math

import numpy as np
import pandas as pd

from .._validation import split_student
from ..metrics._scorers import final_distiller
from ..students._builders import categorical_columns
from ._report import AlignmentReport, alignment_report


def _import_pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            "Plotting needs matplotlib, which is not installed. Install it with "
            "`pip install skdixtill[plots]`."
        ) from error
    return plt


def _resolve_report(report_or_estimator, X, max_rows, random_state):
    """Return the report given, or one computed without FAS."""
    if isinstance(report_or_estimator, AlignmentReport):
        return report_or_estimator
    if X is None:
        raise ValueError(
            "X is required when a fitted estimator is passed instead of an "
            "AlignmentReport: the attributions are computed on its rows."
        )
    return alignment_report(
        report_or_estimator,
        X,
        max_rows=max_rows,
        max_stability_rows=0,
        random_state=random_state,
    )


def _save(figure, path):
    if path is not None:
        figure.savefig(path, format="png", dpi=150, bbox_inches="tight")
    return figure


def _grid(plt, n_panels, n_columns, panel_size=(3.2, 2.8)):
    n_columns = max(1, min(n_columns, n_panels))
    n_rows = math.ceil(n_panels / n_columns)
    figure, axes = plt.subplots(
        n_rows,
        n_columns,
        figsize=(panel_size[0] * n_columns, panel_size[1] * n_rows),
        squeeze=False,
    )
    axes = axes.ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return figure, axes[:n_panels]


def _select_features(report, features, max_features):
    """Return the positions of the features to draw, most important first."""
    names = list(report.features.index)
    if features is None:
        order = np.argsort(
            -report.features["teacher_importance"].to_numpy(), kind="stable"
        )
        return order[:max_features].tolist()
    unknown = [name for name in features if name not in names]
    if unknown:
        raise ValueError(
            f"features names columns that are not in the report: {unknown}. "
            f"Known columns: {names}."
        )
    return [names.index(name) for name in features]


def plot_importances(
    report_or_estimator,
    X=None,
    *,
    max_features=20,
    path=None,
    max_rows=1000,
    random_state=None,
):
    """Plot the teacher's and the student's global importances side by side.

    Each panel shows one model's mean ``|phi|`` per column, on its own axis
    and in its own output space, the columns sorted by the teacher's
    importance.

    Parameters
    ----------
    report_or_estimator : AlignmentReport, DiXtillClassifier or Pipeline
        A report, or a fitted distiller (or a Pipeline ending in one) to
        explain on X.
    X : array-like or DataFrame of shape (n_samples, n_features), default=None
        Rows to explain; required with an estimator, not used with a report.
    max_features : int, default=20
        Columns drawn, the teacher's most important first.
    path : str or path-like, default=None
        File to save the figure to, as PNG.
    max_rows : int or None, default=1000
        Rows of X explained, drawn with ``random_state``; with an estimator
        only.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    plt = _import_pyplot()
    report = _resolve_report(report_or_estimator, X, max_rows, random_state)
    positions = _select_features(report, None, max_features)
    table = report.features.iloc[positions]
    labels = list(table.index)

    height = 1.5 + 0.3 * len(labels)
    figure, axes = plt.subplots(1, 2, sharey=True, figsize=(10, height))
    y = np.arange(len(labels))
    for ax, model, color in zip(
        axes, ("teacher", "student"), ("tab:gray", "tab:blue"), strict=True
    ):
        ax.barh(y, table[f"{model}_importance"].to_numpy(), color=color)
        ax.set_title(model.capitalize())
        space = report.output_spaces[model]
        ax.set_xlabel(f"mean |SHAP value| ({space})")
    axes[0].set_yticks(y, labels)
    axes[0].invert_yaxis()
    overlap = report.agreement["top_k_overlap_global"]
    figure.suptitle(
        f"Global importance (top-{report.metadata['k']} overlap {overlap:.2f}, "
        f"{report.metadata['n_rows_explained']} rows)"
    )
    figure.tight_layout()
    return _save(figure, path)


def plot_attribution_scatter(
    report_or_estimator,
    X=None,
    *,
    features=None,
    max_features=12,
    n_columns=4,
    path=None,
    max_rows=1000,
    random_state=None,
):
    """Plot the student's attributions against the teacher's, one panel per column.

    Points near a line through the origin show a column that the student
    explains like the teacher, up to the scale of their output spaces. A
    multiclass problem draws every class, one colour per class.

    Parameters
    ----------
    report_or_estimator : AlignmentReport, DiXtillClassifier or Pipeline
        A report, or a fitted distiller (or a Pipeline ending in one) to
        explain on X.
    X : array-like or DataFrame of shape (n_samples, n_features), default=None
        Rows to explain; required with an estimator, not used with a report.
    features : list of str, default=None
        Columns to draw, by the names in ``report.features``; by default the
        teacher's ``max_features`` most important.
    max_features : int, default=12
    n_columns : int, default=4
        Panels per row of the figure.
    path : str or path-like, default=None
        File to save the figure to, as PNG.
    max_rows : int or None, default=1000
        Rows of X explained, drawn with ``random_state``; with an estimator
        only.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    plt = _import_pyplot()
    report = _resolve_report(report_or_estimator, X, max_rows, random_state)
    positions = _select_features(report, features, max_features)
    phi_teacher = _with_class_axis(report.teacher_attributions)
    phi_student = _with_class_axis(report.student_attributions)
    n_classes = phi_teacher.shape[2]

    figure, axes = _grid(plt, len(positions), n_columns)
    for ax, position in zip(axes, positions, strict=True):
        for c in range(n_classes):
            label = f"class {c}" if n_classes > 1 else None
            ax.scatter(
                phi_teacher[:, position, c],
                phi_student[:, position, c],
                s=6,
                alpha=0.5,
                label=label,
            )
        ax.axhline(0.0, color="black", linewidth=0.5)
        ax.axvline(0.0, color="black", linewidth=0.5)
        name = report.features.index[position]
        correlation = report.features["correlation"].iloc[position]
        ax.set_title(f"{name} (r={correlation:.2f})", fontsize="medium")
        ax.set_xlabel(f"teacher ({report.output_spaces['teacher']})")
        ax.set_ylabel(f"student ({report.output_spaces['student']})")
    if n_classes > 1:
        axes[0].legend(fontsize="small")
    figure.tight_layout()
    return _save(figure, path)


def _with_class_axis(phi):
    if phi.ndim == 2:
        return phi[:, :, np.newaxis]
    return phi


def plot_shape_functions(
    report_or_estimator,
    X=None,
    *,
    features=None,
    max_features=12,
    n_columns=4,
    target_class=None,
    path=None,
    max_rows=1000,
    random_state=None,
):
    """Plot an additive student's shape functions over the teacher's SHAP dependence.

    For each column, grey points are the teacher's SHAP values against the
    column's value (its dependence plot). The blue line, or blue marks for a
    categorical column, shows the student's SHAP values, which for an
    additive student are a function of that column alone. Missing values
    are left out. When the two output spaces differ, each model's values are divided
    by the root mean square of all its attributions on the explained rows,
    the scale used by the alignment loss.

    Parameters
    ----------
    report_or_estimator : AlignmentReport, DiXtillClassifier or Pipeline
        A report, or a fitted distiller (or a Pipeline ending in one) to
        explain on X. The distiller's student must be additive: a
        LogisticRegression, or a Pipeline of column-wise steps ending in
        one.
    X : array-like or DataFrame of shape (n_samples, n_features), default=None
        Rows to explain; required with an estimator, not used with a report.
    features : list of str, default=None
        Columns to draw, by the names in ``report.features``; by default the
        teacher's ``max_features`` most important.
    max_features : int, default=12
    n_columns : int, default=4
        Panels per row of the figure.
    target_class : int, default=None
        For multiclass attributions, the index of the class whose shape
        functions are drawn, in the order of ``classes_``; required then.
        Binary attributions explain ``classes_[1]``.
    path : str or path-like, default=None
        File to save the figure to, as PNG.
    max_rows : int or None, default=1000
        Rows of X explained, drawn with ``random_state``; with an estimator
        only.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    plt = _import_pyplot()
    if not isinstance(report_or_estimator, AlignmentReport):
        _check_additive(report_or_estimator)
    report = _resolve_report(report_or_estimator, X, max_rows, random_state)
    positions = _select_features(report, features, max_features)
    phi_teacher = _class_slice(report.teacher_attributions, target_class)
    phi_student = _class_slice(report.student_attributions, target_class)

    ylabel = f"SHAP value ({report.output_spaces['student']})"
    if report.output_spaces["teacher"] != report.output_spaces["student"]:
        phi_teacher = phi_teacher / _rms(phi_teacher)
        phi_student = phi_student / _rms(phi_student)
        ylabel = "SHAP value / RMS"

    frame = _as_frame(report.X_explained, list(report.features.index))
    categorical, _ = categorical_columns(frame)
    figure, axes = _grid(plt, len(positions), n_columns)
    for ax, position in zip(axes, positions, strict=True):
        name = frame.columns[position]
        draw = _draw_categorical if name in categorical else _draw_numeric
        draw(ax, frame[name], phi_teacher[:, position], phi_student[:, position])
        ax.set_title(str(name), fontsize="medium")
        ax.set_ylabel(ylabel)
    axes[0].legend(fontsize="small")
    figure.tight_layout()
    return _save(figure, path)


def _check_additive(estimator):
    distiller = final_distiller(estimator)
    try:
        split_student(distiller.student_)
    except TypeError as error:
        raise ValueError(
            "plot_shape_functions needs an additive student, a LogisticRegression "
            "or a Pipeline of column-wise steps ending in one; got "
            f"{type(distiller.student_).__name__}. Use plot_attribution_scatter "
            "for other students."
        ) from error


def _class_slice(phi, target_class):
    if phi.ndim == 2:
        return phi
    n_classes = phi.shape[2]
    if target_class is None or not 0 <= target_class < n_classes:
        raise ValueError(
            f"target_class must be a class index in [0, {n_classes - 1}] for "
            f"multiclass attributions; got {target_class!r}."
        )
    return phi[:, :, target_class]


def _rms(phi):
    value = float(np.sqrt(np.mean(phi**2)))
    return value if value > 0 else 1.0


def _as_frame(X, names):
    if isinstance(X, pd.DataFrame):
        return X
    return pd.DataFrame(np.asarray(X), columns=names)


def _draw_numeric(ax, values, phi_teacher, phi_student):
    values = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    present = ~np.isnan(values)
    values, phi_teacher, phi_student = (
        values[present],
        phi_teacher[present],
        phi_student[present],
    )
    ax.scatter(values, phi_teacher, s=6, color="tab:gray", alpha=0.4, label="teacher")
    order = np.argsort(values, kind="stable")
    ax.plot(values[order], phi_student[order], color="tab:blue", label="student")


def _draw_categorical(ax, values, phi_teacher, phi_student):
    present = values.notna().to_numpy()
    labels = values[present].astype(str).to_numpy()
    phi_teacher, phi_student = phi_teacher[present], phi_student[present]
    categories = sorted(set(labels))
    x = np.searchsorted(categories, labels).astype(float)
    jitter = np.random.default_rng(0).uniform(-0.2, 0.2, size=len(x))
    ax.scatter(
        x + jitter, phi_teacher, s=6, color="tab:gray", alpha=0.4, label="teacher"
    )
    # An additive student gives every row of a category the same value.
    student = [phi_student[labels == category].mean() for category in categories]
    ax.scatter(
        np.arange(len(categories)),
        student,
        marker="_",
        s=300,
        color="tab:blue",
        label="student",
    )
    ax.set_xticks(np.arange(len(categories)), categories, rotation=90, fontsize="small")
