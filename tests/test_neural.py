"""Tests of neural students, and of gradient and attention alignment."""

# License: BSD-3-Clause

import pickle

import numpy as np
import pytest
import shap
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier
from skorch.callbacks import EarlyStopping
from skorch.dataset import ValidSplit

from skdixtill import DiXtillClassifier
from skdixtill.neural import (
    MLP,
    AttentionAlignment,
    FeatureTokenTransformer,
    GradientAlignment,
    ModuleClassifier,
    ShapAlignment,
    layer_mapping,
    make_mlp_student,
)
from skdixtill.neural._alignment import GradientTerm, teacher_input_gradients
from skdixtill.neural._attention import attention_distance
from skdixtill.neural._gradients import log_proba_gradients

X_WINE, Y_WINE = load_wine(return_X_y=True)
X_WINE = StandardScaler().fit_transform(X_WINE)
X_IRIS, Y_IRIS = load_iris(return_X_y=True)
X_CANCER, Y_CANCER = load_breast_cancer(return_X_y=True)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Run torch on one thread: these models are small, and on a busy machine
    a second thread spins more than it computes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _mlp_student(X, **params):
    settings = dict(hidden=(16,), max_epochs=8, batch_size=32, lr=0.01)
    settings.update(params)
    return make_mlp_student(X, **settings)


def _forest():
    return RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0)


def _torch_net(module, **params):
    settings = dict(
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=8,
        batch_size=32,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
    )
    settings.update(params)
    return NeuralNetClassifier(module, **settings)


@pytest.fixture(scope="module")
def mlp_distiller():
    """A distiller of a forest into an MLP on wine, with SHAP alignment."""
    distiller = DiXtillClassifier(
        _forest(),
        _mlp_student(X_WINE),
        beta=0.5,
        n_attribution_samples=100,
        n_background_samples=30,
        random_state=0,
    )
    return distiller.fit(X_WINE, Y_WINE)


@pytest.fixture(scope="module")
def mlp_teacher():
    """A trained MLP on wine, wrapped as a fitted classifier."""
    torch.manual_seed(0)
    net = _torch_net(
        MLP,
        module__n_features=13,
        module__n_classes=3,
        module__hidden=(32,),
        max_epochs=30,
    )
    net.fit(X_WINE.astype(np.float32), Y_WINE)
    return ModuleClassifier(net.module_).fit(X_WINE, Y_WINE)


@pytest.fixture(scope="module")
def transformer_teacher():
    """A trained four-layer, four-head feature-token transformer on wine."""
    torch.manual_seed(0)
    net = _torch_net(
        FeatureTokenTransformer,
        module__n_features=13,
        module__n_classes=3,
        module__n_layers=4,
        module__n_heads=4,
        max_epochs=10,
    )
    return net.fit(X_WINE.astype(np.float32), Y_WINE)


# Neural students -----------------------------------------------------------


def test_mlp_student_probabilities(mlp_distiller):
    """predict_proba of the distiller and of student_ return probabilities."""
    proba = mlp_distiller.predict_proba(X_WINE)
    student_proba = mlp_distiller.student_.predict_proba(X_WINE)

    assert proba.shape == (len(X_WINE), 3)
    assert np.all((proba >= 0) & (proba <= 1))
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all((student_proba >= 0) & (student_proba <= 1))
    assert_allclose(student_proba.sum(axis=1), 1.0, rtol=1e-5)
    # The distiller computes in float64 what student_ computes in float32.
    assert_allclose(proba, student_proba, atol=1e-5)
    assert_array_equal(
        mlp_distiller.predict(X_WINE), mlp_distiller.classes_[proba.argmax(axis=1)]
    )
    assert_allclose(mlp_distiller.predict_log_proba(X_WINE), np.log(proba), atol=1e-6)


def test_mlp_student_string_labels():
    """A neural student predicts the labels of y, not class indices."""
    labels = np.array(["benign", "malignant"])[Y_CANCER]
    distiller = DiXtillClassifier(
        _forest(), _mlp_student(X_CANCER), beta=0.0, random_state=0
    ).fit(X_CANCER, labels)

    predicted = distiller.predict(X_CANCER)

    assert set(predicted) <= {"benign", "malignant"}
    assert np.mean(predicted == labels) > 0.85
    decision = distiller.decision_function(X_CANCER[:5])
    proba = distiller.predict_proba(X_CANCER[:5])
    # Closed form: the log-odds of classes_[1] is log(p1 / p0).
    assert_allclose(decision, np.log(proba[:, 1] / proba[:, 0]), rtol=1e-6)


def test_mlp_student_history_terms(mlp_distiller):
    """The per-epoch history records CE, KD and XAI, combined as the DiXtill loss."""
    history = mlp_distiller.history_
    net_history = mlp_distiller.student_.named_steps["net"].history

    assert len(history) == 8 == mlp_distiller.n_iter_
    for name in ("train_ce", "train_kd", "train_xai"):
        assert name in net_history[-1]
    loss = np.array([row["loss"] for row in history])
    ce, kd, xai = (np.array([row[k] for row in history]) for k in ("ce", "kd", "xai"))
    # Closed form: every batch's loss is (1 - alpha) CE + alpha (KD + beta XAI),
    # and the epoch means weigh the batches alike.
    assert_allclose(loss, 0.5 * ce + 0.5 * (kd + 0.5 * xai), rtol=1e-5)
    assert np.all((xai >= 0) & (xai <= 4))
    assert xai[-1] < xai[0]


def test_mlp_student_explain_matches_shap():
    """explain() of a neural student on few columns equals shap's ExactExplainer."""
    distiller = DiXtillClassifier(
        _forest(),
        _mlp_student(X_IRIS),
        beta=0.3,
        n_background_samples=10,
        random_state=0,
    ).fit(X_IRIS, Y_IRIS)

    phi = distiller.explain(X_IRIS[:5])

    background = X_IRIS[distiller._background_rows]

    def centred_logits(X):
        scores = distiller.decision_function(X)
        return scores - scores.mean(axis=1, keepdims=True)

    # Reference: shap's ExactExplainer of the student's logits, centred over
    # classes, on the original columns against the same background rows.
    masker = shap.maskers.Independent(background, max_samples=len(background))
    expected = shap.ExactExplainer(centred_logits, masker)(X_IRIS[:5]).values
    assert phi.shape == (5, 4, 3)
    assert_allclose(phi, expected, rtol=0, atol=1e-4)


def test_mlp_student_reproducible_pickle_clone(mlp_distiller):
    """The same random_state gives the same student; pickling and cloning keep it."""
    refitted = clone(mlp_distiller).fit(X_WINE, Y_WINE)
    restored = pickle.loads(pickle.dumps(mlp_distiller))

    assert_array_equal(
        refitted.predict_proba(X_WINE), mlp_distiller.predict_proba(X_WINE)
    )
    assert_array_equal(
        restored.predict_proba(X_WINE), mlp_distiller.predict_proba(X_WINE)
    )
    assert_array_equal(restored.explain(X_WINE[:3]), mlp_distiller.explain(X_WINE[:3]))
    assert not hasattr(clone(mlp_distiller), "student_")
    other_seed = clone(mlp_distiller).set_params(random_state=1).fit(X_WINE, Y_WINE)
    assert not np.array_equal(
        other_seed.predict_proba(X_WINE), mlp_distiller.predict_proba(X_WINE)
    )


def test_mlp_student_grid_search():
    """A neural student's distiller runs in GridSearchCV, net parameters included."""
    distiller = DiXtillClassifier(
        _forest(),
        _mlp_student(X_WINE, max_epochs=3),
        n_attribution_samples=40,
        random_state=0,
    )
    grid = {"beta": [0.0, 0.3], "student__net__lr": [0.01]}

    search = GridSearchCV(distiller, grid, cv=2).fit(X_WINE, Y_WINE)

    assert search.best_params_["beta"] in (0.0, 0.3)
    assert search.score(X_WINE, Y_WINE) > 0.5


def test_skorch_early_stopping_and_validation():
    """skorch's validation split and early stopping act on the distiller's loss."""
    stopping = EarlyStopping(patience=1, threshold=10.0, threshold_mode="abs")
    student = _mlp_student(
        X_WINE,
        max_epochs=20,
        train_split=ValidSplit(0.25, stratified=True),
        callbacks=[stopping],
    )
    distiller = DiXtillClassifier(
        _forest(), student, n_attribution_samples=50, random_state=0
    ).fit(X_WINE, Y_WINE)

    # A threshold of 10 cannot be met, so training stops after patience + 1 epochs.
    assert len(distiller.history_) == 2
    assert all("valid_loss" in row for row in distiller.history_)
    assert "valid_kd" in distiller.student_.named_steps["net"].history[-1]


def test_bare_net_student_with_float32_input():
    """A bare net whose module casts nothing trains on float32 X."""
    module = torch.nn.Sequential(
        torch.nn.Linear(13, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)
    )
    X = X_WINE.astype(np.float32)
    distiller = DiXtillClassifier(
        _forest(), _torch_net(module), n_attribution_samples=50, random_state=0
    ).fit(X, Y_WINE)

    assert distiller.predict_proba(X).shape == (len(X), 3)
    assert distiller.explain(X[:2]).shape == (2, 13, 3)


def test_neural_student_reuses_cached_teacher_rows():
    """A neural and a linear student with one random_state explain the same rows."""
    teacher = FrozenEstimator(_forest().fit(X_WINE, Y_WINE))
    settings = dict(n_attribution_samples=50, random_state=0)
    linear = DiXtillClassifier(teacher, **settings).fit(X_WINE, Y_WINE)
    neural = DiXtillClassifier(teacher, _mlp_student(X_WINE, max_epochs=1), **settings)
    neural.fit(X_WINE, Y_WINE)

    assert linear.attribution_stats_["rows_requested"] == 50
    assert neural.attribution_stats_["rows_requested"] == 50
    # Every row the neural student's fit requested was in the cache.
    assert neural.attribution_stats_["rows_explained"] == 0
    assert_array_equal(neural._background_rows, linear._background_rows)


@pytest.mark.parametrize("method", ["kernel", "expected_gradients"])
def test_shap_alignment_methods_raise_correlation(method):
    """Both SHAP estimates make the student's attributions closer to the teacher's."""
    settings = dict(n_attribution_samples=200, n_background_samples=30, random_state=0)
    student = _mlp_student(X_CANCER, max_epochs=15, hidden=(32,))
    teacher = FrozenEstimator(_forest().fit(X_CANCER, Y_CANCER))
    classic = DiXtillClassifier(teacher, student, beta=0.0, **settings)
    aligned = DiXtillClassifier(
        teacher, student, beta=2.0, xai=ShapAlignment(method), **settings
    )

    correlations = []
    for distiller in (classic, aligned):
        distiller.fit(X_CANCER, Y_CANCER)
        phi_teacher = distiller.explain_teacher(X_CANCER[:40])
        phi_student = distiller.explain(X_CANCER[:40])
        correlations.append(np.corrcoef(phi_teacher.ravel(), phi_student.ravel())[0, 1])

    assert correlations[1] > correlations[0] + 0.1


# Gradient alignment --------------------------------------------------------


def test_log_proba_gradients_closed_form():
    """Input gradients of log p(y|x) of a softmax regression match the closed form."""
    torch.manual_seed(0)
    module = torch.nn.Linear(4, 3).double()
    Z = torch.randn(6, 4, dtype=torch.float64)
    target = torch.tensor([0, 1, 2, 0, 1, 2])

    gradients = log_proba_gradients(
        module, Z, target, torch.eye(4, dtype=torch.float64)
    )

    # Closed form: d log p_y / dx = W_y - sum_k p_k W_k.
    W = module.weight.detach()
    proba = torch.softmax(module(Z).detach(), dim=1)
    expected = W[target] - proba @ W
    assert_allclose(gradients[:, :, 0].numpy(), expected.numpy(), rtol=1e-12)


def test_smoothgrad_averages_noisy_gradients():
    """SmoothGrad averages the plain gradients at the same noisy points."""
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)
    )
    module = module.double()
    Z = torch.randn(4, 3, dtype=torch.float64)
    target = torch.tensor([0, 1, 1, 0])
    scale = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64)

    smooth = log_proba_gradients(
        module,
        Z,
        target,
        eye,
        n_noise_samples=5,
        noise_scale=scale,
        generator=torch.Generator().manual_seed(3),
    )

    noise = torch.randn(
        (4, 5, 3), generator=torch.Generator().manual_seed(3), dtype=torch.float64
    )
    points = (Z[:, None, :] + noise * scale).reshape(-1, 3)
    plain = log_proba_gradients(module, points, target.repeat_interleave(5), eye)
    # Reference: the mean of the plain gradients over the same five points.
    expected = plain[:, :, 0].reshape(4, 5, 3).mean(dim=1)
    assert_allclose(smooth[:, :, 0].numpy(), expected.numpy(), rtol=1e-12)


def test_gradient_alignment_teacher_equal_to_student_is_zero(mlp_teacher):
    """Gradient alignment of a student identical to its teacher is zero."""
    module = mlp_teacher.module_
    mechanism = GradientAlignment(n_rows=64)
    Z = torch.as_tensor(X_WINE[:100], dtype=torch.float32)
    targets = torch.as_tensor(mlp_teacher.predict(X_WINE[:100]), dtype=torch.long)
    groups = torch.eye(13)
    teacher_gradients = teacher_input_gradients(
        mechanism, module, Z, targets, groups, torch.arange(3), seed=0
    )
    term = GradientTerm(
        mechanism, Z, torch.ones(100), targets, teacher_gradients, groups
    )
    term.bind(module, seed=0)

    identical = term(module).item()
    torch.manual_seed(0)
    other = torch.nn.Sequential(
        torch.nn.Linear(13, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)
    )
    different = term(other).item()

    assert identical == pytest.approx(0.0, abs=1e-6)
    assert 0.1 < different <= 4.0


@pytest.mark.parametrize(
    "xai",
    [
        "gradient",
        GradientAlignment(target="true", smoothgrad_samples=4, n_rows=16),
    ],
)
def test_gradient_alignment_trains(mlp_teacher, xai):
    """Gradient alignment with a torch teacher lowers the alignment term."""
    distiller = DiXtillClassifier(
        FrozenEstimator(mlp_teacher),
        _mlp_student(X_WINE, max_epochs=10),
        xai=xai,
        beta=1.0,
        n_attribution_samples=100,
        random_state=0,
    ).fit(X_WINE, Y_WINE)

    xai_terms = [row["xai"] for row in distiller.history_]
    assert xai_terms[-1] < 0.5 * xai_terms[0]
    assert distiller.score(X_WINE, Y_WINE) > 0.9
    assert distiller.attribution_stats_["rows_explained"] == 100


# Attention alignment -------------------------------------------------------


@pytest.mark.parametrize(
    "n_student, n_teacher, mapping, expected",
    [
        (2, 4, "uniform", [1, 3]),
        (3, 6, "uniform", [1, 3, 5]),
        (4, 6, "uniform", [1, 2, 4, 5]),
        (2, 4, "last", [2, 3]),
        (2, 2, "last", [0, 1]),
        (2, 5, "skip", [1, 3]),
        (3, 3, "skip", [0, 1, 2]),
    ],
)
def test_layer_mapping(n_student, n_teacher, mapping, expected):
    """Layer mappings: round(l L_T / L_S), the last L_S layers, every k-th layer."""
    assert layer_mapping(n_student, n_teacher, mapping) == expected


def test_attention_distance_closed_form():
    """The attention distance is the mean squared Frobenius norm over layers.

    Heads are averaged when their counts differ.
    """
    torch.manual_seed(0)
    teacher = [torch.softmax(torch.randn(3, 4, 5, 5), dim=-1) for _ in range(2)]
    student_same = [torch.softmax(torch.randn(3, 4, 5, 5), dim=-1) for _ in range(2)]
    student_fewer = [torch.softmax(torch.randn(3, 2, 5, 5), dim=-1) for _ in range(2)]
    weights = torch.ones(3)

    same = attention_distance(teacher, student_same, weights)
    fewer = attention_distance(teacher, student_fewer, weights)

    # Reference: the formula written out in NumPy.
    expected_same = np.mean(
        [
            ((t - s).numpy() ** 2).sum(axis=(2, 3)).mean()
            for t, s in zip(teacher, student_same, strict=True)
        ]
    )
    expected_fewer = np.mean(
        [
            ((t.mean(1) - s.mean(1)).numpy() ** 2).sum(axis=(1, 2)).mean()
            for t, s in zip(teacher, student_fewer, strict=True)
        ]
    )
    assert_allclose(same.item(), expected_same, rtol=1e-6)
    assert_allclose(fewer.item(), expected_fewer, rtol=1e-6)
    assert attention_distance(teacher, teacher, weights).item() == 0.0


@pytest.mark.parametrize("mapping", ["uniform", "last", "skip"])
def test_attention_alignment_fewer_layers_and_heads(transformer_teacher, mapping):
    """A two-layer, two-head student aligns with a four-layer, four-head teacher."""
    student = _torch_net(
        FeatureTokenTransformer,
        module__n_layers=2,
        module__n_heads=2,
        module__d_model=16,
        max_epochs=6,
    )
    distiller = DiXtillClassifier(
        FrozenEstimator(transformer_teacher),
        student,
        xai=AttentionAlignment(mapping),
        beta=1.0,
        n_attribution_samples=100,
        random_state=0,
    ).fit(X_WINE, Y_WINE)

    xai_terms = [row["xai"] for row in distiller.history_]
    assert xai_terms[-1] < xai_terms[0]
    assert distiller.score(X_WINE, Y_WINE) > 0.8


# Errors --------------------------------------------------------------------


class _ProbabilityModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(13, 3)

    def forward(self, X):
        return torch.softmax(self.linear(X.float()), dim=1)


class _BinaryModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(13, 1)

    def forward(self, X):
        return self.linear(X.float())[:, 0]


def _attention_net(n_features=13, n_layers=2):
    return _torch_net(
        FeatureTokenTransformer,
        module__n_features=n_features,
        module__n_layers=n_layers,
        module__n_heads=2,
        module__d_model=8,
        max_epochs=1,
    )


@pytest.mark.parametrize(
    "teacher, student, xai, error, message",
    [
        (_forest(), "mlp", "gradient", TypeError, "Tree ensembles .* xai='shap'"),
        (_forest(), "attention", "attention", TypeError, "xai='shap'"),
        (
            "mlp_teacher",
            LogisticRegression(),
            "gradient",
            ValueError,
            "needs a neural student",
        ),
        ("mlp_teacher", None, "attention", ValueError, "make_mlp_student"),
        (
            "transformer",
            "mlp",
            "attention",
            TypeError,
            "does not accept return_attention",
        ),
        ("mlp_teacher", "attention", "attention", TypeError, "teacher's module"),
        (
            "transformer",
            _attention_net(n_layers=5),
            "attention",
            ValueError,
            "no more layers than its teacher",
        ),
        (
            _forest(),
            NeuralNetBinaryClassifier(_BinaryModule),
            "shap",
            TypeError,
            "NeuralNetClassifier whose module returns one logit per class",
        ),
        (_forest(), _torch_net(_ProbabilityModule), "shap", ValueError, "needs logits"),
        (
            _forest(),
            make_pipeline(StandardScaler(), _torch_net(torch.nn.Linear(13, 3))),
            "shap",
            ValueError,
            "fails on float64 input",
        ),
        (_forest(), "mlp", ShapAlignment(n_rows=0), ValueError, "n_rows"),
    ],
)
def test_invalid_setups(
    mlp_teacher, transformer_teacher, teacher, student, xai, error, message
):
    """Unsupported teacher, student and mechanism combinations raise a clear error."""
    teachers = {
        "mlp_teacher": FrozenEstimator(mlp_teacher),
        "transformer": FrozenEstimator(transformer_teacher),
    }
    students = {
        "mlp": _mlp_student(X_WINE, max_epochs=1),
        "attention": _attention_net(),
    }
    teacher = teachers.get(teacher, teacher) if isinstance(teacher, str) else teacher
    student = students.get(student, student) if isinstance(student, str) else student
    distiller = DiXtillClassifier(teacher, student, xai=xai, n_attribution_samples=20)

    with pytest.raises(error, match=message):
        distiller.fit(X_WINE, Y_WINE)


def test_module_classifier_rejects_wrong_logits():
    """ModuleClassifier names the expected shape of mismatched logits."""
    classifier = ModuleClassifier(torch.nn.Linear(13, 2)).fit(X_WINE, Y_WINE)

    with pytest.raises(ValueError, match=r"expects logits of shape \(n_samples, 3\)"):
        classifier.predict_proba(X_WINE)


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"hidden": (0,)}, "hidden"),
        ({"dropout": 1.5}, "dropout"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"lr": 0.0}, "lr"),
    ],
)
def test_mlp_student_rejects_bad_settings(settings, match):
    """make_mlp_student rejects settings that cannot train, naming each."""
    import pandas as pd

    from skdixtill.neural import make_mlp_student

    X = pd.DataFrame({"age": [30.0, 40.0], "job": ["a", "b"]})
    with pytest.raises(ValueError, match=match):
        make_mlp_student(X, **settings)
