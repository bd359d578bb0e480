"""Input gradients of ``log p(y* | x)``, optionally smoothed (SmoothGrad).

SmoothGrad (Smilkov et al., 2017) averages the gradient over noisy copies
``x + e``, ``e`` Gaussian with a standard deviation of ``noise`` times each
input column's standard deviation, which removes much of the gradient's
local jitter.

Gradients are taken with respect to the columns a model receives (after its
preprocessing) and summed, with their signs, onto the original columns with
the groups matrix, as attributions are. When teacher and student scale a
numeric column differently, their gradients for it differ by the ratio of
the scales. The scale normalisation of the alignment term removes a factor
common to all columns, not one per column, so give both models the same
preprocessing.
"""

# License: BSD-3-Clause

import torch


def log_proba_gradients(
    module,
    Z,
    target,
    groups_matrix,
    *,
    n_noise_samples=0,
    noise_scale=None,
    generator=None,
    create_graph=False,
    output_positions=None,
):
    """Return ``grad_x log p(target | x)`` per original column.

    Parameters
    ----------
    module : torch.nn.Module
        Returns logits of shape (n, n_outputs).
    Z : tensor of shape (n_samples, n_columns)
        Rows as the module receives them, in the module's dtype.
    target : tensor of shape (n_samples,), dtype int64
        The class ``y*`` of each row, in the distiller's class order.
    groups_matrix : tensor of shape (n_columns, n_features)
    n_noise_samples : int, default=0
        Noisy copies per row for SmoothGrad; 0 takes the plain gradient.
    noise_scale : tensor of shape (n_columns,) or None, default=None
        Standard deviation of the SmoothGrad noise per column.
    generator : torch.Generator or None, default=None
        Source of the SmoothGrad noise, on the CPU.
    create_graph : bool, default=False
        Keep the graph, so that the gradients can be differentiated with
        respect to the module's parameters.
    output_positions : tensor of shape (n_classes,) or None, default=None
        Column of the module's output for each class, when the module orders
        its classes differently from the distiller.

    Returns
    -------
    gradients : tensor of shape (n_samples, n_features, 1)
    """
    n_rows, n_columns = Z.shape
    if n_noise_samples > 0:
        noise = torch.randn(
            (n_rows, n_noise_samples, n_columns), generator=generator, dtype=Z.dtype
        ).to(Z.device)
        points = (Z[:, None, :] + noise * noise_scale).reshape(-1, n_columns)
        targets = target.repeat_interleave(n_noise_samples)
    else:
        points = Z
        targets = target
    points = points.detach().requires_grad_(True)

    logits = module(points)
    if isinstance(logits, tuple):
        logits = logits[0]
    if output_positions is not None:
        logits = logits[:, output_positions]
    log_proba = torch.log_softmax(logits, dim=1)
    picked = log_proba.gather(1, targets[:, None]).sum()
    (gradient,) = torch.autograd.grad(picked, points, create_graph=create_graph)
    if n_noise_samples > 0:
        gradient = gradient.reshape(n_rows, n_noise_samples, n_columns).mean(dim=1)
    return (gradient @ groups_matrix)[:, :, None]
