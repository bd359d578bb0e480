"""Warning and error classes raised by skdixtill."""

# License: BSD-3-Clause

from ._groups import UnsupportedStepError
from .attributions._teacher import AdditivityError, AttributionWarning

__all__ = [
    "AdditivityError",
    "AlignmentWarning",
    "AttributionWarning",
    "UnsupportedStepError",
]


class AlignmentWarning(UserWarning):
    """Warning that an alignment metric is undefined on some of its input.

    Pearson's correlation is undefined on constant attributions, a ranking
    of features is undefined on a row whose absolute attributions are all
    equal, and a relative change is undefined on a row whose attributions are
    all zero. The metrics of ``skdixtill.metrics`` return a finite value in
    those cases, as their docstrings state, and emit this warning once per
    call with the number of rows concerned.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from skdixtill.exceptions import AlignmentWarning
    >>> from skdixtill.metrics import shap_correlation
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     value = shap_correlation(np.ones((2, 3)), np.arange(6.0).reshape(2, 3))
    >>> value, caught[0].category is AlignmentWarning
    (0.0, True)
    """
