# License: BSD-3-Clause

import json
import math

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LinearRegression

from skdixtill._cli import main
from skdixtill.datasets import load_adult

# Few rows are compared, so that each run stays within seconds.
FAST = ["--n-eval-samples", "60", "--n-fas-samples", "10"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """Run the default command once, on breast cancer, with a JSON report."""
    folder = tmp_path_factory.mktemp("cli")
    path = folder / "report.json"
    output = folder / "student.joblib"
    code = main(
        ["distill", "--report", str(path), "--output", str(output), *FAST]
    )
    return code, json.loads(path.read_text()), output


def test_distill_default_runs(report):
    """The default command exits 0 and reports the four models."""
    code, content, output = report
    assert code == 0
    assert [row["model"] for row in content["rows"]] == [
        "teacher",
        "student_alone",
        "kd",
        "dixtill",
    ]
    assert output.exists()


def test_report_has_audit_fields(report):
    """The JSON report contains versions, seeds, a data hash and the SHAP mode."""
    _, content, _ = report
    assert content["dataset"] == "breast_cancer"
    assert content["settings"]["random_state"] == 0
    assert len(content["data"]["sha256"]) == 64
    assert content["versions"]["scikit-learn"]
    assert content["attributions"]["teacher_method"].startswith("TreeSHAP")
    assert content["attributions"]["teacher_output_space"] == "log-odds"


def test_report_values_are_finite_or_null(report):
    """Every number of the report is finite; missing ones are null, never NaN."""
    _, content, _ = report
    for row in content["rows"]:
        for key, value in row.items():
            assert value is None or isinstance(value, str) or math.isfinite(value), key
    assert content["rows"][0]["shap_correlation"] is None
    assert -1 <= content["rows"][3]["shap_correlation"] <= 1


def test_saved_student_predicts(report):
    """The saved DiXtill student is a plain fitted model that predicts."""
    _, _, output = report
    student = joblib.load(output)
    X = load_breast_cancer(as_frame=True).data
    proba = student.predict_proba(X.iloc[:5])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_table_printed_on_stdout(capsys, tmp_path):
    """The table goes to stdout and progress to stderr."""
    output = tmp_path / "student.joblib"
    code = main(["distill", "--output", str(output), "--verbose", "1", *FAST])
    captured = capsys.readouterr()
    assert code == 0
    assert "SHAP rho" in captured.out
    assert "Fitting the teacher" in captured.err
    # The distiller's loss table is progress, so it goes to stderr too.
    assert "xai" in captured.err
    assert "iter" not in captured.out.split()


@pytest.fixture
def german_csv(tmp_path, data_dir):
    """Write a few hundred rows of German credit as a CSV file."""
    frame = pd.read_csv(data_dir / "german_credit.csv.gz").iloc[:300]
    path = tmp_path / "german.csv"
    frame.to_csv(path, index=False)
    return path


def _bad_inputs(tmp_path, german_csv):
    regressor = tmp_path / "regressor.joblib"
    joblib.dump(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), regressor)
    only_target = tmp_path / "only_target.csv"
    only_target.write_text("class\n1\n2\n")
    one_class = tmp_path / "one_class.csv"
    one_class.write_text("a,class\n1,x\n2,x\n3,x\n")
    return [
        (["--data", str(tmp_path / "missing.csv"), "--target", "y"], "is not a file"),
        (["--data", str(german_csv)], "--target is required"),
        (["--data", str(german_csv), "--target", "nope"], "is not a column"),
        (["--data", str(german_csv), "--target", "class", "--drop", "nope"], "--drop"),
        (["--data", str(german_csv), "--target", "class", "--drop", "class"], "target"),
        (["--data", str(one_class), "--target", "class"], "fewer than two classes"),
        (["--data", str(only_target), "--target", "class"], "no column besides"),
        (
            ["--data", str(german_csv), "--target", "class", "--positive-class", "9"],
            "not a label",
        ),
        (["--teacher", "nothing"], "neither xgboost"),
        (["--teacher", str(german_csv)], "could not be loaded"),
        (["--teacher", str(regressor)], "not a fitted classifier"),
        (["--output", str(tmp_path / "no" / "x.joblib")], "does not exist"),
        (["--data", "adult", "--data-home", str(tmp_path)], "adult.csv.gz"),
    ]


def test_bad_input_exits_two(tmp_path, german_csv, capsys, monkeypatch):
    """Each bad input prints one error line naming it and exits with 2."""
    # OpenML is out of reach in tests, so the download fails as it does for a
    # user without network.
    monkeypatch.setattr(
        "skdixtill.datasets._adult._fetch_openml",
        lambda data_home: (_ for _ in ()).throw(OSError("network unreachable")),
    )
    for arguments, expected in _bad_inputs(tmp_path, german_csv):
        code = main(["distill", *arguments, *FAST])
        error = capsys.readouterr().err.strip().splitlines()
        assert code == 2, arguments
        assert error[-1].startswith("skdixtill: error:"), arguments
        assert expected in error[-1], (arguments, error[-1])


@pytest.mark.parametrize(
    "arguments",
    [["--alpha", "2"], ["--beta", "-1"], ["--temperature", "0"], ["--alpha", "x"]],
)
def test_bad_numbers_rejected_by_parser(arguments, capsys):
    """Out-of-range settings are rejected before anything is fitted."""
    with pytest.raises(SystemExit) as exit_info:
        main(["distill", *arguments])
    assert exit_info.value.code == 2
    assert arguments[0] in capsys.readouterr().err


def test_csv_with_positive_class(german_csv, tmp_path, capsys):
    """A CSV with string codes and --positive-class runs to the end."""
    report = tmp_path / "german.json"
    code = main(
        [
            "distill",
            "--data",
            str(german_csv),
            "--target",
            "class",
            "--positive-class",
            "2",
            "--teacher",
            "random-forest",
            "--student",
            "additive",
            "--output",
            str(tmp_path / "s.joblib"),
            "--report",
            str(report),
            *FAST,
        ]
    )
    assert code == 0, capsys.readouterr().err
    content = json.loads(report.read_text())
    assert content["attributions"]["teacher_output_space"] == "probability"
    assert content["settings"]["positive_class"] == "2"
    assert content["data"]["n_train"] == 225


def test_load_adult_local_split(data_dir):
    """load_adult reads the official split and strips the test labels' period."""
    data = load_adult(data_dir, download_if_missing=False)
    assert data.X_train.shape == (32561, 14)
    assert data.X_test.shape == (16281, 14)
    assert set(data.y_test) == {"<=50K", ">50K"}
    # Reference: the counts of the UCI documentation of adult.data and adult.test.
    assert (data.y_train == ">50K").sum() == 7841
    assert (data.y_test == ">50K").sum() == 3846
    assert data.X_train["workclass"].isna().sum() > 0


def test_load_adult_missing_file(tmp_path):
    """Without the file and without download, load_adult names the file."""
    with pytest.raises(FileNotFoundError, match="adult.csv.gz"):
        load_adult(tmp_path, download_if_missing=False)


def test_mlp_student_runs(tmp_path, capsys):
    """--student mlp distils into a neural student and reports its alignment."""
    report = tmp_path / "mlp.json"
    code = main(
        [
            "distill",
            "--student",
            "mlp",
            "--n-eval-samples",
            "20",
            "--n-fas-samples",
            "3",
            "--output",
            str(tmp_path / "mlp.joblib"),
            "--report",
            str(report),
        ]
    )
    assert code == 0, capsys.readouterr().err
    content = json.loads(report.read_text())
    assert content["attributions"]["n_fas_samples"] == 3
    assert content["attributions"]["teacher_method"] == "TreeSHAP (interventional)"
    dixtill = content["rows"][3]
    assert dixtill["accuracy"] > 0.85
    assert -1 <= dixtill["shap_correlation"] <= 1
