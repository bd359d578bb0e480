# License: BSD-3-Clause

import json
import re
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.stats import rankdata
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import accuracy_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from xgboost import XGBClassifier

from skdixtill import (
    DiXtillClassifier,
    make_additive_student,
    make_teacher_pipeline,
)
from skdixtill.exceptions import AlignmentWarning
from skdixtill.metrics import (
    explanation_divergence,
    feature_attribution_stability,
    fidelity,
    shap_correlation,
    top_k_overlap,
)
from skdixtill.reporting import (
    AlignmentReport,
    alignment_report,
    plot_attribution_scatter,
    plot_importances,
    plot_shape_functions,
)

matplotlib.use("Agg")

# The teacher never splits on "size", whose attributions are then all zero, and
# the report warns about it each time; one test below checks that warning.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*are constant, so their correlation:skdixtill.exceptions.AlignmentWarning"
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _cancer_with_category():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :6].copy()
    X["size"] = pd.Series(
        np.where(X["mean area"] > 700, "large", "small"), index=X.index, dtype="str"
    )
    return X, y.to_numpy()


X_CANCER, Y_CANCER = _cancer_with_category()


@pytest.fixture(scope="module")
def binary_distiller():
    X, y = X_CANCER.iloc[:400], Y_CANCER[:400]
    teacher = make_teacher_pipeline(XGBClassifier(n_estimators=30, max_depth=3), X)
    return DiXtillClassifier(
        FrozenEstimator(teacher.fit(X, y)),
        make_additive_student(X, n_knots=5),
        feature_perturbation="tree_path_dependent",
        n_attribution_samples=200,
        random_state=0,
    ).fit(X, y)


@pytest.fixture(scope="module")
def binary_report(binary_distiller):
    X, y = X_CANCER.iloc[400:], Y_CANCER[400:]
    return alignment_report(
        binary_distiller, X, y, max_rows=120, max_stability_rows=30, random_state=7
    )


@pytest.fixture(scope="module")
def multiclass_setup():
    X, y = load_wine(return_X_y=True)
    teacher = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    distiller = DiXtillClassifier(
        FrozenEstimator(teacher),
        feature_perturbation="tree_path_dependent",
        n_attribution_samples=100,
        random_state=0,
    ).fit(X, y)
    report = alignment_report(
        distiller, X, y, max_rows=None, max_stability_rows=20, random_state=0
    )
    return distiller, X, y, report


def _sampled_rows(n_samples, max_rows, random_state):
    """Reproduce the report's draw of explained rows, as documented."""
    rng = np.random.RandomState(random_state)
    return np.sort(rng.choice(n_samples, max_rows, replace=False)), rng


def test_report_feature_table(binary_distiller, binary_report):
    """Importances, ranks and correlations per column match NumPy and SciPy."""
    X = X_CANCER.iloc[400:]
    rows, _ = _sampled_rows(len(X), 120, 7)
    pd.testing.assert_frame_equal(binary_report.X_explained, X.iloc[rows])
    phi_teacher = binary_distiller.explain_teacher(X.iloc[rows])
    phi_student = binary_distiller.explain(X.iloc[rows])

    table = binary_report.features
    assert list(table.index) == list(X.columns)
    # Reference: mean |phi| over rows with NumPy, ranks with scipy's rankdata.
    teacher_importance = np.abs(phi_teacher).mean(axis=0)
    student_importance = np.abs(phi_student).mean(axis=0)
    assert_allclose(table["teacher_importance"], teacher_importance, rtol=1e-12)
    assert_allclose(table["student_importance"], student_importance, rtol=1e-12)
    assert_allclose(table["teacher_rank"], rankdata(-teacher_importance, method="min"))
    assert_allclose(table["student_rank"], rankdata(-student_importance, method="min"))
    # The teacher never splits on "size", so its attributions are all zero
    # there and the correlation is 0.0 by the rule for constant attributions.
    assert_allclose(phi_teacher[:, -1], 0.0, atol=0)
    correlations = [
        np.corrcoef(phi_teacher[:, j], phi_student[:, j])[0, 1]
        for j in range(X.shape[1] - 1)
    ]
    assert_allclose(table["correlation"], correlations + [0.0], rtol=1e-10)


def test_report_warns_about_constant_columns(binary_distiller):
    """One AlignmentWarning names the columns whose correlation is undefined."""
    with pytest.warns(AlignmentWarning, match=r"columns \['size'\] are constant"):
        alignment_report(
            binary_distiller, X_CANCER.iloc[400:], max_rows=40, max_stability_rows=0
        )


def test_report_summary_metrics(binary_distiller, binary_report):
    """The summary equals the metric functions on the same rows."""
    X, y = X_CANCER.iloc[400:], Y_CANCER[400:]
    rows, rng = _sampled_rows(len(X), 120, 7)
    X_rows = X.iloc[rows]
    phi_teacher = binary_distiller.explain_teacher(X_rows)
    phi_student = binary_distiller.explain(X_rows)

    assert_allclose(
        binary_report.prediction["accuracy"],
        accuracy_score(y, binary_distiller.predict(X)),
    )
    teacher_labels = binary_distiller.teacher_.predict(X)
    assert_allclose(
        binary_report.prediction["fidelity"],
        fidelity(teacher_labels, binary_distiller.predict(X)),
    )
    expected_agreement = {
        "shap_correlation": shap_correlation(phi_teacher, phi_student),
        "shap_correlation_per_row": shap_correlation(
            phi_teacher, phi_student, per_row=True
        ),
        "top_k_overlap_row": top_k_overlap(phi_teacher, phi_student, k=3),
        "top_k_overlap_global": top_k_overlap(
            phi_teacher, phi_student, k=3, scope="global"
        ),
        "explanation_divergence": explanation_divergence(phi_teacher, phi_student),
    }
    assert binary_report.agreement.keys() == expected_agreement.keys()
    for name, value in expected_agreement.items():
        assert_allclose(binary_report.agreement[name], value, rtol=1e-12)

    # Reference: the report draws its FAS rows, then one seed for both models.
    stability_rows = np.sort(rng.choice(len(rows), 30, replace=False))
    seed = int(rng.randint(np.iinfo(np.int32).max))
    X_stability = X_rows.iloc[stability_rows]
    for model, explain in (
        ("teacher", binary_distiller.explain_teacher),
        ("student", binary_distiller.explain),
    ):
        expected = feature_attribution_stability(
            explain, X_stability, random_state=seed
        )
        assert_allclose(binary_report.stability[model], expected, rtol=1e-12)
        assert 0.0 <= binary_report.stability[model] <= 1.0


def test_report_metadata_and_json(binary_report):
    """The JSON contains versions, sizes and the data hash, and never NaN."""
    text = binary_report.to_json()

    def reject(constant):
        raise AssertionError(f"JSON contains {constant}")

    payload = json.loads(text, parse_constant=reject)
    metadata = payload["metadata"]
    assert set(metadata["versions"]) == {
        "skdixtill",
        "sklearn",
        "shap",
        "xgboost",
        "lightgbm",
        "torch",
        "numpy",
        "pandas",
    }
    assert metadata["versions"]["numpy"] == np.__version__
    assert metadata["random_state"] == 7
    assert re.fullmatch("[0-9a-f]{64}", metadata["data_sha256"])
    assert metadata["teacher_attribution_method"] == "TreeSHAP (tree_path_dependent)"
    assert metadata["n_samples"] == len(X_CANCER) - 400
    assert metadata["n_rows_explained"] == 120
    assert metadata["n_stability_rows"] == 30
    assert metadata["output_spaces"] == {"teacher": "log-odds", "student": "log-odds"}
    assert metadata["estimator_params"]["teacher"] == "FrozenEstimator"
    assert payload["output_spaces"] == metadata["output_spaces"]
    assert payload["stability"].keys() == {"teacher", "student"}
    assert [row["feature"] for row in payload["features"]] == list(X_CANCER.columns)
    assert payload == binary_report.to_dict()


def test_report_missing_values_are_null(binary_distiller):
    """Without y the accuracy is null, and NaN in the table becomes null."""
    report = alignment_report(
        binary_distiller, X_CANCER.iloc[400:], max_rows=50, max_stability_rows=0
    )
    assert report.prediction["accuracy"] is None
    assert report.stability == {"teacher": None, "student": None}
    report.features.loc["mean radius", "correlation"] = np.nan
    text = report.to_json()
    assert "NaN" not in text
    payload = json.loads(text)
    assert payload["features"][0]["correlation"] is None
    assert payload["prediction"]["accuracy"] is None


def test_report_data_hash_tracks_values(binary_distiller):
    """The data hash is stable for equal data and changes with X or y."""
    X, y = X_CANCER.iloc[400:].copy(), Y_CANCER[400:].copy()

    def data_hash(X, y):
        report = alignment_report(
            binary_distiller, X, y, max_rows=10, max_stability_rows=0, random_state=0
        )
        return report.metadata["data_sha256"]

    reference = data_hash(X, y)
    assert data_hash(X.copy(), y.copy()) == reference
    X_changed = X.copy()
    X_changed.iloc[3, 0] += 1.0
    assert data_hash(X_changed, y) != reference
    y_changed = y.copy()
    y_changed[0] = 1 - y_changed[0]
    assert data_hash(X, y_changed) != reference


def test_report_multiclass(multiclass_setup):
    """Multiclass importances average |phi| over rows and classes."""
    distiller, X, y, report = multiclass_setup
    phi_teacher = distiller.explain_teacher(X)
    phi_student = distiller.explain(X)
    assert report.metadata["n_rows_explained"] == len(X)
    assert report.output_spaces == {"teacher": "probability", "student": "log-odds"}
    assert list(report.features.index) == [f"x{i}" for i in range(X.shape[1])]
    # Reference: NumPy means over rows and classes.
    assert_allclose(
        report.features["teacher_importance"],
        np.abs(phi_teacher).mean(axis=(0, 2)),
        rtol=1e-12,
    )
    predicted_class = np.argmax(distiller.teacher_.predict_proba(X), axis=1)
    assert_allclose(
        report.agreement["top_k_overlap_row"],
        top_k_overlap(phi_teacher, phi_student, predicted_class=predicted_class),
        rtol=1e-12,
    )
    json.loads(report.to_json())


def test_report_of_pipeline():
    """A Pipeline ending in the distiller is reported on its transformed X."""
    X, y = load_breast_cancer(return_X_y=True)
    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "dixtill",
                DiXtillClassifier(
                    XGBClassifier(n_estimators=20, max_depth=2),
                    feature_perturbation="tree_path_dependent",
                    n_attribution_samples=100,
                    random_state=0,
                ),
            ),
        ]
    ).fit(X, y)

    report = alignment_report(
        pipeline, X, y, max_rows=80, max_stability_rows=10, random_state=0
    )
    Z = pipeline[0].transform(X)
    distiller = pipeline[-1]
    rows, _ = _sampled_rows(len(X), 80, 0)
    assert_allclose(report.X_explained, Z[rows])

    # Reference: the correlation of the distiller's attributions on those rows.
    expected = shap_correlation(
        distiller.explain_teacher(Z[rows]), distiller.explain(Z[rows])
    )
    assert_allclose(report.agreement["shap_correlation"], expected, rtol=1e-12)
    assert_allclose(
        report.prediction["accuracy"], accuracy_score(y, pipeline.predict(X))
    )


def test_report_repr_groups_stability_apart(binary_report):
    """The text form lists FAS under stability, not agreement."""
    text = repr(binary_report)
    assert "stability (FAS): teacher=" in text
    agreement_line = next(line for line in text.splitlines() if "agreement" in line)
    assert "teacher=" not in agreement_line


# Plots ----------------------------------------------------------------------


def _assert_png(path):
    with open(path, "rb") as file:
        assert file.read(8) == PNG_SIGNATURE


def test_plot_importances(binary_report, binary_distiller, tmp_path):
    """The importance plot draws one bar per column in each panel and saves a PNG."""
    import matplotlib.pyplot as plt

    path = tmp_path / "importances.png"
    figure = plot_importances(binary_report, path=path)
    _assert_png(path)
    teacher_axis, student_axis = figure.axes[:2]
    widths = sorted(patch.get_width() for patch in teacher_axis.patches)
    assert_allclose(widths, sorted(binary_report.features["teacher_importance"]))
    assert len(student_axis.patches) == X_CANCER.shape[1]
    plt.close(figure)

    figure = plot_importances(
        binary_distiller, X_CANCER.iloc[400:], max_features=3, random_state=0
    )
    assert len(figure.axes[0].patches) == 3
    plt.close(figure)


def test_plot_attribution_scatter(binary_report, multiclass_setup, tmp_path):
    """The scatter plot draws one panel per column with every explained row."""
    import matplotlib.pyplot as plt

    path = tmp_path / "scatter.png"
    figure = plot_attribution_scatter(
        binary_report, features=["mean radius", "size"], path=path
    )
    _assert_png(path)
    visible = [ax for ax in figure.axes if ax.get_visible()]
    assert len(visible) == 2
    offsets = visible[0].collections[0].get_offsets()
    assert_allclose(offsets[:, 0], binary_report.teacher_attributions[:, 0])
    assert_allclose(offsets[:, 1], binary_report.student_attributions[:, 0])
    plt.close(figure)

    report = multiclass_setup[3]
    figure = plot_attribution_scatter(report, max_features=2)
    assert len(figure.axes[0].collections) == 3
    plt.close(figure)

    with pytest.raises(ValueError, match="not in the report"):
        plot_attribution_scatter(binary_report, features=["nope"])


def test_plot_shape_functions(binary_distiller, multiclass_setup, tmp_path):
    """Shape functions draw the student's values over the teacher's dependence."""
    import matplotlib.pyplot as plt

    path = tmp_path / "shapes.png"
    X = X_CANCER.iloc[400:]
    figure = plot_shape_functions(
        binary_distiller, X, features=["mean radius", "size"], path=path, random_state=0
    )
    _assert_png(path)
    numeric_axis, categorical_axis = [ax for ax in figure.axes if ax.get_visible()]
    line = numeric_axis.lines[0]
    x, student = line.get_xdata(), line.get_ydata()
    assert np.all(np.diff(x) >= 0)
    # Reference: the student's attributions of mean radius at those values.
    rows = np.argsort(X["mean radius"].to_numpy(), kind="stable")
    phi = binary_distiller.explain(X.iloc[rows])
    assert_allclose(x, X["mean radius"].to_numpy()[rows])
    assert_allclose(student, phi[:, 0], rtol=1e-12)
    tick_labels = [label.get_text() for label in categorical_axis.get_xticklabels()]
    assert tick_labels == ["large", "small"]
    plt.close(figure)

    distiller, X_wine, _, report = multiclass_setup
    with pytest.raises(ValueError, match="target_class must be a class index"):
        plot_shape_functions(report)
    figure = plot_shape_functions(report, target_class=2, max_features=2)
    assert len([ax for ax in figure.axes if ax.get_visible()]) == 2
    # Probability and log-odds differ, so both are divided by their RMS.
    assert figure.axes[0].get_ylabel() == "SHAP value / RMS"
    plt.close(figure)


def test_plots_need_x_with_an_estimator(binary_distiller):
    """Passing an estimator without X raises a ValueError saying X is needed."""
    with pytest.raises(ValueError, match="X is required"):
        plot_importances(binary_distiller)


def test_plots_without_matplotlib(binary_report, monkeypatch):
    """A missing matplotlib raises ImportError naming the plots extra."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    for plot in (plot_importances, plot_attribution_scatter, plot_shape_functions):
        with pytest.raises(
            ImportError, match=re.escape("pip install skdixtill[plots]")
        ):
            plot(binary_report)


def test_report_is_a_dataclass_of_plain_parts(binary_report):
    """The report exposes its parts as attributes of the documented types."""
    assert isinstance(binary_report, AlignmentReport)
    assert isinstance(binary_report.features, pd.DataFrame)
    assert binary_report.teacher_attributions.shape == (120, X_CANCER.shape[1])
