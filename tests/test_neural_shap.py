"""Tests of the differentiable SHAP estimates against the shap package."""

# License: BSD-3-Clause

import numpy as np
import pytest
import shap
import torch
from numpy.testing import assert_allclose
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import KBinsDiscretizer, StandardScaler

from skdixtill._groups import group_matrix, output_groups
from skdixtill._losses import alignment_loss, scale_normalize
from skdixtill.neural import KernelShap, expected_gradients
from skdixtill.neural._alignment import log_odds

X_CANCER, Y_CANCER = load_breast_cancer(return_X_y=True)
X_SCALED = StandardScaler().fit_transform(X_CANCER)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Run torch on one thread: these models are small, and on a busy machine
    a second thread spins more than it computes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _train_mlp(X, y, hidden=16, n_classes=2, seed=0, steps=300):
    """Return a small float64 MLP trained by Adam on (X, y)."""
    torch.manual_seed(seed)
    module = torch.nn.Sequential(
        torch.nn.Linear(X.shape[1], hidden),
        torch.nn.Tanh(),
        torch.nn.Linear(hidden, n_classes),
    ).double()
    inputs = torch.as_tensor(X)
    targets = torch.as_tensor(y, dtype=torch.long)
    optimizer = torch.optim.Adam(module.parameters(), lr=0.01)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(module(inputs), targets).backward()
        optimizer.step()
    return module.eval()


def _numpy_output(function):
    def output(X):
        with torch.no_grad():
            return function(torch.as_tensor(X, dtype=torch.float64)).numpy()

    return output


@pytest.fixture(scope="module")
def trained_12():
    """An MLP trained on the first 12 columns of breast cancer."""
    X = X_SCALED[:, :12]
    return X, _train_mlp(X, Y_CANCER)


def test_kernel_shap_exact_matches_shap(trained_12):
    """Exact KernelSHAP per column equals shap's ExactExplainer."""
    X, module = trained_12
    X, module = X[:, :8], _train_mlp(X[:, :8], Y_CANCER)
    output = lambda Z: log_odds(module(Z))  # noqa: E731
    background = X[:10]
    rows = X[100:104]

    explainer = KernelShap(np.eye(8))
    phi = explainer.attributions(
        output, torch.as_tensor(rows), torch.as_tensor(background)
    )

    assert explainer.exact_
    # Reference: shap's ExactExplainer with an Independent masker over the
    # same background computes the same interventional Shapley values.
    masker = shap.maskers.Independent(background, max_samples=len(background))
    numpy_output = _numpy_output(lambda Z: output(Z)[:, 0])
    expected = shap.ExactExplainer(numpy_output, masker)(rows).values
    assert_allclose(phi[:, :, 0].detach().numpy(), expected, rtol=0, atol=1e-10)


def test_kernel_shap_players_match_shap_on_original_columns():
    """Masking an original column's expanded columns together gives its SHAP value."""
    X = X_CANCER[:, :6]
    columns = ColumnTransformer(
        [
            ("scaled", StandardScaler(), [0, 1, 2, 3]),
            ("binned", KBinsDiscretizer(n_bins=4, encode="onehot-dense"), [4, 5]),
        ]
    ).fit(X)
    Z = columns.transform(X)
    groups = output_groups(columns, X.shape[1])
    assert Z.shape[1] == 12
    module = _train_mlp(Z, Y_CANCER)
    output = lambda Z: log_odds(module(Z))  # noqa: E731
    background, rows = X[:20], X[200:205]

    explainer = KernelShap(group_matrix(groups, X.shape[1]).T)
    phi = explainer.attributions(
        output,
        torch.as_tensor(columns.transform(rows)),
        torch.as_tensor(columns.transform(background)),
    )

    # Reference: shap's ExactExplainer on the original columns, the model
    # being the preprocessing followed by the module.
    def model(X_original):
        return _numpy_output(lambda Z: output(Z)[:, 0])(columns.transform(X_original))

    masker = shap.maskers.Independent(background, max_samples=len(background))
    expected = shap.ExactExplainer(model, masker)(rows).values
    assert_allclose(phi[:, :, 0].detach().numpy(), expected, rtol=0, atol=1e-10)


def test_kernel_shap_sampled_close_to_exact(trained_12):
    """Paired sampling over 12 columns approaches the exact values and adds up."""
    X, module = trained_12
    output = lambda Z: log_odds(module(Z))  # noqa: E731
    background = torch.as_tensor(X[:20])
    rows = torch.as_tensor(X[300:310])

    sampled = KernelShap(
        np.eye(12), max_exact_players=10, n_coalitions=1024, random_state=0
    )
    phi = sampled.attributions(output, rows, background)[:, :, 0].detach().numpy()

    assert not sampled.exact_
    masker = shap.maskers.Independent(X[:20], max_samples=20)
    numpy_output = _numpy_output(lambda Z: output(Z)[:, 0])
    # Reference: shap's ExactExplainer, all 4096 coalitions.
    expected = shap.ExactExplainer(numpy_output, masker)(X[300:310]).values
    rms = np.sqrt(np.mean(expected**2))
    # 1024 of 4094 coalitions: an estimate, within 5 % of the values' scale.
    assert_allclose(phi, expected, rtol=0, atol=0.05 * rms)
    assert np.corrcoef(phi.ravel(), expected.ravel())[0, 1] > 0.999
    # Efficiency is exact: phi sums to f(x) minus the mean f over the background.
    with torch.no_grad():
        gap = (output(rows) - output(background).mean(dim=0))[:, 0].numpy()
    assert_allclose(phi.sum(axis=1), gap, rtol=0, atol=1e-10)


def test_kernel_shap_sampled_matches_shap_kernel_explainer():
    """Sampled KernelSHAP over 30 columns agrees with shap's KernelExplainer."""
    module = _train_mlp(X_SCALED, Y_CANCER)
    output = lambda Z: log_odds(module(Z))  # noqa: E731
    background = X_SCALED[:10]
    rows = X_SCALED[400:403]

    explainer = KernelShap(np.eye(30), n_coalitions=4096, random_state=0)
    phi = explainer.attributions(
        output, torch.as_tensor(rows), torch.as_tensor(background)
    )
    phi = phi[:, :, 0].detach().numpy()

    # Reference: shap's KernelExplainer, itself an estimate, with 8192 samples
    # and no L1 selection of features.
    numpy_output = _numpy_output(lambda Z: output(Z)[:, 0])
    kernel = shap.KernelExplainer(numpy_output, background)
    expected = kernel.shap_values(rows, nsamples=8192, l1_reg=False, silent=True)
    rms = np.sqrt(np.mean(expected**2))
    assert np.corrcoef(phi.ravel(), expected.ravel())[0, 1] > 0.99
    assert np.sqrt(np.mean((phi - expected) ** 2)) < 0.1 * rms
    assert_allclose(phi, expected, rtol=0, atol=0.25 * rms)


def test_kernel_shap_multiclass_logits_centred():
    """Attributions of centred logits are centred over classes and add up per class."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 5))
    y = np.argmax(X[:, :3], axis=1)
    module = _train_mlp(X, y, n_classes=3)
    output = lambda Z: log_odds(module(Z))  # noqa: E731
    rows, background = torch.as_tensor(X[:4]), torch.as_tensor(X[10:30])

    phi = KernelShap(np.eye(5)).attributions(output, rows, background).detach()

    assert phi.shape == (4, 5, 3)
    assert_allclose(phi.sum(dim=2).numpy(), 0.0, atol=1e-12)
    with torch.no_grad():
        gap = output(rows) - output(background).mean(dim=0)
    assert_allclose(phi.sum(dim=1).numpy(), gap.numpy(), rtol=0, atol=1e-10)


def test_expected_gradients_linear_closed_form():
    """Expected gradients of a linear model against one background row are w (x - b)."""
    torch.manual_seed(0)
    weights = torch.randn(6, 1, dtype=torch.float64)
    rows = torch.randn(5, 6, dtype=torch.float64)
    baseline = torch.randn(1, 6, dtype=torch.float64)

    phi = expected_gradients(lambda Z: Z @ weights, rows, baseline, n_samples=3)

    # Reference: the closed form of a linear model's SHAP values.
    expected = (rows - baseline) * weights[:, 0]
    assert_allclose(phi[:, :, 0].detach().numpy(), expected.numpy(), rtol=1e-12)


def test_expected_gradients_matches_shap_gradient_explainer(trained_12):
    """Expected gradients agree with shap's GradientExplainer on a trained MLP."""
    X, module = trained_12
    output = lambda Z: log_odds(module(Z))  # noqa: E731
    background = torch.as_tensor(X[:50])
    rows = torch.as_tensor(X[300:304])
    generator = torch.Generator().manual_seed(0)

    phi = expected_gradients(
        output, rows, background, n_samples=4000, generator=generator
    )
    phi = phi[:, :, 0].detach().numpy()

    # Reference: shap's GradientExplainer implements expected gradients for
    # torch models; both are Monte Carlo estimates with 4000 draws per row.
    class LogOdds(torch.nn.Module):
        def forward(self, Z):
            # shap passes float32 samples.
            return output(Z.double())

    torch.manual_seed(1)
    np.random.seed(1)
    explainer = shap.GradientExplainer(LogOdds(), background)
    expected = np.asarray(explainer.shap_values(rows, nsamples=4000))[:, :, 0]
    rms = np.sqrt(np.mean(expected**2))
    assert_allclose(phi, expected, rtol=0, atol=0.1 * rms)


@pytest.mark.parametrize("method", ["kernel", "expected_gradients"])
def test_alignment_gradient_finite_differences(method):
    """Gradients of the SHAP alignment loss in the weights match finite differences."""
    torch.manual_seed(0)
    X = torch.as_tensor(X_SCALED[:12, :7])
    background = torch.as_tensor(X_SCALED[50:60, :7])
    module = torch.nn.Sequential(
        torch.nn.Linear(7, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)
    ).double()
    teacher = scale_normalize(
        torch.randn(12, 7, 1, dtype=torch.float64), torch.ones(12)
    )
    kernel = KernelShap(np.eye(7), max_exact_players=3, n_coalitions=40, random_state=0)
    names = [name for name, _ in module.named_parameters()]

    def loss(*parameters):
        state = dict(zip(names, parameters, strict=True))
        output = lambda Z: log_odds(torch.func.functional_call(module, state, (Z,)))  # noqa: E731
        if method == "kernel":
            phi = kernel.attributions(output, X, background)
        else:
            generator = torch.Generator().manual_seed(0)
            phi = expected_gradients(output, X, background, 8, generator=generator)
        return alignment_loss(teacher, phi, torch.ones(12, dtype=torch.float64))

    parameters = tuple(
        p.detach().clone().requires_grad_(True) for p in module.parameters()
    )
    # Reference: central finite differences of the loss, in float64.
    assert torch.autograd.gradcheck(loss, parameters, eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    "players, n_coalitions, message",
    [
        (np.zeros((0, 3)), 16, "at least one player"),
        (np.eye(3)[0], 16, "shape"),
        (np.eye(12), 1, "n_coalitions must be at least 2"),
    ],
)
def test_kernel_shap_rejects_invalid_settings(players, n_coalitions, message):
    """KernelShap names the invalid argument."""
    with pytest.raises(ValueError, match=message):
        KernelShap(players, n_coalitions=n_coalitions)
