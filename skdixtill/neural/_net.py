"""The skorch net that trains a neural student on the DiXtill loss.

The student's own ``NeuralNetClassifier`` is rebuilt, with the same
parameters, as a subclass that overrides two of skorch's extension points:

- ``infer`` takes a dict ``{"X": rows, "row": row indices}`` and passes only
  the rows to the module, so that ``get_loss`` receives the indices of the
  training rows in the batch;
- ``get_loss`` looks up the teacher's logits and the sample weights of those
  rows and returns ``(1 - alpha) * CE + alpha * (KD + beta * XAI)``.

Everything else (the optimiser, callbacks, the validation split, early
stopping, ``device``) is skorch's. The three terms are recorded per batch as
``train_ce``, ``train_kd`` and ``train_xai`` (``valid_ce`` and ``valid_kd``
on the validation split) and averaged per epoch by ``PassthroughScoring``
callbacks, so they appear as columns of the per-epoch table. The validation
loss leaves out the alignment term, which is computed on a sample of the
training rows.
"""

# License: BSD-3-Clause

from collections.abc import Mapping

import torch

from .._losses import cross_entropy, distillation_loss, dixtill_loss

INPUT_KEY = "X"
ROW_KEY = "row"

# Columns added to the per-epoch table: (name, on_train).
TERM_COLUMNS = (
    ("train_ce", True),
    ("train_kd", True),
    ("train_xai", True),
    ("valid_ce", False),
    ("valid_kd", False),
)


class DistillationTargets:
    """Per-row data and settings of the DiXtill loss, on the net's device.

    Parameters
    ----------
    teacher_logits : tensor of shape (n_samples, n_classes)
    weights : tensor of shape (n_samples,)
        Sample weights of every term.
    alpha, beta, temperature : float
    alignment_term : callable or None
        Called with the module, returns the alignment term on a sample of
        the attributed rows.
    """

    def __init__(
        self, teacher_logits, weights, alpha, beta, temperature, alignment_term
    ):
        self.teacher_logits = teacher_logits
        self.weights = weights
        self.alpha = alpha
        self.beta = beta
        self.temperature = temperature
        self.alignment_term = alignment_term
        self.logits_checked = False


class DistillationMixin:
    """Mixin for a skorch ``NeuralNetClassifier`` that trains on the DiXtill loss.

    The net needs a ``distillation_`` attribute, a
    :class:`DistillationTargets`, set before ``fit``.
    """

    def infer(self, x, **fit_params):
        if isinstance(x, Mapping) and ROW_KEY in x:
            x = x[INPUT_KEY]
        return super().infer(x, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if not (isinstance(X, Mapping) and ROW_KEY in X):
            return super().get_loss(y_pred, y_true, X=X, training=training)
        targets = self.distillation_
        logits = y_pred[0] if isinstance(y_pred, tuple) else y_pred
        if not targets.logits_checked:
            check_logits(logits, targets.teacher_logits.shape[1])
            targets.logits_checked = True

        rows = torch.as_tensor(X[ROW_KEY], device=targets.weights.device).long()
        labels = torch.as_tensor(y_true, device=logits.device).long()
        weights = targets.weights[rows]
        zero = torch.zeros((), dtype=logits.dtype, device=logits.device)

        ce = cross_entropy(logits, labels, weights) if targets.alpha < 1 else zero
        kd = zero
        if targets.alpha > 0:
            kd = distillation_loss(
                logits, targets.teacher_logits[rows], targets.temperature, weights
            )
        xai = zero
        uses_alignment = targets.alignment_term is not None and targets.beta > 0
        if training and targets.alpha > 0 and uses_alignment:
            xai = targets.alignment_term(self.module_)
        loss = dixtill_loss(ce, kd, xai, targets.alpha, targets.beta)

        prefix = "train" if training else "valid"
        self.history.record_batch(f"{prefix}_ce", ce.item())
        self.history.record_batch(f"{prefix}_kd", kd.item())
        if training:
            self.history.record_batch("train_xai", xai.item())
        return loss


def check_logits(logits, n_classes):
    """Raise a ValueError unless ``logits`` has one unnormalised score per class."""
    if logits.ndim != 2 or logits.shape[1] != n_classes:
        raise ValueError(
            "The student's module must return logits of shape (n_samples, "
            f"n_classes) = (n_samples, {n_classes}); it returned shape "
            f"{tuple(logits.shape)}. Give the module one output per class."
        )
    with torch.no_grad():
        in_unit_interval = bool(((logits >= 0) & (logits <= 1)).all())
        sums_to_one = bool(
            torch.allclose(logits.sum(dim=1), torch.ones_like(logits[:, 0]))
        )
    if len(logits) > 1 and in_unit_interval and sums_to_one:
        raise ValueError(
            "The student's module returns probabilities (rows in [0, 1] that sum "
            "to 1), but the distiller needs logits. Remove the final softmax; "
            "predict_proba applies it."
        )


_TRAINING_CLASSES = {}


def training_net_class(net_class):
    """Return the subclass of ``net_class`` that trains on the DiXtill loss.

    The subclass is created once per class. It is used only inside fit and
    never stored on a fitted estimator, so it need not be picklable.
    """
    if net_class not in _TRAINING_CLASSES:
        _TRAINING_CLASSES[net_class] = type(
            f"Distilling{net_class.__name__}", (DistillationMixin, net_class), {}
        )
    return _TRAINING_CLASSES[net_class]
