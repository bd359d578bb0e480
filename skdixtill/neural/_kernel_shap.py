"""Differentiable KernelSHAP: a fixed linear map of a model's outputs on masked inputs.

Interventional SHAP values against a background sample are a linear function
of the coalition values ``v(S) = E_b[f(x_S, b_not_S)]``, the model's mean
output when the features outside ``S`` take the values of background rows
``b``. The coalitions and the coefficients of that map depend only on the
number of features, so they are computed once. Each call then costs one
forward pass over the masked inputs, and gradients flow through the model's
outputs to its parameters.

- With few features, every coalition is evaluated and the coefficients are
  the Shapley weights ``|S|! (M - |S| - 1)! / M!``: the values are exact
  interventional SHAP values, the ones ``shap.ExactExplainer`` computes with
  an ``Independent`` masker over the same background.
- With more features, the coalitions of the sizes that fit the budget in
  full are enumerated from the outside in, sizes 1 and M - 1 first, as
  ``shap.KernelExplainer`` does. The rest of the budget is drawn with paired
  sampling: a size ``s`` with probability proportional to the Shapley
  kernel ``(M - 1) / (s (M - s))``, a subset of that size uniformly, and its
  complement. The values solve KernelSHAP's weighted
  least-squares problem under the constraint that they add up to
  ``v(all) - v(none)`` (Lundberg and Lee, 2017; Covert and Lee, 2021). They
  are an estimate that adds up exactly, and its error shrinks as
  ``n_coalitions`` grows.

A player may own several columns of the model's input (the one-hot columns
of one categorical feature): masking the player replaces all of its columns
together.
"""

# License: BSD-3-Clause

from itertools import combinations
from math import comb, factorial

import numpy as np
import torch
from sklearn.utils import check_random_state

# Rows pushed through the model in one forward pass when explaining without
# gradients, to bound memory.
_MAX_FORWARD_ROWS = 2**18


class KernelShap:
    """Coalitions and coefficients of the KernelSHAP linear map.

    Parameters
    ----------
    players_matrix : array-like of shape (n_players, n_columns)
        1 where a column of the model's input belongs to a player. The
        identity explains each column on its own; the transpose of a groups
        matrix explains each original feature.
    max_exact_players : int, default=10
        Players up to which all ``2 ** n_players`` coalitions are evaluated.
    n_coalitions : int, default=256
        Coalitions evaluated above ``max_exact_players``, besides the empty
        and the full one. Rounded up to an even number.
    random_state : int, RandomState instance or None, default=None
        Draws the sampled coalitions.

    Attributes
    ----------
    exact_ : bool
        Whether all coalitions are evaluated.
    masks_ : ndarray of shape (n_evaluated, n_players)
        The evaluated coalitions, 1 for a player that keeps its value.
    column_masks_ : ndarray of shape (n_evaluated, n_columns)
    coefficients_ : ndarray of shape (n_players, n_evaluated)
        ``phi = coefficients_ @ v``, ``v`` the coalition values.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skdixtill.neural import KernelShap
    >>> weights = torch.tensor([[1.0], [2.0], [-1.0]], dtype=torch.float64)
    >>> explainer = KernelShap(np.eye(3))
    >>> x = torch.tensor([[1.0, 1.0, 1.0]], dtype=torch.float64)
    >>> background = torch.zeros((4, 3), dtype=torch.float64)
    >>> phi = explainer.attributions(lambda Z: Z @ weights, x, background)
    >>> phi[0, :, 0].round(decimals=6).tolist()
    [1.0, 2.0, -1.0]
    """

    def __init__(
        self,
        players_matrix,
        *,
        max_exact_players=10,
        n_coalitions=256,
        random_state=None,
    ):
        players_matrix = np.asarray(players_matrix, dtype=float)
        if players_matrix.ndim != 2 or players_matrix.shape[0] == 0:
            raise ValueError(
                "players_matrix must have shape (n_players, n_columns) with at least "
                f"one player; got shape {players_matrix.shape}."
            )
        if n_coalitions < 2:
            raise ValueError(
                "n_coalitions must be at least 2 for paired sampling; got "
                f"{n_coalitions}."
            )
        self.players_matrix = players_matrix
        self.max_exact_players = max_exact_players
        self.n_coalitions = n_coalitions
        self.random_state = random_state

        n_players = players_matrix.shape[0]
        self.exact_ = n_players <= max_exact_players
        if self.exact_:
            self.masks_, self.coefficients_ = _exact_map(n_players)
        else:
            rng = check_random_state(random_state)
            self.masks_, self.coefficients_ = _sampled_map(n_players, n_coalitions, rng)
        self.column_masks_ = self.masks_ @ players_matrix

    @property
    def n_players(self):
        return self.players_matrix.shape[0]

    def attributions(self, output, Z, background):
        """Return the SHAP values of ``output`` at the rows of ``Z``.

        Parameters
        ----------
        output : callable
            Maps a tensor of shape (n, n_columns) to the explained output, of
            shape (n, n_outputs).
        Z : tensor of shape (n_samples, n_columns)
            Rows as the model receives them.
        background : tensor of shape (n_background, n_columns)
            Rows whose values absent players take.

        Returns
        -------
        phi : tensor of shape (n_samples, n_players, n_outputs)
            Differentiable in whatever ``output`` depends on.
        """
        column_masks = torch.as_tensor(
            self.column_masks_, dtype=Z.dtype, device=Z.device
        )
        coefficients = torch.as_tensor(
            self.coefficients_, dtype=Z.dtype, device=Z.device
        )
        n_samples, n_columns = Z.shape
        n_evaluated = column_masks.shape[0]
        n_background = background.shape[0]

        # masked[i, k, b] = mask_k * Z_i + (1 - mask_k) * background_b
        present = column_masks[None, :, None, :] * Z[:, None, None, :]
        absent = (1.0 - column_masks)[None, :, None, :] * background[None, None, :, :]
        masked = (present + absent).reshape(-1, n_columns)
        values = output(masked)
        values = values.reshape(n_samples, n_evaluated, n_background, -1).mean(dim=2)
        return torch.einsum("pk,nko->npo", coefficients, values)

    def attributions_no_grad(self, output, Z, background):
        """Return :meth:`attributions` computed in chunks of rows, without gradients."""
        rows_per_chunk = max(
            1, _MAX_FORWARD_ROWS // (len(self.masks_) * len(background))
        )
        chunks = []
        with torch.no_grad():
            for start in range(0, len(Z), rows_per_chunk):
                chunk = Z[start : start + rows_per_chunk]
                chunks.append(self.attributions(output, chunk, background))
        return torch.cat(chunks)


def _exact_map(n_players):
    """Return all coalitions and the Shapley weights that map their values to phi."""
    # Row r of the masks is the binary expansion of r, so r | (1 << j) is
    # coalition r with player j added.
    indices = np.arange(2**n_players)
    masks = ((indices[:, None] >> np.arange(n_players)) & 1).astype(float)
    sizes = masks.sum(axis=1).astype(int)
    weights = np.array(
        [
            factorial(s) * factorial(n_players - s - 1) / factorial(n_players)
            for s in range(n_players)
        ]
    )
    coefficients = np.zeros((n_players, len(indices)))
    for j in range(n_players):
        without = indices[masks[:, j] == 0]
        with_j = without | (1 << j)
        coefficients[j, with_j] += weights[sizes[without]]
        coefficients[j, without] -= weights[sizes[without]]
    return masks, coefficients


def _sampled_map(n_players, n_coalitions, rng):
    """Return coalitions and the constrained weighted least-squares map to phi.

    As in ``shap.KernelExplainer``, the sizes whose subsets the budget can
    hold are enumerated, from the outside in (sizes 1 and M - 1 first), and
    the remaining budget is drawn with paired sampling from the other sizes.
    """
    M = n_players
    sizes = np.arange(1, M)
    # Shapley kernel mass of all coalitions of each size.
    mass = {int(s): (M - 1) / (s * (M - s)) for s in sizes}
    remaining_mass = sum(mass.values())
    budget = 2 * ((n_coalitions + 1) // 2)

    coalitions, weights = [], []
    enumerated = set()
    for size in range(1, M // 2 + 1):
        pair = {size, M - size}
        count = sum(comb(M, s) for s in pair)
        pair_mass = sum(mass[s] for s in pair)
        if budget * pair_mass / remaining_mass < count:
            break
        for s in pair:
            for members in combinations(range(M), s):
                coalition = np.zeros(M)
                coalition[list(members)] = 1.0
                coalitions.append(coalition)
                weights.append(mass[s] / comb(M, s))
        enumerated |= pair
        budget -= count
        remaining_mass -= pair_mass

    left = [s for s in range(1, M) if s not in enumerated]
    if left and budget >= 2:
        n_pairs = budget // 2
        probabilities = np.array([mass[s] for s in left]) / remaining_mass
        drawn = rng.choice(left, size=n_pairs, p=probabilities)
        for size in drawn:
            coalition = np.zeros(M)
            coalition[rng.choice(M, size=size, replace=False)] = 1.0
            coalitions += [coalition, 1.0 - coalition]
            weights += 2 * [remaining_mass / (2 * n_pairs)]

    Z = np.array(coalitions)
    W = np.array(weights)
    # Minimising sum_k w_k (z_k . phi - y_k)^2 subject to sum(phi) = delta,
    # with y_k = v(z_k) - v(none) and delta = v(all) - v(none), gives
    # phi = L y + c delta.
    gram = (Z * W[:, None]).T @ Z
    solve = np.linalg.pinv(gram)
    projection = solve @ (Z * W[:, None]).T
    ones = np.ones(M)
    u = solve @ ones
    scale = ones @ u
    L = projection - np.outer(u, ones @ projection) / scale
    c = u / scale

    masks = np.concatenate([np.zeros((1, M)), Z, np.ones((1, M))])
    coefficients = np.concatenate(
        [-(L.sum(axis=1) + c)[:, None], L, c[:, None]], axis=1
    )
    return masks, coefficients
