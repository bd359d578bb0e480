"""Differentiable teachers: trained torch modules and skorch nets.

Gradient and attention alignment differentiate the teacher with respect to
its input, so the teacher must expose a torch module. Two kinds do:

- a skorch ``NeuralNetClassifier`` (its ``module_``), alone or at the end of
  a Pipeline of column-wise steps;
- a trained torch module wrapped in :class:`ModuleClassifier`, which makes it
  a fitted scikit-learn classifier without training it again.

Either module must return logits, one per class.
"""

# License: BSD-3-Clause

import sys

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ..attributions._teacher import split_pipeline, to_dense


class ModuleClassifier(ClassifierMixin, BaseEstimator):
    """Wrap a trained torch module that returns logits as a scikit-learn classifier.

    ``fit`` does not train the module: it records the classes and the number
    of input columns, so that the wrapped module can serve as the teacher of
    :class:`~skdixtill.DiXtillClassifier`, including for gradient and
    attention alignment.

    Parameters
    ----------
    module : torch.nn.Module
        A trained module mapping a float tensor of shape (n_samples,
        n_features) to logits of shape (n_samples, n_classes). Inputs are cast
        to the dtype of its first parameter.
    classes : array-like of shape (n_classes,) or None, default=None
        The label of each logit, in order. None takes the sorted labels of
        the ``y`` given to ``fit``.
    device : str or torch.device, default="cpu"
        Where the module runs.
    batch_size : int, default=4096
        Rows per forward pass when predicting.

    Attributes
    ----------
    module_ : torch.nn.Module
        The module, on ``device`` and in evaluation mode.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skdixtill.neural import ModuleClassifier
    >>> module = torch.nn.Linear(3, 2)
    >>> X = np.zeros((4, 3))
    >>> clf = ModuleClassifier(module).fit(X, [0, 1, 0, 1])
    >>> clf.predict_proba(X).sum(axis=1)
    array([1., 1., 1., 1.])
    """

    def __init__(self, module, *, classes=None, device="cpu", batch_size=4096):
        self.module = module
        self.classes = classes
        self.device = device
        self.batch_size = batch_size

    def fit(self, X, y=None):
        """Record the classes and the input width; the module is not trained.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or None, default=None
            Needed only when ``classes`` is None.

        Returns
        -------
        self : ModuleClassifier
        """
        if not isinstance(self.module, torch.nn.Module):
            raise TypeError(
                "module must be a torch.nn.Module that returns logits; got "
                f"{type(self.module).__name__}."
            )
        validate_data(self, X, reset=True, dtype=None)
        if self.classes is not None:
            self.classes_ = np.asarray(self.classes)
        elif y is None:
            raise ValueError(
                "ModuleClassifier needs y or classes to know the label of each "
                "logit; got neither. Pass classes=[...] in logit order."
            )
        else:
            y = column_or_1d(y, warn=True)
            check_classification_targets(y)
            self.classes_ = np.unique(y)
        self.module_ = self.module.to(self.device).eval()
        return self

    def _logits(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        dtype = module_dtype(self.module_)
        chunks = []
        with torch.no_grad():
            for start in range(0, len(X), self.batch_size):
                batch = torch.as_tensor(X[start : start + self.batch_size])
                chunks.append(self.module_(batch.to(self.device, dtype)).double().cpu())
        logits = torch.cat(chunks)
        if logits.ndim != 2 or logits.shape[1] != len(self.classes_):
            raise ValueError(
                f"The module returned outputs of shape {tuple(logits.shape)}, but "
                f"ModuleClassifier expects logits of shape (n_samples, "
                f"{len(self.classes_)}), one per class of {self.classes_.tolist()}."
            )
        return logits

    def decision_function(self, X):
        """Return the module's logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        logits : ndarray of shape (n_samples, n_classes)
        """
        return self._logits(X).numpy()

    def predict_proba(self, X):
        """Return the softmax of the module's logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return torch.softmax(self._logits(X), dim=1).numpy()

    def predict(self, X):
        """Return the class of the largest logit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]


def module_dtype(module):
    """Return the floating dtype of a module's first parameter, float32 without any."""
    for parameter in module.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.float32


def module_device(module):
    """Return the device of a module's first parameter, the CPU without any."""
    for parameter in module.parameters():
        return parameter.device
    return torch.device("cpu")


def differentiable_model(model):
    """Return (preprocessor, module) of a fitted skorch net or ModuleClassifier.

    Returns None when the model's final estimator exposes no torch module.
    """
    from skorch import NeuralNet

    preprocessor, final = split_pipeline(model)
    if isinstance(final, NeuralNet):
        return preprocessor, final.module_
    if isinstance(final, ModuleClassifier):
        return preprocessor, final.module_
    return None


def is_differentiable(model):
    """Return whether an unfitted teacher will expose a torch module once fitted."""
    _, final = split_pipeline(model)
    skorch = sys.modules.get("skorch")
    if skorch is not None and isinstance(final, skorch.NeuralNet):
        return True
    return isinstance(final, ModuleClassifier)


def transformed_rows(preprocessor, X):
    """Return X after a model's preprocessing steps, dense float64."""
    if preprocessor is None:
        return to_dense(X)
    return to_dense(preprocessor.transform(X))
