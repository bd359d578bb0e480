"""The terms of the DiXtill loss, in torch.

    L = (1 - alpha) * L_CE + alpha * (L_KD + beta * L_XAI)

Every term is a mean over rows weighted by the sample weights, so a weight of
2 counts a row twice.
"""

# License: BSD-3-Clause

import torch

# Inside the square root of the attribution scale. A linear student starts at
# zero weights, where the scale itself has no gradient.
SCALE_EPSILON = 1e-8


def weighted_mean(values, weights):
    """Return the mean of ``values`` over rows, weighted by ``weights``."""
    return torch.sum(values * weights) / torch.sum(weights)


def cross_entropy(student_logits, y, weights):
    """Return the weighted cross-entropy of the student against labels ``y``."""
    log_proba = torch.log_softmax(student_logits, dim=1)
    picked = log_proba.gather(1, y[:, None])[:, 0]
    return -weighted_mean(picked, weights)


def distillation_loss(student_logits, teacher_logits, temperature, weights):
    """Return ``T^2 * mean_i KL(softmax(z_T / T) || softmax(z_S / T))``.

    The ``T^2`` factor keeps the gradient scale comparable across
    temperatures (Hinton, Vinyals and Dean, 2015).
    """
    teacher_log_proba = torch.log_softmax(teacher_logits / temperature, dim=1)
    student_log_proba = torch.log_softmax(student_logits / temperature, dim=1)
    kl = torch.sum(
        torch.exp(teacher_log_proba) * (teacher_log_proba - student_log_proba), dim=1
    )
    return temperature**2 * weighted_mean(kl, weights)


def scale_normalize(phi, weights):
    """Divide attributions by their root mean square over the batch.

    ``phi`` has shape (n_rows, n_features, n_outputs). One scalar is used for
    the whole batch, so the relative size of features is kept.
    """
    row_mean_square = torch.mean(phi**2, dim=tuple(range(1, phi.ndim)))
    mean_square = weighted_mean(row_mean_square, weights)
    return phi / torch.sqrt(mean_square + SCALE_EPSILON)


def alignment_loss(teacher_phi_normalized, student_phi, weights):
    """Return the mean squared difference of scale-normalised attributions.

    With both sides normalised to unit root mean square, this equals
    ``2 * (1 - c)``, ``c`` their uncentred correlation: between 0 and 4,
    whatever the units of the two models' outputs.
    """
    student_normalized = scale_normalize(student_phi, weights)
    squared = (teacher_phi_normalized - student_normalized) ** 2
    row_mean = torch.mean(squared, dim=tuple(range(1, squared.ndim)))
    return weighted_mean(row_mean, weights)


def dixtill_loss(ce, kd, xai, alpha, beta):
    """Combine the three terms as ``(1 - alpha) * CE + alpha * (KD + beta * XAI)``."""
    return (1.0 - alpha) * ce + alpha * (kd + beta * xai)
