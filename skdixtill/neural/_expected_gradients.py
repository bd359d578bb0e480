"""Expected gradients: a cheaper, differentiable estimate of SHAP values.

Expected gradients (Erion et al., 2021) average integrated gradients over
background rows ``b`` and points along the straight path from ``b`` to ``x``:

    phi_c(x) = E_{b, a ~ U(0, 1)} [ (x_c - b_c) * d f / d x_c (b + a (x - b)) ]

It costs one forward and one backward pass per draw and row, whatever the
number of features, where KernelSHAP costs a forward pass per coalition. It
equals the interventional SHAP value for models linear in their input and
approximates it otherwise. The attribution of an original feature is the
sum over its columns, which for a path method is the attribution of the
columns taken together. Gradients of the attributions with respect to the
model's parameters are kept (double backpropagation), so the estimate can be
trained on.

``shap.GradientExplainer`` implements the same estimator for torch models.
"""

# License: BSD-3-Clause

import torch


def expected_gradients(
    output, Z, background, n_samples=16, generator=None, create_graph=True
):
    """Return expected-gradients attributions of ``output`` at the rows of ``Z``.

    Parameters
    ----------
    output : callable
        Maps a tensor of shape (n, n_columns) to the explained output, of
        shape (n, n_outputs).
    Z : tensor of shape (n_samples, n_columns)
    background : tensor of shape (n_background, n_columns)
    n_samples : int, default=16
        Draws of a background row and a path position per row.
    generator : torch.Generator or None, default=None
        Source of the draws, on the CPU; the draws are then moved to the
        device of ``Z``.
    create_graph : bool, default=True
        Keep the graph of the gradients, so that the attributions can be
        differentiated with respect to the model's parameters.

    Returns
    -------
    phi : tensor of shape (n_samples, n_columns, n_outputs)
    """
    n_rows, n_columns = Z.shape
    chosen = torch.randint(len(background), (n_rows, n_samples), generator=generator)
    position = torch.rand((n_rows, n_samples, 1), generator=generator, dtype=Z.dtype)
    chosen, position = chosen.to(Z.device), position.to(Z.device)
    baseline = background[chosen]
    difference = Z[:, None, :] - baseline
    points = (baseline + position * difference).reshape(-1, n_columns)
    if not points.requires_grad:
        points.requires_grad_(True)

    values = output(points)
    phi = []
    for k in range(values.shape[1]):
        (gradient,) = torch.autograd.grad(
            values[:, k].sum(),
            points,
            create_graph=create_graph,
            retain_graph=True,
        )
        gradient = gradient.reshape(n_rows, n_samples, n_columns)
        phi.append((difference * gradient).mean(dim=1))
    return torch.stack(phi, dim=-1)
