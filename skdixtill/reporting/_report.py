"""The alignment report: how a distilled student explains compared with its teacher."""

# License: BSD-3-Clause

import hashlib
import json
import math
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from .._sampling import sample_rows, take_rows
from ..attributions._cache import row_hashes
from ..attributions._teacher import unwrap
from ..exceptions import AlignmentWarning
from ..metrics._alignment import (
    _pearson_rows,
    explanation_divergence,
    feature_attribution_stability,
    fidelity,
    shap_correlation,
    top_k_overlap,
)
from ..metrics._scorers import distiller_and_input, teacher_class_index

# Distributions whose versions are recorded, by the name pip installs them under.
_VERSIONED_PACKAGES = {
    "skdixtill": "skdixtill",
    "sklearn": "scikit-learn",
    "shap": "shap",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "torch": "torch",
    "numpy": "numpy",
    "pandas": "pandas",
}


@dataclass(repr=False)
class AlignmentReport:
    """Agreement and stability of a distilled student's explanations.

    Built by ``alignment_report``. The scalar results are grouped by what
    they measure. ``prediction`` covers the student's accuracy and its
    agreement with the teacher's labels, and ``agreement`` how alike the two
    models' attributions are. ``stability`` covers how much each model's own
    attributions move under small noise, which is no measure of agreement.

    Attributes
    ----------
    features : DataFrame
        One row per column the distiller receives, in its order, with
        ``teacher_importance`` and ``student_importance`` (mean ``|phi|``
        over the explained rows and classes, each in its model's output
        space), ``teacher_rank`` and ``student_rank`` (1 for the most
        important column) and ``correlation`` (Pearson's correlation of the
        two models' attributions of that column over rows and classes).
    prediction : dict
        ``accuracy`` of the estimator against y (None without y) and
        ``fidelity``, the share of rows where the student predicts the
        teacher's class, both on every row of X.
    agreement : dict
        ``shap_correlation`` (flattened), ``shap_correlation_per_row``,
        ``top_k_overlap_row``, ``top_k_overlap_global`` and
        ``explanation_divergence``, on the explained rows.
    stability : dict
        Feature Attribution Stability (FAS) of the ``teacher`` and of the
        ``student`` on the same noisy rows; None when not computed.
    output_spaces : dict
        What the ``teacher``'s and the ``student``'s attributions explain,
        for example ``"log-odds"`` or ``"probability"``. They are reported
        rather than converted into one another.
    metadata : dict
        What is needed to reproduce the report: package versions,
        ``random_state``, ``data_sha256`` of X and y, the teacher's
        attribution method, sample sizes, the metric settings and the
        distiller's parameters.
    X_explained : DataFrame or ndarray
        The explained rows, as the distiller receives them.
    teacher_attributions : ndarray
        The teacher's attributions of ``X_explained``.
    student_attributions : ndarray
        The student's attributions of ``X_explained``.
    """

    features: pd.DataFrame
    prediction: dict
    agreement: dict
    stability: dict
    output_spaces: dict
    metadata: dict
    X_explained: object = field(default=None)
    teacher_attributions: np.ndarray = field(default=None)
    student_attributions: np.ndarray = field(default=None)

    def to_dict(self):
        """Return the report as plain Python types, missing values as None.

        The attribution arrays and the explained rows are left out.

        Returns
        -------
        report : dict
        """
        features = self.features.reset_index().to_dict(orient="records")
        return _plain(
            {
                "features": features,
                "prediction": self.prediction,
                "agreement": self.agreement,
                "stability": self.stability,
                "output_spaces": self.output_spaces,
                "metadata": self.metadata,
            }
        )

    def to_json(self, path=None, *, indent=2):
        """Return the report as JSON, and write it to ``path`` when given.

        Missing values are ``null``; the output never contains NaN.

        Parameters
        ----------
        path : str or path-like, default=None
            File to write.
        indent : int, default=2

        Returns
        -------
        text : str
        """
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            with open(path, "w", encoding="utf-8") as file:
                file.write(text + "\n")
        return text

    def __repr__(self):
        lines = [
            f"AlignmentReport(n_rows_explained={self.metadata['n_rows_explained']}, "
            f"teacher={self.metadata['teacher']!r}, "
            f"output_spaces={self.output_spaces!r})"
        ]
        for title, values in (
            ("prediction", self.prediction),
            ("agreement", self.agreement),
            ("stability (FAS)", self.stability),
        ):
            text = ", ".join(f"{key}={_format(value)}" for key, value in values.items())
            lines.append(f"  {title}: {text}")
        return "\n".join(lines)


def _format(value):
    if value is None:
        return "None"
    return f"{value:.3f}"


def _plain(value):
    """Return ``value`` with NumPy scalars as Python ones and NaN as None."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return [_plain(item) for item in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@validate_params(
    {
        "estimator": [object],
        "X": ["array-like"],
        "y": ["array-like", None],
        "max_rows": [Interval(Integral, 1, None, closed="left"), None],
        "max_stability_rows": [Interval(Integral, 0, None, closed="left")],
        "k": [Interval(Integral, 1, None, closed="left")],
        "n_draws": [Interval(Integral, 1, None, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=False,
)
def alignment_report(
    estimator,
    X,
    y=None,
    *,
    max_rows=1000,
    max_stability_rows=200,
    k=3,
    n_draws=20,
    epsilon=0.01,
    random_state=None,
):
    """Compare how a fitted distiller's student and teacher explain X.

    Parameters
    ----------
    estimator : DiXtillClassifier or Pipeline ending in one
        Fitted.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Rows to evaluate on, usually held-out ones.
    y : array-like of shape (n_samples,), default=None
        True labels, for the accuracy; without them the accuracy is None.
    max_rows : int or None, default=1000
        Rows drawn from X, without replacement, on which both models are
        explained; None explains every row. The teacher's attributions cost
        most, from about 150 rows/s (interventional TreeSHAP of 500 trees)
        to many seconds per row (a model-agnostic teacher).
    max_stability_rows : int, default=200
        Explained rows on which FAS is measured, each explained
        ``n_draws + 1`` times by both models; 0 skips FAS. The teacher's
        attributions of the noisy rows enter the distiller's attribution
        cache like any others.
    k : int, default=3
        Features compared by the top-k overlap, at most ``n_features``.
    n_draws : int, default=20
        Noisy copies of each row for FAS.
    epsilon : float, default=0.01
        Noise of FAS, as a fraction of each numeric column's standard
        deviation.
    random_state : int, RandomState instance or None, default=None
        Draws the explained rows and the noise of FAS.

    Returns
    -------
    report : AlignmentReport

    See Also
    --------
    plot_importances : Teacher and student global importances side by side.
    plot_attribution_scatter : Teacher against student attributions per
        feature.
    plot_shape_functions : An additive student's shape functions over the
        teacher's SHAP dependence.

    Notes
    -----
    ``data_sha256`` is the SHA-256 of the column names of X and of the
    pandas row hashes (``pandas.util.hash_pandas_object``) of X and y, so it
    changes with any value, and with the dtype of a column.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skdixtill import DiXtillClassifier, make_teacher_pipeline
    >>> from skdixtill.reporting import alignment_report
    >>> X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    >>> forest = RandomForestClassifier(n_estimators=10, random_state=0)
    >>> clf = DiXtillClassifier(
    ...     make_teacher_pipeline(forest, X),
    ...     feature_perturbation="tree_path_dependent",
    ...     n_attribution_samples=200,
    ...     random_state=0,
    ... ).fit(X, y)
    >>> report = alignment_report(
    ...     clf, X, y, max_rows=100, max_stability_rows=20, random_state=0
    ... )
    >>> report.output_spaces
    {'teacher': 'probability', 'student': 'log-odds'}
    >>> report.features.columns.tolist()
    ['teacher_importance', 'student_importance', 'teacher_rank', 'student_rank', \
'correlation']
    """
    distiller, X_distiller = distiller_and_input(estimator, X)
    n_samples = _n_rows(X_distiller)
    rng = check_random_state(random_state)
    rows = sample_rows(n_samples, max_rows, rng)
    X_explained = take_rows(X_distiller, rows)

    phi_teacher = distiller.explain_teacher(X_explained)
    phi_student = distiller.explain(X_explained)
    predicted_class = None
    if phi_teacher.ndim == 3:
        predicted_class = teacher_class_index(distiller, X_explained)
    names = _feature_names(distiller, phi_teacher.shape[1])

    prediction = _prediction_metrics(estimator, distiller, X, X_distiller, y)
    agreement = _agreement_metrics(phi_teacher, phi_student, predicted_class, k)
    stability_rows = sample_rows(len(rows), max_stability_rows, rng)
    stability = _stability_metrics(
        distiller, take_rows(X_explained, stability_rows), n_draws, epsilon, rng
    )
    features = _feature_table(phi_teacher, phi_student, names)

    output_spaces = {
        "teacher": distiller.teacher_output_space_,
        "student": distiller.student_output_space_,
    }
    settings = {
        "n_samples": n_samples,
        "n_rows_explained": len(rows),
        "n_stability_rows": len(stability_rows) if max_stability_rows else 0,
        "k": k,
        "n_draws": n_draws,
        "epsilon": epsilon,
    }
    report_metadata = _metadata(distiller, X, y, random_state, output_spaces, settings)
    return AlignmentReport(
        features=features,
        prediction=prediction,
        agreement=agreement,
        stability=stability,
        output_spaces=output_spaces,
        metadata=report_metadata,
        X_explained=X_explained,
        teacher_attributions=phi_teacher,
        student_attributions=phi_student,
    )


def _n_rows(X):
    if hasattr(X, "shape"):
        return X.shape[0]
    return len(X)


def _feature_names(distiller, n_features):
    names = getattr(distiller, "feature_names_in_", None)
    if names is None:
        return [f"x{i}" for i in range(n_features)]
    return [str(name) for name in names]


def _prediction_metrics(estimator, distiller, X, X_distiller, y):
    accuracy = None
    if y is not None:
        accuracy = accuracy_score(y, estimator.predict(X))
    teacher_predictions = distiller.classes_[
        teacher_class_index(distiller, X_distiller)
    ]
    return {
        "accuracy": accuracy,
        "fidelity": fidelity(teacher_predictions, distiller.predict(X_distiller)),
    }


def _agreement_metrics(phi_teacher, phi_student, predicted_class, k):
    return {
        "shap_correlation": shap_correlation(phi_teacher, phi_student),
        "shap_correlation_per_row": shap_correlation(
            phi_teacher, phi_student, per_row=True
        ),
        "top_k_overlap_row": top_k_overlap(
            phi_teacher, phi_student, k=k, predicted_class=predicted_class
        ),
        "top_k_overlap_global": top_k_overlap(
            phi_teacher, phi_student, k=k, scope="global"
        ),
        "explanation_divergence": explanation_divergence(
            phi_teacher, phi_student, predicted_class=predicted_class
        ),
    }


def _stability_metrics(distiller, X_stability, n_draws, epsilon, rng):
    if _n_rows(X_stability) == 0:
        return {"teacher": None, "student": None}
    # One seed for both models, so that they are measured on the same noise.
    seed = int(rng.randint(np.iinfo(np.int32).max))
    stability = {}
    for name, explain in (
        ("teacher", distiller.explain_teacher),
        ("student", distiller.explain),
    ):
        stability[name] = feature_attribution_stability(
            explain, X_stability, n_draws=n_draws, epsilon=epsilon, random_state=seed
        )
    return stability


def _feature_table(phi_teacher, phi_student, names):
    n_features = phi_teacher.shape[1]
    by_feature_teacher = np.moveaxis(phi_teacher, 1, 0).reshape(n_features, -1)
    by_feature_student = np.moveaxis(phi_student, 1, 0).reshape(n_features, -1)
    correlation, n_undefined = _pearson_rows(by_feature_teacher, by_feature_student)
    if n_undefined:
        flat = (by_feature_teacher == by_feature_teacher[:, :1]).all(axis=1) | (
            by_feature_student == by_feature_student[:, :1]
        ).all(axis=1)
        flat_names = [
            name for name, is_flat in zip(names, flat, strict=True) if is_flat
        ]
        warnings.warn(
            f"The teacher's or the student's attributions of the columns {flat_names} "
            "are constant, so their correlation is undefined; it is 1.0 where the "
            "two models' attributions are equal and 0.0 otherwise.",
            AlignmentWarning,
            # Frames: this one, alignment_report, validate_params' wrapper.
            stacklevel=4,
        )

    teacher_importance = np.abs(by_feature_teacher).mean(axis=1)
    student_importance = np.abs(by_feature_student).mean(axis=1)
    table = pd.DataFrame(
        {
            "teacher_importance": teacher_importance,
            "student_importance": student_importance,
        },
        index=pd.Index(names, name="feature"),
    )
    for model in ("teacher", "student"):
        importance = table[f"{model}_importance"]
        table[f"{model}_rank"] = importance.rank(ascending=False, method="min")
        table[f"{model}_rank"] = table[f"{model}_rank"].astype(int)
    table["correlation"] = correlation
    return table


def _metadata(distiller, X, y, random_state, output_spaces, settings):
    return {
        "versions": _package_versions(),
        "random_state": _plain_random_state(random_state),
        "data_sha256": _data_sha256(X, y),
        "teacher_attribution_method": distiller.teacher_attribution_method_,
        "output_spaces": dict(output_spaces),
        **settings,
        "teacher": _model_name(distiller.teacher_),
        "student": _model_name(distiller.student_),
        "estimator_params": _scalar_params(distiller),
    }


def _package_versions():
    versions = {}
    for name, distribution in _VERSIONED_PACKAGES.items():
        try:
            versions[name] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[name] = None
    if versions["skdixtill"] is None:
        from .. import __version__

        versions["skdixtill"] = __version__
    return versions


def _plain_random_state(random_state):
    if random_state is None:
        return None
    if isinstance(random_state, Integral):
        return int(random_state)
    return f"{type(random_state).__name__} instance (not reproducible from this report)"


def _data_sha256(X, y):
    digest = hashlib.sha256()
    if isinstance(X, pd.DataFrame):
        digest.update(json.dumps([str(c) for c in X.columns]).encode())
    else:
        X = np.asarray(X)
    digest.update(row_hashes(X).tobytes())
    if y is not None:
        y_frame = pd.DataFrame({"y": np.asarray(y)})
        digest.update(row_hashes(y_frame).tobytes())
    return digest.hexdigest()


def _model_name(model):
    model = unwrap(model)
    if isinstance(model, Pipeline):
        return f"Pipeline ending in {type(unwrap(model.steps[-1][1])).__name__}"
    return type(model).__name__


def _scalar_params(distiller):
    params = {}
    for name, value in distiller.get_params(deep=False).items():
        if value is None or isinstance(value, (str, bool, Integral, Real)):
            params[name] = value
        else:
            params[name] = type(value).__name__
    return params
