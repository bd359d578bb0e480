"""Closed-form SHAP values of linear and additive models."""

# License: BSD-3-Clause

import numpy as np

from ._teacher import center_classes


def linear_attributions(Z, coef, mean, groups_matrix):
    """Return closed-form SHAP values of a linear model per original column.

    Parameters
    ----------
    Z : ndarray or tensor of shape (n_samples, n_columns)
        Rows as the linear model receives them.
    coef : ndarray or tensor of shape (n_outputs, n_columns)
    mean : ndarray or tensor of shape (n_columns,)
        Expectation of each column over the background rows.
    groups_matrix : ndarray or tensor of shape (n_columns, n_features)
        1 where a column belongs to an original column.

    Returns
    -------
    phi : ndarray or tensor of shape (n_samples, n_features, n_outputs)
        Multiclass attributions are centred over classes.
    """
    if hasattr(Z, "detach"):
        # A torch tensor, so torch is already imported.
        import torch

        phi = torch.einsum("nc,kc,cf->nfk", Z - mean, coef, groups_matrix)
    else:
        phi = np.einsum("nc,kc,cf->nfk", Z - mean, coef, groups_matrix)
    return center_classes(phi)
