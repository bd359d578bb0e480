"""Metrics and scorers of the agreement between teacher and student explanations.

The functions take attribution arrays; the ``*_score`` scorers and
``make_alignment_scorer`` take a fitted distiller, for ``scoring=`` in
scikit-learn's model selection tools.
"""

# License: BSD-3-Clause

from ._alignment import (
    explanation_divergence,
    feature_attribution_stability,
    fidelity,
    shap_correlation,
    top_k_overlap,
)
from ._scorers import (
    alignment_score,
    fas_score,
    fidelity_score,
    make_alignment_scorer,
    neg_explanation_divergence_score,
    shap_correlation_score,
    top_k_overlap_score,
)

__all__ = [
    "alignment_score",
    "explanation_divergence",
    "fas_score",
    "feature_attribution_stability",
    "fidelity",
    "fidelity_score",
    "make_alignment_scorer",
    "neg_explanation_divergence_score",
    "shap_correlation",
    "shap_correlation_score",
    "top_k_overlap",
    "top_k_overlap_score",
]
